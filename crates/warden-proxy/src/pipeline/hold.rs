//! Holding a request: a call the policy sends for approval can be kept from going on until
//! something outside the pipeline (the approvals workflow, a [`Holder`]) releases it — forwarded
//! as received, or answered with an error. The transport waits for the release without holding
//! up the rest of the session; the held call is in flight meanwhile (its id cannot be reused),
//! and its release is recorded. Without a holder, such a call is refused, as before.
//!
//! What is held: a frame with one request (never a batch), refused for no other reason than
//! the approval its rule asks for. Rate limits and budgets are not counted for it while held.

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;
use uuid::Uuid;
use warden_audit::approvals::{Approval, records as approval_records};
use warden_audit::writer::WriterGone;
use warden_audit::{AuditEvent, Outcome};
use warden_core::{Classification, Direction, Kind, RequestId};
use warden_policy::Action;

use super::copy::Copied;
use super::decide::Decided;
use super::parse::Parsed;
use super::{Pipeline, Route};
use crate::errors;
use crate::observer::FrameHints;

/// Decides when held calls go on (the approvals workflow).
pub trait Holder: Send + Sync {
    /// Asked first, before the call's records are made: may fill in the approval (`call.approval`,
    /// `call.action_hash`, `call.hold_ms`) and says whether the call is held, let through under
    /// an approval that covers it, or refused. The default holds every call on a new approval.
    fn admit(&self, call: &mut HeldCall, ask: &Ask<'_>) -> Admit {
        let _ = (call, ask);
        Admit::Hold { fresh: None }
    }
    /// Returns where the call's release will come from, after its records are queued; must
    /// not block. A dropped sender releases the call as refused (`hold_abandoned`).
    fn hold(&self, call: &HeldCall) -> oneshot::Receiver<Release>;
    /// Decides an approval on behalf of `who` (an answer to warden's elicitation).
    fn decide(
        &self,
        approval: &str,
        approve: bool,
        who: &warden_audit::approvals::Decider,
        reason: Option<&str>,
    ) -> Result<Approval, String> {
        let _ = (approval, approve, who, reason);
        Err("this holder takes no decisions".into())
    }
}

/// What a holder is told about a call it admits, beyond the `HeldCall`.
#[derive(Debug)]
pub struct Ask<'a> {
    /// The arguments as received (for the action hash), and as stored (redacted).
    pub arguments: Option<&'a [u8]>,
    pub stored_arguments: Option<&'a [u8]>,
    pub agent: Option<String>,
    pub policy: Option<String>,
    /// The rule's approval settings.
    pub spec: Option<warden_policy::ApprovalSpec>,
}

/// How a holder admits a call.
#[derive(Debug)]
pub enum Admit {
    /// Hold it; `fresh` is a new approval (its `approval_requested` record goes with the call's).
    Hold {
        fresh: Option<Box<warden_audit::approvals::Approval>>,
    },
    /// An approval covers the call and was used for it: forward it now.
    Granted(Box<warden_audit::approvals::Approval>),
    /// Refuse it (the approvals store failed, say): fail closed.
    Refuse(Release),
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
    /// Keyed hash of server, tool and arguments: what an approval approves.
    pub action_hash: Option<String>,
    /// Longest the client's request is held before it is answered "pending".
    pub hold_ms: u64,
    /// The request's `_meta.progressToken` (JSON text), for progress while it is held.
    pub progress_token: Option<String>,
    /// The channels the rule reaches approvers through (`queue`, `elicitation`, `webhook`).
    pub channels: Vec<&'static str>,
    /// Ask the client to decide (a new approval the requester may decide, on a client that
    /// can be asked): the transport sends `Hold::elicit` before it waits.
    pub elicit: bool,
    /// The budgets the call is charged to if it goes on (when its approval releases it).
    pub budget: Vec<crate::budgets::Charge>,
}

