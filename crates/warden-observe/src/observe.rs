//! `Observability`: the pipeline's observer. From the records of each frame it counts the
//! metrics, builds one trace span per exchange (when tracing is on), writes the security
//! events and feeds the anomaly detector, whose findings go back to the pipeline to be
//! recorded as `anomaly` gateway events. It holds no payloads: the request's `params_hash`,
//! trace parent and record id wait (bounded) for the exchange's closing record.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use memchr::memmem;
use parking_lot::Mutex;
use warden_audit::{AuditEvent, Outcome};
use warden_proxy::{FrameHints, Observer};

use crate::anomaly::{Anomaly, AnomalyConfig, Detector};
use crate::approvals;
use crate::events::{self, EventStream};
use crate::labels::{Bounded, method_label};
use crate::metrics::{
    CallLabels, ErrorLabels, EventLabels, KindLabels, LabelLabels, MessageLabels, Metrics,
    ResultLabels, ServerLabels, ToolServer, ToolUser, UserLabels, WriterSource,
};
use crate::span::{Kind, Span, SpanId, Status, TraceId, Value};
use crate::trace::{Parent, TraceStats, Tracer, parse_traceparent};

/// How observation is set up.
#[derive(Clone, Debug)]
pub struct ObserveConfig {
    /// Put the principal in a `user_id` label (off: the label is empty, so absent).
    pub user_label: bool,
    /// Most distinct tool names (from configuration and `tools/list`) kept as labels.
    pub tool_cap: usize,
    /// Most distinct principals kept as `user_id` labels (first seen, first kept).
    pub principal_cap: usize,
    /// Tool names known from configuration (always labels, within the cap).
    pub tools: Vec<String>,
    /// `None` turns anomaly detection off.
    pub anomaly: Option<AnomalyConfig>,
    /// `network.transport` on spans: `pipe` (stdio) or `tcp`.
    pub transport: &'static str,
    /// The deployment's hash key, for the security events' `params_hash` (absent: no
    /// `params_hash`).
    pub params_hasher: Option<warden_audit::keyed::KeyedHasher>,
}

impl Default for ObserveConfig {
    fn default() -> ObserveConfig {
        ObserveConfig {
            user_label: true,
            tool_cap: 200,
            principal_cap: 200,
            tools: Vec::new(),
            anomaly: Some(AnomalyConfig::default()),
            transport: "pipe",
            params_hasher: None,
        }
    }
}

/// What a request leaves for the record that closes its exchange.
#[derive(Debug)]
struct Pending {
    record_id: uuid::Uuid,
    params_hash: Option<String>,
    parent: Option<Parent>,
}

/// Most exchanges remembered at once (the rest close without parent or params hash).
const MAX_PENDING: usize = 65_536;

/// The observer `warden run` and `warden serve` attach to their pipelines.
pub struct Observability {
    cfg: ObserveConfig,
    metrics: Arc<Metrics>,
    tools: Bounded,
    principals: Bounded,
    servers: Bounded,
    tracer: Option<Tracer>,
    events: Option<Mutex<EventStream>>,
    detector: Option<Mutex<Detector>>,
    pending: Mutex<HashMap<uuid::Uuid, Pending>>,
    /// Sessions started and not yet ended.
    live: AtomicI64,
}

impl Observability {
    pub fn new(cfg: ObserveConfig, writer: Option<WriterSource>) -> Observability {
        let tools = Bounded::new(cfg.tool_cap);
        for t in &cfg.tools {
            tools.admit(t);
        }
        Observability {
            metrics: Arc::new(Metrics::new(writer)),
            tools,
            principals: Bounded::new(cfg.principal_cap),
            servers: Bounded::new(64),
            tracer: None,
            events: None,
            detector: cfg.anomaly.clone().map(|a| Mutex::new(Detector::new(a))),
            pending: Mutex::new(HashMap::new()),
            live: AtomicI64::new(0),
            cfg,
        }
    }

