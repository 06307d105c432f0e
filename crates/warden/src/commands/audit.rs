//! `warden audit`: verify, search, tail, export; export-tiles (`audit_tiles`), prove and
//! verify-proof (`audit_proof`).
#![allow(clippy::print_stdout)]

use std::io::{BufReader, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use warden_audit::export::{Verdict, verify_export, verify_store_with_archive};
use warden_audit::query::{Cursor, MAX_PAGE, Order, Query};
use warden_audit::{RecordRow, Store};

use crate::cli::{AuditCmd, ExportFormat, FilterArgs, Format, StoreArgs};
use crate::paths;

pub(crate) fn db_of(store: StoreArgs) -> std::path::PathBuf {
    store.db.unwrap_or_else(paths::default_db)
}

pub(crate) fn audit(cmd: AuditCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCmd::Verify {
            store,
            file,
            pubkey,
            format,
            archive,
            policy,
            online,
            anchor,
        } => verify(
            store,
            file.as_deref(),
            pubkey.as_deref(),
            format,
            archive.as_deref(),
            (policy.as_deref(), online, anchor.as_deref()),
        ),
        AuditCmd::Archive {
            store,
            before,
            out,
            dry_run,
        } => super::archive::archive(db_of(store), &before, &out, dry_run),
        AuditCmd::Search {
            store,
            filter,
            limit,
            newest_first,
            cursor,
        } => {
            let s = Store::open_read(&db_of(store))?;
            let format = output_format(filter.format);
            let q = to_query(&filter)?;
            let order = if newest_first {
                Order::NewestFirst
            } else {
                Order::OldestFirst
            };
            let cursor = cursor
                .map(|c| {
                    Cursor::decode(&c)
                        .with_context(|| format!("--cursor {c:?} is not one warden printed"))
                })
                .transpose()?;
            let limit = u32::try_from(limit)
                .ok()
                .filter(|l| (1..=MAX_PAGE).contains(l))
                .with_context(|| format!("--limit must be 1..={MAX_PAGE}"))?;
            let page = s.page(&q, order, cursor, limit)?;
            print_rows(&page.rows, format)?;
            if let Some(next) = page.next {
                #[allow(clippy::print_stderr)]
                {
                    eprintln!("more records match: --cursor {}", next.encode());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCmd::Tail {
            store,
            filter,
            lines,
            no_follow,
        } => tail(store, &filter, lines, no_follow),
        AuditCmd::Export {
            store,
            format: ExportFormat::Jsonl,
            out,
        } => {
            let s = Store::open_read(&db_of(store))?;
            let n = match out {
                Some(path) => {
                    let mut f = std::io::BufWriter::new(
                        std::fs::File::create(&path)
                            .with_context(|| format!("creating {}", path.display()))?,
                    );
                    let n = warden_audit::export::export(&s, &mut f)?;
                    f.flush()?;
                    n
                }
                None => warden_audit::export::export(
                    &s,
                    &mut std::io::BufWriter::new(std::io::stdout().lock()),
                )?,
            };
            tracing::info!("exported {n} records");
            Ok(ExitCode::SUCCESS)
        }
        AuditCmd::ExportTiles { store, dir, pubkey } => {
            super::audit_tiles::export_tiles(&db_of(store), &dir, pubkey.as_deref())
        }
        AuditCmd::Prove {
            store,
            record,
            leaf_out,
            content_out,
            from_checkpoint,
        } => super::audit_proof::prove(
            &db_of(store),
            record.as_deref(),
            (leaf_out.as_deref(), content_out.as_deref()),
            from_checkpoint.as_deref(),
        ),
        AuditCmd::Erase {
            who,
            select,
            dry_run,
        } => super::erase::erase(who, select, dry_run),
        AuditCmd::Retention {
            store,
            keys,
            content,
            records,
            archive_dir,
            dry_run,
            instance,
        } => {
            let db = db_of(store);
            if let Some(keep) = &content {
                super::erase::retention(db.clone(), keys, keep, dry_run, &instance)?;
            }
            if let (Some(keep), Some(dir)) = (&records, &archive_dir) {
                super::erase::parse_age(keep)?;
                super::archive::archive(db, keep, dir, dry_run)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCmd::VerifyProof {
            file,
            pubkey,
            leaf,
            content,
        } => {
            let code = super::audit_proof::verify_proof(&file, pubkey.as_deref(), leaf.as_deref())?;
            match (content, leaf) {
                (Some(c), Some(l)) if code == ExitCode::SUCCESS => {
                    super::audit_proof::verify_content(&c, &l)
                }
                _ => Ok(code),
            }
        }
    }
}

pub(crate) fn trust_note(trusted: bool) -> &'static str {
    if trusted {
        "signature checked with the given key"
    } else {
        "signature checked with the key named in the proof; pass --pubkey to trust a key you hold"
    }
}

fn verify(
    store: StoreArgs,
    file: Option<&Path>,
    pubkey: Option<&Path>,
    format: Format,
    archive: Option<&Path>,
    (policy, online, anchor): (Option<&Path>, bool, Option<&Path>),
) -> anyhow::Result<ExitCode> {
    let policy = policy.map(super::witness_audit::load_policy).transpose()?;
    let mut keys = super::dashboard::trusted_keys(pubkey)?;
    if keys.is_none()
        && let Some(p) = policy.as_ref().filter(|p| !p.logs.is_empty())
    {
        // The policy's `log` lines are keys held apart from the store.
        keys = Some(p.logs.clone());
    }
    let db = db_of(store.clone());
    let (what, verdict): (String, Verdict) = match file {
        Some(path) => {
            let f =
                std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            (
                path.display().to_string(),
                verify_export(BufReader::new(f), keys.as_deref())?,
            )
        }
        None => {
            let s = Store::open_read(&db)?;
            (
                db.display().to_string(),
                verify_store_with_archive(&s, keys.as_deref(), archive)?,
            )
        }
    };
    let trust = if keys.is_some() {
        "the given verifier key"
    } else {
        "each log's registered key (pass --pubkey to check against a key you hold)"
    };
    let extra = match (&verdict, file) {
        (Ok(_), None) => {
            super::witness_audit::check(&db, policy.as_ref(), online, anchor, keys.as_deref())?
        }
        _ => None,
    };
    let extra_ok = extra.as_ref().is_none_or(|e| e.ok);
    match (verdict, format) {
        (Ok(reports), Format::Json | Format::Jsonl) => {
            let mut out = serde_json::json!({ "ok": extra_ok, "source": what, "logs": reports, "trusted_keys": keys.is_some() });
            if let Some(e) = extra {
                out["witnessing"] = e.json;
            }
            println!("{out}");
            Ok(if extra_ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        (Ok(_), Format::Table) if !extra_ok => {
            println!(
                "FAILED: {what}: the records verify, but the evidence kept outside the store does not agree:"
            );
            for l in extra.iter().flat_map(|e| &e.lines) {
                println!("  {l}");
            }
            Ok(ExitCode::from(1))
        }
        (Err(p), Format::Json | Format::Jsonl) => {
            println!(
                "{}",
                serde_json::json!({ "ok": false, "source": what, "problem": { "log": p.log_id, "kind": p.kind.as_str(), "seq": p.seq, "record_id": p.record_id, "column": p.column, "detail": p.detail } })
            );
            Ok(ExitCode::from(1))
        }
        (Ok(reports), Format::Table) => {
            let records: u64 = reports.iter().map(|r| r.records).sum();
            let checkpoints: u64 = reports.iter().map(|r| r.checkpoints).sum();
            println!(
                "OK: {what}: {} logs, {records} records, {checkpoints} signed checkpoints; signatures checked with {trust}",
                reports.len()
            );
            let content = |f: fn(&warden_audit::verify::ContentCount) -> u64| -> u64 {
                reports.iter().map(|r| f(&r.content)).sum()
            };
            let (present, expired, erased, unchecked) = (
                content(|c| c.present),
                content(|c| c.expired),
                content(|c| c.erased),
                content(|c| c.unchecked),
            );
            if present + expired + erased + unchecked > 0 {
                println!(
                    "content: {present} present and matching, {expired} expired, {erased} erased{}",
                    if unchecked > 0 {
                        format!(", {unchecked} not included (not checked)")
                    } else {
                        String::new()
                    }
                );
            }
            let archived: u64 = reports.iter().map(|r| r.archived).sum();
            if archived > 0 {
                println!(
                    "note: {archived} archived records are represented by the tree edge the store keeps for them (pass --archive DIR to check them too)"
                );
            }
            let v1 = reports.iter().filter(|r| r.leaf_version == 1).count();
            if v1 > 0 {
                println!("note: {v1} logs are in leaf format 1 (payloads inside the leaves)");
            }
            for r in reports.iter().filter(|r| r.unsigned_tail > 0) {
                println!(
                    "note: log {} has {} records after its last checkpoint (still being written, or its writer was killed); they are hash-linked but not yet signed",
                    r.log_id, r.unsigned_tail
                );
            }
            for l in extra.iter().flat_map(|e| &e.lines) {
                println!("{l}");
            }
            Ok(ExitCode::SUCCESS)
        }
        (Err(p), Format::Table) => {
            println!("TAMPERED: {what}: {p}");
            Ok(ExitCode::from(1))
        }
    }
}

fn output_format(f: Option<Format>) -> Format {
    f.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Jsonl
    })
}

/// Parses `--since` / `--until`: RFC 3339, or an age like `90s`, `15m`, `24h`, `7d` (as the
/// admin API does).
pub(crate) fn parse_time(s: &str) -> anyhow::Result<i64> {
    warden_api::params::parse_time(s, warden_audit::now_us()).map_err(|e| anyhow::anyhow!(e))
}

/// The filters as a store query: times are RFC 3339 or an age (`15m`, `24h`, `7d`), statuses
/// and outcomes are checked, as in the admin API.
fn to_query(a: &FilterArgs) -> anyhow::Result<Query> {
    let f = warden_api::params::Filters {
        server: a.server.clone(),
        tool: a.tool.clone(),
        method: a.method.clone(),
        direction: a.direction.clone(),
        outcome: a.outcome.clone(),
        status: a.status.clone(),
        principal: a.principal.clone(),
        agent: a.agent.clone(),
        session: a.session.clone(),
        kind: a.kind.clone(),
        since: a.since.clone(),
        until: a.until.clone(),
        ..Default::default()
    };
    f.query(warden_audit::now_us())
        .map_err(|e| anyhow::anyhow!("{}", e.message))
}

fn time(us: i64) -> String {
    jiff::Timestamp::from_microsecond(us)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S%.3f").to_string())
        .unwrap_or_else(|_| us.to_string())
}

fn print_rows(rows: &[RecordRow], format: Format) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Jsonl => {
            for r in rows {
                out.write_all(&r.leaf)?;
                out.write_all(b"\n")?;
            }
        }
        Format::Json => {
            let leaves: Vec<serde_json::Value> = rows
                .iter()
                .filter_map(|r| serde_json::from_slice(&r.leaf).ok())
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&leaves)?)?;
        }
        Format::Table => {
            let t = records_table(rows);
            writeln!(out, "{t}")?;
        }
    }
    Ok(())
}

