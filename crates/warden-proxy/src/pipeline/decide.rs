//! Stage 4, decide: whether a client frame's requests go on — policy on every governed call,
//! the audit store's health, secrets in arguments, budgets, then rate limits — decided before
//! anything moves. A frame goes on whole or not at all.

use std::sync::Arc;

use warden_audit::now_us;
use warden_core::{Classification, Direction, Kind, Message};
use warden_policy::{Decision as Verdict, GOVERNED_METHODS, Request};

use super::copy::Copied;
use super::counters::{BudgetCharge, BudgetHit, LimitHit};
use super::parse::Parsed;
use super::{Governance, OnStoreError, Pipeline};

/// The decision on one frame.
pub(super) struct Decided {
    pub governance: Option<Arc<Governance>>,
    /// Per message: the policy decision on a governed client request.
    pub verdicts: Vec<Option<Verdict>>,
    /// Why new requests are refused: the audit store is failing (and fails closed).
    pub store_refusal: Option<String>,
    /// The secrets found in arguments whose rules block the call.
    pub secret: Vec<String>,
    /// Per message: the budgets an allowed call is charged against, the first it does not fit
    /// in, and what each was at after the charge (empty when the frame is refused).
    pub charges: Vec<Vec<BudgetCharge>>,
    pub over: Vec<Option<BudgetHit>>,
    pub charged: Vec<Vec<u64>>,
    /// Per message: a rate limit that was full.
    pub limited: Vec<Option<LimitHit>>,
    /// Per message: the tool catalog does not approve the tool it calls.
    pub catalog: Vec<Option<crate::catalog::Blocked>>,
    /// Some request is blocked by policy.
    pub denied: bool,
    /// The frame is answered by warden instead of forwarded.
    pub refuse: bool,
}

impl Decided {
    /// The policy decision on message `i`, if it is a governed request.
    pub(super) fn verdict(&self, i: usize) -> Option<&Verdict> {
        self.verdicts.get(i).and_then(Option::as_ref)
    }
}

impl Pipeline {
    /// Stage 4: decides a frame; counts the calls that go on against limits and budgets.
    pub(super) fn decide(
        &self,
        dir: Direction,
        frame: &[u8],
        parsed: &Parsed<'_>,
        classes: &[Classification],
        copy: &Copied,
    ) -> Decided {
        let governance = self.governance();
        let verdicts: Vec<Option<Verdict>> = match &governance {
            Some(g) if dir == Direction::C2S => parsed
                .messages()
                .iter()
                .zip(classes)
                .map(|(m, c)| self.verdict(g, frame, m, c))
                .collect(),
            _ => Vec::new(),
        };
        let denied = verdicts.iter().flatten().any(Verdict::blocks);
        // A tool the catalog does not approve (new, changed since approved, rejected).
        let catalog: Vec<Option<crate::catalog::Blocked>> = if dir == Direction::C2S {
            parsed
                .messages()
                .iter()
                .zip(classes)
                .map(|(m, c)| self.catalog_blocks(m, c))
                .collect()
        } else {
            Vec::new()
        };
        let unapproved_tool = catalog.iter().any(Option::is_some);
        let requests = dir == Direction::C2S && parsed.carries_request();
        let store_refusal = if requests { self.store_refusal() } else { None };
        // A detected secret in a client request's arguments refuses the call when the redaction
        // rules say to block it (`block_on_detect`): the secret never reaches the server.
        let secret: Vec<String> = match (&self.redactor, copy) {
            (Some(r), Copied::Redacted { found, .. }) if requests => {
                if parsed.batch() {
                    (0..parsed.messages().len())
                        .flat_map(|i| r.blocking(found, &format!("/{i}/params")))
                        .collect()
                } else {
                    r.blocking(found, "/params")
                }
            }
            _ => Vec::new(),
        };
        // Budgets: whether each allowed call still fits (charged below, once nothing refuses it).
        let charges: Vec<Vec<BudgetCharge>> = match &governance {
            Some(g) => verdicts
                .iter()
                .zip(classes)
                .map(|(v, c)| {
                    v.as_ref()
                        .map(|v| self.budget_charges(g, v, c))
                        .unwrap_or_default()
                })
                .collect(),
            None => Vec::new(),
        };
        let over: Vec<Option<BudgetHit>> = charges.iter().map(|cs| self.over_budget(cs)).collect();
        let over_budget = over.iter().flatten().any(|h| h.enforced);
        // A single call that only needs approval may go on once approved: with an approvals
        // workflow it counts against rate limits when it is asked (each ask and each retry),
        // so that an approval never lets a call past a full limit.
        let approval_only = self.holder.is_some()
            && !parsed.batch()
            && verdicts
                .iter()
                .flatten()
                .all(|v| !v.blocks() || v.action == warden_policy::Action::Approve);
        // Rate limits count only calls that policy allows and that would be forwarded.
        let limited: Vec<Option<LimitHit>> = match &governance {
            Some(g)
                if store_refusal.is_none()
                    && !unapproved_tool
                    && (!denied || approval_only)
                    && secret.is_empty()
                    && !over_budget =>
            {
                verdicts
                    .iter()
                    .zip(classes)
                    .map(|(v, c)| v.as_ref().and_then(|v| self.count_limits(g, v, c)))
                    .collect()
            }
            _ => Vec::new(),
        };
        let rate_limited = limited.iter().flatten().any(|h| h.enforced);
        let refuse = store_refusal.is_some()
            || unapproved_tool
            || denied
            || !secret.is_empty()
            || over_budget
            || rate_limited;
        // The calls that go through are charged to their budgets.
        let charged = if refuse {
            Vec::new()
        } else {
            self.charge(&charges)
        };
        Decided {
            governance,
            verdicts,
            store_refusal,
            secret,
            charges,
            over,
            charged,
            limited,
            catalog,
            denied: denied || unapproved_tool,
            refuse,
        }
    }

