//! Approvals in the audit store's SQLite file (table `approvals`, created on first use), on a
//! connection of their own; transitions run in `BEGIN IMMEDIATE` transactions, so two
//! processes deciding at once are serialized by SQLite and the first one wins.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::{
    Admission, Approval, ApprovalFilter, ApprovalStore, DecideError, Decider, GrantKind,
    NewApproval, Status, authorize, grant_text,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS approvals (
    id TEXT PRIMARY KEY,
    action_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    server TEXT NOT NULL,
    method TEXT NOT NULL,
    tool TEXT,
    principal TEXT,
    agent TEXT,
    session TEXT NOT NULL,
    rule TEXT,
    policy TEXT,
    approvers TEXT NOT NULL,
    grant_kind TEXT NOT NULL,
    self_approval INTEGER NOT NULL,
    arguments TEXT,
    requested_us INTEGER NOT NULL,
    expires_us INTEGER NOT NULL,
    decided_us INTEGER,
    decided_by TEXT,
    decided_roles TEXT,
    channel TEXT,
    reason TEXT,
    uses INTEGER NOT NULL DEFAULT 0,
    log_id TEXT,
    request_record TEXT
);
CREATE INDEX IF NOT EXISTS approvals_action ON approvals (action_hash, status);
CREATE INDEX IF NOT EXISTS approvals_open ON approvals (status, expires_us);
";

const COLUMNS: &str = "id, action_hash, status, server, method, tool, principal, agent, session, \
     rule, policy, approvers, grant_kind, self_approval, arguments, requested_us, expires_us, \
     decided_us, decided_by, decided_roles, channel, reason, uses, log_id, request_record";

/// Approvals kept in a SQLite file (normally the audit store's).
pub struct SqliteApprovals {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteApprovals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteApprovals")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteApprovals {
    /// Opens the approvals of the store at `path` (which must exist: the audit store creates
    /// it, private to its owner), creating the table on first use.
    pub fn open(path: &Path) -> Result<SqliteApprovals, String> {
        if !path.exists() {
            return Err(format!("audit store {} does not exist", path.display()));
        }
        let e = |err: rusqlite::Error| format!("approvals in {}: {err}", path.display());
        let conn = Connection::open(path).map_err(e)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(e)?;
        crate::store::retry_busy(|| conn.execute_batch(SCHEMA)).map_err(e)?;
        Ok(SqliteApprovals {
            conn: Mutex::new(conn),
            path: path.to_owned(),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> String + '_ {
        move |e| format!("approvals in {}: {e}", self.path.display())
    }
}

fn json_list(s: Option<String>) -> Vec<String> {
    s.and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default()
}

fn row(r: &Row<'_>) -> rusqlite::Result<Approval> {
    let status: String = r.get(2)?;
    Ok(Approval {
        id: r.get(0)?,
        action_hash: r.get(1)?,
        status: Status::parse(&status).unwrap_or(Status::Cancelled),
        server: r.get(3)?,
        method: r.get(4)?,
        tool: r.get(5)?,
        principal: r.get(6)?,
        agent: r.get(7)?,
        session: r.get(8)?,
        rule: r.get(9)?,
        policy: r.get(10)?,
        approvers: json_list(r.get(11)?),
        grant: shown_grant(&r.get::<_, String>(12)?),
        self_approval: r.get::<_, i64>(13)? != 0,
        arguments: r
            .get::<_, Option<String>>(14)?
            .and_then(|s| serde_json::from_str(&s).ok()),
        requested_us: r.get(15)?,
        expires_us: r.get(16)?,
        decided_us: r.get(17)?,
        decided_by: r.get(18)?,
        decided_roles: json_list(r.get(19)?),
        channel: r.get(20)?,
        reason: r.get(21)?,
        uses: u64::try_from(r.get::<_, i64>(22)?).unwrap_or(0),
        log_id: r.get(23)?,
        request_record: r.get(24)?,
    })
}

/// The stored grant (`ttl-ms:N`) as a reader writes it (`ttl:30m`); `grant_kind` reads both.
fn shown_grant(stored: &str) -> String {
    match super::grant_kind(stored) {
        GrantKind::Ttl { ms } if ms.is_multiple_of(60_000) => format!("ttl:{}m", ms / 60_000),
        GrantKind::Ttl { ms } if ms.is_multiple_of(1000) => format!("ttl:{}s", ms / 1000),
        _ => stored.to_owned(),
    }
}

fn get(conn: &Connection, id: &str) -> rusqlite::Result<Option<Approval>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM approvals WHERE id = ?1"),
        [id],
        row,
    )
    .optional()
}