    /// The counters a `Tracer` should report into.
    pub fn trace_stats(&self) -> TraceStats {
        let c = |result| {
            self.metrics
                .spans
                .get_or_create(&ResultLabels { result })
                .clone()
        };
        TraceStats {
            exported: c("exported"),
            failed: c("failed"),
            dropped: c("dropped"),
        }
    }

    /// The counter an `EventStream` should count dropped events in.
    pub fn events_dropped(&self) -> prometheus_client::metrics::counter::Counter {
        self.metrics.security_events_dropped.clone()
    }

    pub fn with_tracer(mut self, t: Tracer) -> Observability {
        self.tracer = Some(t);
        self
    }

    pub fn with_events(mut self, e: EventStream) -> Observability {
        self.events = Some(Mutex::new(e));
        self
    }

    /// Sessions started and not yet ended (readiness of a stdio upstream).
    pub fn live_sessions(&self) -> i64 {
        self.live.load(Ordering::Acquire)
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Exports queued spans and writes queued events (waiting at most `wait` for the collector).
    pub fn shutdown(&self, wait: Duration) {
        if let Some(t) = &self.tracer {
            t.shutdown(wait);
        }
        if let Some(e) = &self.events {
            e.lock().close();
        }
    }

    fn user(&self, ev: &AuditEvent) -> String {
        match (&ev.context.principal, self.cfg.user_label) {
            (Some(p), true) => {
                let l = self.principals.label_admitting(p);
                if l == crate::labels::OTHER {
                    self.overflow("user_id");
                }
                l
            }
            _ => String::new(),
        }
    }

    fn tool(&self, name: Option<&str>) -> String {
        let l = self.tools.label(name.unwrap_or(""));
        if l == crate::labels::OTHER {
            self.overflow("tool_name");
        }
        l
    }

    fn server(&self, ev: &AuditEvent) -> String {
        ev.context
            .server_name
            .as_deref()
            .map_or_else(String::new, |s| self.servers.label_admitting(s))
    }

    fn overflow(&self, label: &'static str) {
        self.metrics
            .label_overflow
            .get_or_create(&LabelLabels { label })
            .inc();
    }

    fn emit(&self, name: &'static str, v: &serde_json::Value) {
        if let Some(e) = &self.events
            && e.lock().emit(v)
        {
            self.metrics
                .security_events
                .get_or_create(&EventLabels { event: name })
                .inc();
        }
    }

    /// Learns tool names from a `tools/list` result (up to the cap).
    fn learn_tools(&self, ev: &AuditEvent) {
        if self.tools.full() {
            return;
        }
        #[derive(serde::Deserialize)]
        struct Listed<'a> {
            #[serde(borrow, default)]
            tools: Vec<Named<'a>>,
        }
        #[derive(serde::Deserialize)]
        struct Named<'a> {
            #[serde(borrow)]
            name: Option<Cow<'a, str>>,
        }
        let Some(body) = ev.body.clone().and_then(|r| ev.frame.get(r)) else {
            return;
        };
        if let Ok(l) = serde_json::from_slice::<Listed<'_>>(body) {
            for t in l.tools {
                if let Some(n) = t.name {
                    self.tools.admit(&n);
                }
            }
        }
    }

    /// The trace parent of a request: the transport's header, else `params._meta.traceparent`.
    fn parent(&self, ev: &AuditEvent, hints: FrameHints<'_>) -> Option<Parent> {
        if let Some(p) = hints.traceparent.and_then(parse_traceparent) {
            return Some(p);
        }
        let body = ev.body.clone().and_then(|r| ev.frame.get(r))?;
        TRACEPARENT.find(body)?;
        #[derive(serde::Deserialize)]
        struct Params<'a> {
            #[serde(rename = "_meta", borrow)]
            meta: Option<Meta<'a>>,
        }
        #[derive(serde::Deserialize)]
        struct Meta<'a> {
            #[serde(borrow)]
            traceparent: Option<Cow<'a, str>>,
        }
        let p: Params<'_> = serde_json::from_slice(body).ok()?;
        parse_traceparent(&p.meta?.traceparent?)
    }

    /// A keyed hash of the (redacted) arguments, 16 hex digits: calls with the same arguments
    /// share it, and without the deployment's key nobody can confirm a guess of them.
    fn params_hash(&self, ev: &AuditEvent) -> Option<String> {
        let args = ev.args.clone().and_then(|r| ev.frame.get(r))?;
        let h = self.cfg.params_hasher.as_ref()?;
        Some(h.short_tag(b"warden params_hash v1", args))
    }

    /// A request that opens an exchange: remember what its closing record will need.
    fn opened(&self, ev: &AuditEvent, hints: FrameHints<'_>) {
        let Some(exchange) = ev.exchange else { return };
        if self.tracer.is_none() && self.events.is_none() {
            return;
        }
        let pending = Pending {
            record_id: ev.id,
            params_hash: self.events.as_ref().and_then(|_| self.params_hash(ev)),
            parent: if self.tracer.is_some() {
                self.parent(ev, hints)
            } else {
                None
            },
        };
        let mut map = self.pending.lock();
        if map.len() < MAX_PENDING {
            map.insert(exchange, pending);
        }
    }

    /// The record that closes an exchange (a response, a refused request, an abandonment).
    fn closed(
        &self,
        ev: &AuditEvent,
        outcome: Outcome,
        hints: FrameHints<'_>,
        found: &mut Vec<Anomaly>,
    ) {
        let refused = ev.kind == "request";
        let pending = if refused {
            Some(Pending {
                record_id: ev.id,
                params_hash: self.events.as_ref().and_then(|_| self.params_hash(ev)),
                parent: if self.tracer.is_some() {
                    self.parent(ev, hints)
                } else {
                    None
                },
            })
        } else {
            ev.exchange.and_then(|x| self.pending.lock().remove(&x))
        };
        // A tool that ran and failed answers with a result flagged `isError` (the definition
        // the record's outcome, reports and statistics share).
        let tool_error = ev.tool_failed();
        let error = if tool_error {
            Some("tool_error")
        } else {
            error_type(outcome, ev.error_code)
        };
        let status = if tool_error {
            "tool_error"
        } else {
            outcome.as_str()
        };
        if let Some(t) = &self.tracer
            && t.sampled(pending.as_ref().and_then(|p| p.parent.as_ref()))
        {
            t.submit(self.span(ev, outcome, error, pending.as_ref()));
        }
        if ev.method.as_deref() != Some("tools/call") {
            return;
        }
        let tool_name = self.tool(ev.target.as_deref());
        let server_id = self.server(ev);
        let user_id = self.user(ev);
        self.metrics
            .tool_calls
            .get_or_create(&CallLabels {
                tool_name: tool_name.clone(),
                server_id: server_id.clone(),
                status: status.to_owned(),
                user_id: user_id.clone(),
            })
            .inc();
        let latency = ev.duration_us.map(|d| d as f64 / 1e6);
        if let Some(secs) = latency {
            self.metrics
                .tool_call_duration
                .get_or_create(&ToolServer {
                    tool_name: tool_name.clone(),
                    server_id: server_id.clone(),
                })
                .observe(secs);
        }
        if let Some(error_type) = error {
            self.metrics
                .tool_call_errors
                .get_or_create(&ErrorLabels {
                    tool_name: tool_name.clone(),
                    server_id: server_id.clone(),
                    error_type: error_type.to_owned(),
                })
                .inc();
        }
        let tu = || ToolUser {
            tool_name: tool_name.clone(),
            server_id: server_id.clone(),
            user_id: user_id.clone(),
        };
        let event = match outcome {
            Outcome::Denied | Outcome::ApprovalRequired => {
                self.metrics.access_denied.get_or_create(&tu()).inc();
                events::ACCESS_DENIED
            }
            Outcome::RateLimited => {
                self.metrics.rate_limit_hits.get_or_create(&tu()).inc();
                events::RATE_LIMIT
            }
            Outcome::BudgetExceeded => {
                self.metrics
                    .budget_exceeded
                    .get_or_create(&UserLabels {
                        user_id: user_id.clone(),
                    })
                    .inc();
                events::BUDGET_EXCEEDED
            }
            _ => events::TOOL_CALL,
        };
        if self.events.is_some() {
            let mut v = serde_json::json!({
                "event": event,
                "timestamp": events::timestamp(ev.ts_us),
                "tool_name": ev.target,
                "server_id": ev.context.server_name,
                "user_id": ev.context.principal,
                "agent_name": ev.context.agent_label(),
                "params_hash": pending.as_ref().and_then(|p| p.params_hash.clone()),
                "success": outcome == Outcome::Ok && !tool_error,
                "latency_ms": latency.map(|s| (s * 1e6).round() / 1e3),
                "outcome": status,
                "record_id": ev.id.to_string(),
            });
            if let Some(e) = error {
                v["error_type"] = e.into();
            }
            // The rule that refused the call: a rate limit's or a budget's own rule, else the
            // deciding rule of the policy.
            let which = match outcome {
                Outcome::RateLimited => "/rate_limit/rule",
                Outcome::BudgetExceeded => "/budget_exceeded/rule",
                _ => "/rule",
            };
            if let Some(rule) = ev
                .policy
                .as_ref()
                .and_then(|p| p.pointer(which).or_else(|| p.get("rule")))
                .filter(|r| !r.is_null())
            {
                v["rule"] = rule.clone();
            }
            self.emit(event, &v);
        }
        if let Some(d) = &self.detector {
            // The detector's keys are the bounded labels (principals always, even when the
            // user_id label is off).
            let principal = ev
                .context
                .principal
                .as_deref()
                .map_or_else(String::new, |p| self.principals.label_admitting(p));
            let now = Instant::now();
            let mut d = d.lock();
            if event == events::ACCESS_DENIED {
                found.extend(d.denial(now, &principal));
            } else if event == events::TOOL_CALL {
                found.extend(d.call(now, &principal, &tool_name, error.is_some()));
            }
        }
    }

    /// The span of one exchange, ending at its closing record. Its strings are the static
    /// ones, the shared session id, ids rendered at export, and one text buffer for the rest.
    fn span(
        &self,
        ev: &AuditEvent,
        outcome: Outcome,
        error: Option<&'static str>,
        pending: Option<&Pending>,
    ) -> Span {
        let parent = pending.and_then(|p| p.parent);
        let trace_id = parent.map_or_else(TraceId::random, |p| p.trace_id);
        let method = ev.method.as_deref().unwrap_or("unknown");
        let known = match method_label(Some(method)) {
            "other" | "none" => None,
            known => Some(known),
        };
        let target = ev.target.as_deref().map(clip);
        let rpc_id = ev.rpc_id.as_deref().map(|id| id.trim_matches('"'));
        let server = ev.context.server_name.as_deref();
        let protocol = ev.context.protocol.as_deref();
        let text = [Some(method), target, target, rpc_id, server, protocol]
            .iter()
            .map(|t| t.map_or(0, str::len) + 1)
            .sum();
        let mut s = Span::new(trace_id, SpanId::random(), Kind::Server, 16, text);
        s.parent = parent.map(|p| (p.span_id, true));
        s.end_ns = u64::try_from(ev.ts_us).unwrap_or(0).saturating_mul(1000);
        s.start_ns = s
            .end_ns
            .checked_sub(ev.duration_us.unwrap_or(0).saturating_mul(1000))
            .unwrap_or(s.end_ns);
        // The name is `method target`; the target attribute is the tail of the same text.
        let method_value = match known {
            Some(m) => Value::Static(m),
            None => s.push_text(&[method]),
        };
        let target_value = match target {
            Some(t) => {
                let name = s.push_text(&[method, " ", t]);
                let tail = match &name {
                    Value::Text(r) => Value::Text(r.end - t.len() as u32..r.end),
                    _ => Value::Static(""),
                };
                s.name = name;
                Some(tail)
            }
            None => {
                s.name = method_value.clone();
                None
            }
        };
        s.attribute("mcp.method.name", method_value);
        s.attribute("mcp.session.id", Value::Shared(ev.session.clone()));
        s.attribute("network.transport", Value::Static(self.cfg.transport));
        s.attribute("warden.outcome", Value::Static(outcome.as_str()));
        s.attribute("warden.audit.record_id", Value::Uuid(ev.id));
        if let Some(p) = pending.filter(|p| p.record_id != ev.id) {
            s.attribute("warden.audit.request_record_id", Value::Uuid(p.record_id));
        }
        if let Some(v) = target_value {
            let key = match method {
                "tools/call" => "gen_ai.tool.name",
                "prompts/get" => "gen_ai.prompt.name",
                m if m.starts_with("resources/") => "mcp.resource.uri",
                _ => "warden.target",
            };
            s.attribute(key, v);
        }
        if method == "tools/call" {
            s.attribute("gen_ai.operation.name", Value::Static("execute_tool"));
        }
        if let Some(id) = rpc_id {
            let v = s.push_text(&[id]);
            s.attribute("jsonrpc.request.id", v);
        }
        if let Some(server) = server {
            let v = s.push_text(&[server]);
            s.attribute("warden.server", v);
        }
        if let Some(p) = protocol {
            let v = s.push_text(&[p]);
            s.attribute("mcp.protocol.version", v);
        }
        if let Some(code) = ev.error_code {
            s.attribute("rpc.response.status_code", Value::Decimal(code));
        }
        s.status = match (outcome, error) {
            (Outcome::Ok, None) => Status::Unset,
            (o, e) => {
                let t = e.unwrap_or(o.as_str());
                s.attribute("error.type", Value::Static(t));
                Status::Error(t)
            }
        };
        s
    }

    fn gateway_event(&self, ev: &AuditEvent) {
        match ev.event {
            Some("session_start") => {
                self.live.fetch_add(1, Ordering::AcqRel);
                self.metrics.sessions.inc();
                self.metrics
                    .active_connections
                    .get_or_create(&ServerLabels {
                        server_id: self.server(ev),
                    })
                    .inc();
            }
            Some("session_end") => {
                self.live.fetch_sub(1, Ordering::AcqRel);
                self.metrics
                    .active_connections
                    .get_or_create(&ServerLabels {
                        server_id: self.server(ev),
                    })
                    .dec();
            }
            Some("policy_reloaded") => {
                self.metrics
                    .policy_reloads
                    .get_or_create(&ResultLabels { result: "ok" })
                    .inc();
            }
            Some("policy_reload_failed") => {
                self.metrics
                    .policy_reloads
                    .get_or_create(&ResultLabels { result: "failed" })
                    .inc();
            }
            Some(
                "catalog_tool_first_seen"
                | "catalog_tool_restored"
                | "catalog_tool_decided"
                | "catalog_tool_reviewed",
            ) => {
                if let Some(event) = crate::catalog::event_label(ev) {
                    self.metrics
                        .catalog_events
                        .get_or_create(&crate::catalog::EventLabels { event })
                        .inc();
                }
                if self.events.is_some()
                    && let Some((name, v)) = crate::catalog::lifecycle_event(ev)
                {
                    self.emit(name, &v);
                }
            }
            Some("catalog_tool_changed") => {
                self.metrics
                    .catalog_events
                    .get_or_create(&crate::catalog::EventLabels { event: "changed" })
                    .inc();
                if let Some(class) = crate::catalog::changed_class(ev) {
                    self.metrics
                        .catalog_changes
                        .get_or_create(&crate::catalog::ClassLabels { class })
                        .inc();
                }
                if self.events.is_some()
                    && let Some((name, v)) = crate::catalog::security_event(ev)
                {
                    self.emit(name, &v);
                }
            }
            Some("policy_alert") => {
                if self.events.is_some()
                    && let Some(d) = &ev.detail
                {
                    let mut v = serde_json::json!({
                        "event": events::POLICY_ALERT,
                        "timestamp": events::timestamp(ev.ts_us),
                        "tool_name": ev.target,
                        "server_id": ev.context.server_name,
                        "user_id": ev.context.principal,
                        "agent_name": ev.context.agent_label(),
                        "record_id": ev.id.to_string(),
                    });
                    for k in ["alert", "tool", "rule", "reason", "rows", "max_rows"] {
                        if let Some(x) = d.get(k) {
                            v[k] = x.clone();
                        }
                    }
                    self.emit(events::POLICY_ALERT, &v);
                }
            }
            Some("approval_requested" | "approval_decided" | "approval_forwarded") => {
                approvals::count(&self.metrics, ev);
                if self.events.is_some()
                    && let Some((name, v)) = approvals::security_event(ev)
                {
                    self.emit(name, &v);
                }
            }
            _ => {}
        }
    }

    fn anomaly(&self, a: &Anomaly, ctx: &AuditEvent) -> (&'static str, serde_json::Value) {
        self.metrics
            .anomalies
            .get_or_create(&KindLabels { kind: a.kind })
            .inc();
        let detail = a.detail();
        if self.events.is_some() {
            let mut v = serde_json::json!({
                "event": events::ANOMALY,
                "timestamp": events::timestamp(ctx.ts_us),
                "server_id": ctx.context.server_name,
                "user_id": ctx.context.principal,
                "agent_name": ctx.context.agent_label(),
                "anomaly": detail,
            });
            if a.scope == "tool" {
                v["tool_name"] = a.key.clone().into();
            }
            self.emit(events::ANOMALY, &v);
        }
        ("anomaly", detail)
    }
}

