//! `warden policy`: check and explain policy files and directories; loading a policy for
//! `warden run`.
#![allow(clippy::print_stdout)]

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use warden_policy::{DataClass, PolicySet, Request, ToolFacts};
use warden_proxy::policy_source::{self, Loaded};

use crate::cli::PolicyCmd;

/// Reads and compiles a policy file or directory; the error lists every problem as
/// `FILE:LINE:COL: message`. A path that cannot be read at all is an error of its own.
pub(crate) fn load(path: &Path) -> anyhow::Result<Result<Loaded, Vec<String>>> {
    policy_source::policy_files(path).map_err(anyhow::Error::msg)?;
    Ok(policy_source::load(path))
}

/// Loads a policy for `warden run`, failing with every problem listed.
pub(crate) fn load_for_run(path: &Path) -> anyhow::Result<Loaded> {
    match load(path)? {
        Ok(p) => Ok(p),
        Err(problems) => anyhow::bail!(
            "the policy has {} problem(s):\n{}",
            problems.len(),
            problems.join("\n")
        ),
    }
}

/// A policy test case file.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Cases {
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    /// `server:target`.
    tool: String,
    method: Option<String>,
    #[serde(default)]
    arguments: Option<serde_json::Value>,
    principal: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    /// The client's name.
    client: Option<String>,
    /// When: `"mon 09:30"` (UTC).
    at: Option<String>,
    /// What is known about the tool (otherwise what the policy's catalog metadata says).
    risk_tier: Option<u8>,
    data_classification: Option<String>,
    tool_class: Option<String>,
    catalog_state: Option<String>,
    expect: Expect,
}

/// Facts about the tool given to `policy test` and `policy explain` (for rules that match
/// tiers, classifications, classes or catalog states).
#[derive(clap::Args, Default, Debug)]
pub(crate) struct FactArgs {
    /// The tool's risk tier (1-3), instead of the catalog metadata's.
    #[arg(long)]
    risk_tier: Option<u8>,
    /// The tool's data classification (public, internal, confidential, restricted).
    #[arg(long)]
    data_classification: Option<String>,
    /// The tool's class: read, write or sensitive.
    #[arg(long)]
    tool_class: Option<String>,
    /// The tool's catalog state: approved, new, changed or rejected.
    #[arg(long)]
    catalog_state: Option<String>,
}

impl FactArgs {
    /// The facts about `server:tool`: the policy's catalog metadata with these given over it;
    /// `None` when the policy uses no facts and gives no tool other names.
    fn facts(&self, p: &PolicySet, server: &str, tool: &str) -> anyhow::Result<Option<ToolFacts>> {
        let given = self.risk_tier.is_some()
            || self.data_classification.is_some()
            || self.tool_class.is_some()
            || self.catalog_state.is_some();
        if !given && !p.needs_facts() && p.catalog().is_empty() {
            return Ok(None);
        }
        let meta = p.catalog().lookup(server, tool);
        let classification = match &self.data_classification {
            None => meta.data_classification,
            Some(c) => Some(
                DataClass::parse(c)
                    .with_context(|| format!("data classification {c:?} is not one of public, internal, confidential, restricted"))?,
            ),
        };
        Ok(Some(ToolFacts {
            risk_tier: self.risk_tier.or(meta.risk_tier),
            data_classification: classification,
            class: self.tool_class.clone(),
            state: self.catalog_state.clone(),
            aka: meta.aka,
        }))
    }
}

/// Reads `"mon 09:30"` (UTC) as a moment of the week.
fn moment(s: &str) -> anyhow::Result<warden_policy::Moment> {
    let (day, time) = s
        .trim()
        .split_once(' ')
        .with_context(|| format!("{s:?} is not like \"mon 09:30\""))?;
    let weekday = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .position(|d| day.to_ascii_lowercase().starts_with(d))
        .with_context(|| format!("{day:?} is not a day of the week"))?;
    let (h, m) = time
        .split_once(':')
        .with_context(|| format!("{time:?} is not HH:MM"))?;
    let minute = h.parse::<u16>().context("hour")? * 60 + m.parse::<u16>().context("minute")?;
    Ok(warden_policy::Moment {
        weekday: weekday as u8,
        minute,
    })
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    action: String,
    rule: Option<String>,
    matched: Option<Vec<String>>,
    enforced: Option<bool>,
}