    /// The policy decision on one message, if it is a governed client request.
    fn verdict(
        &self,
        g: &Governance,
        frame: &[u8],
        m: &Message<'_>,
        c: &Classification,
    ) -> Option<Verdict> {
        // The client's name: from this message's metadata, else from the session's initialize.
        let client = c
            .client_info
            .as_ref()
            .map(|i| i.name.clone())
            .or_else(|| self.context().client_info.as_ref().map(|i| i.name.clone()));
        let method = m.method.as_deref().filter(|_| m.kind == Kind::Request)?;
        if !GOVERNED_METHODS.contains(&method) {
            return None;
        }
        // The argument tree is built only when some rule looks at arguments.
        // Arguments that are there but cannot be read are never "no arguments": the call is
        // refused (admission makes this unreachable for frames it passed; this is the backstop).
        let args: Option<serde_json::Value> = match c.args.clone().and_then(|r| frame.get(r)) {
            Some(b) if g.policy.needs_args() => match serde_json::from_slice(b) {
                Ok(v) => Some(v),
                Err(_) => return Some(unreadable_arguments(g)),
            },
            _ => None,
        };
        let facts = c
            .target
            .as_deref()
            .filter(|_| method == "tools/call")
            .and_then(|t| self.tool_facts(g, t));
        let req = Request {
            server: &self.server,
            method,
            target: c.target.as_deref(),
            arguments: args.as_ref(),
            principal: g.principal.as_deref(),
            roles: &g.roles,
            client: client.as_deref(),
            at: Some(warden_policy::Moment::from_unix(
                now_us().div_euclid(1_000_000),
            )),
            tool: facts.as_ref(),
        };
        // `resolve_symlinks` conditions see this host's file system (see `realpath`).
        Some(
            g.policy
                .evaluate_resolving(&req, &crate::realpath::real_path),
        )
    }

    /// `Some(reason)` when new requests must be refused because the store is failing.
    fn store_refusal(&self) -> Option<String> {
        let failure = self.audit.failure()?;
        match self.on_store_error {
            OnStoreError::FailClosed => Some(failure),
            OnStoreError::FailOpen => {
                if !self
                    .warned_open
                    .swap(true, std::sync::atomic::Ordering::Relaxed)
                {
                    tracing::error!(
                        "audit store failing, forwarding anyway because on_store_error is fail_open: {failure}"
                    );
                }
                None
            }
        }
    }
}

/// The decision on a governed call whose arguments cannot be read: denied, by no rule.
fn unreadable_arguments(g: &Governance) -> Verdict {
    Verdict {
        action: warden_policy::Action::Deny,
        enforced: true,
        rule: None,
        message: Some(
            "warden could not read the call's arguments, so no rule could be evaluated".into(),
        ),
        matched: Vec::new(),
        policy: g.policy.hash.clone(),
        limits: Vec::new(),
        budgets: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use warden_core::Direction;

    use super::super::copy::Copied;
    use super::super::tests::{governed, line};

    const POLICY: &str = r#"
default: allow
policies:
  - name: no-delete
    tool_pattern: "srv:delete"
    action: deny
  - name: two-reads
    tool_pattern: "srv:read"
    action: allow
    rate_limit: { limit: 2, window: 1m }
"#;

    fn call(id: u32, tool: &str) -> bytes::Bytes {
        line(&format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{{}}}}}}"#
        ))
    }

    fn decide(p: &super::Pipeline, frame: &[u8]) -> super::Decided {
        let parsed = p.parse(Direction::C2S, frame).ok().unwrap();
        let c = p.classify(Direction::C2S, frame, &parsed);
        p.decide(
            Direction::C2S,
            frame,
            &parsed,
            &c.classes,
            &Copied::Unredacted,
        )
    }

    #[test]
    fn policy_decides_every_governed_call_and_a_denied_one_refuses_the_frame() {
        let (p, _keep) = governed(POLICY);
        let d = decide(&p, &call(1, "delete"));
        assert!(d.refuse && d.denied);
        assert_eq!(d.verdict(0).unwrap().rule.as_deref(), Some("no-delete"));
        let d = decide(&p, &call(2, "other"));
        assert!(!d.refuse);
        // Not a governed method: no decision at all.
        let d = decide(&p, &line(r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#));
        assert!(d.verdict(0).is_none() && !d.refuse);
    }

    #[test]
    fn rate_limits_count_only_calls_that_go_on() {
        let (p, _keep) = governed(POLICY);
        // A batch with a denied call is refused whole, and counts nothing.
        let batch = format!(
            "[{},{}]",
            String::from_utf8_lossy(&call(1, "read")).trim(),
            String::from_utf8_lossy(&call(2, "delete")).trim()
        );
        assert!(decide(&p, &line(&batch)).refuse);
        assert!(!decide(&p, &call(3, "read")).refuse);
        assert!(!decide(&p, &call(4, "read")).refuse);
        let d = decide(&p, &call(5, "read"));
        assert!(d.refuse && !d.denied);
        assert_eq!(d.limited[0].as_ref().unwrap().rule, "two-reads");
    }
}
