//! Erasure and expiry of content: which stored payloads a request or the retention period
//! selects, and removing them through a writer, each batch with its own signed record
//! (`content_erased` / `content_expired`) listing the commitments it removed, committed in
//! the same transaction as the removal. The leaves stay, so the log still verifies.

use rusqlite::types::Value;

use crate::content::{DIGESTS_PER_RECORD, Gone};
use crate::record::{AuditEvent, SessionContext};
use crate::store::{Store, StoreError};
use crate::writer::AuditHandle;

/// Which records' content to remove. Every given condition must hold; at least one is needed.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Selector {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// Records at or after this time (µs since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since_us: Option<i64>,
    /// Records before this time (µs since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before_us: Option<i64>,
}

impl Selector {
    pub fn is_empty(&self) -> bool {
        self == &Selector::default()
    }

    fn clause(&self) -> (String, Vec<Value>) {
        let mut sql = String::new();
        let mut args = Vec::new();
        let mut add = |cond: &str, v: Value| {
            args.push(v);
            sql.push_str(&format!(" AND r.{cond} ?{}", args.len()));
        };
        if let Some(s) = &self.session {
            add("session =", Value::Text(s.clone()));
        }
        if let Some(p) = &self.principal {
            add("principal =", Value::Text(p.clone()));
        }
        if let Some(t) = self.since_us {
            add("ts_us >=", Value::Integer(t));
        }
        if let Some(t) = self.before_us {
            add("ts_us <", Value::Integer(t));
        }
        (sql, args)
    }
}

/// What a selector finds.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Plan {
    /// Commitments of content still stored, oldest record first.
    pub digests: Vec<String>,
    /// Matching records of v1 logs, whose payload is inside the signed leaf: it cannot be
    /// removed without breaking verification, so it is left and counted here.
    pub in_v1_leaves: u64,
    /// Matching records whose content was already removed.
    pub already_gone: u64,
}

impl Store {
    /// The content `sel` selects (nothing is changed).
    pub fn plan_removal(&self, sel: &Selector) -> Result<Plan, StoreError> {
        let (clause, args) = sel.clause();
        let err = |e| self.sql_error(e);
        let mut st = self
            .conn()
            .prepare(&format!(
                "SELECT c.digest, c.gone IS NOT NULL FROM records r JOIN content c \
                 ON c.digest = r.content WHERE 1 = 1{clause} ORDER BY r.ts_us, r.rowid"
            ))
            .map_err(err)?;
        let mut plan = Plan::default();
        let mut rows = st
            .query(rusqlite::params_from_iter(args.iter()))
            .map_err(err)?;
        while let Some(r) = rows.next().map_err(err)? {
            if r.get::<_, bool>(1).map_err(err)? {
                plan.already_gone += 1;
            } else {
                plan.digests.push(r.get(0).map_err(err)?);
            }
        }
        plan.in_v1_leaves = self
            .conn()
            .query_row(
                &format!(
                    "SELECT COUNT(*) FROM records r WHERE r.content IS NULL \
                     AND instr(r.leaf, '\"v\":1,') = 2 AND instr(r.leaf, '\"payload\":') > 0{clause}"
                ),
                rusqlite::params_from_iter(args.iter()),
                |r| r.get::<_, i64>(0),
            )
            .map_err(err)? as u64;
        Ok(plan)
    }
}

/// Who asked for a removal, and why: kept in each removal record.
#[derive(Clone, Debug)]
pub struct Request {
    pub why: Gone,
    /// Who asked (an operator's name, or `retention`).
    pub by: String,
    /// Why (a ticket, "data subject request", or the retention period).
    pub reason: String,
    pub selector: Selector,
}

/// Removes the content of `digests` through `audit`, [`DIGESTS_PER_RECORD`] per record,
/// waiting for each to commit; returns how many records were written.
pub fn remove(audit: &AuditHandle, request: &Request, digests: &[String]) -> Result<u64, String> {
    let parts = digests.len().div_ceil(DIGESTS_PER_RECORD);
    for (i, chunk) in digests.chunks(DIGESTS_PER_RECORD).enumerate() {
        let mut ev = AuditEvent::gateway(
            "".into(),
            std::sync::Arc::new(SessionContext::default()),
            request.why.event(),
        );
        ev.detail = Some(serde_json::json!({
            "by": request.by,
            "reason": request.reason,
            "selector": request.selector,
            "part": i + 1,
            "parts": parts,
            "digests": chunk,
        }));
        let ack = audit
            .remove_content(ev, request.why, chunk.to_vec())
            .map_err(|e| e.to_string())?;
        ack.recv().map_err(|e| e.to_string())??;
    }
    Ok(parts as u64)
}