/// The canonical name of an expected action (accepting the same aliases as policy files).
fn action_name(s: &str) -> String {
    match s.to_ascii_lowercase().as_str() {
        "block" => "deny".into(),
        "approval" | "require_approval" => "approve".into(),
        "permit" => "allow".into(),
        other => other.into(),
    }
}

fn run_cases(p: &PolicySet, cases: &[Case]) -> anyhow::Result<(usize, Vec<String>)> {
    let mut failures = Vec::new();
    for c in cases {
        let at =
            c.at.as_deref()
                .map(moment)
                .transpose()
                .with_context(|| format!("case {:?}", c.name))?;
        let (server, target) = c.tool.split_once(':').unwrap_or(("", c.tool.as_str()));
        let empty = serde_json::json!({});
        let given = FactArgs {
            risk_tier: c.risk_tier,
            data_classification: c.data_classification.clone(),
            tool_class: c.tool_class.clone(),
            catalog_state: c.catalog_state.clone(),
        };
        let facts = given
            .facts(p, server, target)
            .with_context(|| format!("case {:?}", c.name))?;
        let req = Request {
            server,
            method: c.method.as_deref().unwrap_or("tools/call"),
            target: Some(target).filter(|t| !t.is_empty()),
            arguments: Some(c.arguments.as_ref().unwrap_or(&empty)),
            principal: c.principal.as_deref(),
            roles: &c.roles,
            client: c.client.as_deref(),
            at,
            tool: facts.as_ref(),
        };
        // Like `warden run`: `resolve_symlinks` sees this host's file system.
        let d = p.evaluate_resolving(&req, &warden_proxy::realpath::real_path);
        let e = &c.expect;
        let ok = action_name(&e.action) == d.action.as_str()
            && e.rule.as_ref().is_none_or(|r| d.rule.as_ref() == Some(r))
            && e.matched.as_ref().is_none_or(|m| *m == d.matched)
            && e.enforced.is_none_or(|x| x == d.enforced);
        if !ok {
            failures.push(format!(
                "FAIL {}\n  expected: action {}{}{}{}\n  actual:   action {}, rule {}, matched {:?}, enforced {}",
                c.name,
                action_name(&e.action),
                e.rule.as_ref().map(|r| format!(", rule {r}")).unwrap_or_default(),
                e.matched.as_ref().map(|m| format!(", matched {m:?}")).unwrap_or_default(),
                e.enforced.map(|x| format!(", enforced {x}")).unwrap_or_default(),
                d.action.as_str(),
                d.rule.as_deref().unwrap_or("(the default)"),
                d.matched,
                d.enforced,
            ));
        }
    }
    Ok((cases.len() - failures.len(), failures))
}

