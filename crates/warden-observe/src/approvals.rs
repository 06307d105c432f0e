//! Approvals as operators see them, read from the approval records the observer is shown
//! (`approval_requested`, `approval_decided`, `approval_forwarded`; see
//! `warden_audit::approvals::records`): decisions counted by outcome, the time each waited,
//! the approvals this process saw asked and not yet settled (how many, and how soon the first
//! expires, both computed when scraped), and their security events.
//!
//! Pending is what this process knows: an approval it saw requested, not yet seen decided or
//! forwarded here, and not past its expiry (after which no decision can be made; whoever
//! expires it records `expired`). A decision made in another process (the CLI, another
//! instance's API) is seen here only through the record this process writes when it acts on
//! it (`approval_forwarded`), or not at all: such an approval leaves the gauge at its expiry.

use std::collections::HashMap;

use parking_lot::Mutex;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use serde_json::{Value, json};
use warden_audit::AuditEvent;

use crate::events;

/// The outcomes of a decision (`mcp_approvals_total{outcome}`); any other status is not counted.
pub const OUTCOMES: [&str; 4] = ["approved", "denied", "expired", "cancelled"];

/// Buckets of `mcp_approval_wait_seconds`: a human answering, from seconds to a day.
pub const WAIT_BUCKETS: [f64; 12] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 14_400.0, 86_400.0,
];

/// Most pending approvals remembered at once (beyond, new ones are not tracked).
const MAX_PENDING: usize = 65_536;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

/// The outcome label of a decided approval's status, if it is one.
pub fn outcome(status: &str) -> Option<&'static str> {
    OUTCOMES.iter().find(|o| **o == status).copied()
}

/// The approvals this process saw requested and not yet settled: id → expiry (µs).
#[derive(Debug, Default)]
pub struct PendingApprovals {
    open: Mutex<HashMap<String, i64>>,
}

impl PendingApprovals {
    /// An approval was asked (asking again for the same id changes nothing).
    pub fn requested(&self, id: &str, expires_us: i64) {
        let mut open = self.open.lock();
        if open.len() < MAX_PENDING || open.contains_key(id) {
            open.insert(id.to_owned(), expires_us);
        }
    }

    /// An approval was decided or used: no longer pending (ids never seen requested are ignored).
    pub fn settled(&self, id: &str) {
        self.open.lock().remove(id);
    }

    /// How many are pending at `now_us`, and the soonest expiry among them; forgets those past
    /// their expiry.
    pub fn at(&self, now_us: i64) -> (usize, Option<i64>) {
        let mut open = self.open.lock();
        open.retain(|_, exp| *exp > now_us);
        (open.len(), open.values().min().copied())
    }
}

/// `mcp_approvals_pending` and `mcp_approval_next_expiry_seconds`, computed when scraped (a
/// value set when a record passed would not count down). With nothing pending, the expiry
/// series is absent: an alert on `mcp_approval_next_expiry_seconds < N` then has nothing to
/// compare and stays quiet, and no sentinel (`+Inf`, `-1`) reaches a dashboard or a `min()`.
#[derive(Debug)]
pub(crate) struct PendingCollector(pub(crate) std::sync::Arc<PendingApprovals>);

impl Collector for PendingCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let now = warden_audit::now_us();
        let (n, soonest) = self.0.at(now);
        let g = ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX));
        g.encode(encoder.encode_descriptor(
            "mcp_approvals_pending",
            "Approvals this warden asked for that are not decided, used or expired",
            None,
            g.metric_type(),
        )?)?;
        if let Some(exp) = soonest {
            let g = ConstGauge::new(exp.saturating_sub(now) as f64 / 1e6);
            g.encode(encoder.encode_descriptor(
                "mcp_approval_next_expiry_seconds",
                "Seconds until the first pending approval expires (absent when none is pending)",
                None,
                g.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

/// An approval record: which one, and its `detail.approval`.
pub(crate) fn read(ev: &AuditEvent) -> Option<(&'static str, &Value)> {
    let name = match ev.event? {
        n @ ("approval_requested" | "approval_decided" | "approval_forwarded") => n,
        _ => return None,
    };
    Some((name, ev.detail.as_ref()?.get("approval")?))
}

fn text<'a>(a: &'a Value, key: &str) -> Option<&'a str> {
    a.get(key).and_then(Value::as_str)
}

/// Counts `ev` in the metrics, if it is an approval record.
pub(crate) fn count(m: &crate::metrics::Metrics, ev: &AuditEvent) {
    let Some((name, a)) = read(ev) else { return };
    let Some(id) = text(a, "id") else { return };
    match name {
        "approval_requested" => {
            if let Some(exp) = a.get("expires_us").and_then(Value::as_i64) {
                m.approvals_pending.requested(id, exp);
            }
        }
        "approval_decided" => {
            m.approvals_pending.settled(id);
            let Some(outcome) = text(a, "status").and_then(outcome) else {
                return;
            };
            m.approvals.get_or_create(&OutcomeLabels { outcome }).inc();
            if let Some(ms) = a.get("waited_ms").and_then(Value::as_u64) {
                m.approval_wait
                    .get_or_create(&OutcomeLabels { outcome })
                    .observe(ms as f64 / 1e3);
            }
        }
        _ => m.approvals_pending.settled(id),
    }
}

/// The security event of an approval record (`mcp_approval_requested`,
/// `mcp_approval_decided`): who asked for which tool under which rule, who decided and how,
/// how long it waited. Ids, names and times only: no arguments, and no reason (free text a
/// human typed; it stays in the audit log).
pub(crate) fn security_event(ev: &AuditEvent) -> Option<(&'static str, Value)> {
    let (name, a) = read(ev)?;
    let common = |event: &'static str, user: Option<&str>| {
        json!({
            "event": event,
            "timestamp": events::timestamp(ev.ts_us),
            "tool_name": ev.target,
            "server_id": ev.context.server_name,
            "user_id": user,
            "agent_name": ev.context.agent_label(),
            "approval_id": a.get("id"),
            "action_hash": a.get("action_hash"),
            "rule": a.get("rule"),
            "record_id": ev.id.to_string(),
        })
    };
    match name {
        "approval_requested" => {
            let mut v = common(events::APPROVAL_REQUESTED, ev.context.principal.as_deref());
            v["outcome"] = "pending".into();
            v["approvers"] = a.get("approvers").cloned().unwrap_or(Value::Null);
            v["grant"] = a.get("grant").cloned().unwrap_or(Value::Null);
            v["channels"] = a.get("channels").cloned().unwrap_or(Value::Null);
            v["expires"] = a
                .get("expires_us")
                .and_then(Value::as_i64)
                .map(events::timestamp)
                .into();
            Some((events::APPROVAL_REQUESTED, v))
        }
        "approval_decided" => {
            let mut v = common(events::APPROVAL_DECIDED, text(a, "requested_by"));
            v["outcome"] = a.get("status").cloned().unwrap_or(Value::Null);
            v["success"] = (text(a, "status") == Some("approved")).into();
            v["decided_by"] = a.get("by").cloned().unwrap_or(Value::Null);
            v["decided_roles"] = a.get("roles").cloned().unwrap_or(Value::Null);
            v["channel"] = a.get("channel").cloned().unwrap_or(Value::Null);
            v["waited_ms"] = a.get("waited_ms").cloned().unwrap_or(Value::Null);
            Some((events::APPROVAL_DECIDED, v))
        }
        _ => None,
    }
}