/// How a held call ends.
#[derive(Debug, Clone)]
pub enum Release {
    /// Forward the call as it was received.
    Forward,
    /// Forward the call as received: this approval was used for it (its action hash checked).
    Approved(Box<warden_audit::approvals::Approval>),
    /// Not decided within the hold: answer with a tool result saying the approval is pending
    /// (`isError: true`, the approval in `_meta`); calling again attaches to it.
    Pending {
        approval: Box<warden_audit::approvals::Approval>,
        dashboard: Option<String>,
    },
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
    /// warden's `elicitation/create` to send the client first (recorded already).
    pub elicit: Option<Vec<u8>>,
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

impl Hold {
    /// Waits for the release on this thread, calling `tick(n)` (n = 1, 2, …) every `every`
    /// meanwhile (the stdio transport sends progress notifications from it).
    pub fn wait_ticking(self, every: Duration, mut tick: impl FnMut(u32)) -> (HeldCall, Release) {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
        {
            Ok(rt) => rt,
            Err(_) => return self.wait_blocking(),
        };
        let Hold { call, mut rx, .. } = self;
        let release = rt.block_on(async {
            let mut n = 0u32;
            loop {
                tokio::select! {
                    r = &mut rx => return r.unwrap_or_else(|_| abandoned()),
                    () = tokio::time::sleep(every) => {
                        n = n.saturating_add(1);
                        tick(n);
                    }
                }
            }
        });
        (call, release)
    }
}

/// How often a held call with a progress token hears that it is still waiting: every 5 s
/// (a tenth of the default hold), more often for short holds, never more than once a second.
pub fn progress_every(hold_ms: u64) -> Duration {
    Duration::from_millis((hold_ms / 10).clamp(1000, 5000))
}

fn abandoned() -> Release {
    Release::Refuse {
        code: errors::APPROVAL_REQUIRED,
        reason: "hold_abandoned".into(),
        message: "warden: the call was held for approval and the approval workflow went away"
            .into(),
    }
}

/// What the approval step made of a frame.
pub(super) enum Plan {
    /// Not a call held for approval.
    None,
    /// Hold it, with the record of a new approval to queue with the call's.
    Hold(HeldCall, Option<Box<Approval>>),
    /// An approval covers it and was used for it: forward it, with this record.
    Granted(HeldCall, Box<Approval>),
}

impl Plan {
    pub(super) fn held(&self) -> Option<&HeldCall> {
        match self {
            Plan::Hold(c, _) => Some(c),
            _ => None,
        }
    }

    pub(super) fn granted(&self) -> bool {
        matches!(self, Plan::Granted(..))
    }

    pub(super) fn set_exchange(&mut self, exchange: Option<Uuid>) {
        if let Plan::Hold(c, _) | Plan::Granted(c, _) = self {
            c.exchange = exchange;
        }
    }

    /// The approval records that go with the call's: requested (a new approval), or
    /// forwarded (a granted one).
    pub(super) fn records(&self, session: &str) -> Vec<AuditEvent> {
        match self {
            Plan::Hold(c, Some(a)) => vec![approval_records::requested(a, &["queue"], c.exchange)],
            Plan::Granted(c, a) => vec![approval_records::forwarded(
                a,
                session,
                c.exchange,
                Some(c.rpc_id.clone()),
            )],
            _ => Vec::new(),
        }
    }

    pub(super) fn into_held(self) -> Option<HeldCall> {
        match self {
            Plan::Hold(c, _) => Some(c),
            _ => None,
        }
    }
}

impl Pipeline {
    /// Holds calls the policy sends for approval (see the module documentation).
    pub fn with_holder(mut self, h: std::sync::Arc<dyn Holder>) -> Pipeline {
        self.holder = Some(h);
        self
    }

