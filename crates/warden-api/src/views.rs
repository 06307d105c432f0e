//! How records look in API answers: the query columns plus a few fields of the leaf, and
//! for one record the whole leaf as stored (already redacted before it was hashed).

use serde::Serialize;
use warden_audit::RecordRow;
use warden_audit::content::Payload;

/// A status for an outcome (`query::status_of`, the definition every reader shares).
pub fn status_of(outcome: Option<&str>) -> Option<&'static str> {
    outcome.map(warden_audit::query::status_of)
}

/// RFC 3339 with milliseconds, UTC.
pub fn time(us: i64) -> String {
    jiff::Timestamp::from_microsecond(us)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|_| us.to_string())
}

#[derive(serde::Deserialize, Default)]
struct LeafBits {
    event: Option<String>,
    error_code: Option<i64>,
    tool_class: Option<String>,
    dlp: Option<String>,
    policy: Option<PolicyBits>,
}

#[derive(serde::Deserialize, Default)]
struct PolicyBits {
    action: Option<String>,
    rule: Option<String>,
}

/// One record in a list.
#[derive(Serialize)]
pub struct RecordView {
    pub id: String,
    /// Row position, for the live tail's `after` / `Last-Event-ID`.
    pub row: i64,
    pub ts_us: i64,
    pub time: String,
    pub log_id: String,
    pub seq: u64,
    pub session: String,
    pub dir: Option<String>,
    pub kind: String,
    pub method: Option<String>,
    pub event: Option<String>,
    pub target: Option<String>,
    pub exchange: Option<String>,
    pub server: Option<String>,
    pub outcome: Option<String>,
    pub status: Option<&'static str>,
    pub duration_us: Option<i64>,
    pub principal: Option<String>,
    pub agent: Option<String>,
    pub error_code: Option<i64>,
    pub tool_class: Option<String>,
    pub policy_action: Option<String>,
    pub policy_rule: Option<String>,
    pub dlp: Option<String>,
}

impl RecordView {
    pub fn new(r: RecordRow) -> RecordView {
        let bits: LeafBits = serde_json::from_slice(&r.leaf).unwrap_or_default();
        let policy = bits.policy.unwrap_or_default();
        RecordView {
            status: status_of(r.outcome.as_deref()),
            time: time(r.ts_us),
            id: r.id,
            row: r.rowid,
            ts_us: r.ts_us,
            log_id: r.log_id,
            seq: r.seq,
            session: r.session,
            dir: r.dir,
            kind: r.kind,
            method: r.method,
            event: bits.event,
            target: r.target,
            exchange: r.exchange,
            server: r.server,
            outcome: r.outcome,
            duration_us: r.duration_us,
            principal: r.principal,
            agent: r.agent,
            error_code: bits.error_code,
            tool_class: bits.tool_class,
            policy_action: policy.action,
            policy_rule: policy.rule,
            dlp: bits.dlp,
        }
    }
}

/// One record with its leaf.
#[derive(Serialize)]
pub struct RecordDetail {
    #[serde(flatten)]
    pub view: RecordView,
    /// The leaf exactly as stored and hashed, parsed.
    pub leaf: serde_json::Value,
    /// The stored payload (redacted before it was stored): in the content store since leaf
    /// v2, where it can have expired or been erased. Absent when none was stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<ContentView>,
}

/// A record's payload as the API shows it.
#[derive(Serialize)]
pub struct ContentView {
    /// `present`, `expired`, `erased` or `unavailable`.
    pub state: &'static str,
    /// The payload: JSON as stored, or text as a JSON string (only when present).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

impl RecordDetail {
    pub fn new(r: RecordRow, payload: Option<Payload>) -> RecordDetail {
        let leaf = serde_json::from_slice(&r.leaf).unwrap_or(serde_json::Value::Null);
        let content = payload.map(|p| ContentView {
            state: match p {
                Payload::Present { .. } => "present",
                Payload::Expired => "expired",
                Payload::Erased => "erased",
                Payload::Unavailable => "unavailable",
            },
            value: p.value(),
            truncated: matches!(
                p,
                Payload::Present {
                    truncated: true,
                    ..
                }
            ),
        });
        RecordDetail {
            view: RecordView::new(r),
            leaf,
            content,
        }
    }
}
