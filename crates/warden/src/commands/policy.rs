//! `warden policy`: check and explain policy files; loading a policy for `warden run`.
#![allow(clippy::print_stdout)]

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use warden_policy::{PolicySet, Request};

use crate::cli::PolicyCmd;

/// Reads and compiles a policy file; the error lists every problem as `FILE:LINE:COL: message`.
pub(crate) fn load(path: &Path) -> anyhow::Result<Result<PolicySet, Vec<String>>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading policy {}", path.display()))?;
    Ok(PolicySet::compile(&text).map_err(|e| {
        e.0.iter()
            .map(|p| format!("{}:{p}", path.display()))
            .collect()
    }))
}

/// Loads a policy for `warden run`, failing with every problem listed.
pub(crate) fn load_for_run(path: &Path) -> anyhow::Result<PolicySet> {
    match load(path)? {
        Ok(p) => Ok(p),
        Err(problems) => anyhow::bail!(
            "the policy has {} problem(s):\n{}",
            problems.len(),
            problems.join("\n")
        ),
    }
}

pub(crate) fn policy(cmd: PolicyCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCmd::Check { file } => match load(&file)? {
            Ok(p) => {
                println!(
                    "OK: {}: {} rule(s), default {}, mode {}, policy {}",
                    file.display(),
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
        } => {
            let p = load_for_run(&file)?;
            let arguments: serde_json::Value =
                serde_json::from_str(&args).context("--args is not JSON")?;
            let (server, target) = tool.split_once(':').unwrap_or(("", tool.as_str()));
            let req = Request {
                server,
                method: &method,
                target: Some(target).filter(|t| !t.is_empty()),
                arguments: Some(&arguments),
                principal: principal.as_deref(),
                roles: &roles,
            };
            let (d, traces) = p.explain(&req);
            for (t, rule) in traces.iter().zip(p.rules()) {
                let mark = if t.applied { "✓" } else { "·" };
                println!("{mark} {} (line {}): {}", t.rule, rule.line, t.why);
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
    }
}
