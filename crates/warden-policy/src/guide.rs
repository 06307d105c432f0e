//! The governance guide's one-tool policy file (`tool:`, `roles:`, `constraints:`, `dlp:`,
//! `audit:`, `review:`), translated into warden's own model: rules (roles, `sql`
//! constraints), a catalog metadata entry (review), and what the proxy does with the tool's
//! results ([`GuideTool`]: masking, a hash of the result, alerts). See docs/policy.md, "The
//! governance guide's file".

use std::sync::Arc;

use globset::{Glob, GlobMatcher};
use serde_json::Value;
use serde_saphyr::Location;

use crate::compile::{Action, Mode, Problem, Rule, at};
use crate::condition::{Cond, Condition};
use crate::model::RawFile;
use crate::redact::{BUILTIN_DETECTORS, RedactConfig, Redactor};

/// The alerts `audit.alert_on` may name.
pub const ALERTS: &[&str] = &["blocked_table_attempt", "large_result_set"];

/// The keys of `constraints:` (the `sql` condition's checks).
const CONSTRAINTS: &[&str] = &[
    "read_only",
    "max_rows",
    "blocked_tables",
    "require_where_clause",
    "dialect",
    "arg",
];

/// What the proxy does with the calls and results of a tool a guide file names.
#[derive(Debug)]
pub struct GuideTool {
    /// The tool as written (`database.query`).
    pub tool: String,
    /// The file it is written in (empty for a single file).
    pub file: String,
    /// The pattern its rules match (`{database:query,*:database.query}`).
    pub pattern: String,
    matcher: GlobMatcher,
    /// Masks values in the tool's results sent to the client (`dlp`).
    pub mask: Option<Arc<Redactor>>,
    /// The record of a result carries the SHA-256 of the result as received.
    pub response_hash: bool,
    /// Raise `blocked_table_attempt` when the constraints rule denies a blocked table.
    pub alert_blocked_table: bool,
    /// Raise `large_result_set` when a result has more rows than `max_rows`.
    pub alert_large_result: bool,
    /// `constraints.max_rows`.
    pub max_rows: Option<u64>,
    /// The name of the rule holding the constraints, if any.
    pub constraints_rule: Option<String>,
}

impl GuideTool {
    /// Whether this entry names the tool `tool` of server `server`, or one of its other names
    /// (`aka`) does, matched as rules match them (`database.query` is `database:query`).
    pub fn names(&self, server: &str, tool: &str, aka: &[String]) -> bool {
        self.matcher.is_match(format!("{server}:{tool}"))
            || aka.iter().any(|a| {
                self.matcher.is_match(format!("{server}:{a}"))
                    || a.split_once('.')
                        .is_some_and(|(s, t)| self.matcher.is_match(format!("{s}:{t}")))
            })
    }
}

/// A file's guide section compiled: its rules, the tool's result handling, its catalog entry.
#[derive(Default)]
pub(crate) struct Compiled {
    pub(crate) rules: Vec<Rule>,
    pub(crate) tool: Option<GuideTool>,
    pub(crate) catalog: crate::catalog::CatalogMeta,
}

/// The pattern a guide `tool` name matches: `system.action` is server `system`'s tool
/// `action` and, on any server, a tool literally named `system.action`.
fn pattern(tool: &str) -> Result<String, String> {
    if tool.is_empty() || tool.contains(['*', '?', '[', ']', '{', '}', ',', ':', '\\']) {
        return Err(format!(
            "tool {tool:?}: the guide's form names one tool, like database.query (no glob characters or `:`; use `policies:` with a tool_pattern for more)"
        ));
    }
    Ok(match tool.split_once('.') {
        Some((system, action)) if !system.is_empty() && !action.is_empty() => {
            format!("{{{system}:{action},*:{tool}}}")
        }
        _ => format!("*:{tool}"),
    })
}

