//! Holding a request: a call the policy sends for approval can be kept from going on until
//! something outside the pipeline (the approvals workflow, a [`Holder`]) releases it — forwarded
//! as received, or answered with an error. The transport waits for the release without holding
//! up the rest of the session; the held call is in flight meanwhile (its id cannot be reused),
//! and its release is recorded. Without a holder, such a call is refused, as before.
//!
//! What is held: a frame with one request (never a batch), refused for no other reason than
//! the approval its rule asks for. Rate limits and budgets are not counted for it while held.

use tokio::sync::oneshot;
use uuid::Uuid;
use warden_audit::writer::WriterGone;
use warden_audit::{AuditEvent, Outcome};
use warden_core::{Classification, Direction, Kind, RequestId};
use warden_policy::Action;

use super::decide::Decided;
use super::parse::Parsed;
use super::{Pipeline, Route};
use crate::errors;
use crate::observer::FrameHints;

/// Decides when held calls go on (the approvals workflow). Asked once per held call, after its
/// records are queued; must not block.
pub trait Holder: Send + Sync {
    /// Returns where the call's release will come from. A dropped sender releases the call as
    /// refused (`hold_abandoned`).
    fn hold(&self, call: &HeldCall) -> oneshot::Receiver<Release>;
}

/// A call being held.
#[derive(Debug, Clone)]
pub struct HeldCall {
    /// The approval this hold waits for (also on the call's record).
    pub approval: String,
    pub session: String,
    pub server: String,
    pub method: String,
    pub target: Option<String>,
    /// The rule that asked for approval, and the approvers it names.
    pub rule: Option<String>,
    pub approvers: Vec<String>,
    pub principal: Option<String>,
    /// The client's request id, as sent (JSON text), for warden's answer.
    pub rpc_id: String,
    /// The exchange the held call opened.
    pub exchange: Option<Uuid>,
}

/// How a held call ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release {
    /// Forward the call as it was received.
    Forward,
    /// Answer it with a JSON-RPC error instead (`data.reason` is `reason`).
    Refuse {
        code: i64,
        reason: String,
        message: String,
    },
}

/// What a transport waits on for a held call.
#[derive(Debug)]
pub struct Hold {
    pub call: HeldCall,
    rx: oneshot::Receiver<Release>,
}

impl PartialEq for Hold {
    fn eq(&self, other: &Hold) -> bool {
        self.call.approval == other.call.approval
    }
}
impl Eq for Hold {}

impl Hold {
    /// Waits for the release (async transports).
    pub async fn wait(self) -> (HeldCall, Release) {
        let release = self.rx.await.unwrap_or_else(|_| abandoned());
        (self.call, release)
    }

    /// Waits for the release on this thread (the stdio transport, on a thread of its own).
    pub fn wait_blocking(self) -> (HeldCall, Release) {
        let release = self.rx.blocking_recv().unwrap_or_else(|_| abandoned());
        (self.call, release)
    }
}

fn abandoned() -> Release {
    Release::Refuse {
        code: errors::APPROVAL_REQUIRED,
        reason: "hold_abandoned".into(),
        message: "warden: the call was held for approval and the approval workflow went away"
            .into(),
    }
}

impl Pipeline {
    /// Holds calls the policy sends for approval (see the module documentation).
    pub fn with_holder(mut self, h: std::sync::Arc<dyn Holder>) -> Pipeline {
        self.holder = Some(h);
        self
    }

    /// Whether this frame's request is held rather than refused: the call to hold, if so.
    pub(super) fn plan_hold(
        &self,
        dir: Direction,
        parsed: &Parsed<'_>,
        classes: &[Classification],
        d: &Decided,
    ) -> Option<HeldCall> {
        self.holder.as_ref()?;
        let [msg] = parsed.messages() else {
            return None;
        };
        let v = d.verdict(0)?;
        let only_approval = dir == Direction::C2S
            && !parsed.batch()
            && msg.kind == Kind::Request
            && v.enforced
            && v.action == Action::Approve
            && d.store_refusal.is_none()
            && d.secret.is_empty()
            && !d.over.iter().flatten().any(|h| h.enforced)
            && !d.limited.iter().flatten().any(|h| h.enforced);
        if !only_approval {
            return None;
        }
        let g = d.governance.as_ref();
        Some(HeldCall {
            approval: Uuid::now_v7().to_string(),
            session: self.session.to_string(),
            server: self.server.clone(),
            method: msg.method.as_deref().unwrap_or_default().to_owned(),
            target: classes.first().and_then(|c| c.target.clone()),
            rule: v.rule.clone(),
            approvers: self.approvers(d, 0),
            principal: g.and_then(|g| g.principal.clone()),
            rpc_id: msg.id.map(|r| r.get().to_owned())?,
            exchange: None,
        })
    }

    /// Hands a held call to the holder, for the transport to wait on.
    pub(super) fn start_hold(&self, call: HeldCall) -> Route {
        match &self.holder {
            Some(h) => {
                let rx = h.hold(&call);
                Route::Hold(Box::new(Hold { call, rx }))
            }
            None => unreachable_hold(&call),
        }
    }

    /// Records how a held call ended and says what the transport does with it: forward the
    /// call as received, or answer the client (the exchange then ends here).
    pub fn release(&self, call: &HeldCall, release: &Release) -> Result<Route, WriterGone> {
        let mut ev = AuditEvent::gateway(self.session.clone(), self.context(), "hold_released");
        ev.exchange = call.exchange;
        ev.method = Some(self.scrub(&call.method));
        ev.target = call.target.as_deref().map(|t| self.scrub(t));
        ev.rpc_id = Some(self.scrub_id(&call.rpc_id));
        let (forwarded, reason) = match release {
            Release::Forward => (true, None),
            Release::Refuse { reason, .. } => (false, Some(reason.clone())),
        };
        ev.detail = Some(serde_json::json!({
            "approval": { "id": call.approval, "status": if forwarded { "released" } else { "refused" } },
            "forwarded": forwarded, "reason": reason,
        }));
        let Release::Refuse {
            code,
            reason,
            message,
        } = release
        else {
            self.enqueue(vec![ev], false, FrameHints::default())?;
            return Ok(Route::Forward);
        };
        let raw = serde_json::value::RawValue::from_string(call.rpc_id.clone()).ok();
        let reply = errors::held_refused(raw.as_deref(), *code, reason, message, &call.approval);
        let id = raw.as_deref().and_then(RequestId::from_raw);
        let answer = self.answer_exchange(id.as_ref(), &reply, *code, reason, Outcome::Denied);
        self.enqueue(vec![ev, answer], false, FrameHints::default())?;
        Ok(Route::Answer(reply))
    }
}

/// A hold planned with no holder cannot happen (`plan_hold` asks for one); refuse, fail closed.
fn unreachable_hold(call: &HeldCall) -> Route {
    let raw = serde_json::value::RawValue::from_string(call.rpc_id.clone()).ok();
    Route::Answer(errors::held_refused(
        raw.as_deref(),
        errors::APPROVAL_REQUIRED,
        "approval_required",
        "warden: this call needs approval and no approval workflow is configured",
        &call.approval,
    ))
}
