//! The report for tooling: JSON (the whole model), CSV (one table per section, every row
//! led by its section's name, so `grep '^timeline,'` picks a section) and Markdown.

use std::fmt::Write as _;

use super::approvals::ApprovalEntry;
use super::{Report, RuleCount, ToolRow};

pub fn json(r: &Report) -> String {
    serde_json::to_string(r).unwrap_or_default()
}

/// One CSV cell, quoted when it must be, and neutralised when a spreadsheet would run it
/// as a formula ([`neutralise`]).
pub fn csv_field(s: &str) -> String {
    let s = neutralise(s);
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.into_owned()
    }
}

/// A cell a spreadsheet would evaluate (it starts with `=`, `+`, `-`, `@`, a tab, a
/// carriage return or a line feed, or their full-width forms) gets a leading `'` (OWASP,
/// CSV injection), so tool names, arguments and results chosen by a server or a client
/// read as text. A plain number (`-32602`, `-1.5`) is no formula and is left as it is.
pub fn neutralise(s: &str) -> std::borrow::Cow<'_, str> {
    let risky = s.starts_with([
        '=', '+', '-', '@', '\t', '\r', '\n', '\u{FF1D}', '\u{FF0B}', '\u{FF0D}', '\u{FF20}',
    ]);
    if risky && !is_plain_number(s) {
        std::borrow::Cow::Owned(format!("'{s}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// `-` or `+`, digits, and at most one `.` followed by digits: nothing a spreadsheet runs.
fn is_plain_number(s: &str) -> bool {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "0"));
    !int.is_empty()
        && !frac.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(T::to_string).unwrap_or_default()
}

/// A tool's row, the same in both tables: name, class, why, calls, ok, errors, blocked,
/// average and longest milliseconds.
fn tool_cells(t: &ToolRow) -> Vec<String> {
    vec![
        t.name.clone(),
        t.class.clone(),
        t.class_source.clone(),
        t.calls.to_string(),
        t.ok.to_string(),
        t.errors.to_string(),
        t.blocked.to_string(),
        opt(&t.avg_ms),
        opt(&t.max_ms),
    ]
}

/// The data-access rows: tool, class, entity kind, entity, times.
fn entity_rows(r: &Report) -> impl Iterator<Item = Vec<String>> + '_ {
    r.data_access.iter().flat_map(|a| {
        a.entities.iter().map(|e| {
            vec![
                a.tool.clone(),
                a.class.clone(),
                e.kind.to_owned(),
                e.value.clone(),
                e.count.to_string(),
            ]
        })
    })
}

/// An approval's row, the same in both tables: id, requested, tool, asked by, rule, status,
/// decided by, roles, channel, waited ms, reason, calls let through, held calls answered.
fn approval_cells(e: &ApprovalEntry) -> Vec<String> {
    vec![
        e.id.clone(),
        opt(&e.requested),
        opt(&e.tool),
        opt(&e.principal),
        opt(&e.rule),
        e.status.clone(),
        opt(&e.decided_by),
        e.decided_roles.join(" "),
        opt(&e.channel),
        opt(&e.waited_ms),
        opt(&e.reason),
        e.forwarded.to_string(),
        e.held_answered.to_string(),
    ]
}

const APPROVAL_HEADER: [&str; 13] = [
    "approval",
    "requested",
    "tool",
    "asked_by",
    "rule",
    "status",
    "decided_by",
    "roles",
    "channel",
    "waited_ms",
    "reason",
    "calls_let_through",
    "held_calls_answered",
];

/// A policy decision's row: action, rule, requests.
fn decision_cells(d: &RuleCount) -> Vec<String> {
    vec![d.action.clone(), opt(&d.rule), d.count.to_string()]
}

struct Csv(String);

impl Csv {
    fn row<S: AsRef<str>>(&mut self, fields: impl IntoIterator<Item = S>) {
        let line: Vec<String> = fields.into_iter().map(|f| csv_field(f.as_ref())).collect();
        self.0.push_str(&line.join(","));
        self.0.push_str("\r\n");
    }
    fn table(&mut self, header: &[&str]) {
        if !self.0.is_empty() {
            self.0.push_str("\r\n");
        }
        self.row(std::iter::once("section").chain(header.iter().copied()));
    }
}

