//! `warden audit erase` and `warden audit retention`: removing stored content (payloads) on
//! request or when its retention period is over, each removal recorded in a log of its own,
//! and expiry on its own in `warden run` / `warden serve` (`Expiry`).
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use warden_audit::content::Gone;
use warden_audit::removal::{self, Plan, Request, Selector};
use warden_audit::writer::{AuditHandle, AuditWriter, WriterConfig};
use warden_audit::{AuditEvent, Keys, SessionContext, Store};

use crate::cli::{DeciderArgs, KeyArgs, SelectArgs};

pub(crate) fn erase(
    who: DeciderArgs,
    select: SelectArgs,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let parse = |s: &Option<String>, flag: &str| {
        s.as_deref()
            .map(|t| super::audit::parse_time(t).with_context(|| format!("{flag} {t:?}")))
            .transpose()
    };
    let selector = Selector {
        session: select.session.clone(),
        principal: select.principal.clone(),
        since_us: parse(&select.since, "--since")?,
        before_us: parse(&select.before, "--before")?,
    };
    if selector.is_empty() {
        anyhow::bail!("say whose content to erase: --session, --principal, --since or --before");
    }
    let Some(reason) = who.reason.clone().filter(|r| !r.trim().is_empty()) else {
        anyhow::bail!("--reason is required: it is kept in the record of the erasure");
    };
    let by = who
        .by
        .clone()
        .or_else(super::run::local_user)
        .unwrap_or_else(|| "unknown".into());
    let db = super::audit::db_of(who.store);
    let request = Request {
        why: Gone::Erased,
        by,
        reason,
        selector,
    };
    apply(&db, who.keys, &who.instance, &request, dry_run)
}

pub(crate) fn retention(
    db: PathBuf,
    keys: KeyArgs,
    keep: &str,
    dry_run: bool,
    instance: &str,
) -> anyhow::Result<ExitCode> {
    let keep = parse_age(keep)?;
    let request = expiry_request(keep);
    apply(&db, keys, instance, &request, dry_run)
}

