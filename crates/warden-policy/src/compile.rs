//! Compiling a policy file into an immutable `PolicySet`: globs and regexes built, paths
//! normalized, and every problem reported at once with its line and column.

use std::fmt;

use globset::Glob;
use serde_json::Value;
use serde_saphyr::{Location, Spanned};
use sha2::Digest;

use crate::approval::ApprovalSpec;
use crate::condition::{Cond, Condition, condition};
use crate::model::{RawFile, RawPolicy};

/// What a rule does when it applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Allow,
    /// Needs a human's approval: held until approved, denied, or expired (`approval`).
    Approve,
    Deny,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Approve => "approve",
            Action::Deny => "deny",
        }
    }

    fn parse(s: &str) -> Option<Action> {
        match s.to_ascii_lowercase().as_str() {
            "allow" | "permit" => Some(Action::Allow),
            "deny" | "block" => Some(Action::Deny),
            "approve" | "approval" | "require_approval" => Some(Action::Approve),
            _ => None,
        }
    }
}

/// Whether decisions are applied or only recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Enforce,
    /// Record what would happen, forward anyway.
    Monitor,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Monitor => "monitor",
        }
    }

    fn parse(s: &str) -> Option<Mode> {
        match s.to_ascii_lowercase().as_str() {
            "enforce" => Some(Mode::Enforce),
            "monitor" | "dry-run" | "dry_run" => Some(Mode::Monitor),
            _ => None,
        }
    }
}

/// Whose calls a rate limit counts together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Per {
    Principal,
    Tool,
    PrincipalTool,
    Session,
    Global,
}

impl Per {
    fn parse(s: &str) -> Option<Per> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "principal" | "user" => Some(Per::Principal),
            "tool" => Some(Per::Tool),
            "principal_tool" | "principal_x_tool" | "user_tool" => Some(Per::PrincipalTool),
            "session" => Some(Per::Session),
            "global" | "rule" => Some(Per::Global),
            _ => None,
        }
    }
}

/// At most `limit` calls per `window_ms`, counted per `per`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: u32,
    pub window_ms: u64,
    pub per: Per,
}

/// Reads `30s`, `1m`, `2h`, `1d` (or a number of seconds).
fn window_ms(v: &Value) -> Result<u64, String> {
    duration_ms(v, "window")
}

/// Reads a duration named `what`: `500ms`, `30s`, `1m`, `2h`, `1d` (or a number of seconds).
pub(crate) fn duration_ms(v: &Value, what: &str) -> Result<u64, String> {
    let like = || format!("{what} is like 30s, 1m, 1h or 1d");
    if let Some(n) = v.as_u64() {
        if n == 0 {
            return Err(format!("a {what} of zero length"));
        }
        return n.checked_mul(1000).ok_or_else(like);
    }
    let s = v.as_str().ok_or_else(like)?.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{what} {s:?}: {}", like()))?;
    let ms = match unit {
        "ms" => 1,
        "s" | "" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("{what} {s:?}: {}", like())),
    };
    if n == 0 {
        return Err(format!("a {what} of zero length"));
    }
    n.checked_mul(ms).ok_or_else(like)
}

/// Writes a duration the way `duration_ms` reads it (the largest whole unit).
pub(crate) fn show_ms(ms: u64) -> String {
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// At most `units` per fixed window of `window_ms` (aligned to the Unix epoch, so a `1d`
/// budget resets at midnight UTC), counted per `per`; a call costs `costs[tool]` or 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Budget {
    pub units: u64,
    pub window_ms: u64,
    pub per: Per,
    pub costs: Vec<(String, u64)>,
}

impl Budget {
    /// The units a call of `tool` costs.
    pub fn cost(&self, tool: &str) -> u64 {
        self.costs
            .iter()
            .find(|(t, _)| t == tool)
            .map_or(1, |(_, c)| *c)
    }
}