    /// Whether this frame's request is held (or let through under an approval) rather than
    /// refused: asks the holder to admit it.
    pub(super) fn plan_hold(
        &self,
        dir: Direction,
        frame: &[u8],
        parsed: &Parsed<'_>,
        classes: &[Classification],
        copy: &Copied,
        d: &Decided,
    ) -> Plan {
        let Some(holder) = self.holder.as_ref() else {
            return Plan::None;
        };
        let [msg] = parsed.messages() else {
            return Plan::None;
        };
        let Some(v) = d.verdict(0) else {
            return Plan::None;
        };
        let only_approval = dir == Direction::C2S
            && !parsed.batch()
            && msg.kind == Kind::Request
            && v.enforced
            && v.action == Action::Approve
            && d.store_refusal.is_none()
            && d.catalog.iter().all(Option::is_none)
            && d.secret.is_empty()
            && !d.over.iter().flatten().any(|h| h.enforced)
            && !d.limited.iter().flatten().any(|h| h.enforced);
        let Some(rpc_id) = msg.id.map(|r| r.get().to_owned()) else {
            return Plan::None;
        };
        if !only_approval {
            return Plan::None;
        }
        let g = d.governance.as_ref();
        let c = classes.first();
        let spec = self.approval_spec(d, 0);
        let mut call = HeldCall {
            approval: Uuid::now_v7().to_string(),
            session: self.session.to_string(),
            server: self.server.clone(),
            method: msg.method.as_deref().unwrap_or_default().to_owned(),
            target: c.and_then(|c| c.target.clone()),
            rule: v.rule.clone(),
            approvers: self.approvers(d, 0),
            principal: g.and_then(|g| g.principal.clone()),
            rpc_id,
            exchange: None,
            action_hash: None,
            hold_ms: spec
                .as_ref()
                .map_or(warden_policy::approval::DEFAULT_HOLD_MS, |s| s.hold_ms),
            progress_token: c.and_then(|c| c.progress_token.as_ref()).map(id_json),
            channels: spec.as_ref().map_or_else(
                || vec!["queue"],
                |s| s.channels.iter().map(|c| c.as_str()).collect(),
            ),
            elicit: false,
            budget: d
                .charges
                .first()
                .map(|cs| cs.iter().map(|b| b.charge.clone()).collect())
                .unwrap_or_default(),
        };
        let args = c.and_then(|c| c.args.clone()).and_then(|r| frame.get(r));
        let ask = Ask {
            arguments: args,
            stored_arguments: match copy {
                Copied::Unredacted | Copied::Clean => args,
                Copied::Redacted { bytes, spans, .. } => spans
                    .first()
                    .and_then(|s| s.args.clone())
                    .and_then(|r| bytes.get(r)),
            },
            agent: self.context().agent_label(),
            policy: g.map(|g| g.policy.hash.clone()),
            spec,
        };
        match holder.admit(&mut call, &ask) {
            Admit::Hold { fresh } => {
                call.elicit = fresh.is_some() && self.may_elicit(ask.spec.as_ref(), &call);
                Plan::Hold(call, fresh)
            }
            Admit::Granted(a) => Plan::Granted(call, a),
            Admit::Refuse(r) => {
                tracing::error!(approval = %call.approval, "the call cannot be held for approval, refused: {r:?}");
                Plan::None
            }
        }
    }

