//! `warden audit archive`: moving each log's oldest records into sealed archive segments.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use warden_audit::Store;

pub(crate) fn archive(
    db: PathBuf,
    before: &str,
    out: &Path,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let cutoff = super::audit::parse_time(before)?;
    let store = Store::open(&db, false)?;
    let plans = store.plan_archive(cutoff)?;
    let logs = store.logs()?;
    if plans.is_empty() {
        println!(
            "nothing to archive: no log has records older than {before} up to a signed checkpoint"
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut moved = 0;
    for plan in &plans {
        let Some(log) = logs.iter().find(|l| l.log_id == plan.log_id) else {
            continue;
        };
        if dry_run {
            println!(
                "would archive log {}: records {}..{} ({} records)",
                plan.log_id,
                plan.first,
                plan.end - 1,
                plan.end - plan.first
            );
            continue;
        }
        let seg = warden_audit::archive::archive(&store, log, plan, out)?;
        moved += seg.end - seg.first;
        println!(
            "archived log {}: records {}..{} to {} (sha256 {})",
            seg.log_id,
            seg.first,
            seg.end - 1,
            out.join(&seg.file).display(),
            seg.sha256
        );
    }
    if dry_run {
        println!("dry run: nothing changed");
    } else {
        println!(
            "{moved} records archived; check with: warden audit verify --archive {}",
            out.display()
        );
        if !store.purge_wal()? {
            println!(
                "note: other writers are using the store: copies of archived pages may stay in its write-ahead log until its next checkpoint"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