/// Parses a retention period: an age such as `90d`, `720h`, `45m`, `30s`.
pub(crate) fn parse_age(s: &str) -> anyhow::Result<Duration> {
    let t = s.trim();
    let (n, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 =
        n.parse().ok().filter(|n| *n > 0).with_context(|| {
            format!("{s:?} is not a retention period (say 90d, 720h, 45m or 30s)")
        })?;
    let secs = match unit {
        "d" => n.checked_mul(86_400),
        "h" => n.checked_mul(3_600),
        "m" => n.checked_mul(60),
        "s" => Some(n),
        _ => None,
    }
    .with_context(|| format!("{s:?} is not a retention period (say 90d, 720h, 45m or 30s)"))?;
    Ok(Duration::from_secs(secs))
}

fn expiry_request(keep: Duration) -> Request {
    let cutoff =
        warden_audit::now_us().saturating_sub(i64::try_from(keep.as_micros()).unwrap_or(i64::MAX));
    Request {
        why: Gone::Expired,
        by: "retention".into(),
        reason: format!("content retention of {}", show_age(keep)),
        selector: Selector {
            before_us: Some(cutoff),
            ..Selector::default()
        },
    }
}

fn show_age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn describe(plan: &Plan, why: Gone) {
    println!(
        "{} record(s) hold content to be {}; {} already removed",
        plan.digests.len(),
        why.as_str(),
        plan.already_gone
    );
    if plan.in_v1_leaves > 0 {
        println!(
            "note: {} matching record(s) are in logs written before leaf v2: their payload is inside the signed leaf and is kept (removing it would break verification)",
            plan.in_v1_leaves
        );
    }
}

/// Plans, shows, and (unless `dry_run`) removes, in a log of this command's own.
fn apply(
    db: &Path,
    keys: KeyArgs,
    instance: &str,
    request: &Request,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let store = Store::open(db, false)?;
    let plan = store.plan_removal(&request.selector)?;
    describe(&plan, request.why);
    if dry_run || plan.digests.is_empty() {
        if dry_run {
            println!("dry run: nothing changed");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let key_dir = keys.key_dir.unwrap_or_else(crate::paths::default_key_dir);
    let keys = Keys::load_or_create(&key_dir, instance).context("loading keys")?;
    let writer = AuditWriter::start(
        store,
        keys,
        WriterConfig {
            instance: instance.to_owned(),
            checkpoint_interval: Duration::from_secs(3600),
            ..WriterConfig::default()
        },
    )?;
    let done = removal::remove(&writer.handle(), request, &plan.digests);
    let mut closing =
        AuditEvent::gateway("".into(), Arc::new(SessionContext::default()), "log_closed");
    closing.detail = Some(
        serde_json::json!({ "command": format!("audit {}", match request.why {
        Gone::Erased => "erase",
        Gone::Expired => "retention",
    }) }),
    );
    let summary = writer.close(closing);
    let parts = done.map_err(|e| anyhow::anyhow!("the removal stopped: {e}"))?;
    if summary.lost > 0 {
        anyhow::bail!(
            "the removal records could not all be written to {}",
            db.display()
        );
    }
    println!(
        "{} the content of {} record(s), recorded in {parts} record(s) of log {}",
        match request.why {
            Gone::Erased => "erased",
            Gone::Expired => "expired",
        },
        plan.digests.len(),
        summary.log_id
    );
    match Store::open(db, false)?.purge_wal() {
        Ok(true) => {}
        Ok(false) => println!(
            "note: other writers are using the store: copies of removed pages may stay in its write-ahead log until its next checkpoint"
        ),
        Err(e) => println!("note: could not empty the write-ahead log: {e}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Expiry of content inside `warden run` / `warden serve`: a thread that, at start and then
/// every `every`, removes content older than the retention period through the process's own
/// writer (so each removal is in its log). It never blocks the data path: it reads with its
/// own connection and the writer commits each removal with the next batch.
pub(crate) struct Expiry {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Expiry {
    pub(crate) fn start(
        db: PathBuf,
        audit: AuditHandle,
        keep: Duration,
        every: Duration,
    ) -> Expiry {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            loop {
                if let Err(e) = expire_once(&db, &audit, keep) {
                    tracing::warn!("content retention: {e}");
                }
                match stopped.recv_timeout(every) {
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                    _ => break,
                }
            }
        });
        Expiry { stop, thread }
    }

    pub(crate) fn stop(self) {
        let _sent = self.stop.send(());
        let _joined = self.thread.join();
    }
}

/// One pass of expiry: returns how many records' content was removed.
pub(crate) fn expire_once(db: &Path, audit: &AuditHandle, keep: Duration) -> anyhow::Result<usize> {
    let request = expiry_request(keep);
    let plan = Store::open_read(db)?.plan_removal(&request.selector)?;
    if plan.digests.is_empty() {
        return Ok(0);
    }
    removal::remove(audit, &request, &plan.digests).map_err(|e| anyhow::anyhow!(e))?;
    tracing::info!(
        records = plan.digests.len(),
        "content retention: expired content removed"
    );
    Ok(plan.digests.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_parse_and_odd_ones_are_refused() {
        assert_eq!(parse_age("90d").unwrap(), Duration::from_secs(90 * 86_400));
        assert_eq!(parse_age("720h").unwrap(), Duration::from_secs(720 * 3_600));
        assert_eq!(parse_age("30s").unwrap(), Duration::from_secs(30));
        for bad in [
            "",
            "d",
            "0d",
            "90",
            "90y",
            "-1d",
            "9999999999999999999d",
            "1.5d",
            "2026-01-01",
        ] {
            assert!(parse_age(bad).is_err(), "{bad}");
        }
        assert_eq!(show_age(Duration::from_secs(90 * 86_400)), "90d");
    }
}