impl Observer for Observability {
    fn observe(
        &self,
        records: &[AuditEvent],
        hints: FrameHints<'_>,
    ) -> Vec<(&'static str, serde_json::Value)> {
        let mut found = Vec::new();
        for ev in records {
            if let Some(dir) = ev.direction {
                self.metrics
                    .messages
                    .get_or_create(&MessageLabels {
                        direction: dir.as_str(),
                        method: method_label(ev.method.as_deref()),
                    })
                    .inc();
            }
            if ev.kind == "event" {
                self.gateway_event(ev);
            }
            if ev.kind == "result" && ev.method.as_deref() == Some("tools/list") {
                self.learn_tools(ev);
            }
            let closing = match ev.outcome {
                Some(o) if ev.kind == "request" => Some(o),
                Some(o) if matches!(ev.kind, "result" | "error") && ev.duration_us.is_some() => {
                    Some(o)
                }
                Some(o) if ev.event == Some("exchange_abandoned") => Some(o),
                _ => None,
            };
            match closing {
                Some(o) => self.closed(ev, o, hints, &mut found),
                None if ev.kind == "request" => self.opened(ev, hints),
                None => {}
            }
        }
        let Some(ctx) = records.last() else {
            return Vec::new();
        };
        found.iter().map(|a| self.anomaly(a, ctx)).collect()
    }
}

/// The error type of a failed call (`None` if it did not fail).
fn error_type(o: Outcome, code: Option<i64>) -> Option<&'static str> {
    match o {
        Outcome::RpcError => Some(match code {
            Some(-32700) => "parse_error",
            Some(-32600) => "invalid_request",
            Some(-32601) => "method_not_found",
            Some(-32602) => "invalid_params",
            Some(-32603) => "internal_error",
            _ => "rpc_error",
        }),
        Outcome::GatewayError => Some("gateway_error"),
        Outcome::Abandoned => Some("abandoned"),
        _ => None,
    }
}

/// Searchers built once (building one per message shows in profiles).
static TRACEPARENT: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(b"traceparent"));

/// A target cut to a sane length for span names and attributes.
fn clip(s: &str) -> &str {
    if s.len() <= 256 {
        return s;
    }
    let mut end = 256;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
