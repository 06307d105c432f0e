//! The report: what happened in a session or a time range, built in one pass over the
//! records, then written as self-contained HTML (`html`), JSON, CSV or Markdown (`text`).
//!
//! Sections: summary, sessions, tools classified read / write / sensitive, the data-access
//! map (which ids, paths, URIs and e-mail addresses each tool's arguments named), policy
//! decisions and redactions, approvals (asked, decided, by whom, after how long; see
//! [`approvals`]), failures, the timeline (one entry per exchange, with its
//! arguments and result as stored), and the integrity verdict of the logs involved.

pub mod approvals;
mod entities;
pub mod html;
pub mod text;

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::Value;
use warden_audit::content::Payload;
use warden_audit::query::{Query, SessionSummary, answered, key_fingerprint, status_of};
use warden_audit::{RecordRow, Store, StoreError};

use crate::views::time;

/// Stored arguments and results longer than this are cut in the report (the record id
/// leads to the whole, as stored).
pub const PAYLOAD_CAP: usize = 2048;
/// Most entities listed per tool in the data-access map.
const ENTITIES_PER_TOOL: usize = 100;
/// Most failures and policy events listed one by one (all are counted).
const LISTED: usize = 1000;

/// What the report covers.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    pub session: Option<String>,
    pub since_us: Option<i64>,
    pub until_us: Option<i64>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub records: u64,
    pub sessions: u64,
    pub exchanges: u64,
    pub tool_calls: u64,
    pub errors: u64,
    pub denied: u64,
    pub rate_limited: u64,
    pub approvals_pending: u64,
    pub redacted_records: u64,
    pub sensitive_calls: u64,
    pub write_calls: u64,
    pub first: Option<String>,
    pub last: Option<String>,
    pub servers: Vec<String>,
    pub principals: Vec<String>,
    pub agents: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ToolRow {
    pub name: String,
    /// `read`, `write` or `sensitive` (as recorded on its calls).
    pub class: String,
    /// `config`, `annotations` or `default`.
    pub class_source: String,
    pub calls: u64,
    pub ok: u64,
    pub errors: u64,
    pub blocked: u64,
    pub avg_ms: Option<f64>,
    pub max_ms: Option<f64>,
    #[serde(skip)]
    total_us: i64,
    #[serde(skip)]
    timed: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entity {
    /// `id`, `path`, `uri` or `email`.
    pub kind: &'static str,
    /// The value as stored (an e-mail address shown masked).
    pub value: String,
    pub count: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ToolAccess {
    pub tool: String,
    pub class: String,
    pub entities: Vec<Entity>,
    /// Distinct entities beyond those listed.
    pub more: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Decision {
    pub time: String,
    pub session: String,
    pub tool: Option<String>,
    pub principal: Option<String>,
    /// The outcome, or for an allowed call `allow` / the policy's action.
    pub action: String,
    pub rule: Option<String>,
    pub record: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct PolicySection {
    /// Decisions on requests by `(action, rule)`.
    pub decisions: Vec<RuleCount>,
    /// Calls that policy stopped (denied, rate limited, budget, approval).
    pub blocked: Vec<Decision>,
    pub blocked_total: u64,
    /// Redactions by rule: how many values, in how many records.
    pub redactions: Vec<RedactionCount>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RuleCount {
    pub action: String,
    pub rule: Option<String>,
    pub count: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct RedactionCount {
    pub rule: String,
    pub values: u64,
    pub records: u64,
    pub tools: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    pub time: String,
    pub session: String,
    pub method: Option<String>,
    pub tool: Option<String>,
    pub outcome: String,
    pub error_code: Option<i64>,
    pub message: Option<String>,
    pub record: String,
}

/// One exchange (request and its answer), or one message or event on its own.
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    pub ts_us: i64,
    pub time: String,
    pub session: String,
    pub dir: Option<String>,
    pub kind: String,
    /// The method, or for a gateway event its name.
    pub what: String,
    pub tool: Option<String>,
    pub class: Option<String>,
    pub outcome: Option<String>,
    pub duration_ms: Option<f64>,
    pub policy: Option<String>,
    pub redactions: u64,
    /// The stored arguments / params (JSON text, cut at `PAYLOAD_CAP`).
    pub args: Option<String>,
    /// The stored result or error (JSON text, cut at `PAYLOAD_CAP`).
    pub result: Option<String>,
    pub records: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LogIntegrity {
    pub log_id: String,
    pub origin: String,
    pub records: u64,
    pub checkpoints: u64,
    pub last_checkpoint_size: Option<u64>,
    pub unsigned_tail: u64,
    pub key_fingerprint: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Integrity {
    /// `ok` or `tampered`.
    pub verdict: String,
    pub trusted_keys: bool,
    pub logs: Vec<LogIntegrity>,
    pub problem: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub title: String,
    pub generated: String,
    pub scope: ScopeView,
    pub summary: Summary,
    pub sessions: Vec<SessionSummary>,
    pub tools: Vec<ToolRow>,
    pub data_access: Vec<ToolAccess>,
    pub policy: PolicySection,
    pub approvals: approvals::ApprovalsSection,
    pub failures: Vec<Failure>,
    pub failures_total: u64,
    pub integrity: Integrity,
    pub timeline: Vec<Entry>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ScopeView {
    pub session: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(serde::Deserialize, Default)]
struct Leaf {
    event: Option<String>,
    error_code: Option<i64>,
    policy: Option<Value>,
    redactions: Option<Vec<Redaction>>,
    tool_class: Option<String>,
    tool_class_source: Option<String>,
    rpc_id: Option<Box<serde_json::value::RawValue>>,
    client: Option<Client>,
    detail: Option<Value>,
}

#[derive(serde::Deserialize)]
struct Redaction {
    rule: Option<String>,
    count: Option<u64>,
}

#[derive(serde::Deserialize)]
struct Client {
    name: Option<String>,
}

fn cap(text: &str) -> String {
    if text.len() <= PAYLOAD_CAP {
        return text.to_owned();
    }
    let mut cut = PAYLOAD_CAP;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(
        "{}… [cut in this report: {} bytes stored]",
        &text[..cut],
        text.len()
    )
}

#[derive(Default)]
struct Builder {
    summary: Summary,
    sessions: BTreeMap<String, ()>,
    servers: BTreeMap<String, ()>,
    principals: BTreeMap<String, ()>,
    agents: BTreeMap<String, ()>,
    tools: BTreeMap<String, ToolRow>,
    access: HashMap<String, HashMap<(&'static str, String), u64>>,
    decisions: BTreeMap<(String, Option<String>), u64>,
    policy: PolicySection,
    redactions: BTreeMap<String, (u64, u64, BTreeMap<String, ()>)>,
    approvals: approvals::Approvals,
    failures: Vec<Failure>,
    failures_total: u64,
    timeline: Vec<Entry>,
    /// Open exchanges: exchange id → timeline index.
    open: HashMap<String, usize>,
    /// Refused requests waiting for warden's answer: (session, rpc id) → timeline index.
    refused: HashMap<(String, String), usize>,
    logs: BTreeMap<String, ()>,
}

impl Builder {
    fn add(&mut self, r: RecordRow, stored: Option<Payload>) {
        let leaf: Leaf = serde_json::from_slice(&r.leaf).unwrap_or_default();
        let s = &mut self.summary;
        s.records += 1;
        if s.first.is_none() {
            s.first = Some(time(r.ts_us));
        }
        s.last = Some(time(r.ts_us));
        self.logs.insert(r.log_id.clone(), ());
        if !r.session.is_empty() {
            self.sessions.insert(r.session.clone(), ());
        }
        if let Some(v) = &r.server {
            self.servers.insert(v.clone(), ());
        }
        if let Some(v) = &r.principal {
            self.principals.insert(v.clone(), ());
        }
        if let Some(v) = r
            .agent
            .clone()
            .or(leaf.client.as_ref().and_then(|c| c.name.clone()))
        {
            self.agents.insert(v, ());
        }
        if let (Some(event), Some(detail)) = (&leaf.event, &leaf.detail) {
            self.approvals.add(&r, event, detail);
        }
        let payload = stored.as_ref().map(|p| match p {
            Payload::Present { text, .. } => text.clone(),
            Payload::Expired => "[content expired]".to_owned(),
            Payload::Erased => "[content erased]".to_owned(),
            Payload::Unavailable => "[content unavailable]".to_owned(),
        });
        let redaction_count: u64 = leaf
            .redactions
            .iter()
            .flatten()
            .map(|x| x.count.unwrap_or(1))
            .sum();
        if redaction_count > 0 {
            s.redacted_records += 1;
            for x in leaf.redactions.iter().flatten() {
                let e = self
                    .redactions
                    .entry(x.rule.clone().unwrap_or_else(|| "?".into()))
                    .or_default();
                e.0 += x.count.unwrap_or(1);
                e.1 += 1;
                if let Some(t) = &r.target {
                    e.2.insert(t.clone(), ());
                }
            }
        }
        let policy_action = leaf.policy.as_ref().and_then(|p| {
            let action = p.get("action")?.as_str()?.to_owned();
            let rule = p.get("rule").and_then(Value::as_str).map(str::to_owned);
            Some((action, rule))
        });
        if r.kind == "request"
            && let Some((action, rule)) = &policy_action
        {
            *self
                .decisions
                .entry((action.clone(), rule.clone()))
                .or_default() += 1;
        }
        let is_call = r.method.as_deref() == Some("tools/call");
        if r.kind == "request" && is_call {
            let s = &mut self.summary;
            s.tool_calls += 1;
            match leaf.tool_class.as_deref() {
                Some("sensitive") => s.sensitive_calls += 1,
                Some("write") => s.write_calls += 1,
                _ => {}
            }
            let name = r.target.clone().unwrap_or_else(|| "(unnamed)".into());
            let t = self.tools.entry(name.clone()).or_insert_with(|| ToolRow {
                name: name.clone(),
                ..ToolRow::default()
            });
            t.calls += 1;
            if let Some(c) = &leaf.tool_class {
                t.class = c.clone();
                t.class_source = leaf.tool_class_source.clone().unwrap_or_default();
            }
            if let Some(v) = stored.as_ref().and_then(Payload::value) {
                let args = v.get("arguments").unwrap_or(&Value::Null);
                let seen = self.access.entry(name).or_default();
                entities::collect(args, None, &mut |kind, value| {
                    if seen.len() < 10 * ENTITIES_PER_TOOL
                        || seen.contains_key(&(kind, value.clone()))
                    {
                        *seen.entry((kind, value)).or_default() += 1;
                    }
                });
            }
        }
        if r.kind == "request"
            && r.method.as_deref() == Some("resources/read")
            && let Some(uri) = &r.target
        {
            *self
                .access
                .entry("resources/read".into())
                .or_default()
                .entry(("uri", uri.clone()))
                .or_default() += 1;
        }
        // Closing records: outcome bookkeeping.
        let closes = r.outcome.is_some() && r.kind != "request";
        if let (true, Some(outcome)) = (closes, r.outcome.as_deref()) {
            let s = &mut self.summary;
            s.exchanges += 1;
            let status = status_of(outcome);
            match status {
                "success" => {}
                "denied" => s.denied += 1,
                "rate_limited" => s.rate_limited += 1,
                "pending" => s.approvals_pending += 1,
                _ => s.errors += 1,
            }
            if is_call && let Some(t) = r.target.as_ref().and_then(|t| self.tools.get_mut(t)) {
                match status {
                    "success" => t.ok += 1,
                    "error" => t.errors += 1,
                    _ => t.blocked += 1,
                }
                if let Some(d) = r.duration_us.filter(|_| answered(outcome)) {
                    t.total_us += d;
                    t.timed += 1;
                    let d = d as f64 / 1000.0;
                    t.max_ms = Some(t.max_ms.map_or(d, |m: f64| m.max(d)));
                }
            }
            if matches!(status, "denied" | "rate_limited" | "pending") {
                self.policy.blocked_total += 1;
                if self.policy.blocked.len() < LISTED {
                    self.policy.blocked.push(Decision {
                        time: time(r.ts_us),
                        session: r.session.clone(),
                        tool: r.target.clone(),
                        principal: r.principal.clone(),
                        action: outcome.to_owned(),
                        rule: policy_action.as_ref().and_then(|p| p.1.clone()),
                        record: r.id.clone(),
                    });
                }
            }
            if status == "error" {
                self.failures_total += 1;
                if self.failures.len() < LISTED {
                    let message = payload
                        .as_deref()
                        .and_then(|p| serde_json::from_str::<Value>(p).ok())
                        .and_then(|v| {
                            // An error's message, or what a failed tool said first.
                            v.get("message")
                                .or_else(|| v.pointer("/content/0/text"))
                                .and_then(Value::as_str)
                                .map(str::to_owned)
                        });
                    self.failures.push(Failure {
                        time: time(r.ts_us),
                        session: r.session.clone(),
                        method: r.method.clone(),
                        tool: r.target.clone(),
                        outcome: outcome.to_owned(),
                        error_code: leaf.error_code,
                        message,
                        record: r.id.clone(),
                    });
                }
            }
        }
        self.timeline_add(r, leaf, payload, policy_action, redaction_count);
    }

    fn timeline_add(
        &mut self,
        r: RecordRow,
        leaf: Leaf,
        payload: Option<String>,
        policy: Option<(String, Option<String>)>,
        redactions: u64,
    ) {
        let closes =
            r.kind == "result" || r.kind == "error" || r.outcome.is_some() && r.kind != "request";
        // The answer to an open exchange completes its entry.
        let open = r
            .exchange
            .as_ref()
            .filter(|_| closes)
            .and_then(|x| self.open.remove(x))
            .or_else(|| {
                let id = leaf.rpc_id.as_ref()?.get().to_owned();
                self.refused
                    .remove(&(r.session.clone(), id))
                    .filter(|_| closes)
            });
        if let Some(i) = open {
            let e = &mut self.timeline[i];
            e.outcome = r.outcome.clone();
            e.duration_ms = r.duration_us.map(|d| d as f64 / 1000.0);
            e.result = payload.as_deref().map(cap);
            e.redactions += redactions;
            e.records.push(r.id);
            return;
        }
        let i = self.timeline.len();
        if r.kind == "request" {
            if let Some(x) = &r.exchange {
                self.open.insert(x.clone(), i);
            } else if r.outcome.is_some()
                && let Some(id) = &leaf.rpc_id
            {
                self.refused
                    .insert((r.session.clone(), id.get().to_owned()), i);
            }
        }
        // A gateway event is named by itself, even when it is about a call (an approval's).
        let what = if r.kind == "event" {
            leaf.event.clone().or(r.method.clone())
        } else {
            r.method.clone().or(leaf.event.clone())
        }
        .unwrap_or_else(|| r.kind.clone());
        let (args, result) = if r.kind == "result" || r.kind == "error" {
            (None, payload.as_deref().map(cap))
        } else {
            (payload.as_deref().map(cap), None)
        };
        self.timeline.push(Entry {
            time: time(r.ts_us),
            ts_us: r.ts_us,
            session: r.session,
            dir: r.dir,
            kind: r.kind,
            what,
            tool: r.target,
            class: leaf.tool_class,
            outcome: r.outcome,
            duration_ms: r.duration_us.map(|d| d as f64 / 1000.0),
            policy: policy.map(|(a, rule)| match rule {
                Some(rule) => format!("{a} ({rule})"),
                None => a,
            }),
            redactions,
            args,
            result,
            records: vec![r.id],
        });
    }
}

/// Builds the report for `scope`, verifying the logs its records are in.
pub fn build(
    store: &Store,
    scope: &Scope,
    trusted: Option<&[String]>,
) -> Result<Report, StoreError> {
    let q = Query {
        session: scope.session.clone(),
        since_us: scope.since_us,
        until_us: scope.until_us,
        ..Query::default()
    };
    let mut b = Builder::default();
    store.for_each(&q, |r| {
        // Content that cannot be read shows as unavailable; `audit verify` says why.
        let payload = store.payload(&r.leaf).unwrap_or(Some(Payload::Unavailable));
        b.add(r, payload);
        true
    })?;
    let integrity = integrity(store, &b.logs, trusted)?;
    let mut sessions = Vec::new();
    for s in b.sessions.keys().take(LISTED) {
        if let Some(x) = store.session_summary(s)? {
            sessions.push(x);
        }
    }
    let mut summary = b.summary;
    summary.sessions = b.sessions.len() as u64;
    summary.servers = b.servers.into_keys().collect();
    summary.principals = b.principals.into_keys().collect();
    summary.agents = b.agents.into_keys().collect();
    let mut tools: Vec<ToolRow> = b
        .tools
        .into_values()
        .map(|mut t| {
            if t.timed > 0 {
                t.avg_ms = Some((t.total_us as f64 / t.timed as f64).round() / 1000.0);
            }
            if t.class.is_empty() {
                t.class = "unclassified".into();
            }
            t
        })
        .collect();
    let rank = |c: &str| match c {
        "sensitive" => 0,
        "write" => 1,
        "read" => 2,
        _ => 3,
    };
    tools.sort_by(|a, b| {
        rank(&a.class)
            .cmp(&rank(&b.class))
            .then(b.calls.cmp(&a.calls))
            .then(a.name.cmp(&b.name))
    });
    let class_of: HashMap<&str, &str> = tools
        .iter()
        .map(|t| (t.name.as_str(), t.class.as_str()))
        .collect();
    let mut data_access: Vec<ToolAccess> = b
        .access
        .into_iter()
        .filter(|(_, m)| !m.is_empty())
        .map(|(tool, m)| {
            let total = m.len();
            let mut entities: Vec<Entity> = m
                .into_iter()
                .map(|((kind, value), count)| Entity { kind, value, count })
                .collect();
            entities.sort_by(|a, b| b.count.cmp(&a.count).then(a.cmp(b)));
            entities.truncate(ENTITIES_PER_TOOL);
            ToolAccess {
                class: class_of
                    .get(tool.as_str())
                    .copied()
                    .unwrap_or("")
                    .to_owned(),
                more: (total - entities.len()) as u64,
                tool,
                entities,
            }
        })
        .collect();
    data_access.sort_by(|a, b| {
        rank(&a.class)
            .cmp(&rank(&b.class))
            .then(a.tool.cmp(&b.tool))
    });
    let mut policy = b.policy;
    policy.decisions = b
        .decisions
        .into_iter()
        .map(|((action, rule), count)| RuleCount {
            action,
            rule,
            count,
        })
        .collect();
    policy.redactions = b
        .redactions
        .into_iter()
        .map(|(rule, (values, records, tools))| RedactionCount {
            rule,
            values,
            records,
            tools: tools.into_keys().collect(),
        })
        .collect();
    let title = match &scope.session {
        Some(s) => format!("warden report: session {s}"),
        None => "warden report".to_owned(),
    };
    Ok(Report {
        title,
        generated: time(warden_audit::now_us()),
        scope: ScopeView {
            session: scope.session.clone(),
            from: scope.since_us.map(time),
            to: scope.until_us.map(time),
        },
        summary,
        sessions,
        tools,
        data_access,
        policy,
        approvals: b.approvals.finish(),
        failures: b.failures,
        failures_total: b.failures_total,
        integrity,
        timeline: b.timeline,
    })
}

/// Verifies the logs in `logs` (every log when empty) from one snapshot.
fn integrity(
    store: &Store,
    logs: &BTreeMap<String, ()>,
    trusted: Option<&[String]>,
) -> Result<Integrity, StoreError> {
    let _snapshot = store.snapshot()?;
    let heads = store.log_heads()?;
    let mut out = Integrity {
        verdict: "ok".into(),
        trusted_keys: trusted.is_some(),
        logs: Vec::new(),
        problem: None,
    };
    for log in store.logs()? {
        if !logs.is_empty() && !logs.contains_key(&log.log_id) {
            continue;
        }
        let head = heads.iter().find(|h| h.log_id == log.log_id);
        let mut row = LogIntegrity {
            log_id: log.log_id.clone(),
            origin: log.origin.clone(),
            records: head.map_or(0, |h| h.records),
            checkpoints: 0,
            last_checkpoint_size: head.and_then(|h| h.last_checkpoint_size),
            unsigned_tail: 0,
            key_fingerprint: key_fingerprint(&log.vkey),
        };
        match warden_audit::export::verify_log(store, &log, trusted)? {
            Ok(r) => {
                row.records = r.records;
                row.checkpoints = r.checkpoints;
                row.unsigned_tail = r.unsigned_tail;
            }
            Err(p) => {
                out.verdict = "tampered".into();
                if out.problem.is_none() {
                    out.problem = Some(p.to_string());
                }
            }
        }
        out.logs.push(row);
    }
    Ok(out)
}