    /// Hands a held call to the holder, for the transport to wait on.
    pub(super) fn start_hold(&self, call: HeldCall) -> Route {
        match &self.holder {
            Some(h) => {
                let rx = h.hold(&call);
                let elicit = if call.elicit {
                    self.elicitation(&call)
                        .inspect_err(|e| tracing::warn!("elicitation not recorded, not sent: {e}"))
                        .ok()
                } else {
                    None
                };
                Route::Hold(Box::new(Hold { call, rx, elicit }))
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
        let (status, reason) = match release {
            Release::Forward => ("released", None),
            Release::Approved(_) => ("approved", None),
            Release::Pending { .. } => ("pending", Some("approval_pending".to_owned())),
            Release::Refuse { reason, .. } => ("refused", Some(reason.clone())),
        };
        let forwarded = matches!(release, Release::Forward | Release::Approved(_));
        ev.detail = Some(serde_json::json!({
            "approval": { "id": call.approval, "status": status },
            "forwarded": forwarded, "reason": reason,
        }));
        let raw = serde_json::value::RawValue::from_string(call.rpc_id.clone()).ok();
        let id = raw.as_deref().and_then(RequestId::from_raw);
        match release {
            Release::Forward => {
                self.enqueue(vec![ev], false, FrameHints::default())?;
                Ok(Route::Forward)
            }
            Release::Approved(a) => {
                // The call goes on now: it is charged to its budgets as an allowed call is.
                self.budgets.charge(&call.budget);
                let fwd = approval_records::forwarded(
                    a,
                    &self.session,
                    call.exchange,
                    Some(self.scrub_id(&call.rpc_id)),
                );
                self.enqueue(vec![ev, fwd], false, FrameHints::default())?;
                Ok(Route::Forward)
            }
            Release::Pending {
                approval,
                dashboard,
            } => {
                let reply =
                    errors::approval_pending(raw.as_deref(), approval, dashboard.as_deref());
                let mut answer = self.answer_exchange(
                    id.as_ref(),
                    &reply,
                    errors::APPROVAL_REQUIRED,
                    "approval_pending",
                    Outcome::ApprovalRequired,
                );
                answer.kind = "result";
                answer.error_code = None;
                answer.detail = Some(serde_json::json!({
                    "origin": "gateway", "reason": "approval_pending",
                    "approval": { "id": approval.id, "status": "pending", "expires_us": approval.expires_us },
                }));
                self.enqueue(vec![ev, answer], false, FrameHints::default())?;
                Ok(Route::Answer(reply))
            }
            Release::Refuse {
                code,
                reason,
                message,
            } => {
                let reply =
                    errors::held_refused(raw.as_deref(), *code, reason, message, &call.approval);
                let answer =
                    self.answer_exchange(id.as_ref(), &reply, *code, reason, Outcome::Denied);
                self.enqueue(vec![ev, answer], false, FrameHints::default())?;
                Ok(Route::Answer(reply))
            }
        }
    }

    /// A progress notification for a held call that asked for progress (its `progressToken`),
    /// recorded: warden's own message to the client while the call waits.
    pub fn progress(&self, call: &HeldCall, n: u32) -> Result<Option<Vec<u8>>, WriterGone> {
        let Some(token) = &call.progress_token else {
            return Ok(None);
        };
        let params = serde_json::json!({
            "progressToken": serde_json::from_str::<serde_json::Value>(token).unwrap_or_default(),
            "progress": n,
            "message": format!("warden: waiting for approval {}", call.approval),
        });
        let line = format!(
            "{{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{params}}}\n"
        );
        let bytes = Bytes::from(line.clone().into_bytes());
        let ctx = self.context();
        let mut ev = self.base(
            &ctx,
            warden_audit::now_us(),
            Direction::S2C,
            "notification",
            &bytes,
        );
        ev.method = Some("notifications/progress".into());
        ev.exchange = call.exchange;
        ev.detail = Some(
            serde_json::json!({ "origin": "gateway", "approval": { "id": call.approval, "status": "pending" } }),
        );
        self.enqueue(vec![ev], false, FrameHints::default())?;
        Ok(Some(line.into_bytes()))
    }

    /// The approval settings of the rule that decided request `i`.
    fn approval_spec(&self, d: &Decided, i: usize) -> Option<warden_policy::ApprovalSpec> {
        let g = d.governance.as_ref()?;
        let r = d.verdict(i)?.rule.as_deref()?;
        g.policy
            .rules()
            .iter()
            .find(|x| x.name == r)
            .and_then(|x| x.approval.clone())
    }
}

/// A request id as JSON text.
fn id_json(id: &RequestId) -> String {
    match id {
        RequestId::Num(n) => n.clone(),
        RequestId::Str(s) => serde_json::Value::from(s.as_str()).to_string(),
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
