//! The message pipeline: every frame, in either direction, goes through `Pipeline::on_frame`,
//! whose step order is the security invariant: parse → admit (client frames: only what warden
//! read strictly, see `admit`) → classify → (policy) → correlate → enqueue the record → forward. Parse, classify and policy are pure and run outside the
//! session lock. A record is queued before the frame is forwarded; nothing is forwarded that
//! was not first recorded, and nothing policy blocks is forwarded at all. The pipeline never
//! writes to stdout itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use crossbeam_channel::Receiver;
use warden_audit::writer::{Ack, WriterGone};
use warden_audit::{AuditEvent, AuditHandle, Durability, Outcome, SessionContext, now_us};
use warden_core::{
    Classification, Direction, Kind, Message, RequestId, Side, classify, parse_frame,
};
use warden_policy::redact::{AuditCopy, Redaction, Redactor};
use warden_policy::{Decision as Verdict, GOVERNED_METHODS, Per, PolicySet, Request};

use crate::admit::Refusal;
use crate::correlate::{Correlator, Pending};
use crate::errors;
use crate::observer::{FrameHints, Observer};
use crate::tools::ToolClassifier;

/// What to do when the audit store fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnStoreError {
    /// Answer new client requests with a JSON-RPC error instead of forwarding them.
    FailClosed,
    /// Forward anyway, and say so on stderr.
    FailOpen,
}

/// Where a frame goes after the pipeline.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// Forward the original bytes to the other side.
    Forward,
    /// Do not forward; send these bytes back to the sender instead.
    Answer(Vec<u8>),
    /// Forward these bytes instead of the original (policy rewrote the message).
    Replace(Vec<u8>),
    /// Neither forward nor answer: a response to no request warden forwarded (recorded as
    /// unsolicited).
    Drop,
}