/// The table of records shown by `search`, `tail` and `demo`.
pub(crate) fn records_table(rows: &[RecordRow]) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header([
        "time (UTC)",
        "seq",
        "dir",
        "kind",
        "method / event",
        "target",
        "outcome",
        "ms",
        "session",
    ]);
    for r in rows {
        t.add_row([
            time(r.ts_us),
            r.seq.to_string(),
            r.dir.clone().unwrap_or_default(),
            r.kind.clone(),
            r.label(),
            r.target.clone().unwrap_or_default(),
            r.outcome.clone().unwrap_or_default(),
            r.duration_us
                .map(|d| format!("{:.2}", d as f64 / 1000.0))
                .unwrap_or_default(),
            r.session
                .chars()
                .rev()
                .take(8)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect(),
        ]);
    }
    t
}

fn tail(
    store: StoreArgs,
    filter: &FilterArgs,
    lines: u64,
    no_follow: bool,
) -> anyhow::Result<ExitCode> {
    let s = Store::open_read(&db_of(store))?;
    let format = match output_format(filter.format) {
        Format::Json => Format::Jsonl,
        f => f,
    };
    let q = to_query(filter)?;
    // `-n 0`: nothing old, only what comes from now on.
    let mut rows = match u32::try_from(lines.min(u64::from(MAX_PAGE))) {
        Ok(0) => Vec::new(),
        Ok(n) => s.page(&q, Order::NewestFirst, None, n)?.rows,
        Err(_) => s.page(&q, Order::NewestFirst, None, MAX_PAGE)?.rows,
    };
    rows.reverse();
    let mut last = match rows.iter().map(|r| r.rowid).max() {
        Some(m) => m,
        None => s.max_rowid()?,
    };
    print_rows(&rows, format)?;
    if no_follow {
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let rows = s.tail_after(&q, last, 1000)?;
        if let Some(m) = rows.iter().map(|r| r.rowid).max() {
            last = m;
            print_rows(&rows, format)?;
        }
    }
}
