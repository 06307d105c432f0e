//! `warden catalog`: the tool catalog from a terminal — list the tools each server showed, show
//! one, diff a changed definition against the approved one, approve or reject. Decisions are
//! made in the store and recorded in a log of their own (`catalog_tool_decided`); a running
//! warden honours them at the tool's next call. `approve --cosmetic` approves every change that
//! is only cosmetic at once, one record each.
#![allow(clippy::print_stdout)]

use std::process::ExitCode;

use warden_audit::catalog::{CatalogStore, SqliteCatalog, Tool};
use warden_audit::now_us;

use crate::cli::{CatalogCmd, Format};

pub(crate) fn open(
    db: Option<std::path::PathBuf>,
) -> anyhow::Result<(std::path::PathBuf, SqliteCatalog)> {
    let db = db.unwrap_or_else(crate::paths::default_db);
    let c = SqliteCatalog::open(&db).map_err(anyhow::Error::msg)?;
    Ok((db, c))
}

/// A tool by its server (identity, or a unique part of it) and name.
fn find(c: &SqliteCatalog, server: &str, tool: &str) -> anyhow::Result<Tool> {
    let all = c.list(None).map_err(anyhow::Error::msg)?;
    let mut hits: Vec<Tool> = all
        .into_iter()
        .filter(|t| {
            t.name == tool
                && (t.server == server
                    || t.label.as_deref() == Some(server)
                    || t.server.contains(server))
        })
        .collect();
    match hits.len() {
        1 => Ok(hits.remove(0)),
        0 => anyhow::bail!("no tool {tool} of a server matching {server:?} in the catalog"),
        _ => anyhow::bail!(
            "{server:?} matches several servers: {}",
            hits.iter()
                .map(|t| t.server.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

pub(crate) fn catalog(cmd: CatalogCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        CatalogCmd::List {
            store,
            format,
            policy,
        } => {
            let (_, c) = open(store.db)?;
            let list = c.list(None).map_err(anyhow::Error::msg)?;
            if let Some(path) = policy {
                let p = super::policy::load_for_run(&path)?.policy;
                return super::catalog_review::list_profiled(&list, p.catalog(), format);
            }
            match format {
                Format::Table => {
                    let mut t = comfy_table::Table::new();
                    t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
                    t.set_header([
                        "state",
                        "server",
                        "tool",
                        "pin",
                        "change",
                        "decided by",
                        "identity",
                    ]);
                    for x in &list {
                        let class = x
                            .diff()
                            .and_then(|d| d.class())
                            .map(|c| c.as_str().to_owned())
                            .or(x
                                .renamed_from
                                .as_ref()
                                .map(|r| format!("renamed? from {r}")))
                            .unwrap_or_default();
                        t.add_row([
                            x.state.as_str().to_owned(),
                            x.label.clone().unwrap_or_default(),
                            x.name.clone(),
                            x.pin.chars().take(19).collect(),
                            class,
                            x.decided_by.clone().unwrap_or_default(),
                            x.server.clone(),
                        ]);
                    }
                    println!("{t}");
                }
                Format::Json => println!("{}", serde_json::to_string_pretty(&list)?),
                Format::Jsonl => {
                    for x in &list {
                        println!("{}", serde_json::to_string(x)?);
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        CatalogCmd::Show {
            store,
            policy,
            server,
            tool,
        } => {
            let (_, c) = open(store.db)?;
            let t = find(&c, &server, &tool)?;
            let mut v = serde_json::to_value(&t)?;
            if let Some(path) = policy {
                let p = super::policy::load_for_run(&path)?.policy;
                let profile = warden_proxy::catalog_meta::Profile::of(
                    &t,
                    Some(p.catalog()),
                    warden_proxy::catalog_meta::today(),
                );
                v["profile"] = serde_json::to_value(profile)?;
            }
            println!("{}", serde_json::to_string_pretty(&v)?);
            Ok(ExitCode::SUCCESS)
        }
        CatalogCmd::Diff {
            store,
            server,
            tool,
            format,
        } => {
            let (_, c) = open(store.db)?;
            let t = find(&c, &server, &tool)?;
            let Some(d) = t.diff() else {
                println!(
                    "{} has no approved definition to compare with (state {})",
                    t.name,
                    t.state.as_str()
                );
                return Ok(ExitCode::SUCCESS);
            };
            if format != Format::Table {
                println!("{}", serde_json::to_string_pretty(&d)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!("{} on {}: {}", t.name, t.server, t.state.as_str());
            println!(
                "approved {}\nseen     {}",
                t.approved_pin.as_deref().unwrap_or("-"),
                t.pin
            );
            match d.class() {
                None => println!("no change"),
                Some(class) => {
                    println!(
                        "change: {}{}",
                        class.as_str(),
                        if d.annotation_only() {
                            " (annotations only)"
                        } else {
                            ""
                        }
                    );
                    for ch in &d.changes {
                        println!("  [{}] {}", ch.class.as_str(), ch.what);
                    }
                    if let Some(text) = &d.description {
                        println!("description:\n  {text}");
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        CatalogCmd::Approve(a) => match (a.cosmetic, a.server, a.tool) {
            (true, server, _) => approve_cosmetic(server, a.who),
            (false, Some(server), Some(tool)) => decide(
                crate::cli::CatalogDecideArgs {
                    server,
                    tool,
                    who: a.who,
                },
                true,
            ),
            _ => anyhow::bail!("name the server and the tool to approve (or give --cosmetic)"),
        },
        CatalogCmd::Reject(d) => decide(d, false),
        CatalogCmd::Review(r) => super::catalog_review::review(r, find),
    }
}

fn decide(d: crate::cli::CatalogDecideArgs, approve: bool) -> anyhow::Result<ExitCode> {
    let (db, c) = open(d.who.store.db.clone())?;
    let t = find(&c, &d.server, &d.tool)?;
    let by = super::approvals::decider(&d.who)?;
    let before = t.state;
    let t = c
        .decide(
            &t.server,
            &t.name,
            approve,
            &by,
            d.who.reason.as_deref(),
            now_us(),
        )
        .map_err(anyhow::Error::msg)?;
    // The record the admin API makes for its decisions, naming this channel.
    let ev = warden_api::catalog::decided_record(&t, before, "cli");
    super::approvals::record_alone(
        &db,
        d.who.keys.key_dir.clone(),
        &d.who.instance,
        vec![ev],
        "catalog",
    )?;
    println!("{} on {}: {} by {by}", t.name, t.server, t.state.as_str());
    Ok(ExitCode::SUCCESS)
}

/// `warden catalog approve --cosmetic [SERVER]`: approves every changed tool (of the servers
/// `server` names) whose change is only cosmetic, records each, and says what it left.
fn approve_cosmetic(
    server: Option<String>,
    who: crate::cli::DeciderArgs,
) -> anyhow::Result<ExitCode> {
    let (db, c) = open(who.store.db.clone())?;
    let by = super::approvals::decider(&who)?;
    let pick = |t: &Tool| {
        server
            .as_deref()
            .is_none_or(|s| t.server == s || t.label.as_deref() == Some(s) || t.server.contains(s))
    };
    let done =
        warden_audit::catalog::approve_cosmetic(&c, &pick, &by, who.reason.as_deref(), now_us())
            .map_err(anyhow::Error::msg)?;
    let events: Vec<_> = done
        .approved
        .iter()
        .map(|t| warden_api::catalog::cosmetic_record(t, "cli"))
        .collect();
    if !events.is_empty() {
        super::approvals::record_alone(
            &db,
            who.keys.key_dir.clone(),
            &who.instance,
            events,
            "catalog",
        )?;
    }
    for t in &done.approved {
        println!("approved {} on {} (cosmetic) by {by}", t.name, t.server);
    }
    for (t, class) in &done.left {
        let why = class.map_or("changed again since it was classified", |c| c.as_str());
        println!("left     {} on {} ({why})", t.name, t.server);
    }
    if done.approved.is_empty() && done.left.is_empty() {
        println!("no changed tools");
    }
    Ok(ExitCode::SUCCESS)
}
