//! The report as one self-contained HTML file: inline CSS and script, no external asset,
//! and a Content-Security-Policy that forbids fetching anything. Summaries are rendered
//! here; the timeline ships as JSON in the page and is drawn a page at a time, so a
//! 100k-event session opens quickly. Text from the records is escaped (HTML) or embedded as
//! JSON with `<` escaped, and the script writes it with `textContent` only.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::Report;

const STYLE: &str = include_str!("report.css");
const SCRIPT: &str = include_str!("report.js");

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(T::to_string).unwrap_or_default()
}

/// JSON safe inside a `<script>` element.
fn script_json(v: &Value) -> String {
    serde_json::to_string(v)
        .unwrap_or_default()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn class_badge(class: &str) -> String {
    if class.is_empty() {
        return String::new();
    }
    format!("<span class=\"badge c-{0}\">{0}</span>", esc(class))
}

fn outcome_badge(outcome: &str) -> String {
    let kind = match warden_audit::query::status_of(outcome) {
        "success" => "ok",
        "error" => "err",
        _ => "blocked",
    };
    format!("<span class=\"badge o-{kind}\">{}</span>", esc(outcome))
}

struct Table<'a> {
    out: &'a mut String,
}

impl<'a> Table<'a> {
    fn new(out: &'a mut String, id: &str, header: &[&str]) -> Table<'a> {
        let _w = write!(out, "<table id=\"{id}\"><thead><tr>");
        for h in header {
            let _w = write!(out, "<th>{}</th>", esc(h));
        }
        out.push_str("</tr></thead><tbody>");
        Table { out }
    }
    /// A row of already-escaped cells.
    fn row(&mut self, class: &str, cells: &[String]) {
        let _w = write!(self.out, "<tr class=\"{}\">", esc(class));
        for c in cells {
            let _w = write!(self.out, "<td>{c}</td>");
        }
        self.out.push_str("</tr>");
    }
    fn end(self, empty: &str, colspan: usize, rows: usize) {
        if rows == 0 {
            let _w = write!(
                self.out,
                "<tr><td colspan=\"{colspan}\" class=\"muted\">{}</td></tr>",
                esc(empty)
            );
        }
        self.out.push_str("</tbody></table>");
    }
}

pub fn render(r: &Report) -> String {
    let s = &r.summary;
    let mut o = String::with_capacity(64 * 1024 + r.timeline.len() * 300);
    let verdict_ok = r.integrity.verdict == "ok";
    let _w = write!(
        o,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body>\
         <header><h1>{title}</h1><p class=\"muted\">Generated {gen}{scope}</p>\
         <p id=\"verdict\" class=\"verdict {vclass}\">Integrity: {verdict}</p></header>\
         <nav><a href=\"#summary\">Summary</a><a href=\"#sessions\">Sessions</a><a href=\"#tools\">Tools</a>\
         <a href=\"#data-access\">Data access</a><a href=\"#policy\">Policy &amp; redactions</a>\
         <a href=\"#approvals\">Approvals</a><a href=\"#failures\">Failures</a><a href=\"#integrity\">Integrity</a><a href=\"#timeline\">Timeline</a></nav><main>",
        title = esc(&r.title),
        gen = esc(&r.generated),
        scope = {
            let mut x = String::new();
            if let Some(v) = &r.scope.session {
                let _w = write!(x, " · session <code>{}</code>", esc(v));
            }
            if r.scope.from.is_some() || r.scope.to.is_some() {
                let _w = write!(
                    x,
                    " · from {} to {}",
                    esc(r.scope.from.as_deref().unwrap_or("the first record (open)")),
                    esc(r.scope.to.as_deref().unwrap_or("now (open)"))
                );
            }
            x
        },
        vclass = if verdict_ok { "good" } else { "bad" },
        verdict = if verdict_ok { "verified, intact".to_owned() } else { format!("TAMPERED: {}", esc(&opt(&r.integrity.problem))) },
    );

    // Summary cards.
    o.push_str("<section id=\"summary\"><h2>Summary</h2><div class=\"cards\">");
    for (label, value, class) in [
        ("records", s.records, ""),
        ("sessions", s.sessions, ""),
        ("tool calls", s.tool_calls, ""),
        ("sensitive calls", s.sensitive_calls, "c-sensitive"),
        ("write calls", s.write_calls, "c-write"),
        ("errors", s.errors, "o-err"),
        ("denied", s.denied, "o-blocked"),
        ("rate limited", s.rate_limited, "o-blocked"),
        ("redacted records", s.redacted_records, ""),
    ] {
        let _w = write!(
            o,
            "<div class=\"card {class}\"><div class=\"num\">{value}</div><div class=\"label\">{label}</div></div>"
        );
    }
    let _w = write!(
        o,
        "</div><dl><dt>From</dt><dd>{}</dd><dt>To</dt><dd>{}</dd><dt>Servers</dt><dd>{}</dd>\
         <dt>Principals</dt><dd>{}</dd><dt>Agents</dt><dd>{}</dd></dl></section>",
        esc(&opt(&s.first)),
        esc(&opt(&s.last)),
        esc(&s.servers.join(", ")),
        esc(&s.principals.join(", ")),
        esc(&s.agents.join(", ")),
    );

    // Sessions.
    o.push_str("<section id=\"sessions\"><h2>Sessions</h2>");
    let mut t = Table::new(
        &mut o,
        "sessions-table",
        &[
            "session",
            "started",
            "records",
            "tool calls",
            "problems",
            "server",
            "principal",
            "agent",
        ],
    );
    for x in &r.sessions {
        t.row(
            if x.problems > 0 { "has-problems" } else { "" },
            &[
                format!("<code>{}</code>", esc(&x.session)),
                esc(&crate::views::time(x.started_us)),
                x.records.to_string(),
                x.calls.to_string(),
                x.problems.to_string(),
                esc(&opt(&x.server)),
                esc(&opt(&x.principal)),
                esc(&opt(&x.agent)),
            ],
        );
    }
    t.end("no sessions", 8, r.sessions.len());
    o.push_str("</section>");

    // Tools.
    o.push_str("<section id=\"tools\"><h2>Tools</h2><p class=\"muted\">Classified read / write / sensitive as recorded on each call (by configuration, the server's annotations, or the default).</p>");
    let mut t = Table::new(
        &mut o,
        "tools-table",
        &[
            "tool", "class", "why", "calls", "ok", "errors", "blocked", "avg ms", "max ms",
        ],
    );
    for x in &r.tools {
        t.row(
            &format!("tool c-{}", x.class),
            &[
                format!("<code>{}</code>", esc(&x.name)),
                class_badge(&x.class),
                esc(&x.class_source),
                x.calls.to_string(),
                x.ok.to_string(),
                x.errors.to_string(),
                x.blocked.to_string(),
                opt(&x.avg_ms),
                opt(&x.max_ms),
            ],
        );
    }
    t.end("no tool calls", 9, r.tools.len());
    o.push_str("</section>");

    // Data access.
    o.push_str("<section id=\"data-access\"><h2>Data access</h2><p class=\"muted\">What each tool's arguments named: ids, paths, URIs, e-mail addresses (masked).</p>");
    if r.data_access.is_empty() {
        o.push_str("<p class=\"muted\">No entities in the recorded arguments.</p>");
    }
    for a in &r.data_access {
        let _w = write!(
            o,
            "<div class=\"access c-{cls}\"><h3><code>{tool}</code> {badge}</h3><ul>",
            cls = esc(&a.class),
            tool = esc(&a.tool),
            badge = class_badge(&a.class)
        );
        for e in &a.entities {
            let _w = write!(
                o,
                "<li><span class=\"kind\">{}</span> <code>{}</code> <span class=\"muted\">×{}</span></li>",
                esc(e.kind),
                esc(&e.value),
                e.count
            );
        }
        if a.more > 0 {
            let _w = write!(o, "<li class=\"muted\">and {} more</li>", a.more);
        }
        o.push_str("</ul></div>");
    }
    o.push_str("</section>");

    // Policy and redactions.
    o.push_str("<section id=\"policy\"><h2>Policy decisions &amp; redactions</h2><h3>Decisions on requests</h3>");
    let mut t = Table::new(&mut o, "decisions-table", &["action", "rule", "requests"]);
    for d in &r.policy.decisions {
        t.row(
            "",
            &[esc(&d.action), esc(&opt(&d.rule)), d.count.to_string()],
        );
    }
    t.end("no policy was in force", 3, r.policy.decisions.len());
    let _w = write!(o, "<h3>Calls stopped ({})</h3>", r.policy.blocked_total);
    let mut t = Table::new(
        &mut o,
        "blocked-table",
        &["time", "tool", "principal", "outcome", "rule", "record"],
    );
    for d in &r.policy.blocked {
        t.row(
            "blocked",
            &[
                esc(&d.time),
                esc(&opt(&d.tool)),
                esc(&opt(&d.principal)),
                outcome_badge(&d.action),
                esc(&opt(&d.rule)),
                format!("<code>{}</code>", esc(&d.record)),
            ],
        );
    }
    t.end("none", 6, r.policy.blocked.len());
    o.push_str("<h3>Redactions</h3>");
    let mut t = Table::new(
        &mut o,
        "redactions-table",
        &["rule", "values", "records", "tools"],
    );
    for x in &r.policy.redactions {
        t.row(
            "",
            &[
                esc(&x.rule),
                x.values.to_string(),
                x.records.to_string(),
                esc(&x.tools.join(", ")),
            ],
        );
    }
    t.end("nothing was redacted", 4, r.policy.redactions.len());
    o.push_str("</section>");

    approvals(&mut o, &r.approvals);

    // Failures.
    let _w = write!(
        o,
        "<section id=\"failures\"><h2>Failures ({})</h2>",
        r.failures_total
    );
    let mut t = Table::new(
        &mut o,
        "failures-table",
        &[
            "time", "method", "tool", "outcome", "code", "message", "record",
        ],
    );
    for f in &r.failures {
        t.row(
            "failure",
            &[
                esc(&f.time),
                esc(&opt(&f.method)),
                esc(&opt(&f.tool)),
                outcome_badge(&f.outcome),
                opt(&f.error_code),
                esc(&opt(&f.message)),
                format!("<code>{}</code>", esc(&f.record)),
            ],
        );
    }
    t.end("no failures", 7, r.failures.len());
    o.push_str("</section>");

    // Integrity.
    let _w = write!(
        o,
        "<section id=\"integrity\"><h2>Integrity</h2><p class=\"verdict {}\">{}</p><p class=\"muted\">Signatures checked with {}.</p>",
        if verdict_ok { "good" } else { "bad" },
        if verdict_ok {
            "Every record re-hashed into its log's Merkle tree; every signed checkpoint matches."
                .to_owned()
        } else {
            format!("Tampering found: {}", esc(&opt(&r.integrity.problem)))
        },
        if r.integrity.trusted_keys {
            "the verifier key given"
        } else {
            "each log's registered key"
        },
    );
    let mut t = Table::new(
        &mut o,
        "integrity-table",
        &[
            "log",
            "origin",
            "records",
            "signed checkpoints",
            "last checkpoint size",
            "unsigned tail",
            "key fingerprint",
        ],
    );
    for l in &r.integrity.logs {
        t.row(
            "",
            &[
                format!("<code>{}</code>", esc(&l.log_id)),
                esc(&l.origin),
                l.records.to_string(),
                l.checkpoints.to_string(),
                opt(&l.last_checkpoint_size),
                l.unsigned_tail.to_string(),
                format!("<code>{}</code>", esc(&l.key_fingerprint)),
            ],
        );
    }
    t.end("no logs", 7, r.integrity.logs.len());
    o.push_str("</section>");

    // Timeline: data for the script.
    let mut sessions: Vec<&str> = Vec::new();
    let mut index = std::collections::HashMap::new();
    // Compact rows: time as ms after the first entry, arguments and results embedded as JSON
    // values when they are JSON (no second escaping), the request's record id only.
    let t0 = r.timeline.first().map_or(0, |e| e.ts_us);
    let payload = |p: &Option<String>| -> Value {
        match p {
            Some(t) => {
                serde_json::from_str::<Value>(t).unwrap_or_else(|_| Value::String(t.clone()))
            }
            None => Value::Null,
        }
    };
    let rows: Vec<Value> = r
        .timeline
        .iter()
        .map(|e| {
            let si = *index.entry(e.session.as_str()).or_insert_with(|| {
                sessions.push(e.session.as_str());
                sessions.len() - 1
            });
            json!([
                e.ts_us / 1000 - t0 / 1000,
                si,
                e.dir,
                e.what,
                e.tool,
                e.class,
                e.outcome,
                e.duration_ms,
                e.policy,
                e.redactions,
                payload(&e.args),
                payload(&e.result),
                e.records.first(),
                e.records.len()
            ])
        })
        .collect();
    let _w = write!(
        o,
        "<section id=\"timeline\"><h2>Timeline ({n} entries)</h2>\
         <p class=\"muted\">One entry per exchange (a request and its answer) or message. Click an entry to see its arguments and result as stored (redacted before they were hashed).</p>\
         <div class=\"controls\"><input id=\"tl-filter\" type=\"search\" placeholder=\"filter: tool, method, outcome, class…\">\
         <button id=\"tl-prev\">‹ earlier</button><span id=\"tl-page\"></span><button id=\"tl-next\">later ›</button></div>\
         <table id=\"timeline-table\"><thead><tr><th>time</th><th>what</th><th>tool</th><th>class</th><th>outcome</th><th>ms</th><th>policy</th><th>redactions</th></tr></thead><tbody></tbody></table>\
         <noscript><p>The timeline needs JavaScript; the same content is in <code>--format json|csv|md</code>.</p></noscript></section>",
        n = r.timeline.len()
    );
    let _w = write!(
        o,
        "</main><script type=\"application/json\" id=\"timeline-data\">{}</script><script>{SCRIPT}</script></body></html>",
        script_json(&json!({ "t0_ms": t0 / 1000, "sessions": sessions, "rows": rows }))
    );
    o
}

/// The approvals: counts, then one row per approval (what, who asked, how it ended, who
/// decided, after how long).
fn approvals(o: &mut String, a: &super::approvals::ApprovalsSection) {
    o.push_str("<section id=\"approvals\"><h2>Approvals</h2><div class=\"cards\">");
    for (label, value, class) in [
        ("requested", a.requested, ""),
        ("approved", a.approved, "o-ok"),
        ("denied", a.denied, "o-blocked"),
        ("expired", a.expired, "o-err"),
        ("cancelled", a.cancelled, ""),
        ("pending", a.pending, ""),
    ] {
        let _w = write!(
            o,
            "<div class=\"card {class}\"><div class=\"num\">{value}</div><div class=\"label\">{label}</div></div>"
        );
    }
    o.push_str("</div>");
    if a.total > a.approvals.len() as u64 {
        let _w = write!(
            o,
            "<p class=\"muted\">The first {} of {} approvals are listed.</p>",
            a.approvals.len(),
            a.total
        );
    }
    let mut t = Table::new(
        o,
        "approvals-table",
        &[
            "requested",
            "tool",
            "asked by",
            "rule",
            "outcome",
            "decided by",
            "channel",
            "waited",
            "reason",
            "calls let through",
            "held calls answered",
            "approval",
        ],
    );
    for e in &a.approvals {
        let kind = match e.status.as_str() {
            "approved" => "ok",
            "expired" => "err",
            "pending" | "cancelled" => "",
            _ => "blocked",
        };
        let by = match (&e.decided_by, e.decided_roles.is_empty()) {
            (Some(b), false) => format!("{} ({})", esc(b), esc(&e.decided_roles.join(", "))),
            (b, _) => esc(&opt(b)),
        };
        t.row(
            &format!("approval a-{}", e.status),
            &[
                esc(&opt(&e.requested)),
                format!("<code>{}</code>", esc(&opt(&e.tool))),
                esc(&opt(&e.principal)),
                esc(&opt(&e.rule)),
                format!("<span class=\"badge o-{kind}\">{}</span>", esc(&e.status)),
                by,
                esc(&opt(&e.channel)),
                e.waited_ms.map(wait).unwrap_or_default(),
                esc(&opt(&e.reason)),
                e.forwarded.to_string(),
                e.held_answered.to_string(),
                format!("<code>{}</code>", esc(&e.id)),
            ],
        );
    }
    t.end("no approvals", 12, a.approvals.len());
    o.push_str("</section>");
}

/// A wait as people read it: `42 s`, `3 min 5 s`, `1 h 2 min`.
pub fn wait(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}
