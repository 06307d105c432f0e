//! Approvals: the working state of calls waiting for a human (pending, decided, used), kept
//! in the store so that they outlive the process that asked and can be decided from another
//! (the CLI, the admin API). The log holds the evidence (requested, decided, forwarded
//! records); this holds what is needed to act on it: whether a grant is still usable, and
//! who decided first.
//!
//! Behind [`ApprovalStore`] so that a Postgres backend can hold them for a fleet; [`sqlite`]
//! keeps them in the audit store's own file. Every transition is one atomic statement or
//! transaction: the first decision wins, a `once` grant lets exactly one call through.

pub mod records;
pub mod sqlite;
#[cfg(test)]
mod tests;

use serde::Serialize;

pub use sqlite::SqliteApprovals;

/// Where an approval stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Approved,
    Denied,
    Expired,
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Denied => "denied",
            Status::Expired => "expired",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "pending" => Status::Pending,
            "approved" => Status::Approved,
            "denied" => Status::Denied,
            "expired" => Status::Expired,
            "cancelled" => Status::Cancelled,
            _ => return None,
        })
    }
}

/// What one approval lets through (`warden_policy::Grant`, as stored).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantKind {
    Once,
    Session,
    Ttl { ms: u64 },
}

/// A call asking for approval.
#[derive(Clone, Debug)]
pub struct NewApproval {
    pub id: String,
    /// Keyed hash of the canonical JSON of server, tool and arguments: what is approved.
    pub action_hash: String,
    pub server: String,
    pub method: String,
    pub tool: Option<String>,
    pub principal: Option<String>,
    pub agent: Option<String>,
    pub session: String,
    pub rule: Option<String>,
    pub policy: Option<String>,
    pub approvers: Vec<String>,
    pub grant: GrantKind,
    pub self_approval: bool,
    /// The arguments as stored in the audit log (redacted).
    pub arguments: Option<serde_json::Value>,
    pub timeout_ms: u64,
    /// The log (and record) of the call that asked.
    pub log_id: Option<String>,
    pub request_record: Option<String>,
}

/// An approval as stored.
#[derive(Clone, Debug, Serialize)]
pub struct Approval {
    pub id: String,
    pub action_hash: String,
    pub status: Status,
    pub server: String,
    pub method: String,
    pub tool: Option<String>,
    pub principal: Option<String>,
    pub agent: Option<String>,
    pub session: String,
    pub rule: Option<String>,
    pub policy: Option<String>,
    pub approvers: Vec<String>,
    /// As written in the policy: `once`, `session`, `ttl:30m`.
    pub grant: String,
    pub self_approval: bool,
    pub arguments: Option<serde_json::Value>,
    pub requested_us: i64,
    pub expires_us: i64,
    pub decided_us: Option<i64>,
    pub decided_by: Option<String>,
    pub decided_roles: Vec<String>,
    pub channel: Option<String>,
    pub reason: Option<String>,
    /// Calls this approval has let through.
    pub uses: u64,
    pub log_id: Option<String>,
    pub request_record: Option<String>,
}

impl Approval {
    /// What the grant lets through, read back from `grant`.
    pub fn grant_kind(&self) -> GrantKind {
        grant_kind(&self.grant)
    }

    /// Whether an approved approval still lets a call of `session` through at `now_us`.
    pub fn usable(&self, session: &str, now_us: i64) -> bool {
        self.status == Status::Approved
            && match self.grant_kind() {
                GrantKind::Once => self.uses == 0,
                GrantKind::Session => self.session == session,
                GrantKind::Ttl { ms } => {
                    self.decided_us
                        .unwrap_or(0)
                        .saturating_add(i64::try_from(ms.saturating_mul(1000)).unwrap_or(i64::MAX))
                        > now_us
                }
            }
    }
}

/// Reads a stored or shown grant: `once`, `session`, `ttl-ms:N`, `ttl:30m` (`ms`, `s`, `m`,
/// `h`, `d`). Anything else is `once`, the narrowest grant.
pub(crate) fn grant_kind(s: &str) -> GrantKind {
    if s == "session" {
        return GrantKind::Session;
    }
    let ms = if let Some(n) = s.strip_prefix("ttl-ms:") {
        n.parse().ok()
    } else if let Some(d) = s.strip_prefix("ttl:") {
        let split = d.find(|c: char| !c.is_ascii_digit()).unwrap_or(d.len());
        let (n, unit) = d.split_at(split);
        let size: Option<u64> = match unit {
            "ms" => Some(1),
            "s" => Some(1000),
            "m" => Some(60_000),
            "h" => Some(3_600_000),
            "d" => Some(86_400_000),
            _ => None,
        };
        n.parse::<u64>()
            .ok()
            .zip(size)
            .and_then(|(n, u)| n.checked_mul(u))
    } else {
        None
    };
    ms.map_or(GrantKind::Once, |ms| GrantKind::Ttl { ms })
}

