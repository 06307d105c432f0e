//! The message pipeline: every frame, in either direction, goes through `Pipeline::on_frame`,
//! a fixed sequence of stages whose order is the security invariant:
//!
//! 1. [`parse`]: read the frame; a client frame goes on only if read strictly, with no id in flight;
//! 2. [`classify`]: what each message is about;
//! 3. [`copy`]: the audit copy, secrets redacted before anything is stored (or decided on);
//! 4. [`decide`]: policy, store health, secrets, budgets, rate limits ([`counters`]);
//! 5. [`correlate`]: exchanges opened and closed, under the session lock (the only stage there);
//! 6. [`rewrite`]: hidden tools and masked values in what the receiver gets;
//! 7. [`record`]: the records, queued before anything moves (write-ahead); [`refusal`] says why
//!    a request is answered by warden;
//! 8. [`route`]: forward, replace, answer, drop, or hold.
//!
//! Nothing is forwarded that was not first recorded, nothing policy blocks is forwarded at all,
//! and the pipeline never writes to a peer itself: the transport acts on the [`Route`].
//! [`answers`] holds warden's answers outside the flow (refused frames, replaced responses);
//! [`own`] warden's own requests to a peer ([`elicit`], [`relist`]), whose answers are not forwarded.

mod answers;
mod catalog;
mod classify;
mod copy;
mod correlate;
mod counters;
mod decide;
mod elicit;
mod facts;
mod guide;
mod hold;
mod own;
mod parse;
mod record;
mod refusal;
mod relist;
mod rewrite;
mod route;
mod scrub;
#[cfg(test)]
mod tests;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use warden_audit::writer::WriterGone;
use warden_audit::{AuditEvent, AuditHandle, Durability, Outcome, SessionContext, now_us};
use warden_core::{Direction, RequestId};
use warden_policy::PolicySet;
use warden_policy::redact::Redactor;

use crate::correlate::{Correlator, Pending};
use crate::observer::{FrameHints, Observer};
use crate::tools::ToolClassifier;

pub use hold::{Admit, Ask, HeldCall, Hold, Holder, Release, progress_every};
pub use route::{Decision, Route};

/// What to do when the audit store fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnStoreError {
    /// Answer new client requests with a JSON-RPC error instead of forwarding them.
    FailClosed,
    /// Forward anyway, and say so on stderr.
    FailOpen,
}

struct State {
    ctx: Arc<SessionContext>,
    correlator: Correlator,
    tools: ToolClassifier,
}

/// The policy a session is governed by, and who is asking.
#[derive(Debug, Clone)]
pub struct Governance {
    pub policy: Arc<PolicySet>,
    pub principal: Option<String>,
    pub roles: Vec<String>,
}

/// One session's pipeline, shared by the two direction threads of a stdio proxy.
pub struct Pipeline {
    /// The server's configured name (what `server:tool` patterns match).
    server: String,
    /// Redacts the audit copy of every message (secrets never reach the store).
    redactor: Option<Arc<Redactor>>,
    /// Masks values in results sent to the client (`scan_response`, `mask_fields`).
    wire: Option<Arc<Redactor>>,
    /// The rate limits of the policy, counted across the session (or across all the sessions
    /// of a `warden serve`, which share one).
    limiter: Arc<crate::limits::RateLimiter>,
    /// The budgets of the policy, seeded from the audit store at start (shared like limits).
    budgets: Arc<crate::budgets::BudgetBook>,
    /// The policy in force; swapped whole when the policy file is reloaded.
    governance: std::sync::RwLock<Option<Arc<Governance>>>,
    session: Arc<str>,
    audit: AuditHandle,
    durability: Durability,
    on_store_error: OnStoreError,
    state: Mutex<State>,
    warned_open: AtomicBool,
    /// Metrics, traces and security events (`with_observer`).
    observer: Option<Arc<dyn Observer>>,
    /// Releases calls held for approval (`with_holder`); without one they are refused.
    holder: Option<Arc<dyn Holder>>,
    /// The transport can send warden's own requests to the client (`elicit`)…
    elicit_transport: AtomicBool,
    /// …and the client declared the elicitation capability.
    client_elicits: AtomicBool,
    /// warden's elicitations waiting for the client's answer.
    asked: Mutex<elicit::AskedMap>,
    /// The tool catalog and this server's identity in it (`with_catalog`).
    catalog: Option<(Arc<crate::catalog::Catalog>, String)>,
    /// The transport can send warden's own requests to the server (`relist`)…
    relist_transport: AtomicBool,
    /// …and the client said `notifications/initialized`.
    initialized: AtomicBool,
    /// warden's re-read of the server's tool list.
    relisting: Mutex<relist::Relisting>,
}