impl ApprovalStore for SqliteApprovals {
    fn admit(&self, new: NewApproval, now_us: i64) -> Result<Admission, String> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err())?;
        // The same call of the same principal: an approval that covers it, else one waiting.
        let same: Vec<Approval> = {
            let mut st = tx
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM approvals WHERE action_hash = ?1 AND principal IS ?2 \
                     AND status IN ('pending', 'approved') ORDER BY requested_us DESC"
                ))
                .map_err(self.err())?;
            st.query_map(params![new.action_hash, new.principal], row)
                .map_err(self.err())?
                .collect::<rusqlite::Result<_>>()
                .map_err(self.err())?
        };
        let usable = same.iter().find(|a| a.usable(&new.session, now_us));
        let admission = if let Some(a) = usable {
            tx.execute(
                "UPDATE approvals SET uses = uses + 1 WHERE id = ?1",
                [&a.id],
            )
            .map_err(self.err())?;
            let mut a = a.clone();
            a.uses += 1;
            Admission::Granted(a)
        } else if let Some(a) = same
            .iter()
            .find(|a| a.status == Status::Pending && a.expires_us > now_us)
        {
            Admission::Attached(a.clone())
        } else {
            let timeout = i64::try_from(new.timeout_ms.saturating_mul(1000)).unwrap_or(i64::MAX);
            tx.execute(
                "INSERT INTO approvals (id, action_hash, status, server, method, tool, principal, \
                 agent, session, rule, policy, approvers, grant_kind, self_approval, arguments, \
                 requested_us, expires_us, log_id, request_record) \
                 VALUES (?1, ?2, 'pending', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, \
                 ?15, ?16, ?17, ?18)",
                params![
                    new.id,
                    new.action_hash,
                    new.server,
                    new.method,
                    new.tool,
                    new.principal,
                    new.agent,
                    new.session,
                    new.rule,
                    new.policy,
                    serde_json::to_string(&new.approvers).unwrap_or_default(),
                    grant_text(new.grant),
                    i64::from(new.self_approval),
                    new.arguments.as_ref().map(ToString::to_string),
                    now_us,
                    now_us.saturating_add(timeout),
                    new.log_id,
                    new.request_record,
                ],
            )
            .map_err(self.err())?;
            let a = get(&tx, &new.id)
                .map_err(self.err())?
                .ok_or("approval vanished after insert")?;
            Admission::Fresh(a)
        };
        tx.commit().map_err(self.err())?;
        Ok(admission)
    }

    fn decide(
        &self,
        id: &str,
        approve: bool,
        who: &Decider,
        reason: Option<&str>,
        now_us: i64,
    ) -> Result<Approval, DecideError> {
        let store = |e: rusqlite::Error| DecideError::Store(self.err()(e));
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(store)?;
        let a = get(&tx, id)
            .map_err(store)?
            .ok_or_else(|| DecideError::NotFound(id.to_owned()))?;
        match a.status {
            Status::Pending if a.expires_us <= now_us => {
                return Err(DecideError::Expired(id.to_owned()));
            }
            Status::Pending => {}
            s => {
                return Err(DecideError::AlreadyDecided {
                    id: id.to_owned(),
                    status: s.as_str(),
                });
            }
        }
        authorize(&a, who)?;
        let status = if approve {
            Status::Approved
        } else {
            Status::Denied
        };
        tx.execute(
            "UPDATE approvals SET status = ?2, decided_us = ?3, decided_by = ?4, \
             decided_roles = ?5, channel = ?6, reason = ?7 WHERE id = ?1 AND status = 'pending'",
            params![
                id,
                status.as_str(),
                now_us,
                who.by,
                serde_json::to_string(&who.roles).unwrap_or_default(),
                who.channel,
                reason,
            ],
        )
        .map_err(store)?;
        let a = get(&tx, id)
            .map_err(store)?
            .ok_or_else(|| DecideError::NotFound(id.to_owned()))?;
        tx.commit().map_err(store)?;
        Ok(a)
    }

    fn consume(
        &self,
        id: &str,
        action_hash: &str,
        session: &str,
        now_us: i64,
    ) -> Result<bool, String> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err())?;
        let ok = match get(&tx, id).map_err(self.err())? {
            Some(a) if a.action_hash == action_hash && a.usable(session, now_us) => {
                tx.execute("UPDATE approvals SET uses = uses + 1 WHERE id = ?1", [id])
                    .map_err(self.err())?;
                true
            }
            _ => false,
        };
        tx.commit().map_err(self.err())?;
        Ok(ok)
    }

    fn expire_due(&self, now_us: i64) -> Result<Vec<Approval>, String> {
        let conn = self.conn();
        // A read first: an UPDATE takes the write lock even when it matches nothing, and
        // every process sweeps.
        let due: Option<i64> = conn
            .query_row(
                "SELECT 1 FROM approvals WHERE status = 'pending' AND expires_us <= ?1 LIMIT 1",
                [now_us],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err())?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        let mut st = conn
            .prepare_cached(&format!(
                "UPDATE approvals SET status = 'expired', decided_us = ?1, channel = 'timeout', \
                 decided_by = 'warden', reason = 'not decided before the approval timeout' \
                 WHERE status = 'pending' AND expires_us <= ?1 RETURNING {COLUMNS}"
            ))
            .map_err(self.err())?;
        st.query_map([now_us], row)
            .map_err(self.err())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.err())
    }

    fn cancel(&self, id: &str, reason: &str, now_us: i64) -> Result<bool, String> {
        let n = self
            .conn()
            .execute(
                "UPDATE approvals SET status = 'cancelled', decided_us = ?2, decided_by = 'warden', \
                 channel = 'warden', reason = ?3 WHERE id = ?1 AND status = 'pending'",
                params![id, now_us, reason],
            )
            .map_err(self.err())?;
        Ok(n == 1)
    }

    fn get(&self, id: &str) -> Result<Option<Approval>, String> {
        get(&self.conn(), id).map_err(self.err())
    }

    fn list(&self, f: &ApprovalFilter) -> Result<Vec<Approval>, String> {
        let conn = self.conn();
        let mut st = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM approvals WHERE (?1 IS NULL OR status = ?1) \
                 AND (?2 IS NULL OR session = ?2) AND (?3 IS NULL OR principal = ?3) \
                 ORDER BY status != 'pending', \
                 CASE WHEN status = 'pending' THEN expires_us ELSE -decided_us END, id LIMIT ?4"
            ))
            .map_err(self.err())?;
        st.query_map(
            params![
                f.status.map(Status::as_str),
                f.session,
                f.principal,
                i64::from(f.limit.unwrap_or(200))
            ],
            row,
        )
        .map_err(self.err())?
        .collect::<rusqlite::Result<_>>()
        .map_err(self.err())
    }
}