/// Compiles a file's guide keys (`file` names it; `stem` names its rules), reporting every
/// problem with its line.
pub(crate) fn compile(
    raw: &RawFile,
    file: &str,
    stem: &str,
    mode: Mode,
    problems: &mut Vec<Problem>,
) -> Compiled {
    let mut out = Compiled::default();
    let Some(tool) = &raw.tool else {
        // Guide keys without `tool:` name nothing.
        let stray: [(&str, Option<Location>); 5] = [
            ("roles", raw.roles.as_ref().map(|r| r.referenced)),
            (
                "constraints",
                raw.constraints.as_ref().map(|r| r.referenced),
            ),
            ("dlp", raw.dlp.as_ref().map(|r| r.referenced)),
            ("audit", raw.audit.as_ref().map(|r| r.referenced)),
            ("review", raw.review.as_ref().map(|r| r.referenced)),
        ];
        for (key, loc) in stray {
            if let Some(loc) = loc {
                problems.push(at(&loc, format!("`{key}` belongs to the governance guide's form, which names its tool with `tool:` (like tool: database.query)")));
            }
        }
        return out;
    };
    let here = tool.referenced;
    let name = tool.value.clone();
    let pattern = match pattern(&name) {
        Ok(p) => p,
        Err(m) => {
            problems.push(at(&here, m));
            return out;
        }
    };
    let Ok(glob) = Glob::new(&pattern) else {
        problems.push(at(&here, format!("tool {name:?} makes no valid pattern")));
        return out;
    };
    let rule =
        |suffix: &str, action: Action, conditions: Vec<Cond>, message: Option<String>| Rule {
            name: format!("{stem}: {suffix}"),
            pattern: pattern.clone(),
            qualified: true,
            action,
            conditions,
            message,
            principals: Vec::new(),
            mode,
            line: here.line(),
            file: None,
            approvers: Vec::new(),
            approval: None,
            rate_limit: None,
            budget: None,
            limiter_only: false,
        };
    // roles: holders may call it (allow), anyone else is denied.
    let roles = match &raw.roles {
        Some(r) if r.value.is_empty() || r.value.iter().any(|x| x.trim().is_empty()) => {
            problems.push(at(&r.referenced, "`roles` lists the roles that may call the tool (an empty list or name lets nobody: write a deny rule instead)".into()));
            None
        }
        Some(r) => Some(r.value.clone()),
        None => None,
    };
    let mut allow = rule("allow", Action::Allow, Vec::new(), None);
    if let Some(roles) = &roles {
        allow.principals = roles.iter().map(|r| format!("role:{r}")).collect();
        out.rules.push(rule(
            "roles",
            Action::Deny,
            vec![Cond {
                kind: Condition::Role(roles.clone()),
                not: true,
            }],
            Some(format!(
                "{name} may be called only by a principal with the role {}",
                roles.join(" or ")
            )),
        ));
    }
    out.rules.push(allow);
    // constraints: the `sql` condition; a call breaking one is denied.
    let mut max_rows = None;
    let mut blocks = false;
    let mut constraints_rule = None;
    // Alerts that need a constraint are judged only if the constraints compiled.
    let mut constraints_ok = true;
    if let Some(c) = &raw.constraints {
        let known = match c.value.as_object() {
            None => {
                problems.push(at(
                    &c.referenced,
                    format!("`constraints` is a mapping of {}", CONSTRAINTS.join(", ")),
                ));
                false
            }
            Some(o) => {
                let unknown: Vec<&String> = o
                    .keys()
                    .filter(|k| !CONSTRAINTS.contains(&k.as_str()))
                    .collect();
                for k in &unknown {
                    problems.push(at(
                        &c.referenced,
                        format!(
                            "constraints: unknown key {k:?} (known: {})",
                            CONSTRAINTS.join(", ")
                        ),
                    ));
                }
                unknown.is_empty()
            }
        };
        constraints_ok = known;
        if known {
            match crate::sql::rules(&c.value) {
                Ok(mut sql) => {
                    sql.absent_breaks = true;
                    max_rows = sql.max_rows();
                    blocks = sql.blocks_tables();
                    let r = rule(
                        "constraints",
                        Action::Deny,
                        vec![Cond {
                            kind: Condition::Sql(Box::new(sql)),
                            not: false,
                        }],
                        Some(format!("{name}: the query breaks a constraint")),
                    );
                    constraints_rule = Some(r.name.clone());
                    out.rules.push(r);
                }
                Err(m) => {
                    constraints_ok = false;
                    problems.push(at(&c.referenced, format!("constraints: {m}")));
                }
            }
        }
    }
    let mask = raw
        .dlp
        .as_ref()
        .and_then(|d| dlp(&d.value, d.referenced, problems));
    let mut g = GuideTool {
        tool: name.clone(),
        file: file.to_owned(),
        pattern: pattern.clone(),
        matcher: glob.compile_matcher(),
        mask,
        response_hash: false,
        alert_blocked_table: false,
        alert_large_result: false,
        max_rows,
        constraints_rule,
    };
    if let Some(a) = &raw.audit {
        if let Some(f) = &a.value.log_full_query
            && !f.value
        {
            problems.push(at(&f.referenced, "`log_full_query: false` is not supported: warden stores every call's arguments in full (redacted) in its audit record; remove the key or write true".into()));
        }
        g.response_hash = a.value.log_response_hash.as_ref().is_some_and(|h| h.value);
        for alert in &a.value.alert_on {
            match alert.value.as_str() {
                "blocked_table_attempt" | "large_result_set" if !constraints_ok => {}
                "blocked_table_attempt" if !blocks => problems.push(at(&alert.referenced, "alert_on blocked_table_attempt: `constraints` blocks no table (blocked_tables)".into())),
                "blocked_table_attempt" => g.alert_blocked_table = true,
                "large_result_set" if max_rows.is_none() => problems.push(at(&alert.referenced, "alert_on large_result_set: a result is large when it has more rows than constraints.max_rows, which is not written".into())),
                "large_result_set" => g.alert_large_result = true,
                other => problems.push(at(&alert.referenced, format!("alert_on {other:?} is not one of {}", ALERTS.join(", ")))),
            }
        }
    }
    if let Some(r) = &raw.review {
        let mut meta = crate::catalog::ToolMeta {
            owner: r.value.owner.as_ref().map(|o| o.value.clone()),
            sources: vec![match file {
                "" => format!("line {}", here.line()),
                f => format!("{f}:{}", here.line()),
            }],
            ..Default::default()
        };
        if let Some(d) = &r.value.next_review {
            meta.next_review = crate::catalog::Day::parse(&d.value);
            if meta.next_review.is_none() {
                problems.push(at(
                    &d.referenced,
                    format!("next_review {:?} is not a date like 2026-06-22", d.value),
                ));
            }
        }
        if let Err(m) = out.catalog.push(&pattern, meta) {
            problems.push(at(&r.referenced, m));
        }
    }
    out.tool = Some(g);
    out
}

