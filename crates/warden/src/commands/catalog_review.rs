//! `warden catalog review` and the catalog with its metadata: which tools' periodic reviews
//! are due (the policy's catalog metadata), recording a review (`catalog_tool_reviewed`, in a
//! log of the command's own), and `warden catalog list --policy`'s table with owner, tier,
//! class and review date.
#![allow(clippy::print_stdout)]

use std::process::ExitCode;

use warden_audit::catalog::{CatalogStore, SqliteCatalog, Tool};
use warden_audit::now_us;
use warden_policy::{CatalogMeta, Day};
use warden_proxy::catalog_meta::Profile;

use crate::cli::{CatalogReviewArgs, Format};

/// A tool and its profile, as listed.
#[derive(serde::Serialize)]
struct Row<'a> {
    server: &'a str,
    label: Option<&'a str>,
    tool: &'a str,
    state: &'static str,
    #[serde(flatten)]
    profile: Profile,
}

fn rows<'a>(tools: &'a [Tool], meta: &CatalogMeta, today: Day) -> Vec<Row<'a>> {
    tools
        .iter()
        .map(|t| Row {
            server: &t.server,
            label: t.label.as_deref(),
            tool: &t.name,
            state: t.state.as_str(),
            profile: Profile::of(t, Some(meta), today),
        })
        .collect()
}

fn print(rows: &[Row<'_>], format: Format) -> anyhow::Result<()> {
    match format {
        Format::Table => {
            let mut t = comfy_table::Table::new();
            t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
            t.set_header([
                "state",
                "server",
                "tool",
                "tier",
                "class",
                "data",
                "owner",
                "review due",
                "last review",
            ]);
            for r in rows {
                let p = &r.profile;
                let due = match (&p.review_due, p.review_overdue) {
                    (Some(d), true) => format!("{d} OVERDUE"),
                    (Some(d), false) => d.clone(),
                    (None, _) => String::new(),
                };
                t.add_row([
                    r.state.to_owned(),
                    r.label.unwrap_or(r.server).to_owned(),
                    r.tool.to_owned(),
                    format!(
                        "{}{}",
                        p.risk_tier,
                        if p.risk_tier_source == "default" {
                            " (default)"
                        } else {
                            ""
                        }
                    ),
                    p.tool_class.to_owned(),
                    p.data_classification
                        .map(|c| c.as_str().to_owned())
                        .unwrap_or_default(),
                    p.owner.clone().unwrap_or_default(),
                    due,
                    match (&p.reviewed_by, p.reviewed_us) {
                        (Some(by), Some(us)) => {
                            format!("{} by {by}", Day::from_unix(us.div_euclid(1_000_000)))
                        }
                        _ => String::new(),
                    },
                ]);
            }
            println!("{t}");
        }
        Format::Json => println!("{}", serde_json::to_string_pretty(rows)?),
        Format::Jsonl => {
            for r in rows {
                println!("{}", serde_json::to_string(r)?);
            }
        }
    }
    Ok(())
}

/// `warden catalog list --policy`: every tool with its metadata.
pub(crate) fn list_profiled(
    tools: &[Tool],
    meta: &CatalogMeta,
    format: Format,
) -> anyhow::Result<ExitCode> {
    print(
        &rows(tools, meta, warden_proxy::catalog_meta::today()),
        format,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `warden catalog review`: lists the reviews due, or records one.
pub(crate) fn review(
    r: CatalogReviewArgs,
    find: impl Fn(&SqliteCatalog, &str, &str) -> anyhow::Result<Tool>,
) -> anyhow::Result<ExitCode> {
    let policy = super::policy::load_for_run(&r.policy)?.policy;
    let meta = policy.catalog();
    let (db, c) = super::catalog::open(r.who.store.db.clone())?;
    let today = warden_proxy::catalog_meta::today();
    match (&r.server, &r.tool) {
        (Some(server), Some(tool)) => {
            let t = find(&c, server, tool)?;
            let by = super::approvals::decider(&r.who)?;
            let t = c
                .review(&t.server, &t.name, &by, now_us())
                .map_err(anyhow::Error::msg)?;
            let ev = warden_api::catalog::reviewed_record(
                &t,
                Some(meta),
                r.who.reason.as_deref(),
                "cli",
            );
            super::approvals::record_alone(
                &db,
                r.who.keys.key_dir.clone(),
                &r.who.instance,
                vec![ev],
                "catalog",
            )?;
            let p = Profile::of(&t, Some(meta), today);
            println!(
                "{} on {}: reviewed by {by}; next review {}",
                t.name,
                t.server,
                p.review_due.as_deref().unwrap_or("not set")
            );
            Ok(ExitCode::SUCCESS)
        }
        (Some(_), None) => anyhow::bail!("name the tool reviewed too: SERVER TOOL"),
        _ => {
            let tools = c.list(None).map_err(anyhow::Error::msg)?;
            let horizon = Day(today.0 + i64::from(r.within));
            let due: Vec<Row<'_>> = rows(&tools, meta, today)
                .into_iter()
                .filter(|row| {
                    row.profile
                        .review_due
                        .as_deref()
                        .and_then(Day::parse)
                        .is_some_and(|d| d <= horizon)
                })
                .collect();
            let overdue = due.iter().filter(|d| d.profile.review_overdue).count();
            if due.is_empty() && r.format == Format::Table {
                println!("no review is due");
            } else {
                print(&due, r.format)?;
            }
            if r.format == Format::Table && overdue > 0 {
                let what = if meta.overdue == warden_policy::Overdue::Quarantine {
                    "held (overdue: quarantine) until reviewed"
                } else {
                    "reported (overdue: report)"
                };
                println!("{overdue} overdue, {what}");
            }
            Ok(if r.fail_on_overdue && overdue > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}
