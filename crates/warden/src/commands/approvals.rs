//! `warden approvals`: the approvals queue from a terminal — list, show, approve, deny —
//! against the store. A decision is made in the store (the first one wins) and recorded in a
//! log of its own (`approval_decided`); the `warden` process holding the call sees it within
//! a second. Whoever can write the store is the operator here: the record names the local user.
#![allow(clippy::print_stdout)]

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use warden_audit::approvals::{
    Approval, ApprovalFilter, ApprovalStore, DecideError, Decider, SqliteApprovals, Status, records,
};
use warden_audit::{AuditEvent, AuditWriter, Keys, SessionContext, Store, WriterConfig, now_us};

use crate::cli::{ApprovalsCmd, Format};

pub(crate) fn approvals(cmd: ApprovalsCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ApprovalsCmd::List {
            store,
            status,
            all,
            format,
        } => {
            let s = open(store.db)?;
            let status = match (status, all) {
                (Some(st), _) => Some(Status::parse(&st).with_context(|| {
                    format!("--status {st:?}: pending, approved, denied, expired or cancelled")
                })?),
                (None, true) => None,
                (None, false) => Some(Status::Pending),
            };
            let list = s
                .list(&ApprovalFilter {
                    status,
                    ..ApprovalFilter::default()
                })
                .map_err(anyhow::Error::msg)?;
            print_list(&list, format);
            Ok(ExitCode::SUCCESS)
        }
        ApprovalsCmd::Show { store, id, format } => {
            let s = open(store.db)?;
            let Some(a) = s.get(&id).map_err(anyhow::Error::msg)? else {
                anyhow::bail!("no approval {id}");
            };
            if format == Format::Table {
                println!("{}", show(&a));
            } else {
                println!("{}", serde_json::to_string_pretty(&a)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        ApprovalsCmd::Approve(d) => decide(d, true),
        ApprovalsCmd::Deny(d) => decide(d, false),
    }
}

fn open(db: Option<std::path::PathBuf>) -> anyhow::Result<SqliteApprovals> {
    let db = db.unwrap_or_else(crate::paths::default_db);
    SqliteApprovals::open(&db).map_err(anyhow::Error::msg)
}

/// Who decides from a terminal: `--as`, else the local user.
pub(crate) fn decider(w: &crate::cli::DeciderArgs) -> anyhow::Result<String> {
    w.by.clone()
        .or_else(super::run::local_user)
        .context("who decides: no local user name; say it with --as NAME")
}

fn decide(d: crate::cli::DecideArgs, approve: bool) -> anyhow::Result<ExitCode> {
    let db = d
        .who
        .store
        .db
        .clone()
        .unwrap_or_else(crate::paths::default_db);
    let s = SqliteApprovals::open(&db).map_err(anyhow::Error::msg)?;
    let by = decider(&d.who)?;
    let who = Decider {
        by,
        roles: Vec::new(),
        channel: "cli".into(),
        check_approvers: false,
    };
    let a = match s.decide(&d.id, approve, &who, d.who.reason.as_deref(), now_us()) {
        Ok(a) => a,
        Err(e @ DecideError::Store(_)) => return Err(e.into()),
        Err(e) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("warden: {e}");
            }
            return Ok(ExitCode::from(1));
        }
    };
    record(&db, &d, records::decided(&a))?;
    println!(
        "approval {} {} by {}{}",
        a.id,
        a.status.as_str(),
        who.by,
        a.reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes `ev` in a log of this command's own, signed with the deployment's keys.
fn record(db: &std::path::Path, d: &crate::cli::DecideArgs, ev: AuditEvent) -> anyhow::Result<()> {
    record_alone(
        db,
        d.who.keys.key_dir.clone(),
        &d.who.instance,
        vec![ev],
        "approvals",
    )
}

/// A writer for a command's own log in `store` (a CLI decision, an erasure), signed with the
/// deployment's keys from `key_dir` (default: beside the store).
pub(crate) fn own_writer(
    store: Store,
    key_dir: Option<std::path::PathBuf>,
    instance: &str,
) -> anyhow::Result<AuditWriter> {
    let key_dir = key_dir.unwrap_or_else(crate::paths::default_key_dir);
    let keys = Keys::load_or_create(&key_dir, instance).context("loading keys")?;
    Ok(AuditWriter::start(
        store,
        keys,
        WriterConfig {
            instance: instance.to_owned(),
            checkpoint_interval: Duration::from_secs(3600),
            ..WriterConfig::default()
        },
    )?)
}

/// Writes `events` in a log of `command`'s own (a CLI decision), signed with the deployment's keys
/// from `key_dir` (default: beside the store).
pub(crate) fn record_alone(
    db: &std::path::Path,
    key_dir: Option<std::path::PathBuf>,
    instance: &str,
    events: Vec<AuditEvent>,
    command: &str,
) -> anyhow::Result<()> {
    let writer = own_writer(Store::open(db, false)?, key_dir, instance)?;
    let session = events
        .first()
        .map(|ev| ev.session.clone())
        .unwrap_or_default();
    for ev in events {
        writer.handle().record(ev)?;
    }
    let mut closing = AuditEvent::gateway(
        session,
        std::sync::Arc::new(SessionContext::default()),
        "log_closed",
    );
    closing.detail = Some(serde_json::json!({ "command": command }));
    let summary = writer.close(closing);
    if summary.lost > 0 {
        anyhow::bail!(
            "the decision is made, but its record could not be written to {}",
            db.display()
        );
    }
    Ok(())
}

fn time(us: i64) -> String {
    jiff::Timestamp::from_microsecond(us)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

fn left(a: &Approval) -> String {
    if a.status != Status::Pending {
        return String::new();
    }
    let s = (a.expires_us - now_us()) / 1_000_000;
    if s <= 0 {
        "expiring".into()
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

fn print_list(list: &[Approval], format: Format) {
    match format {
        Format::Table => {
            let mut t = comfy_table::Table::new();
            t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
            t.set_header([
                "id",
                "status",
                "tool",
                "asked by",
                "rule",
                "asked (UTC)",
                "left",
                "decided by",
            ]);
            for a in list {
                t.add_row([
                    a.id.clone(),
                    a.status.as_str().to_owned(),
                    format!("{}:{}", a.server, a.tool.as_deref().unwrap_or(&a.method)),
                    a.principal.clone().unwrap_or_default(),
                    a.rule.clone().unwrap_or_default(),
                    time(a.requested_us),
                    left(a),
                    a.decided_by.clone().unwrap_or_default(),
                ]);
            }
            println!("{t}");
            if list.is_empty() {
                println!("(no approvals)");
            }
        }
        Format::Json => println!("{}", serde_json::to_string_pretty(list).unwrap_or_default()),
        Format::Jsonl => {
            for a in list {
                println!("{}", serde_json::to_string(a).unwrap_or_default());
            }
        }
    }
}

fn show(a: &Approval) -> String {
    let mut out = String::new();
    let mut line = |k: &str, v: String| out.push_str(&format!("{k:<13} {v}\n"));
    line("approval", a.id.clone());
    line("status", a.status.as_str().into());
    line(
        "tool",
        format!("{}:{}", a.server, a.tool.as_deref().unwrap_or(&a.method)),
    );
    line(
        "arguments",
        a.arguments
            .as_ref()
            .map_or("(none)".into(), |v| v.to_string()),
    );
    line("action hash", a.action_hash.clone());
    line("asked by", a.principal.clone().unwrap_or_default());
    line("agent", a.agent.clone().unwrap_or_default());
    line("session", a.session.clone());
    line("rule", a.rule.clone().unwrap_or_default());
    line("approvers", a.approvers.join(", "));
    line("grant", a.grant.clone());
    line("asked", time(a.requested_us));
    line("expires", format!("{} {}", time(a.expires_us), left(a)));
    if let Some(d) = a.decided_us {
        line("decided", time(d));
        line(
            "by",
            format!(
                "{} via {}",
                a.decided_by.clone().unwrap_or_default(),
                a.channel.clone().unwrap_or_default()
            ),
        );
        line("reason", a.reason.clone().unwrap_or_default());
    }
    line("used", a.uses.to_string());
    out
}