/// Reads `{calls | units, window, per, costs: {tool: units}}`.
fn budget(v: &Value) -> Result<Budget, String> {
    let units = v
        .get("calls")
        .or_else(|| v.get("units"))
        .and_then(Value::as_u64)
        .ok_or("budget needs `calls` (or `units`): a whole number")?;
    let window = v.get("window").ok_or("budget needs `window` (like 1d)")?;
    let per = match v.get("per").and_then(Value::as_str) {
        None => Per::Principal,
        Some(p) => match Per::parse(p) {
            Some(Per::Tool | Per::PrincipalTool) | None => {
                return Err(format!(
                    "per {p:?} is not one of principal, session, global"
                ));
            }
            Some(per) => per,
        },
    };
    let costs = match v.get("costs") {
        None => Vec::new(),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(t, c)| {
                c.as_u64()
                    .map(|c| (t.clone(), c))
                    .ok_or(format!("cost of {t:?} is a whole number"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("`costs` maps tool names to units".into()),
    };
    Ok(Budget {
        units,
        window_ms: window_ms(window)?,
        per,
        costs,
    })
}

/// Reads `{limit, window, per}`.
fn rate_limit(v: &Value) -> Result<RateLimit, String> {
    let limit = v
        .get("limit")
        .and_then(Value::as_u64)
        .ok_or("rate_limit needs `limit` (a whole number)")?;
    let window = v
        .get("window")
        .ok_or("rate_limit needs `window` (like 1m)")?;
    let per = match v.get("per").and_then(Value::as_str) {
        None => Per::PrincipalTool,
        Some(p) => Per::parse(p).ok_or(format!(
            "per {p:?} is not one of principal, tool, principal_tool, session, global"
        ))?,
    };
    Ok(RateLimit {
        limit: u32::try_from(limit).unwrap_or(u32::MAX),
        window_ms: window_ms(window)?,
        per,
    })
}

/// One compiled rule.
#[derive(Debug)]
pub struct Rule {
    pub name: String,
    pub(crate) pattern: String,
    /// The pattern names a server (`server:tool`), so it is matched against `server:target`.
    pub(crate) qualified: bool,
    pub action: Action,
    pub(crate) conditions: Vec<Cond>,
    pub message: Option<String>,
    pub(crate) principals: Vec<String>,
    pub mode: Mode,
    /// Line of the rule in its file (for explanations).
    pub line: u64,
    /// The file the rule is in, when several were compiled together.
    pub file: Option<String>,
    /// Who may approve: principals by name, or `role:NAME`.
    pub approvers: Vec<String>,
    /// How approval works for this rule (set on every `approve` rule, defaults if unwritten).
    pub approval: Option<ApprovalSpec>,
    /// A rate limit on the calls this rule applies to.
    pub rate_limit: Option<RateLimit>,
    /// A budget on the calls this rule applies to.
    pub budget: Option<Budget>,
    /// The rule only limits: it contributes no action of its own (so it can never allow).
    pub limiter_only: bool,
}

/// A compiled policy: immutable, cheap to evaluate, identified by the hash of its source.
#[derive(Debug)]
pub struct PolicySet {
    pub(crate) rules: Vec<Rule>,
    pub default: Action,
    pub mode: Mode,
    /// Identity of the source text (`sha256:` and the first 16 bytes in hex), recorded with
    /// every decision so a record names the exact policy that made it.
    pub hash: String,
    pub(crate) needs_args: bool,
    /// Some rule matches facts about the tool (tier, classification, class, catalog state).
    pub(crate) needs_facts: bool,
    /// The catalog metadata written in the policy's `catalog:` sections.
    pub(crate) catalog: crate::catalog::CatalogMeta,
    /// The tools governance-guide files name, with what is done with their results.
    pub(crate) guides: Vec<crate::guide::GuideTool>,
    /// Remove from `tools/list` results the tools the principal may never call.
    pub hide_denied_tools: bool,
    /// Every rule's pattern in two sets (with and without a server part), so one match per
    /// name finds the candidate rules instead of one glob match per rule.
    pub(crate) qualified: Patterns,
    pub(crate) plain: Patterns,
}

/// A set of rule patterns and, for each pattern, the index of its rule.
#[derive(Debug)]
pub(crate) struct Patterns {
    pub(crate) set: globset::GlobSet,
    pub(crate) rules: Vec<usize>,
}

impl Patterns {
    fn build(rules: &[Rule], qualified: bool) -> Patterns {
        let mut b = globset::GlobSetBuilder::new();
        let mut ids = Vec::new();
        for (i, r) in rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.qualified == qualified)
        {
            // Every pattern already compiled once, in `compile_rule`.
            if let Ok(g) = Glob::new(&r.pattern) {
                b.add(g);
                ids.push(i);
            }
        }
        Patterns {
            set: b.build().unwrap_or_else(|_| globset::GlobSet::empty()),
            rules: ids,
        }
    }
}

/// One problem in a policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file it is in, when several were compiled together ([`PolicySet::compile_many`]).
    pub file: Option<String>,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}:")?;
        }
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

