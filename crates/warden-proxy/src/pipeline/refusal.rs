//! Why warden answers a client request instead of forwarding it, in the order the reasons are
//! given (store failing, a tool the catalog does not approve, a policy denial, budget, secret, rate limit, a policy approval, then the
//! rest of a refused batch), and the error it answers with.

use warden_audit::Outcome;
use warden_core::Message;

use super::Pipeline;
use super::decide::Decided;
use crate::errors;

/// warden's answer to one refused request, and how the exchange ends.
pub(super) struct Refused {
    pub reply: Vec<u8>,
    pub reason: &'static str,
    pub code: i64,
    pub outcome: Outcome,
}

impl Pipeline {
    /// The answer to request `i` of a frame `d` refuses. `target` names the call in messages.
    pub(super) fn refused(
        &self,
        d: &Decided,
        i: usize,
        msg: &Message<'_>,
        target: Option<&str>,
    ) -> Refused {
        let id = msg.id;
        let r = |reply, reason, code, outcome| Refused {
            reply,
            reason,
            code,
            outcome,
        };
        if let Some(why) = &d.store_refusal {
            return r(
                errors::store_unavailable(id, why),
                "audit_store_unavailable",
                errors::AUDIT_STORE_UNAVAILABLE,
                Outcome::GatewayError,
            );
        }
        if let Some(b) = d.catalog.get(i).and_then(Option::as_ref) {
            let (reply, reason) = errors::tool_blocked(id, &self.server, b);
            return r(reply, reason, errors::TOOL_NOT_APPROVED, Outcome::Denied);
        }
        let policy = |v: &warden_policy::Decision| {
            let what = format!(
                "{}:{}",
                self.server,
                target.or(msg.method.as_deref()).unwrap_or_default()
            );
            let (reply, reason, code) = errors::policy(id, v, &what);
            let outcome = if reason == "approval_required" {
                Outcome::ApprovalRequired
            } else {
                Outcome::Denied
            };
            r(reply, reason, code, outcome)
        };
        let blocking = d.verdict(i).filter(|v| v.blocks());
        // A denial is the first reason; a call that needs approval and is also over a budget,
        // carrying a secret or rate limited is told that first (no approval would help).
        if let Some(v) = blocking.filter(|v| v.action != warden_policy::Action::Approve) {
            return policy(v);
        }
        if let Some(h) = d
            .over
            .get(i)
            .and_then(Option::as_ref)
            .filter(|h| h.enforced)
        {
            return r(
                errors::budget_exceeded(id, &h.rule, h.limit, h.used, h.resets_at_ms),
                "budget_exceeded",
                errors::BUDGET_EXCEEDED,
                Outcome::BudgetExceeded,
            );
        }
        if !d.secret.is_empty() {
            return r(
                errors::secret_detected(id, &d.secret),
                "secret_detected",
                errors::SECRET_DETECTED,
                Outcome::Denied,
            );
        }
        if let Some(h) = d
            .limited
            .get(i)
            .and_then(Option::as_ref)
            .filter(|h| h.enforced)
        {
            return r(
                errors::rate_limited(id, &h.rule, h.limit, h.window_ms, h.retry_after_ms),
                "rate_limited",
                errors::RATE_LIMITED,
                Outcome::RateLimited,
            );
        }
        if let Some(v) = blocking {
            return policy(v);
        }
        if d.denied {
            return r(
                errors::batch_denied(id),
                "batch_denied",
                errors::POLICY_DENIED,
                Outcome::Denied,
            );
        }
        r(
            errors::batch_denied(id),
            "batch_rate_limited",
            errors::RATE_LIMITED,
            Outcome::RateLimited,
        )
    }
}

/// How a message of a refused frame that is not itself refused (a notification or response in
/// a refused batch) ends: never forwarded.
pub(super) fn not_forwarded(d: &Decided) -> (Outcome, &'static str) {
    match (&d.store_refusal, d.denied || !d.secret.is_empty()) {
        (Some(_), _) => (Outcome::GatewayError, "audit_store_unavailable"),
        (None, true) => (Outcome::Denied, "batch_denied"),
        (None, false) => (Outcome::RateLimited, "batch_rate_limited"),
    }
}
