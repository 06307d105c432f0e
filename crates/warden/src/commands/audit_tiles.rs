//! `warden audit export-tiles DIR`: each log of the store as a static C2SP tlog-tiles tree
//! under `DIR/<log_id>/`, one line per log saying what was written or why not.
#![allow(clippy::print_stdout)]

use std::path::Path;
use std::process::ExitCode;

use warden_audit::Store;
use warden_audit::tile_export::{self, LogTiles};

pub(crate) fn export_tiles(
    db: &Path,
    dir: &Path,
    pubkey: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let keys = super::dashboard::trusted_keys(pubkey)?;
    let s = Store::open_read(db)?;
    let started = std::time::Instant::now();
    let done = tile_export::export_tiles(&s, dir, keys.as_deref())?;
    let mut refused = false;
    for log in &done {
        match log {
            LogTiles::Exported {
                log_id,
                dir,
                size,
                files,
            } => println!(
                "log {log_id}: {size} records at its latest checkpoint, {files} files in {}",
                dir.display()
            ),
            LogTiles::NoCheckpoint { log_id, records } => println!(
                "log {log_id}: skipped, no signed checkpoint yet ({records} records, none covered)"
            ),
            LogTiles::Refused { log_id, error } => {
                refused = true;
                println!("log {log_id}: REFUSED: {error}");
            }
        }
    }
    tracing::info!(
        "export-tiles: {} logs in {:.1} s",
        done.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(if refused {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