impl Pipeline {
    pub fn new(
        audit: AuditHandle,
        server_name: Option<String>,
        durability: Durability,
        on_store_error: OnStoreError,
    ) -> Pipeline {
        Pipeline {
            server: server_name.clone().unwrap_or_default(),
            governance: std::sync::RwLock::new(None),
            redactor: None,
            wire: None,
            limiter: Arc::default(),
            budgets: Arc::default(),
            session: uuid::Uuid::now_v7().to_string().into(),
            audit,
            durability,
            on_store_error,
            state: Mutex::new(State {
                ctx: Arc::new(SessionContext {
                    server_name,
                    ..SessionContext::default()
                }),
                correlator: Correlator::default(),
                tools: ToolClassifier::default(),
            }),
            warned_open: AtomicBool::new(false),
            observer: None,
            holder: None,
            elicit_transport: AtomicBool::new(false),
            client_elicits: AtomicBool::new(false),
            asked: Mutex::default(),
            catalog: None,
            relist_transport: AtomicBool::new(false),
            initialized: AtomicBool::new(false),
            relisting: Mutex::default(),
        }
    }

    /// When responses may be forwarded relative to the commit of their records.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Shows every record to `o` just before it is queued (see `observer`).
    pub fn with_observer(mut self, o: Arc<dyn Observer>) -> Pipeline {
        self.observer = Some(o);
        self
    }

    /// Shows `events` to the observer and appends the gateway events it asks for.
    fn observed(&self, events: &mut Vec<AuditEvent>, hints: FrameHints<'_>) {
        if let Some(o) = &self.observer {
            crate::observer::observed(&**o, events, hints, &self.session, || self.context());
        }
    }

    /// Enters this server's tool lists in `catalog` under `identity` (its command line, or its
    /// URL) and refuses calls of tools the catalog does not approve.
    pub fn with_catalog(
        mut self,
        catalog: Arc<crate::catalog::Catalog>,
        identity: String,
    ) -> Pipeline {
        self.catalog = Some((catalog, identity));
        self
    }