/// The masking of `dlp:`: values under keys named like a `mask_fields` entry, and values an
/// entry that is a built-in detector (`email`) finds anywhere in the result.
fn dlp(
    d: &crate::model::RawDlp,
    loc: Location,
    problems: &mut Vec<Problem>,
) -> Option<Arc<Redactor>> {
    let scan = d.scan_response.as_ref().map(|s| (s.value, s.referenced));
    let fields: Vec<String> = d.mask_fields.iter().map(|f| f.value.clone()).collect();
    match (scan, fields.is_empty()) {
        (Some((true, _)), false) => {}
        (Some((true, l)), true) => {
            problems.push(at(
                &l,
                "dlp: scan_response needs mask_fields (what to mask, like [email, phone])".into(),
            ));
            return None;
        }
        (Some((false, _)), true) => return None,
        (Some((false, l)), false) => {
            problems.push(at(&l, "dlp: mask_fields with scan_response: false masks nothing; write scan_response: true".into()));
            return None;
        }
        (None, _) => {
            problems.push(at(
                &loc,
                "dlp needs scan_response: true (and mask_fields)".into(),
            ));
            return None;
        }
    }
    let config = RedactConfig {
        detectors: fields
            .iter()
            .filter(|f| BUILTIN_DETECTORS.contains(&f.as_str()))
            .cloned()
            .collect(),
        keys: fields,
        ..RedactConfig::empty()
    };
    match Redactor::new(&config) {
        Ok(r) => Some(Arc::new(r)),
        Err(e) => {
            problems.push(at(&loc, format!("dlp: {e}")));
            None
        }
    }
}