pub(crate) fn grant_text(g: GrantKind) -> String {
    match g {
        GrantKind::Once => "once".into(),
        GrantKind::Session => "session".into(),
        GrantKind::Ttl { ms } => format!("ttl-ms:{ms}"),
    }
}

/// How a call asking for approval was admitted.
#[derive(Clone, Debug)]
pub enum Admission {
    /// A new approval was opened: hold the call and reach the approvers.
    Fresh(Approval),
    /// The same call (same principal, same action hash) is already waiting: hold it on that one.
    Attached(Approval),
    /// An approval covers this call and was used for it (atomically): forward it.
    Granted(Approval),
}

/// Who decides, and through which channel.
#[derive(Clone, Debug)]
pub struct Decider {
    /// The principal (or, for the CLI, the operating-system user).
    pub by: String,
    pub roles: Vec<String>,
    /// `cli`, `api`, `dashboard`, `elicitation`, `webhook`.
    pub channel: String,
    /// Check `by` and `roles` against the rule's approvers. The CLI does not: whoever can
    /// write the store file is the operator (the record names the OS user).
    pub check_approvers: bool,
}

/// Why a decision was refused.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    #[error("no approval {0}")]
    NotFound(String),
    #[error("approval {id} is already {status} (first decision wins)")]
    AlreadyDecided { id: String, status: &'static str },
    #[error("approval {0} expired before this decision")]
    Expired(String),
    #[error("{by} is not among the approvers of {id} ({approvers})")]
    NotAnApprover {
        id: String,
        by: String,
        approvers: String,
    },
    #[error("{by} asked for approval {id} and may not approve it (self_approval: false)")]
    SelfApproval { id: String, by: String },
    #[error("approval store: {0}")]
    Store(String),
}

/// Filters for listing approvals.
#[derive(Clone, Debug, Default)]
pub struct ApprovalFilter {
    pub status: Option<Status>,
    pub session: Option<String>,
    pub principal: Option<String>,
    pub limit: Option<u32>,
}

/// The approvals of a deployment (see the module documentation).
pub trait ApprovalStore: Send + Sync {
    /// Admits a call asking for approval: uses an approval that covers it, attaches it to the
    /// same call's pending one, or opens a new one, in one transaction.
    fn admit(&self, new: NewApproval, now_us: i64) -> Result<Admission, String>;
    /// Decides a pending approval; the first decision wins, and none after expiry.
    fn decide(
        &self,
        id: &str,
        approve: bool,
        who: &Decider,
        reason: Option<&str>,
        now_us: i64,
    ) -> Result<Approval, DecideError>;
    /// Uses an approved approval for one call with this action hash: true if it let it through.
    fn consume(
        &self,
        id: &str,
        action_hash: &str,
        session: &str,
        now_us: i64,
    ) -> Result<bool, String>;
    /// Marks pending approvals past their expiry as expired and returns them (each once, to
    /// whoever marked it).
    fn expire_due(&self, now_us: i64) -> Result<Vec<Approval>, String>;
    /// Cancels a pending approval (the session that asked ended with it unanswered, say).
    fn cancel(&self, id: &str, reason: &str, now_us: i64) -> Result<bool, String>;
    fn get(&self, id: &str) -> Result<Option<Approval>, String>;
    /// Pending first (soonest to expire first), then the most recently decided.
    fn list(&self, filter: &ApprovalFilter) -> Result<Vec<Approval>, String>;
}

/// Whether `who` may decide `a` (approvers and self-approval).
pub fn authorize(a: &Approval, who: &Decider) -> Result<(), DecideError> {
    if !a.self_approval && a.principal.as_deref() == Some(who.by.as_str()) {
        return Err(DecideError::SelfApproval {
            id: a.id.clone(),
            by: who.by.clone(),
        });
    }
    if !who.check_approvers || a.approvers.is_empty() {
        return Ok(());
    }
    let named = a.approvers.iter().any(|x| match x.strip_prefix("role:") {
        Some(role) => who.roles.iter().any(|r| r == role),
        None => *x == who.by,
    });
    if named {
        Ok(())
    } else {
        Err(DecideError::NotAnApprover {
            id: a.id.clone(),
            by: who.by.clone(),
            approvers: a.approvers.join(", "),
        })
    }
}
