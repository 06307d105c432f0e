//! `warden report`: human-readable evidence from the audit store (`html`: one session or a
//! time range as a self-contained page, or the same content as JSON, CSV or Markdown;
//! `daily`: the daily security report, in `daily`).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use warden_api::report::{self, Scope};
use warden_audit::Store;

use crate::cli::{ReportCmd, ReportFormat, ReportHtmlArgs};
use crate::paths;

pub(crate) fn report(cmd: ReportCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ReportCmd::Html(args) => html(args),
        ReportCmd::Daily(args) => super::daily::daily(args),
    }
}

fn html(args: ReportHtmlArgs) -> anyhow::Result<ExitCode> {
    let db = args.store.db.unwrap_or_else(paths::default_db);
    let store = Store::open_read(&db)?;
    let now = warden_audit::now_us();
    let time = |v: &Option<String>, what: &str| {
        v.as_deref()
            .map(|s| warden_api::params::parse_time(s, now))
            .transpose()
            .map_err(|e| anyhow::anyhow!("--{what}: {e}"))
    };
    let scope = Scope {
        session: args.session.clone(),
        since_us: time(&args.from, "from")?,
        until_us: time(&args.to, "to")?,
    };
    if let Some(s) = &scope.session {
        anyhow::ensure!(
            store.session_summary(s)?.is_some(),
            "no session {s} in {}",
            db.display()
        );
    }
    let trusted = super::dashboard::trusted_keys(args.pubkey.as_deref())?;
    let r = report::build(&store, &scope, trusted.as_deref())?;
    let text = match args.format {
        ReportFormat::Html => report::html::render(&r),
        ReportFormat::Json => report::text::json(&r),
        ReportFormat::Csv => report::text::csv(&r),
        ReportFormat::Md => report::text::markdown(&r),
    };
    match &args.out {
        Some(path) => {
            std::fs::write(path, text.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            tracing::info!(
                "wrote {} ({} timeline entries, {} bytes)",
                path.display(),
                r.timeline.len(),
                text.len()
            );
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
    // A report of a tampered store is still written, and says so; the exit status too.
    Ok(if r.integrity.verdict == "ok" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