pub(crate) fn policy(cmd: PolicyCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCmd::Test { file, cases } => {
            let p = load_for_run(&file)?.policy;
            let text = std::fs::read_to_string(&cases)
                .with_context(|| format!("reading cases {}", cases.display()))?;
            let list: Cases = serde_saphyr::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", cases.display()))?;
            let (passed, failures) = run_cases(&p, &list.cases)?;
            for f in &failures {
                println!("{f}");
            }
            println!("{passed} passed, {} failed", failures.len());
            Ok(if failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        PolicyCmd::Check { file } => match load(&file)? {
            Ok(Loaded { policy: p, files }) => {
                println!(
                    "OK: {}: {}{} rule(s), default {}, mode {}, policy {}",
                    file.display(),
                    if files.len() > 1 {
                        format!("{} files, ", files.len())
                    } else {
                        String::new()
                    },
                    p.rules().len(),
                    p.default.as_str(),
                    p.mode.as_str(),
                    p.hash
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(problems) => {
                for line in &problems {
                    println!("{line}");
                }
                Ok(ExitCode::from(1))
            }
        },
        PolicyCmd::Explain {
            file,
            tool,
            method,
            args,
            principal,
            roles,
            client,
            at,
            facts,
        } => {
            let p = load_for_run(&file)?.policy;
            let arguments: serde_json::Value =
                serde_json::from_str(&args).context("--args is not JSON")?;
            let (server, target) = tool.split_once(':').unwrap_or(("", tool.as_str()));
            let facts = facts.facts(&p, server, target)?;
            let req = Request {
                server,
                method: &method,
                target: Some(target).filter(|t| !t.is_empty()),
                arguments: Some(&arguments),
                principal: principal.as_deref(),
                roles: &roles,
                client: client.as_deref(),
                at: at.as_deref().map(moment).transpose()?,
                tool: facts.as_ref(),
            };
            let (d, traces) = p.explain_resolving(&req, &warden_proxy::realpath::real_path);
            for (t, rule) in traces.iter().zip(p.rules()) {
                let mark = if t.applied { "✓" } else { "·" };
                let place = match &rule.file {
                    Some(f) => format!("{f}:{}", rule.line),
                    None => format!("line {}", rule.line),
                };
                println!("{mark} {} ({place}): {}", t.rule, t.why);
            }
            let by = d
                .rule
                .as_deref()
                .map_or("the default".to_owned(), |r| format!("rule {r:?}"));
            let mode = if d.enforced {
                ""
            } else {
                " (monitor mode: recorded, not enforced)"
            };
            println!("decision: {} by {by}{mode}", d.action.as_str());
            Ok(ExitCode::SUCCESS)
        }
        PolicyCmd::History { store, format } => super::policy_history::history(store, format),
    }
}

/// `warden budgets`: each budget's usage in its current window, from the audit store.
pub(crate) fn budgets(
    store: crate::cli::StoreArgs,
    policy: &Path,
    format: crate::cli::Format,
) -> anyhow::Result<ExitCode> {
    let p = load_for_run(policy)?.policy;
    let db = store.db.unwrap_or_else(crate::paths::default_db);
    let s = warden_audit::Store::open_read(&db)?;
    let now_ms = u64::try_from(warden_audit::now_us() / 1000).unwrap_or(0);
    let usage = s.budget_usage(0)?;
    let mut rows = Vec::new();
    for rule in p.rules() {
        let Some(b) = &rule.budget else { continue };
        let start = warden_proxy::budgets::window_start(now_ms, b.window_ms);
        let prefix = format!("{}|", rule.name);
        let mut any = false;
        for (key, window, used) in usage
            .iter()
            .filter(|(k, w, _)| k.starts_with(&prefix) && *w == start)
        {
            any = true;
            rows.push(serde_json::json!({
                "rule": rule.name, "scope": &key[prefix.len()..], "used": used, "limit": b.units,
                "window_start_ms": window, "resets_at_ms": window + b.window_ms,
            }));
        }
        if !any {
            rows.push(serde_json::json!({
                "rule": rule.name, "scope": null, "used": 0, "limit": b.units,
                "window_start_ms": start, "resets_at_ms": start + b.window_ms,
            }));
        }
    }
    if format == crate::cli::Format::Table {
        let mut t = comfy_table::Table::new();
        t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
        t.set_header(["rule", "scope", "used", "limit", "resets at (UTC)"]);
        for r in &rows {
            let resets = r["resets_at_ms"]
                .as_i64()
                .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok());
            t.add_row([
                r["rule"].as_str().unwrap_or_default().to_owned(),
                r["scope"].as_str().unwrap_or("(nothing used)").to_owned(),
                r["used"].to_string(),
                r["limit"].to_string(),
                resets
                    .map(|t| t.strftime("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_default(),
            ]);
        }
        println!("{t}");
    } else {
        for r in &rows {
            println!("{r}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
