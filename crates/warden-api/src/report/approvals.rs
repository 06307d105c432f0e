//! The report's approvals section, from the approval records in scope (`approval_requested`,
//! `approval_decided`, `approval_forwarded`; see `warden_audit::approvals::records`) and the
//! `hold_released` events of held calls answered instead of forwarded: how many were asked
//! and how each ended, and one row per approval: what was asked, by whom, under which rule,
//! who decided, through which channel, why, after how long, how many calls it let through and
//! how many held calls were answered without being forwarded.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde_json::Value;

use crate::views::time;

/// Most approvals listed one by one (all are counted).
const LISTED: usize = 1000;

/// One approval, as its records in scope tell it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ApprovalEntry {
    pub id: String,
    pub tool: Option<String>,
    pub server: Option<String>,
    /// Who asked (the principal whose call it was).
    pub principal: Option<String>,
    pub rule: Option<String>,
    /// When it was asked (absent when the request is outside the scope).
    pub requested: Option<String>,
    /// `pending` (not decided in scope), `approved`, `denied`, `expired`, `cancelled`.
    pub status: String,
    pub decided_by: Option<String>,
    pub decided_roles: Vec<String>,
    pub channel: Option<String>,
    /// The decider's reason, as recorded.
    pub reason: Option<String>,
    pub decided: Option<String>,
    pub waited_ms: Option<u64>,
    /// Calls this approval let through (`approval_forwarded` records).
    pub forwarded: u64,
    /// Held calls on this approval answered instead of forwarded (`hold_released`, refused):
    /// denied, expired, or still pending when the hold ran out.
    pub held_answered: u64,
    /// The approval's records (request, decision, forwards).
    pub records: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ApprovalsSection {
    /// Approvals asked in scope (distinct ids).
    pub requested: u64,
    /// Decisions in scope, by outcome.
    pub approved: u64,
    pub denied: u64,
    pub expired: u64,
    pub cancelled: u64,
    /// Asked in scope and not decided in it.
    pub pending: u64,
    /// In the order first seen (at most 1000).
    pub approvals: Vec<ApprovalEntry>,
    /// Approvals seen in scope (listed or not).
    pub total: u64,
}

/// Gathers the section record by record.
#[derive(Default)]
pub(super) struct Approvals {
    section: ApprovalsSection,
    /// Approval id → its row in `section.approvals`, or `None` past the cap.
    index: HashMap<String, Option<usize>>,
    requested: HashSet<String>,
    decided: HashSet<String>,
}

fn text(a: &Value, key: &str) -> Option<String> {
    a.get(key).and_then(Value::as_str).map(str::to_owned)
}

impl Approvals {
    /// Takes in an approval record (`event` and its `detail`); anything else is ignored.
    pub(super) fn add(&mut self, r: &warden_audit::RecordRow, event: &str, detail: &Value) {
        let answered =
            event == "hold_released" && detail.get("forwarded") == Some(&Value::Bool(false));
        if !answered
            && !matches!(
                event,
                "approval_requested" | "approval_decided" | "approval_forwarded"
            )
        {
            return;
        }
        let Some(a) = detail.get("approval") else {
            return;
        };
        let Some(id) = a.get("id").and_then(Value::as_str) else {
            return;
        };
        let s = &mut self.section;
        let slot = *self.index.entry(id.to_owned()).or_insert_with(|| {
            s.total += 1;
            (s.approvals.len() < LISTED).then(|| {
                s.approvals.push(ApprovalEntry {
                    id: id.to_owned(),
                    tool: r.target.clone(),
                    server: r.server.clone(),
                    status: "pending".into(),
                    ..ApprovalEntry::default()
                });
                s.approvals.len() - 1
            })
        });
        let mut row = slot.map(|i| &mut s.approvals[i]);
        if let Some(e) = row.as_deref_mut() {
            e.records.push(r.id.clone());
            if e.rule.is_none() {
                e.rule = text(a, "rule");
            }
        }
        match event {
            "approval_requested" => {
                if self.requested.insert(id.to_owned()) {
                    s.requested += 1;
                }
                if let Some(e) = row {
                    e.principal = text(a, "principal").or_else(|| r.principal.clone());
                    e.requested.get_or_insert_with(|| time(r.ts_us));
                }
            }
            "approval_decided" => {
                self.decided.insert(id.to_owned());
                let status = text(a, "status").unwrap_or_default();
                match status.as_str() {
                    "approved" => s.approved += 1,
                    "denied" => s.denied += 1,
                    "expired" => s.expired += 1,
                    "cancelled" => s.cancelled += 1,
                    _ => {}
                }
                if let Some(e) = row {
                    e.status = status;
                    e.principal = e.principal.take().or_else(|| text(a, "requested_by"));
                    e.decided_by = text(a, "by");
                    e.decided_roles = a
                        .get("roles")
                        .and_then(Value::as_array)
                        .map(|v| {
                            v.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_owned)
                                .collect()
                        })
                        .unwrap_or_default();
                    e.channel = text(a, "channel");
                    e.reason = text(a, "reason");
                    e.decided = Some(time(r.ts_us));
                    e.waited_ms = a.get("waited_ms").and_then(Value::as_u64);
                }
            }
            "approval_forwarded" => {
                if let Some(e) = row {
                    e.forwarded += 1;
                }
            }
            _ => {
                if let Some(e) = row {
                    e.held_answered += 1;
                }
            }
        }
    }

    pub(super) fn finish(self) -> ApprovalsSection {
        let mut s = self.section;
        s.pending = self
            .requested
            .iter()
            .filter(|id| !self.decided.contains(*id))
            .count() as u64;
        s
    }
}

#[cfg(test)]
mod tests;