/// The stem rules of a file are named by: its name without `.yaml` / `.yml` (`guide` for a
/// single file).
pub(crate) fn stem(file: &str) -> String {
    let base = file.rsplit('/').next().unwrap_or(file);
    let s = base
        .strip_suffix(".yaml")
        .or_else(|| base.strip_suffix(".yml"))
        .unwrap_or(base);
    if s.is_empty() {
        "guide".into()
    } else {
        s.into()
    }
}

/// Whether a refusal's message says a blocked table was named.
pub fn names_blocked_table(message: &str) -> bool {
    message.contains("blocked table ")
}

/// How many rows a tool result holds, as well as can be told: the longest array in
/// `structuredContent` (itself, or a member's), else a list in a text content item (a JSON
/// array, or a list written like one, as Python prints it); `None` when no rows can be seen.
pub fn result_rows(result: &Value) -> Option<usize> {
    let arrays = |v: &Value| -> Option<usize> {
        match v {
            Value::Array(a) => Some(a.len()),
            Value::Object(o) => o.values().filter_map(Value::as_array).map(Vec::len).max(),
            _ => None,
        }
    };
    if let Some(n) = result.get("structuredContent").and_then(arrays) {
        return Some(n);
    }
    result
        .get("content")?
        .as_array()?
        .iter()
        .filter(|c| c.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|c| c.get("text").and_then(Value::as_str))
        .filter_map(list_items)
        .max()
}

/// The number of items of a list written as text (`[...]`, items separated by commas outside
/// brackets and quotes); `None` if the text is not one list.
fn list_items(text: &str) -> Option<usize> {
    let t = text.trim();
    let inner = t.strip_prefix('[')?.strip_suffix(']')?;
    if inner.trim().is_empty() {
        return Some(0);
    }
    let (mut depth, mut items, mut quote, mut escaped) = (0usize, 1usize, None, false);
    for c in inner.chars() {
        if let Some(q) = quote {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                _ if c == q => quote = None,
                _ => {}
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '[' | '{' | '(' => depth += 1,
            ']' | '}' | ')' => depth = depth.checked_sub(1)?,
            ',' if depth == 0 => items += 1,
            _ => {}
        }
    }
    (depth == 0 && quote.is_none()).then_some(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_counted_in_json_and_python_lists() {
        let text = |t: &str| serde_json::json!({"content": [{"type": "text", "text": t}]});
        assert_eq!(result_rows(&text(r#"[{"a": "x,]"}, {"a": 2}]"#)), Some(2));
        assert_eq!(
            result_rows(&text("[{'a': 'it\\'s, ok'}, {'a': 2}, {'a': 3}]")),
            Some(3)
        );
        assert_eq!(result_rows(&text("[]")), Some(0));
        assert_eq!(result_rows(&text("no rows")), None);
        assert_eq!(result_rows(&text("[{]")), None);
        let s = serde_json::json!({"structuredContent": {"rows": [1, 2, 3, 4]}});
        assert_eq!(result_rows(&s), Some(4));
    }
}

#[cfg(test)]
#[path = "guide_tests.rs"]
mod guide_tests;