/// The pipeline's decision on one frame.
#[derive(Debug)]
pub struct Decision {
    pub route: Route,
    /// With `durability: sync`, the commit of this frame's records to wait for before forwarding.
    pub ack: Option<Receiver<Ack>>,
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
        }
    }

    /// Shows every record to `o` just before it is queued (see `observer`).
    pub fn with_observer(mut self, o: Arc<dyn Observer>) -> Pipeline {
        self.observer = Some(o);
        self
    }

    /// Shows `events` to the observer and appends the gateway events it asks for.
    fn observed(&self, events: &mut Vec<AuditEvent>, hints: FrameHints<'_>) {
        let Some(o) = &self.observer else { return };
        let extra = o.observe(events, hints);
        if extra.is_empty() {
            return;
        }
        let ctx = events
            .first()
            .map_or_else(|| self.context(), |e| e.context.clone());
        for (name, detail) in extra {
            let mut ev = AuditEvent::gateway(self.session.clone(), ctx.clone(), name);
            ev.detail = Some(detail);
            events.push(ev);
        }
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

    /// Redacts an event whose frame could not be parsed: the tolerant text scan (every
    /// detector and the key rules); never labelled `clean`.
    fn redact_text(&self, ev: &mut AuditEvent) {
        self.redact_unparsed(ev, false);
    }

    /// `redact_text`, for a frame that is `truncated` (its last word is masked as well).
    fn redact_unparsed(&self, ev: &mut AuditEvent, truncated: bool) {
        let Some(r) = &self.redactor else { return };
        let copy = r.audit_copy_unparsed(&ev.frame, truncated);
        ev.dlp = Some(copy.label());
        if let Some(text) = copy.text() {
            ev.frame = Bytes::copy_from_slice(text);
        }
        if !copy.found().is_empty() {
            ev.redactions = serde_json::to_value(copy.found()).ok();
        }
    }

    /// Adds usage of budgets found in the audit store (`warden run` seeds the current windows).
    pub fn seed_budget(&self, key: &str, window_start_ms: u64, units: u64) {
        self.budgets.seed(key, window_start_ms, units);
    }

    /// The budget charges an allowed call would make.
    fn budget_charges(&self, g: &Governance, v: &Verdict, c: &Classification) -> Vec<BudgetCharge> {
        let now_ms = u64::try_from(now_us() / 1000).unwrap_or(0);
        let tool = c.target.as_deref().unwrap_or("");
        v.budgets
            .iter()
            .map(|b| {
                let scope = match b.budget.per {
                    Per::Session => self.session.to_string(),
                    Per::Global => String::new(),
                    _ => g.principal.clone().unwrap_or_default(),
                };
                BudgetCharge {
                    rule: b.rule.clone(),
                    enforced: b.enforced,
                    charge: crate::budgets::Charge {
                        key: format!("{}|{scope}", b.rule),
                        units: b.budget.cost(tool),
                        limit: b.budget.units,
                        window_start_ms: crate::budgets::window_start(now_ms, b.budget.window_ms),
                        window_ms: b.budget.window_ms,
                    },
                }
            })
            .collect()
    }

    /// The first budget (enforced ones first) a call does not fit in.
    fn over_budget(&self, cs: &[BudgetCharge]) -> Option<BudgetHit> {
        for enforced in [true, false] {
            let mine: Vec<&BudgetCharge> = cs.iter().filter(|b| b.enforced == enforced).collect();
            let list: Vec<crate::budgets::Charge> = mine.iter().map(|b| b.charge.clone()).collect();
            if let Err(over) = self.budgets.fits(&list) {
                let b = mine[over.index];
                return Some(BudgetHit {
                    rule: b.rule.clone(),
                    limit: b.charge.limit,
                    used: over.used,
                    resets_at_ms: over.resets_at_ms,
                    enforced,
                });
            }
        }
        None
    }

    /// Counts an allowed call against the rate limits that apply to it. `Some` when one is full
    /// (then nothing was counted against it).
    fn admit(&self, g: &Governance, v: &Verdict, c: &Classification) -> Option<LimitHit> {
        if v.limits.is_empty() {
            return None;
        }
        let principal = g.principal.as_deref().unwrap_or("");
        let tool = format!("{}:{}", self.server, c.target.as_deref().unwrap_or(""));
        let key = |l: &warden_policy::Limit| {
            let scope = match l.limit.per {
                Per::Principal => principal.to_owned(),
                Per::Tool => tool.clone(),
                Per::PrincipalTool => format!("{principal}|{tool}"),
                Per::Session => self.session.to_string(),
                Per::Global => String::new(),
            };
            format!("{}|{scope}", l.rule)
        };
        let now = std::time::Instant::now();
        // Enforced limits are counted together (all or none); monitor-mode ones on their own.
        let mut hit = None;
        for enforced in [true, false] {
            let limits: Vec<&warden_policy::Limit> =
                v.limits.iter().filter(|l| l.enforced == enforced).collect();
            let checks: Vec<crate::limits::Check> = limits
                .iter()
                .map(|l| crate::limits::Check {
                    key: key(l),
                    limit: l.limit.limit,
                    window: std::time::Duration::from_millis(l.limit.window_ms),
                })
                .collect();
            if let Err(full) = self.limiter.admit(&checks, now) {
                let l = limits[full.index];
                hit = hit.or(Some(LimitHit {
                    rule: l.rule.clone(),
                    limit: l.limit.limit,
                    window_ms: l.limit.window_ms,
                    retry_after_ms: u64::try_from(full.retry_after.as_millis()).unwrap_or(u64::MAX),
                    enforced,
                }));
            }
        }
        hit
    }

    /// The frame of a `tools/list` result without the tools the principal may never call,
    /// and their names; `None` if nothing is hidden (the original bytes are forwarded).
    fn hide_tools(
        &self,
        g: &Governance,
        frame: &[u8],
        client: Option<String>,
    ) -> Option<(Vec<u8>, Vec<String>)> {
        let mut msg: serde_json::Value = serde_json::from_slice(frame).ok()?;
        let tools = msg.get_mut("result")?.get_mut("tools")?.as_array_mut()?;
        let at = Some(warden_policy::Moment::from_unix(
            now_us().div_euclid(1_000_000),
        ));
        let mut hidden = Vec::new();
        tools.retain(|t| {
            let Some(name) = t.get("name").and_then(serde_json::Value::as_str) else {
                return true;
            };
            let req = Request {
                server: &self.server,
                method: "tools/call",
                target: Some(name),
                arguments: None,
                principal: g.principal.as_deref(),
                roles: &g.roles,
                client: client.as_deref(),
                at,
            };
            let never = g.policy.never_callable(&req);
            if never {
                hidden.push(name.to_owned());
            }
            !never
        });
        if hidden.is_empty() {
            return None;
        }
        let mut bytes = serde_json::to_vec(&msg).ok()?;
        bytes.push(b'\n');
        Some((bytes, hidden))
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
    /// or wholly by the new one) and records the change.
    pub fn reload_policy(&self, policy: impl Into<Arc<PolicySet>>) -> Result<(), WriterGone> {
        let policy = policy.into();
        let previous = self.governance().map(|g| g.policy.hash.clone());
        let detail = serde_json::json!({ "policy": policy.hash, "rules": policy.rules().len(), "previous": previous });
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

    /// The policy decision on one message, if it is a governed client request.
    fn decide(
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
        };
        // `resolve_symlinks` conditions see this host's file system (see `realpath`).
        Some(
            g.policy
                .evaluate_resolving(&req, &crate::realpath::real_path),
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
    pub fn on_frame_with(
        &self,
        dir: Direction,
        frame: Bytes,
        hints: FrameHints<'_>,
    ) -> Result<Decision, WriterGone> {
        let ts_us = now_us();
        let mut events: Vec<AuditEvent> = Vec::with_capacity(1);
        // A tools/list result rewritten by policy (hidden tools removed).
        let mut rewritten: Option<Vec<u8>> = None;
        // Answers warden gives instead of forwarding (one per refused request).
        let mut refusals: Vec<Vec<u8>> = Vec::new();
        let mut responds = false;
        // 1 parse and 2 classify are pure: done outside the session lock, so a large frame in
        // one direction never holds up the other.
        let parsed = parse_frame(&frame);
        // 0 admit: a client frame goes on only if warden read it strictly and completely, and
        // none of its requests reuses an id in flight (a response must reach only its request).
        if dir == Direction::C2S {
            let refusal = crate::admit::violation(&frame, &parsed)
                .map(Refusal::from)
                .or_else(|| self.reuses_id(&parsed).then(Refusal::id_in_flight));
            if let Some(r) = refusal {
                return self.refuse(ts_us, &frame, &parsed, &r, hints);
            }
        }
        let classes: Vec<Classification> = match &parsed {
            Ok(env) => env
                .messages
                .iter()
                .map(|m| classify(&frame, m, None))
                .collect(),
            Err(_) => Vec::new(),
        };
        // 3 policy (pure): every governed client request is decided before anything moves.
        let governance = self.governance();
        let verdicts: Vec<Option<Verdict>> = match (&parsed, &governance) {
            (Ok(env), Some(g)) if dir == Direction::C2S => env
                .messages
                .iter()
                .zip(&classes)
                .map(|(m, c)| self.decide(g, &frame, m, c))
                .collect(),
            _ => Vec::new(),
        };
        let denied = verdicts.iter().flatten().any(Verdict::blocks);
        let message_count = parsed.as_ref().map_or(0, |e| e.messages.len());
        // A frame is forwarded whole or not at all: when policy blocks a request in it, or the
        // store fails closed, every request in it is answered by warden, and all recorded.
        let batch = parsed.as_ref().is_ok_and(|e| e.kind == Kind::Batch);
        let carries_request = parsed
            .as_ref()
            .is_ok_and(|e| e.messages.iter().any(|m| m.kind == Kind::Request));
        let refusal = if dir == Direction::C2S && carries_request {
            self.store_refusal()
        } else {
            None
        };
        // 4 redact (pure): the audit copy, with secrets replaced before anything is hashed or
        // stored. A clean message is stored as received; a redacted one as its re-serialized copy.
        let audit_copy = match (&parsed, &self.redactor) {
            (Ok(env), Some(r)) => Some(redacted_copy(r, env.body)),
            _ => None,
        };
        let copy_env = audit_copy
            .as_ref()
            .and_then(|c| c.as_ref())
            .and_then(|(b, _, _)| parse_frame(b).ok().map(|e| (b, e)));
        // A detected secret in a client request's arguments refuses the call when the redaction
        // rules say to block it (`block_on_detect`): the secret never reaches the server.
        let secret: Vec<String> = match (&audit_copy, &self.redactor, &parsed) {
            (Some(Some((_, found, _))), Some(r), Ok(env))
                if dir == Direction::C2S && carries_request =>
            {
                if batch {
                    (0..env.messages.len())
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
                .zip(&classes)
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
        // Rate limits count only calls that policy allows and that would be forwarded.
        let limited: Vec<Option<LimitHit>> = match &governance {
            Some(g) if refusal.is_none() && !denied && secret.is_empty() && !over_budget => {
                verdicts
                    .iter()
                    .zip(&classes)
                    .map(|(v, c)| v.as_ref().and_then(|v| self.admit(g, v, c)))
                    .collect()
            }
            _ => Vec::new(),
        };
        let rate_limited = limited.iter().flatten().any(|h| h.enforced);
        let refuse =
            refusal.is_some() || denied || !secret.is_empty() || over_budget || rate_limited;
        // The calls that go through are charged to their budgets.
        let charged: Vec<Vec<u64>> = if refuse {
            Vec::new()
        } else {
            charges
                .iter()
                .map(|cs| {
                    self.budgets
                        .charge(&cs.iter().map(|b| b.charge.clone()).collect::<Vec<_>>())
                })
                .collect()
        };
        // Responses that answer no request warden forwarded: recorded, never delivered.
        let mut unsolicited = 0usize;
        {
            let mut st = self.state();
            // The same check as in admit, now atomic with correlation (two frames racing with
            // one id): the later one is refused.
            if dir == Direction::C2S
                && let Ok(env) = &parsed
                && crate::admit::reuses_id(env, |id| {
                    st.correlator.method_of(Side::Client, id).is_some()
                })
            {
                drop(st);
                return self.refuse(ts_us, &frame, &parsed, &Refusal::id_in_flight(), hints);
            }
            match parsed {
                Err(warden_core::ParseError::Empty) => {}
                Err(e) => {
                    let mut ev = self.base(&st, ts_us, dir, "unparseable", &frame);
                    ev.detail = Some(serde_json::json!({ "error": e.to_string() }));
                    self.redact_text(&mut ev);
                    events.push(ev);
                }
                Ok(env) => {
                    for (i, (msg, c)) in env.messages.iter().zip(classes).enumerate() {
                        let id = msg.id.and_then(RequestId::from_raw);
                        let initiator = if msg.kind.is_response() {
                            dir.sender().other()
                        } else {
                            dir.sender()
                        };
                        let answered = id
                            .as_ref()
                            .filter(|_| msg.kind.is_response())
                            .and_then(|id| st.correlator.method_of(initiator, id));
                        // Results of initialize / server/discover carry the server's identity.
                        let c = if matches!(answered, Some("initialize" | "server/discover")) {
                            classify(&frame, msg, answered)
                        } else {
                            c
                        };
                        if c.client_info.is_some()
                            || c.server_info.is_some()
                            || c.protocol_version.is_some()
                        {
                            let mut ctx = (*st.ctx).clone();
                            let initialize = matches!(msg.method.as_deref(), Some("initialize"))
                                || answered == Some("initialize");
                            if initialize || ctx.protocol.is_none() {
                                ctx.protocol = c.protocol_version.clone().or(ctx.protocol);
                            }
                            ctx.client_info = c
                                .client_info
                                .clone()
                                .map(|i| self.scrub_implementation(i))
                                .or(ctx.client_info);
                            ctx.server_info = c
                                .server_info
                                .clone()
                                .map(|i| self.scrub_implementation(i))
                                .or(ctx.server_info);
                            if ctx != *st.ctx {
                                st.ctx = Arc::new(ctx);
                            }
                        }
                        let verdict = verdicts.get(i).and_then(Option::as_ref);
                        let mut ev = self.base(&st, ts_us, dir, msg.kind.as_str(), &frame);
                        ev.batch_index = (env.kind == Kind::Batch).then_some(i as u32);
                        ev.method = msg.method.as_deref().map(|m| self.scrub(m));
                        ev.rpc_id = msg.id.map(|r| self.scrub_id(r.get()));
                        ev.args = c.args.clone();
                        ev.body = c.body.clone();
                        ev.error_code = c.error_code;
                        ev.target = c.target.as_deref().map(|t| self.scrub(t));
                        ev.policy = verdict.map(policy_record);
                        if let Some(policy) = ev.policy.as_mut() {
                            if let (Some(cs), Some(used)) = (charges.get(i), charged.get(i))
                                && !cs.is_empty()
                            {
                                policy["budget"] = cs
                                    .iter()
                                    .zip(used)
                                    .map(|(b, used)| {
                                        serde_json::json!({
                                            "rule": b.rule, "key": b.charge.key, "units": b.charge.units,
                                            "window_start_ms": b.charge.window_start_ms, "used": used, "limit": b.charge.limit,
                                        })
                                    })
                                    .collect();
                            }
                            if let Some(Some(hit)) = over.get(i) {
                                policy["budget_exceeded"] = serde_json::json!({
                                    "rule": hit.rule, "used": hit.used, "limit": hit.limit,
                                    "resets_at_ms": hit.resets_at_ms, "enforced": hit.enforced,
                                });
                            }
                        }
                        if let (Some(policy), Some(Some(hit))) =
                            (ev.policy.as_mut(), limited.get(i))
                        {
                            policy["rate_limit"] = serde_json::json!({
                                "rule": hit.rule, "limit": hit.limit, "window_ms": hit.window_ms, "enforced": hit.enforced,
                            });
                        }
                        if let Some(copy) = &audit_copy {
                            ev.dlp = Some(match copy {
                                _ if !secret.is_empty() => "blocked",
                                Some((_, _, label)) => *label,
                                None => "clean",
                            });
                        }
                        if let Some(Some((bytes, found, _))) = &audit_copy {
                            // Spans (for payload and hashes) come from the redacted copy; a copy
                            // that no longer reads as a message keeps none (nothing of the
                            // original frame is stored).
                            let redacted = copy_env
                                .as_ref()
                                .and_then(|(_, env2)| env2.messages.get(i))
                                .map(|m2| classify(bytes, m2, None));
                            ev.frame = bytes.clone();
                            ev.args = redacted.as_ref().and_then(|r| r.args.clone());
                            ev.body = redacted.as_ref().and_then(|r| r.body.clone());
                            let prefix = if batch {
                                format!("/{i}")
                            } else {
                                String::new()
                            };
                            let mine: Vec<&Redaction> = found
                                .iter()
                                .filter(|r| {
                                    !batch
                                        || r.pointer.is_empty()
                                        || r.pointer.starts_with(&format!("{prefix}/"))
                                })
                                .collect();
                            ev.redactions = (!mine.is_empty())
                                .then(|| serde_json::to_value(&mine).ok())
                                .flatten();
                        }
                        // 4 correlate
                        match (msg.kind, id) {
                            (Kind::Request, Some(id)) => {
                                // The tool's class, on denied and held calls too.
                                if msg.method.as_deref() == Some("tools/call")
                                    && let Some(tool) = &c.target
                                {
                                    let class = st.tools.classify(tool);
                                    ev.tool_class = Some(class.class);
                                    ev.tool_class_source = Some(class.source);
                                }
                                if refuse {
                                    let what = format!(
                                        "{}:{}",
                                        self.server,
                                        c.target
                                            .as_deref()
                                            .or(msg.method.as_deref())
                                            .unwrap_or_default()
                                    );
                                    let (reply, reason, code, outcome) = if let Some(r) = &refusal {
                                        let reply = errors::store_unavailable(msg.id, r);
                                        (
                                            reply,
                                            "audit_store_unavailable",
                                            errors::AUDIT_STORE_UNAVAILABLE,
                                            Outcome::GatewayError,
                                        )
                                    } else if let Some(v) = verdict.filter(|v| v.blocks()) {
                                        let (reply, reason, code) =
                                            errors::policy(msg.id, v, &what);
                                        let outcome = if reason == "approval_required" {
                                            Outcome::ApprovalRequired
                                        } else {
                                            Outcome::Denied
                                        };
                                        (reply, reason, code, outcome)
                                    } else if let Some(h) =
                                        over.get(i).and_then(Option::as_ref).filter(|h| h.enforced)
                                    {
                                        let reply = errors::budget_exceeded(
                                            msg.id,
                                            &h.rule,
                                            h.limit,
                                            h.used,
                                            h.resets_at_ms,
                                        );
                                        (
                                            reply,
                                            "budget_exceeded",
                                            errors::BUDGET_EXCEEDED,
                                            Outcome::BudgetExceeded,
                                        )
                                    } else if !secret.is_empty() {
                                        let reply = errors::secret_detected(msg.id, &secret);
                                        (
                                            reply,
                                            "secret_detected",
                                            errors::SECRET_DETECTED,
                                            Outcome::Denied,
                                        )
                                    } else if let Some(h) = limited
                                        .get(i)
                                        .and_then(Option::as_ref)
                                        .filter(|h| h.enforced)
                                    {
                                        let reply = errors::rate_limited(
                                            msg.id,
                                            &h.rule,
                                            h.limit,
                                            h.window_ms,
                                            h.retry_after_ms,
                                        );
                                        (
                                            reply,
                                            "rate_limited",
                                            errors::RATE_LIMITED,
                                            Outcome::RateLimited,
                                        )
                                    } else if denied {
                                        (
                                            errors::batch_denied(msg.id),
                                            "batch_denied",
                                            errors::POLICY_DENIED,
                                            Outcome::Denied,
                                        )
                                    } else {
                                        (
                                            errors::batch_denied(msg.id),
                                            "batch_rate_limited",
                                            errors::RATE_LIMITED,
                                            Outcome::RateLimited,
                                        )
                                    };
                                    ev.outcome = Some(outcome);
                                    // The hold: the call is recorded as pending approval, and
                                    // (with no approval workflow yet) resolved as denied by the
                                    // answer below. The approvals workflow adds the decision
                                    // between the two.
                                    let approval = (outcome == Outcome::ApprovalRequired).then(|| {
                                        let id = uuid::Uuid::now_v7().to_string();
                                        let approvers = governance
                                            .as_ref()
                                            .zip(verdict.and_then(|v| v.rule.as_deref()))
                                            .and_then(|(g, r)| g.policy.rules().iter().find(|x| x.name == r).map(|x| x.approvers.clone()))
                                            .unwrap_or_default();
                                        ev.detail = Some(serde_json::json!({
                                            "approval": { "id": id, "status": "pending", "approvers": approvers }
                                        }));
                                        id
                                    });
                                    events.push(ev);
                                    let mut out = self.base(
                                        &st,
                                        ts_us,
                                        Direction::S2C,
                                        "error",
                                        &Bytes::from(reply.clone()),
                                    );
                                    out.method = msg.method.as_deref().map(|m| self.scrub(m));
                                    out.rpc_id = msg.id.map(|r| self.scrub_id(r.get()));
                                    out.target = c.target.as_deref().map(|t| self.scrub(t));
                                    out.outcome = Some(outcome);
                                    out.error_code = Some(code);
                                    out.detail = Some(match &approval {
                                        Some(id) => serde_json::json!({
                                            "origin": "gateway",
                                            "reason": reason,
                                            "approval": { "id": id, "status": "denied", "why": "no approval workflow is configured" },
                                        }),
                                        None => {
                                            serde_json::json!({ "origin": "gateway", "reason": reason })
                                        }
                                    });
                                    events.push(out);
                                    refusals.push(reply);
                                    continue;
                                }
                                let method = msg.method.as_deref().unwrap_or_default();
                                let (exchange, displaced) = st.correlator.request(
                                    initiator,
                                    id,
                                    method,
                                    c.target.clone(),
                                    c.progress_token.clone(),
                                );
                                ev.exchange = Some(exchange);
                                if let Some(old) = displaced {
                                    events.push(self.abandoned(
                                        &st,
                                        &old,
                                        "request id reused while in flight",
                                    ));
                                }
                            }
                            (Kind::Result | Kind::Error, Some(id)) => {
                                responds = true;
                                if let Some(closed) = st.correlator.response(initiator, &id) {
                                    if closed.method == "tools/list"
                                        && msg.kind == Kind::Result
                                        && let Some(body) =
                                            c.body.clone().and_then(|r| frame.get(r))
                                    {
                                        st.tools.learn(body);
                                        if env.kind != Kind::Batch
                                            && let Some(g) = governance
                                                .as_ref()
                                                .filter(|g| g.policy.hide_denied_tools)
                                            && let Some((bytes, hidden)) =
                                                self.hide_tools(g, &frame, client_name(&st))
                                        {
                                            ev.detail = Some(
                                                serde_json::json!({ "rewritten": { "hidden_tools": hidden } }),
                                            );
                                            rewritten = Some(bytes);
                                        }
                                    }
                                    ev.exchange = Some(closed.exchange);
                                    ev.method = Some(self.scrub(&closed.method));
                                    ev.target = closed.target.as_deref().map(|t| self.scrub(t));
                                    ev.duration_us = Some(
                                        u64::try_from(closed.duration.as_micros())
                                            .unwrap_or(u64::MAX),
                                    );
                                    ev.outcome = Some(if closed.cancelled {
                                        Outcome::Cancelled
                                    } else if msg.kind == Kind::Error {
                                        Outcome::RpcError
                                    } else {
                                        Outcome::Ok
                                    });
                                } else {
                                    unsolicited += 1;
                                    ev.detail = Some(serde_json::json!({
                                        "unsolicited": true, "forwarded": false,
                                        "why": "it answers no request warden forwarded in this session",
                                    }));
                                }
                            }
                            (Kind::Notification, _) => {
                                if let Some(cancelled) = &c.cancelled {
                                    ev.exchange = st.correlator.cancel(dir.sender(), cancelled);
                                    ev.outcome = ev.exchange.map(|_| Outcome::Cancelled);
                                } else if let Some(token) = &c.progress_token {
                                    ev.exchange = st.correlator.progress(token);
                                }
                            }
                            _ => {}
                        }
                        // Wire scope: mask values in a result before the client sees it.
                        if dir == Direction::S2C
                            && msg.kind == Kind::Result
                            && env.kind != Kind::Batch
                            && let Some(w) = &self.wire
                            && let Some((bytes, masked)) =
                                mask(w, rewritten.as_deref().unwrap_or(&frame))
                        {
                            let detail = ev.detail.get_or_insert_with(|| serde_json::json!({}));
                            detail["rewritten"]["masked"] =
                                serde_json::to_value(&masked).unwrap_or_default();
                            rewritten = Some(bytes);
                        }
                        if refuse && ev.outcome.is_none() {
                            let (outcome, reason) = match (&refusal, denied || !secret.is_empty()) {
                                (Some(_), _) => (Outcome::GatewayError, "audit_store_unavailable"),
                                (None, true) => (Outcome::Denied, "batch_denied"),
                                (None, false) => (Outcome::RateLimited, "batch_rate_limited"),
                            };
                            ev.outcome = Some(outcome);
                            ev.detail =
                                Some(serde_json::json!({ "forwarded": false, "reason": reason }));
                        }
                        events.push(ev);
                    }
                }
            }
        }
        // 5 enqueue (write-ahead): the records are queued before the frame moves on.
        self.observed(&mut events, hints);
        let wait = self.durability == Durability::Sync && dir == Direction::S2C && responds;
        let last = events.pop();
        for ev in events {
            self.audit.record(ev)?;
        }
        let ack = match last {
            Some(ev) if wait => Some(self.audit.record_committed(ev)?),
            Some(ev) => {
                self.audit.record(ev)?;
                None
            }
            None => None,
        };
        // 6 forward (done by the transport, with the original bytes)
        let route = if unsolicited > 0 && unsolicited == message_count {
            Route::Drop
        } else if let Some(bytes) = rewritten {
            Route::Replace(bytes)
        } else if !refuse {
            Route::Forward
        } else if batch {
            // A batch is answered with an array of the errors (JSON-RPC 2.0, section 6).
            let parts: Vec<&[u8]> = refusals
                .iter()
                .map(|r| r.strip_suffix(b"\n").unwrap_or(r))
                .collect();
            let mut out = b"[".to_vec();
            out.extend(parts.join(&b","[..]));
            out.extend_from_slice(b"]\n");
            Route::Answer(out)
        } else {
            Route::Answer(refusals.concat())
        };
        Ok(Decision { route, ack })
    }

    /// warden's answer in place of `frame`, whose records could not be committed
    /// (`durability: sync` with `fail_closed`): the error reply, recorded.
    pub fn store_failed(&self, frame: &Bytes, reason: &str) -> Result<Vec<u8>, WriterGone> {
        let id = parse_frame(frame)
            .ok()
            .and_then(|e| e.first().and_then(|m| m.id).map(|i| i.get().to_owned()));
        let raw = id.and_then(|i| serde_json::value::RawValue::from_string(i).ok());
        let reply = errors::store_unavailable(raw.as_deref(), reason);
        self.replaced(frame, &reply, reason)?;
        Ok(reply)
    }

    /// Records that warden answered the client with `reply` instead of the server's response
    /// `frame`, because that response's records could not be committed (sync, fail_closed).
    pub fn replaced(&self, frame: &Bytes, reply: &[u8], reason: &str) -> Result<(), WriterGone> {
        let st = self.state();
        let reply = Bytes::copy_from_slice(reply);
        let mut ev = self.base(&st, now_us(), Direction::S2C, "error", &reply);
        let replaced = parse_frame(frame).ok();
        let original = replaced.as_ref().and_then(|e| e.first());
        ev.rpc_id = original.and_then(|m| m.id).map(|r| self.scrub_id(r.get()));
        ev.outcome = Some(Outcome::GatewayError);
        ev.error_code = Some(errors::AUDIT_STORE_UNAVAILABLE);
        ev.detail = Some(serde_json::json!({
            "origin": "gateway",
            "reason": "audit_store_unavailable",
            "replaced": "the server's response was not delivered because its record could not be committed",
            "detail": reason,
        }));
        drop(st);
        self.audit.record(ev)
    }

    /// Records warden's own answer `reply` to the client's request `id` when the server could
    /// not be asked (e.g. an unreachable upstream): the exchange closes as `gateway_error`.
    pub fn gateway_answer(
        &self,
        id: Option<&RequestId>,
        reply: &[u8],
        code: i64,
        reason: &str,
    ) -> Result<(), WriterGone> {
        let mut st = self.state();
        let reply = Bytes::copy_from_slice(reply);
        let mut ev = self.base(&st, now_us(), Direction::S2C, "error", &reply);
        if let Some(id) = id {
            ev.rpc_id = Some(self.scrub_id(&match id {
                RequestId::Num(n) => n.clone(),
                RequestId::Str(s) => serde_json::Value::from(s.as_str()).to_string(),
            }));
            if let Some(closed) = st.correlator.response(warden_core::Side::Client, id) {
                ev.exchange = Some(closed.exchange);
                ev.method = Some(self.scrub(&closed.method));
                ev.target = closed.target.as_deref().map(|t| self.scrub(t));
                ev.duration_us =
                    Some(u64::try_from(closed.duration.as_micros()).unwrap_or(u64::MAX));
            }
        }
        ev.outcome = Some(Outcome::GatewayError);
        ev.error_code = Some(code);
        ev.detail = Some(serde_json::json!({ "origin": "gateway", "reason": reason }));
        drop(st);
        self.audit.record(ev)
    }

    /// True when a request of the frame reuses an id of this client still in flight.
    fn reuses_id(
        &self,
        parsed: &Result<warden_core::Envelope<'_>, warden_core::ParseError>,
    ) -> bool {
        let Ok(env) = parsed else { return false };
        let st = self.state();
        crate::admit::reuses_id(env, |id| {
            st.correlator.method_of(Side::Client, id).is_some()
        })
    }

    /// Answers a client frame instead of forwarding it (see `admit`), and records both: the
    /// frame as received (redacted as text: it is not read as a message) and warden's answer.
    fn refuse(
        &self,
        ts_us: i64,
        frame: &Bytes,
        parsed: &Result<warden_core::Envelope<'_>, warden_core::ParseError>,
        r: &Refusal,
        hints: FrameHints<'_>,
    ) -> Result<Decision, WriterGone> {
        let reply = crate::admit::answerable_ids(frame, parsed).reply(r);
        let mut events = {
            let st = self.state();
            let kind = if r.unparseable() {
                "unparseable"
            } else {
                "invalid"
            };
            let mut ev = self.base(&st, ts_us, Direction::C2S, kind, frame);
            ev.outcome = Some(Outcome::Refused);
            ev.detail = Some(serde_json::json!({
                "error": r.message, "reason": r.reason, "forwarded": false,
            }));
            let mut out = self.base(
                &st,
                ts_us,
                Direction::S2C,
                "error",
                &Bytes::from(reply.clone()),
            );
            out.outcome = Some(Outcome::Refused);
            out.error_code = Some(r.code);
            out.detail = Some(serde_json::json!({ "origin": "gateway", "reason": r.reason }));
            vec![ev, out]
        };
        self.redact_text(&mut events[0]);
        self.observed(&mut events, hints);
        for ev in events {
            self.audit.record(ev)?;
        }
        Ok(Decision {
            route: Route::Answer(reply),
            ack: None,
        })
    }

    /// Refuses a client frame longer than `limit`, of which `prefix` is the start (the rest is
    /// discarded by the transport): records it and returns warden's answer.
    pub fn refuse_oversized(&self, prefix: Bytes, limit: usize) -> Result<Vec<u8>, WriterGone> {
        let parsed = parse_frame(&prefix);
        let r = Refusal::from(warden_core::Violation::TooLarge { limit });
        let decision = self.refuse(now_us(), &prefix, &parsed, &r, FrameHints::default())?;
        Ok(match decision.route {
            Route::Answer(reply) => reply,
            _ => Vec::new(),
        })
    }

    /// Records the start of a frame longer than `limit`, which is streamed through unparsed.
    pub fn oversized(&self, dir: Direction, prefix: Bytes, limit: usize) -> Result<(), WriterGone> {
        let st = self.state();
        let mut ev = self.base(&st, now_us(), dir, "unparseable", &prefix);
        ev.detail = Some(
            serde_json::json!({ "error": "frame longer than max_frame; streamed through unparsed", "max_frame": limit }),
        );
        drop(st);
        self.redact_unparsed(&mut ev, true);
        self.audit.record(ev)
    }

    /// `Some(reason)` when new requests must be refused because the store is failing.
    fn store_refusal(&self) -> Option<String> {
        let failure = self.audit.failure()?;
        match self.on_store_error {
            OnStoreError::FailClosed => Some(failure),
            OnStoreError::FailOpen => {
                if !self.warned_open.swap(true, Ordering::Relaxed) {
                    tracing::error!(
                        "audit store failing, forwarding anyway because on_store_error is fail_open: {failure}"
                    );
                }
                None
            }
        }
    }

    fn base(
        &self,
        st: &State,
        ts_us: i64,
        dir: Direction,
        kind: &'static str,
        frame: &Bytes,
    ) -> AuditEvent {
        let mut ev = AuditEvent::gateway(self.session.clone(), st.ctx.clone(), "");
        ev.event = None;
        ev.ts_us = ts_us;
        ev.direction = Some(dir);
        ev.kind = kind;
        ev.size = frame.len() as u64;
        ev.frame = frame.clone();
        ev
    }

    fn abandoned(&self, st: &State, p: &Pending, reason: &str) -> AuditEvent {
        let mut ev =
            AuditEvent::gateway(self.session.clone(), st.ctx.clone(), "exchange_abandoned");
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
            "initiator": format!("{:?}", p.initiator).to_lowercase(),
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
                .map(|p| self.abandoned(&st, p, reason))
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

/// The policy decision as recorded on a governed request.
fn policy_record(v: &Verdict) -> serde_json::Value {
    serde_json::json!({
        "action": v.action.as_str(),
        "mode": if v.enforced { "enforce" } else { "monitor" },
        "rule": v.rule,
        "matched": v.matched,
        "policy": v.policy,
    })
}

/// The redacted audit copy of a frame body: `None` if nothing had to be redacted (the original
/// bytes are stored, `dlp: clean`), else the copy to store, what was redacted, and the `dlp`
/// label. A body that is not one JSON tree by a strict reading (lone surrogate, duplicate
/// member, deep nesting) is scanned as text, and never labelled `clean`.
fn redacted_copy(r: &Redactor, body: &[u8]) -> Option<(Bytes, Vec<Redaction>, &'static str)> {
    // Most messages hold nothing to redact: decided on the bytes, without building a tree.
    let copy = r.audit_copy(body);
    if copy == AuditCopy::Clean {
        return None;
    }
    let label = copy.label();
    let bytes = Bytes::copy_from_slice(copy.text().unwrap_or(body));
    let found = match copy {
        AuditCopy::Clean => Vec::new(),
        AuditCopy::Redacted { found, .. } | AuditCopy::Scanned { found, .. } => found,
    };
    Some((bytes, found, label))
}

impl Pipeline {
    /// A field copied into records on its own (method, target, client name), redacted.
    fn scrub(&self, s: &str) -> String {
        match &self.redactor {
            Some(r) => r.redact_str(s).0.into_owned(),
            None => s.to_owned(),
        }
    }

    /// A request id (its JSON text) as records keep it, redacted.
    fn scrub_id(&self, raw: &str) -> String {
        match &self.redactor {
            Some(r) => r.redact_json_text(raw).into_owned(),
            None => raw.to_owned(),
        }
    }

    /// A peer's `clientInfo` / `serverInfo`, which every record and security event copies.
    fn scrub_implementation(&self, i: warden_core::Implementation) -> warden_core::Implementation {
        warden_core::Implementation {
            name: self.scrub(&i.name),
            version: self.scrub(&i.version),
        }
    }
}

/// A rate limit that was full for a call.
#[derive(Debug, Clone)]
struct LimitHit {
    rule: String,
    limit: u32,
    window_ms: u64,
    retry_after_ms: u64,
    /// False for a monitor-mode limit: recorded, the call forwarded anyway.
    enforced: bool,
}

/// The client's name as the session knows it.
fn client_name(st: &State) -> Option<String> {
    st.ctx.client_info.as_ref().map(|i| i.name.clone())
}

/// A budget a call would be charged against.
#[derive(Debug, Clone)]
struct BudgetCharge {
    rule: String,
    enforced: bool,
    charge: crate::budgets::Charge,
}

/// A budget that was spent for a call.
#[derive(Debug, Clone)]
struct BudgetHit {
    rule: String,
    limit: u64,
    used: u64,
    resets_at_ms: u64,
    /// False for a monitor-mode budget: recorded, the call forwarded anyway.
    enforced: bool,
}

/// A message with the wire rules' findings masked, and what was masked; `None` if nothing was.
/// A result that is not one JSON tree by a strict reading (lone surrogate, duplicate member)
/// is masked by the text scan, which keeps its structure and masks every copy of a member.
fn mask(w: &Redactor, frame: &[u8]) -> Option<(Vec<u8>, Vec<Redaction>)> {
    let copy = w.audit_copy(warden_core::envelope::trim_frame(frame));
    let mut bytes = copy.text()?.to_vec();
    bytes.push(b'\n');
    Some((bytes, copy.found().to_vec()))
}