/// Every problem found in a policy file (never just the first).
#[derive(Debug, thiserror::Error)]
#[error("{} problem(s) in the policy", .0.len())]
pub struct PolicyErrors(pub Vec<Problem>);

pub(crate) fn at(loc: &Location, message: String) -> Problem {
    Problem {
        file: None,
        line: loc.line(),
        column: loc.column(),
        message,
    }
}

/// The parser's message without its own `error: line N column M:` prefix (the location is
/// printed in front already).
fn parser_message(full: &str) -> String {
    let first = full.lines().next().unwrap_or("invalid YAML");
    let rest = first.strip_prefix("error: ").unwrap_or(first);
    match rest.strip_prefix("line ").and_then(|r| r.split_once(": ")) {
        Some((loc, msg)) if loc.contains(" column ") => msg.to_owned(),
        _ => rest.to_owned(),
    }
}

pub(crate) fn text_hash(text: &str) -> String {
    short_hash(&sha2::Sha256::digest(text.as_bytes()))
}

/// `sha256:` and the first 16 bytes of a digest in hex.
pub(crate) fn short_hash(d: &[u8]) -> String {
    let hex: String = d[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// A file's own settings (`version`, `mode`, `default`, `hide_denied_tools`), each with where
/// it was written; `None` when the file leaves it unset or writes an invalid value (reported).
pub(crate) struct Settings {
    pub(crate) version: Option<(u32, Location)>,
    pub(crate) mode: Option<(Mode, Location)>,
    pub(crate) default: Option<(Action, Location)>,
    pub(crate) hide_denied_tools: Option<(bool, Location)>,
}

/// Parses a policy file's text; a parse error is one problem.
pub(crate) fn parse(text: &str) -> Result<RawFile, Problem> {
    serde_saphyr::from_str(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        Problem {
            file: None,
            line,
            column,
            message: parser_message(&e.to_string()),
        }
    })
}

/// Reads a file's settings, reporting invalid values.
pub(crate) fn settings(raw: &RawFile, problems: &mut Vec<Problem>) -> Settings {
    let version = raw.version.as_ref().and_then(|v| {
        if v.value == 1 {
            return Some((v.value, v.referenced));
        }
        problems.push(at(
            &v.referenced,
            format!(
                "version {} is not supported (this warden reads version 1)",
                v.value
            ),
        ));
        None
    });
    let mode = raw.mode.as_ref().and_then(|m| {
        let parsed = Mode::parse(&m.value).map(|mode| (mode, m.referenced));
        if parsed.is_none() {
            problems.push(at(
                &m.referenced,
                format!("mode {:?} is not one of enforce, monitor", m.value),
            ));
        }
        parsed
    });
    let default = raw
        .default
        .as_ref()
        .and_then(|d| match Action::parse(&d.value) {
            Some(Action::Approve) | None => {
                problems.push(at(
                    &d.referenced,
                    format!("default {:?} is not one of allow, deny", d.value),
                ));
                None
            }
            Some(a) => Some((a, d.referenced)),
        });
    Settings {
        version,
        mode,
        default,
        hide_denied_tools: raw
            .hide_denied_tools
            .as_ref()
            .map(|h| (h.value, h.referenced)),
    }
}

/// Reads a file's `catalog:` section (`file` names it in the entries' sources), reporting
/// its problems; the metadata and where `overdue` is written, if it is.
pub(crate) fn catalog_section(
    raw: &RawFile,
    file: &str,
    problems: &mut Vec<Problem>,
) -> (
    crate::catalog::CatalogMeta,
    Option<(crate::catalog::Overdue, Location)>,
) {
    let Some(c) = &raw.catalog else {
        return Default::default();
    };
    let source = if file.is_empty() {
        String::new()
    } else {
        format!("{file}, ")
    };
    match crate::catalog::section(&c.value, &source, c.referenced.line()) {
        Ok(meta) => {
            let overdue = c.value.get("overdue").map(|_| (meta.overdue, c.referenced));
            (meta, overdue)
        }
        Err(msgs) => {
            problems.extend(msgs.into_iter().map(|m| at(&c.referenced, m)));
            Default::default()
        }
    }
}

/// Reports a guide rule whose name a `policies:` rule already uses.
pub(crate) fn guide_names(rules: &[Rule], guide: &[Rule], problems: &mut Vec<Problem>) {
    for g in guide {
        if let Some(r) = rules.iter().find(|r| r.name == g.name) {
            problems.push(Problem {
                file: None,
                line: g.line,
                column: 1,
                message: format!(
                    "the guide's rule {:?} is also the name of the policy at {}line {}; rename one",
                    g.name,
                    r.file
                        .as_deref()
                        .map(|f| format!("{f}:"))
                        .unwrap_or_default(),
                    r.line
                ),
            });
        }
    }
}

/// Compiles a file's rules under `mode` (the rules' default mode), reporting a name already in
/// `names` (which it extends: name to where it was first written).
pub(crate) fn compile_rules(
    raw: &RawFile,
    mode: Mode,
    names: &mut std::collections::HashMap<String, Location>,
    problems: &mut Vec<Problem>,
) -> Vec<Rule> {
    let mut rules = Vec::new();
    for p in &raw.policies {
        let name = &p.value.name;
        if names.contains_key(&name.value) {
            problems.push(at(
                &name.referenced,
                format!("policy name {:?} is used twice", name.value),
            ));
        } else {
            names.insert(name.value.clone(), name.referenced);
        }
        if let Some(rule) = compile_rule(&p.value, mode, problems) {
            rules.push(rule);
        }
    }
    rules
}

impl PolicySet {
    /// Parses and compiles a policy file's text.
    pub fn compile(text: &str) -> Result<PolicySet, PolicyErrors> {
        let raw = parse(text).map_err(|p| PolicyErrors(vec![p]))?;
        let mut problems = Vec::new();
        let s = settings(&raw, &mut problems);
        // An invalid default fails closed (it is reported, so nothing runs with it anyway).
        let default = match (&raw.default, s.default) {
            (_, Some((a, _))) => a,
            (Some(_), None) => Action::Deny,
            (None, None) => Action::Allow,
        };
        let mode = s.mode.map_or(Mode::Enforce, |(m, _)| m);
        let mut rules = compile_rules(&raw, mode, &mut Default::default(), &mut problems);
        let (mut catalog, _) = catalog_section(&raw, "", &mut problems);
        let guide = crate::guide::compile(&raw, "", "guide", mode, &mut problems);
        guide_names(&rules, &guide.rules, &mut problems);
        rules.extend(guide.rules);
        catalog.extend(guide.catalog);
        if !problems.is_empty() {
            problems.sort_by_key(|p| (p.line, p.column));
            return Err(PolicyErrors(problems));
        }
        let hide = s.hide_denied_tools.is_some_and(|(h, _)| h);
        Ok(
            PolicySet::assemble(rules, default, mode, hide, text_hash(text))
                .with_catalog(catalog)
                .with_guides(guide.tool.into_iter().collect()),
        )
    }

    /// The set of compiled `rules` (every one already checked).
    pub(crate) fn assemble(
        rules: Vec<Rule>,
        default: Action,
        mode: Mode,
        hide_denied_tools: bool,
        hash: String,
    ) -> PolicySet {
        let needs_args = rules.iter().any(|r| !r.conditions.is_empty());
        let needs_facts = rules.iter().any(|r| {
            r.conditions
                .iter()
                .any(|c| matches!(c.kind, crate::condition::Condition::Fact(_)))
        });
        let qualified = Patterns::build(&rules, true);
        let plain = Patterns::build(&rules, false);
        PolicySet {
            hide_denied_tools,
            qualified,
            plain,
            rules,
            default,
            mode,
            hash,
            needs_args,
            needs_facts,
            catalog: crate::catalog::CatalogMeta::default(),
            guides: Vec::new(),
        }
    }

    /// The policy with the tools its governance-guide files name.
    pub(crate) fn with_guides(mut self, guides: Vec<crate::guide::GuideTool>) -> PolicySet {
        self.guides = guides;
        self
    }

    /// The tools governance-guide files name (`tool:` files), in file order.
    pub fn guides(&self) -> &[crate::guide::GuideTool] {
        &self.guides
    }

    /// The guide entries that name server `server`'s tool `tool` (or one of its `aka` names).
    pub fn guides_for(
        &self,
        server: &str,
        tool: &str,
        aka: &[String],
    ) -> Vec<&crate::guide::GuideTool> {
        self.guides
            .iter()
            .filter(|g| g.names(server, tool, aka))
            .collect()
    }

    /// The guide entry whose constraints rule is `rule`.
    pub fn guide_of_rule(&self, rule: &str) -> Option<&crate::guide::GuideTool> {
        self.guides
            .iter()
            .find(|g| g.constraints_rule.as_deref() == Some(rule))
    }

    /// The policy with its catalog metadata.
    pub(crate) fn with_catalog(mut self, catalog: crate::catalog::CatalogMeta) -> PolicySet {
        self.catalog = catalog;
        self
    }

    /// The catalog metadata written in the policy (`catalog:` sections).
    pub fn catalog(&self) -> &crate::catalog::CatalogMeta {
        &self.catalog
    }

    /// True if some rule matches facts about the tool (so the caller must give them).
    pub fn needs_facts(&self) -> bool {
        self.needs_facts
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The tool names the policy spells out exactly (a pattern with no glob character; the
    /// tool part of `server:tool`): names an operator wrote, safe as bounded metric labels
    /// before any `tools/list` is seen.
    pub fn named_tools(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .rules
            .iter()
            .filter(|r| !r.pattern.contains(['*', '?', '[', ']', '{', '}']))
            .map(|r| match (r.qualified, r.pattern.split_once(':')) {
                (true, Some((_, tool))) => tool.to_owned(),
                _ => r.pattern.clone(),
            })
            .filter(|t| !t.is_empty())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// True if some rule looks at arguments (so the caller must parse them).
    pub fn needs_args(&self) -> bool {
        self.needs_args
    }
}

fn compile_rule(p: &RawPolicy, file_mode: Mode, problems: &mut Vec<Problem>) -> Option<Rule> {
    let name = &p.name.value;
    let here = &p.name.referenced;
    let mut ok = true;
    let mut limit = match &p.rate_limit {
        None => None,
        Some(r) => match rate_limit(&r.value) {
            Ok(l) => Some(l),
            Err(msg) => {
                problems.push(at(&r.referenced, format!("policy {name:?}: {msg}")));
                ok = false;
                None
            }
        },
    };
    let budget = match &p.budget {
        None => None,
        Some(b) => match budget(&b.value) {
            Ok(b) => Some(b),
            Err(msg) => {
                problems.push(at(&b.referenced, format!("policy {name:?}: {msg}")));
                ok = false;
                None
            }
        },
    };
    let (pattern, ploc) = match &p.tool_pattern {
        Some(t) => (t.value.clone(), t.referenced),
        None => ("*".to_owned(), *here),
    };
    let matcher = match Glob::new(&pattern) {
        Ok(_) => Some(()),
        Err(e) => {
            problems.push(at(
                &ploc,
                format!("policy {name:?}: tool_pattern {pattern:?} is not a valid glob: {e}"),
            ));
            None
        }
    };
    // The seed form puts the limit among the conditions: `{type: rate_exceeded, limit, window}`.
    let seeded: Vec<&Spanned<Value>> = p
        .conditions
        .iter()
        .filter(|c| c.value.get("type").and_then(Value::as_str) == Some("rate_exceeded"))
        .collect();
    for c in &seeded {
        match rate_limit(&c.value) {
            Ok(l) if limit.is_none() => limit = Some(l),
            Ok(_) => {
                problems.push(at(
                    &c.referenced,
                    format!("policy {name:?} has more than one rate limit"),
                ));
                ok = false;
            }
            Err(msg) => {
                problems.push(at(&c.referenced, format!("policy {name:?}: {msg}")));
                ok = false;
            }
        }
    }
    // A rule with a limit blocks only when the limit is reached: it never allows anything.
    // (Decided by the limit being written, not by it parsing, so a typo in it is one problem.)
    let limiter_only = (p.rate_limit.is_some() || p.budget.is_some() || !seeded.is_empty())
        && p.action
            .as_ref()
            .is_none_or(|a| Action::parse(&a.value) != Some(Action::Allow));
    let action = match &p.action {
        None if limiter_only => Some(Action::Deny),
        None => {
            problems.push(at(here, format!("policy {name:?} has no action (allow, deny or approve)")));
            None
        }
        Some(a) => Action::parse(&a.value).or_else(|| {
            problems.push(at(&a.referenced, format!("policy {name:?}: action {:?} is not one of allow, deny, approve (or BLOCK, APPROVAL)", a.value)));
            None
        }),
    };
    let mode = match &p.mode {
        None => file_mode,
        Some(m) => Mode::parse(&m.value).unwrap_or_else(|| {
            problems.push(at(
                &m.referenced,
                format!(
                    "policy {name:?}: mode {:?} is not one of enforce, monitor",
                    m.value
                ),
            ));
            file_mode
        }),
    };
    let mut conditions = Vec::new();
    for (i, c) in p
        .when
        .iter()
        .chain(&p.conditions)
        .filter(|c| c.value.get("type").and_then(Value::as_str) != Some("rate_exceeded"))
        .enumerate()
    {
        match condition(&c.value) {
            Ok(mut cond) => {
                if p.resolve_symlinks == Some(true)
                    && let Condition::PathIn {
                        resolve_symlinks, ..
                    } = &mut cond.kind
                {
                    *resolve_symlinks = true;
                }
                conditions.push(cond);
            }
            Err(msg) => {
                problems.push(at(
                    &c.referenced,
                    format!("policy {name:?}, condition {}: {msg}", i + 1),
                ));
                ok = false;
            }
        }
    }
    if p.resolve_symlinks.is_some()
        && !conditions
            .iter()
            .any(|c| matches!(c.kind, Condition::PathIn { .. }))
    {
        problems.push(at(
            here,
            format!("policy {name:?}: resolve_symlinks applies to path_in and path_not_in conditions, and it has none"),
        ));
        ok = false;
    }
    let approval = match (&p.approval, action) {
        (None, Some(Action::Approve)) => Some(ApprovalSpec::default()),
        (None, _) => None,
        (Some(a), Some(Action::Approve)) => match crate::approval::approval(&a.value) {
            Ok(spec) => Some(spec),
            Err(msgs) => {
                for m in msgs {
                    problems.push(at(&a.referenced, format!("policy {name:?}: {m}")));
                }
                ok = false;
                None
            }
        },
        (Some(a), _) => {
            problems.push(at(
                &a.referenced,
                format!("policy {name:?}: `approval` applies to rules whose action is approve"),
            ));
            ok = false;
            None
        }
    };
    Some(Rule {
        name: name.clone(),
        qualified: matcher.and(Some(pattern.contains(':')))?,
        pattern,

        action: action?,
        conditions,
        message: p.message.clone(),
        principals: p.principals.clone(),
        mode,
        line: here.line(),
        file: None,
        approvers: p.approvers.clone(),
        approval,
        rate_limit: limit,
        budget,
        limiter_only,
    })
    .filter(|_| ok)
}