pub fn csv(r: &Report) -> String {
    let mut c = Csv(String::new());
    let s = &r.summary;
    c.table(&["key", "value"]);
    for (k, v) in [
        ("title", r.title.clone()),
        ("generated", r.generated.clone()),
        ("scope_session", opt(&r.scope.session)),
        ("scope_from", opt(&r.scope.from)),
        ("scope_to", opt(&r.scope.to)),
        ("records", s.records.to_string()),
        ("sessions", s.sessions.to_string()),
        ("exchanges", s.exchanges.to_string()),
        ("tool_calls", s.tool_calls.to_string()),
        ("sensitive_calls", s.sensitive_calls.to_string()),
        ("write_calls", s.write_calls.to_string()),
        ("errors", s.errors.to_string()),
        ("denied", s.denied.to_string()),
        ("rate_limited", s.rate_limited.to_string()),
        ("approvals_pending", s.approvals_pending.to_string()),
        ("approvals_requested", r.approvals.requested.to_string()),
        ("approvals_approved", r.approvals.approved.to_string()),
        ("approvals_denied", r.approvals.denied.to_string()),
        ("approvals_expired", r.approvals.expired.to_string()),
        ("approvals_cancelled", r.approvals.cancelled.to_string()),
        ("redacted_records", s.redacted_records.to_string()),
        ("first", opt(&s.first)),
        ("last", opt(&s.last)),
        ("servers", s.servers.join(" ")),
        ("principals", s.principals.join(" ")),
        ("agents", s.agents.join(" ")),
        ("integrity", r.integrity.verdict.clone()),
    ] {
        c.row(["summary", k, &v]);
    }
    c.table(&[
        "session",
        "started_us",
        "last_us",
        "records",
        "calls",
        "problems",
        "server",
        "principal",
        "agent",
    ]);
    for x in &r.sessions {
        c.row([
            "session".to_owned(),
            x.session.clone(),
            x.started_us.to_string(),
            x.last_us.to_string(),
            x.records.to_string(),
            x.calls.to_string(),
            x.problems.to_string(),
            opt(&x.server),
            opt(&x.principal),
            opt(&x.agent),
        ]);
    }
    c.table(&[
        "tool",
        "class",
        "class_source",
        "calls",
        "ok",
        "errors",
        "blocked",
        "avg_ms",
        "max_ms",
    ]);
    for t in &r.tools {
        c.row(std::iter::once("tool".to_owned()).chain(tool_cells(t)));
    }
    c.table(&["tool", "class", "kind", "value", "count"]);
    for row in entity_rows(r) {
        c.row(std::iter::once("entity".to_owned()).chain(row));
    }
    c.table(&["action", "rule", "count"]);
    for d in &r.policy.decisions {
        c.row(std::iter::once("decision".to_owned()).chain(decision_cells(d)));
    }
    c.table(&[
        "time",
        "session",
        "tool",
        "principal",
        "outcome",
        "rule",
        "record",
    ]);
    for d in &r.policy.blocked {
        c.row([
            "blocked".to_owned(),
            d.time.clone(),
            d.session.clone(),
            opt(&d.tool),
            opt(&d.principal),
            d.action.clone(),
            opt(&d.rule),
            d.record.clone(),
        ]);
    }
    c.table(&["rule", "values", "records", "tools"]);
    for x in &r.policy.redactions {
        c.row([
            "redaction".to_owned(),
            x.rule.clone(),
            x.values.to_string(),
            x.records.to_string(),
            x.tools.join(" "),
        ]);
    }
    c.table(&APPROVAL_HEADER);
    for e in &r.approvals.approvals {
        c.row(std::iter::once("approval".to_owned()).chain(approval_cells(e)));
    }
    c.table(&[
        "time",
        "session",
        "method",
        "tool",
        "outcome",
        "error_code",
        "message",
        "record",
    ]);
    for f in &r.failures {
        c.row([
            "failure".to_owned(),
            f.time.clone(),
            f.session.clone(),
            opt(&f.method),
            opt(&f.tool),
            f.outcome.clone(),
            opt(&f.error_code),
            opt(&f.message),
            f.record.clone(),
        ]);
    }
    c.table(&[
        "log_id",
        "origin",
        "records",
        "checkpoints",
        "last_checkpoint_size",
        "unsigned_tail",
        "key_fingerprint",
        "verdict",
        "problem",
    ]);
    for l in &r.integrity.logs {
        c.row([
            "integrity".to_owned(),
            l.log_id.clone(),
            l.origin.clone(),
            l.records.to_string(),
            l.checkpoints.to_string(),
            opt(&l.last_checkpoint_size),
            l.unsigned_tail.to_string(),
            l.key_fingerprint.clone(),
            r.integrity.verdict.clone(),
            opt(&r.integrity.problem),
        ]);
    }
    c.table(&[
        "time",
        "session",
        "dir",
        "kind",
        "what",
        "tool",
        "class",
        "outcome",
        "duration_ms",
        "policy",
        "redactions",
        "args",
        "result",
        "records",
    ]);
    for e in &r.timeline {
        c.row([
            "timeline".to_owned(),
            e.time.clone(),
            e.session.clone(),
            opt(&e.dir),
            e.kind.clone(),
            e.what.clone(),
            opt(&e.tool),
            opt(&e.class),
            opt(&e.outcome),
            opt(&e.duration_ms),
            opt(&e.policy),
            e.redactions.to_string(),
            opt(&e.args),
            opt(&e.result),
            e.records.join(" "),
        ]);
    }
    c.0
}