    /// Governs the session's client requests by `g`.
    pub fn with_governance(self, g: Governance) -> Pipeline {
        *self
            .governance
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(g));
        self
    }

    /// Counts rate limits and budgets in these (shared by every session of a gateway, so a
    /// per-principal limit holds across the principal's sessions).
    pub fn with_counters(
        mut self,
        limiter: Arc<crate::limits::RateLimiter>,
        budgets: Arc<crate::budgets::BudgetBook>,
    ) -> Pipeline {
        self.limiter = limiter;
        self.budgets = budgets;
        self
    }

    /// Uses `id` as the session id on every record (e.g. the `Mcp-Session-Id` warden issued).
    pub fn with_session(mut self, id: &str) -> Pipeline {
        self.session = id.into();
        self
    }

    /// Says who the session's caller is on every record: the principal and, when the front
    /// door named it, the agent (otherwise the agent is the client's `clientInfo`).
    pub fn with_identity(self, principal: Option<String>, agent: Option<String>) -> Pipeline {
        {
            let mut st = self.state();
            let mut ctx = (*st.ctx).clone();
            ctx.principal = principal;
            ctx.agent = agent;
            st.ctx = Arc::new(ctx);
        }
        self
    }

    /// Masks values in the results sent to the client with `r` (wire scope).
    pub fn with_wire_masking(mut self, r: impl Into<Arc<Redactor>>) -> Pipeline {
        self.wire = Some(r.into());
        self
    }

    /// Redacts the audit copy of every message with `r`.
    pub fn with_redactor(mut self, r: impl Into<Arc<Redactor>>) -> Pipeline {
        self.redactor = Some(r.into());
        self
    }

    /// Adds usage of budgets found in the audit store (`warden run` seeds the current windows).
    pub fn seed_budget(&self, key: &str, window_start_ms: u64, units: u64) {
        self.budgets.seed(key, window_start_ms, units);
    }

    /// Classes tools by these lists first (then by the server's annotations).
    pub fn with_tool_lists(self, sensitive: Vec<String>, write: Vec<String>) -> Pipeline {
        self.state().tools = ToolClassifier::new(sensitive, write);
        self
    }

    fn governance(&self) -> Option<Arc<Governance>> {
        self.governance
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Puts a newly compiled policy in force (atomically: a frame is decided wholly by the old
    /// or wholly by the new one) and records the change with the files it came from.
    pub fn reload_policy(
        &self,
        policy: impl Into<Arc<PolicySet>>,
        source: &std::path::Path,
        files: &[crate::policy_source::SourceFile],
    ) -> Result<(), WriterGone> {
        let policy = policy.into();
        let previous = self.governance().map(|g| g.policy.hash.clone());
        let mut detail = crate::policy_source::Loaded::detail(&policy, source, files);
        detail["previous"] = serde_json::json!(previous);
        self.set_policy(policy);
        self.event("policy_reloaded", detail)
    }

    /// Puts `policy` in force without a record (a gateway records one reload for all its
    /// sessions). Sessions without a policy get it with no principal.
    pub fn set_policy(&self, policy: Arc<PolicySet>) {
        let mut slot = self
            .governance
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (principal, roles) = slot
            .as_ref()
            .map(|g| (g.principal.clone(), g.roles.clone()))
            .unwrap_or_else(|| (self.context().principal.clone(), Vec::new()));
        *slot = Some(Arc::new(Governance {
            policy,
            principal,
            roles,
        }));
    }

    /// Records a reload that failed; the policy in force stays.
    pub fn reload_failed(&self, problems: &[String]) -> Result<(), WriterGone> {
        let current = self.governance().map(|g| g.policy.hash.clone());
        self.event(
            "policy_reload_failed",
            serde_json::json!({ "problems": problems, "policy_in_force": current }),
        )
    }

    pub fn session(&self) -> &str {
        &self.session
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave it half-updated in a way that matters
        // more than losing the session; keep going with the inner value.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The session context as it stands (client and server info, protocol).
    pub fn context(&self) -> Arc<SessionContext> {
        self.state().ctx.clone()
    }

    /// Records a gateway event in this session.
    pub fn event(&self, name: &'static str, detail: serde_json::Value) -> Result<(), WriterGone> {
        let mut ev = AuditEvent::gateway(self.session.clone(), self.context(), name);
        ev.detail = Some(detail);
        if self.observer.is_none() {
            return self.audit.record(ev);
        }
        let mut events = vec![ev];
        self.observed(&mut events, FrameHints::default());
        events.into_iter().try_for_each(|ev| self.audit.record(ev))
    }

    /// Runs one frame through the pipeline and says where it goes.
    pub fn on_frame(&self, dir: Direction, frame: Bytes) -> Result<Decision, WriterGone> {
        self.on_frame_with(dir, frame, FrameHints::default())
    }

    /// `on_frame`, with what the transport knows beyond the bytes (an HTTP `traceparent`).
    /// The stages in their order; see the module documentation.
    pub fn on_frame_with(
        &self,
        dir: Direction,
        frame: Bytes,
        hints: FrameHints<'_>,
    ) -> Result<Decision, WriterGone> {
        let ts_us = now_us();
        let parsed = match self.parse(dir, &frame) {
            Ok(p) => p,
            Err((env, refusal)) => return self.refuse(ts_us, &frame, &env, &refusal, hints),
        };
        self.note_capabilities(dir, &parsed);
        self.note_initialized(dir, &parsed);
        if let Some(answered) = self.elicit_answer(dir, &frame, &parsed) {
            return answered;
        }
        let classified = self.classify(dir, &frame, &parsed);
        let copy = self.audit_copy(&parsed);
        let mut decided = self.decide(dir, &frame, &parsed, &classified.classes, &copy);
        let mut plan = self.plan_hold(dir, &frame, &parsed, &classified.classes, &copy, &decided);
        if plan.granted() {
            // An approval covers the call and was used for it: it goes on as allowed, charged
            // to its budgets (its rate limits were counted when it was decided).
            decided.refuse = false;
            decided.denied = false;
            decided.charged = self.charge(&decided.charges);
        }
        let refused = decided.refuse && plan.held().is_none();
        let links = match self.correlate(dir, &frame, &parsed, &classified, refused) {
            Ok(links) => links,
            Err(refusal) => {
                let env = warden_core::parse_frame(&frame);
                return self.refuse(ts_us, &frame, &env, &refusal, hints);
            }
        };
        plan.set_exchange(links.first().and_then(|l| l.exchange));
        let relist = self.relist(dir, &parsed, &links);
        let listed = self.catalog_list(dir, &frame, &parsed, &links);
        let hidden = listed.as_ref().map_or(&[][..], |l| &l.hidden[..]);
        let rewrite = self.rewrite(
            dir,
            &frame,
            &parsed,
            &links,
            decided.governance.as_deref(),
            hidden,
        );
        let mut records = self.records(record::Staged {
            ts_us,
            dir,
            frame: &frame,
            parsed: &parsed,
            classes: &classified.classes,
            copy: &copy,
            decided: &decided,
            links,
            rewrite: &rewrite,
            held: plan.held(),
        });
        records.events.extend(plan.records(&self.session));
        if let Some(l) = &listed {
            records.events.extend(self.catalog_events(l));
        }
        records.events.extend(relist.events);
        let wait = self.durability == Durability::Sync && dir == Direction::S2C && records.responds;
        let ack = self.enqueue(std::mem::take(&mut records.events), wait, hints)?;
        // Answers to warden's own requests go to no one, like unsolicited ones.
        records.unsolicited += relist.own;
        let route = self.route(&parsed, &decided, records, rewrite, plan.into_held());
        Ok(Decision {
            route,
            ack,
            ask: relist.ask,
        })
    }

    /// A record of this session with the frame as its payload.
    fn base(
        &self,
        ctx: &Arc<SessionContext>,
        ts_us: i64,
        dir: Direction,
        kind: &'static str,
        frame: &Bytes,
    ) -> AuditEvent {
        let mut ev = AuditEvent::gateway(self.session.clone(), ctx.clone(), "");
        ev.event = None;
        ev.ts_us = ts_us;
        ev.direction = Some(dir);
        ev.kind = kind;
        ev.size = frame.len() as u64;
        ev.frame = frame.clone();
        ev
    }

    /// The record of an exchange that ended without its response.
    fn abandoned(&self, ctx: &Arc<SessionContext>, p: &Pending, reason: &str) -> AuditEvent {
        let mut ev = AuditEvent::gateway(self.session.clone(), ctx.clone(), "exchange_abandoned");
        ev.exchange = Some(p.exchange);
        ev.method = Some(self.scrub(&p.method));
        ev.target = p.target.as_deref().map(|t| self.scrub(t));
        ev.outcome = Some(Outcome::Abandoned);
        ev.duration_us = Some(u64::try_from(p.started.elapsed().as_micros()).unwrap_or(u64::MAX));
        ev.rpc_id = Some(self.scrub_id(&match &p.id {
            RequestId::Num(n) => n.clone(),
            RequestId::Str(s) => serde_json::Value::from(s.as_str()).to_string(),
        }));
        ev.detail = Some(serde_json::json!({
            "reason": reason,
            "initiator": if p.own { "gateway".to_owned() } else { format!("{:?}", p.initiator).to_lowercase() },
        }));
        ev
    }

    /// Ends the session: every request still in flight is recorded as abandoned, then a
    /// `session_end` event with `detail`. Returns how many were abandoned.
    pub fn end(&self, reason: &str, detail: serde_json::Value) -> Result<usize, WriterGone> {
        let mut events: Vec<AuditEvent> = {
            let mut st = self.state();
            let pending = st.correlator.drain();
            // A cancelled exchange was closed by its cancellation: it is not also abandoned.
            pending
                .iter()
                .filter(|p| !p.cancelled)
                .map(|p| self.abandoned(&st.ctx, p, reason))
                .collect()
        };
        let n = events.len();
        self.observed(&mut events, FrameHints::default());
        for ev in events {
            self.audit.record(ev)?;
        }
        self.event("session_end", detail)?;
        Ok(n)
    }
}