fn md_cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

fn md_table(out: &mut String, header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    let _w = writeln!(out, "| {} |", header.join(" | "));
    let _w = writeln!(out, "|{}", "---|".repeat(header.len()));
    let mut any = false;
    for r in rows {
        any = true;
        let cells: Vec<String> = r.iter().map(|c| md_cell(c)).collect();
        let _w = writeln!(out, "| {} |", cells.join(" | "));
    }
    if !any {
        let _w = writeln!(out, "| (none) |{}", " |".repeat(header.len() - 1));
    }
    out.push('\n');
}

pub fn markdown(r: &Report) -> String {
    let mut o = String::new();
    let s = &r.summary;
    let _w = writeln!(o, "# {}\n\nGenerated {}.", r.title, r.generated);
    if let Some(x) = &r.scope.session {
        let _w = writeln!(o, "Session `{x}`.");
    }
    if r.scope.from.is_some() || r.scope.to.is_some() {
        // An open end says so: no "From  to …".
        let _w = writeln!(
            o,
            "From {} to {}.",
            r.scope.from.as_deref().unwrap_or("the first record (open)"),
            r.scope.to.as_deref().unwrap_or("now (open)")
        );
    }
    let _w = writeln!(o, "\n## Summary\n");
    md_table(
        &mut o,
        &[
            "records",
            "sessions",
            "tool calls",
            "sensitive",
            "writes",
            "errors",
            "denied",
            "rate limited",
            "redacted records",
            "integrity",
        ],
        [vec![
            s.records.to_string(),
            s.sessions.to_string(),
            s.tool_calls.to_string(),
            s.sensitive_calls.to_string(),
            s.write_calls.to_string(),
            s.errors.to_string(),
            s.denied.to_string(),
            s.rate_limited.to_string(),
            s.redacted_records.to_string(),
            r.integrity.verdict.clone(),
        ]],
    );
    let _w = writeln!(
        o,
        "First {} · last {} · servers {} · principals {} · agents {}\n",
        opt(&s.first),
        opt(&s.last),
        s.servers.join(", "),
        s.principals.join(", "),
        s.agents.join(", ")
    );
    let _w = writeln!(o, "## Sessions\n");
    md_table(
        &mut o,
        &[
            "session",
            "records",
            "calls",
            "problems",
            "server",
            "principal",
            "agent",
        ],
        r.sessions.iter().map(|x| {
            vec![
                x.session.clone(),
                x.records.to_string(),
                x.calls.to_string(),
                x.problems.to_string(),
                opt(&x.server),
                opt(&x.principal),
                opt(&x.agent),
            ]
        }),
    );
    let _w = writeln!(o, "## Tools\n");
    md_table(
        &mut o,
        &[
            "tool", "class", "why", "calls", "ok", "errors", "blocked", "avg ms", "max ms",
        ],
        r.tools.iter().map(|t| {
            let mut cells = tool_cells(t);
            if t.class == "sensitive" {
                cells[1] = "**sensitive**".into();
            }
            cells
        }),
    );
    let _w = writeln!(o, "## Data access\n");
    md_table(
        &mut o,
        &["tool", "class", "kind", "entity", "times"],
        entity_rows(r),
    );
    let _w = writeln!(o, "## Policy decisions\n");
    md_table(
        &mut o,
        &["action", "rule", "requests"],
        r.policy.decisions.iter().map(decision_cells),
    );
    let _w = writeln!(o, "Blocked calls ({}):\n", r.policy.blocked_total);
    md_table(
        &mut o,
        &["time", "tool", "principal", "outcome", "rule", "record"],
        r.policy.blocked.iter().map(|d| {
            vec![
                d.time.clone(),
                opt(&d.tool),
                opt(&d.principal),
                d.action.clone(),
                opt(&d.rule),
                d.record.clone(),
            ]
        }),
    );
    let _w = writeln!(o, "## Redactions\n");
    md_table(
        &mut o,
        &["rule", "values", "records", "tools"],
        r.policy.redactions.iter().map(|x| {
            vec![
                x.rule.clone(),
                x.values.to_string(),
                x.records.to_string(),
                x.tools.join(", "),
            ]
        }),
    );
    let a = &r.approvals;
    let _w = writeln!(o, "## Approvals\n");
    md_table(
        &mut o,
        &[
            "requested",
            "approved",
            "denied",
            "expired",
            "cancelled",
            "pending",
        ],
        [[
            a.requested,
            a.approved,
            a.denied,
            a.expired,
            a.cancelled,
            a.pending,
        ]
        .iter()
        .map(u64::to_string)
        .collect()],
    );
    md_table(
        &mut o,
        &APPROVAL_HEADER,
        a.approvals.iter().map(approval_cells),
    );
    let _w = writeln!(o, "## Failures ({})\n", r.failures_total);
    md_table(
        &mut o,
        &[
            "time", "method", "tool", "outcome", "code", "message", "record",
        ],
        r.failures.iter().map(|f| {
            vec![
                f.time.clone(),
                opt(&f.method),
                opt(&f.tool),
                f.outcome.clone(),
                opt(&f.error_code),
                opt(&f.message),
                f.record.clone(),
            ]
        }),
    );
    let _w = writeln!(o, "## Integrity: {}\n", r.integrity.verdict);
    if let Some(p) = &r.integrity.problem {
        let _w = writeln!(o, "Problem: {p}\n");
    }
    md_table(
        &mut o,
        &[
            "log",
            "origin",
            "records",
            "checkpoints",
            "unsigned tail",
            "key",
        ],
        r.integrity.logs.iter().map(|l| {
            vec![
                l.log_id.clone(),
                l.origin.clone(),
                l.records.to_string(),
                l.checkpoints.to_string(),
                l.unsigned_tail.to_string(),
                l.key_fingerprint.clone(),
            ]
        }),
    );
    let _w = writeln!(o, "## Timeline ({} entries)\n", r.timeline.len());
    md_table(
        &mut o,
        &[
            "time",
            "what",
            "tool",
            "class",
            "outcome",
            "ms",
            "policy",
            "redactions",
            "arguments",
            "result",
        ],
        r.timeline.iter().map(|e| {
            vec![
                e.time.clone(),
                e.what.clone(),
                opt(&e.tool),
                opt(&e.class),
                opt(&e.outcome),
                opt(&e.duration_ms),
                opt(&e.policy),
                e.redactions.to_string(),
                e.args
                    .as_deref()
                    .map(|a| format!("`{}`", a.replace('`', "'")))
                    .unwrap_or_default(),
                e.result
                    .as_deref()
                    .map(|a| format!("`{}`", a.replace('`', "'")))
                    .unwrap_or_default(),
            ]
        }),
    );
    o
}
