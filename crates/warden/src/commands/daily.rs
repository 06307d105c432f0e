//! `warden report daily`: the monitoring guide's daily security report, from the audit store.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use warden_audit::Store;
use warden_audit::daily::{Daily, Thresholds, daily as build};

use crate::cli::{DailyArgs, DailyFormat};
use crate::commands::audit::parse_time;
use crate::paths;

pub(crate) fn daily(args: DailyArgs) -> anyhow::Result<ExitCode> {
    let db = args.store.db.unwrap_or_else(paths::default_db);
    let since = parse_time(&args.since)?;
    let until = match &args.until {
        Some(u) => parse_time(u)?,
        None => warden_audit::now_us() + 1,
    };
    if since >= until {
        anyhow::bail!("--since must be before --until");
    }
    let store = Store::open_read(&db)?;
    let report = build(
        &store,
        since,
        until,
        Thresholds {
            denied_per_hour: args.max_denied_per_hour,
            rate_limited_per_hour: args.max_rate_limited_per_hour,
            budget_per_hour: args.max_budget_exceeded_per_hour,
            error_rate_pct: args.max_error_rate,
            p95_latency_ms: args.max_p95_ms,
        },
    )?;
    let out = match args.format {
        DailyFormat::Json => {
            let mut v = serde_json::to_value(&report)?;
            v["since"] = time(report.since_us).into();
            v["until"] = time(report.until_us).into();
            format!("{}\n", serde_json::to_string_pretty(&v)?)
        }
        DailyFormat::Text => text(&report),
    };
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(if args.fail_on_alert && !report.alerts.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn time(us: i64) -> String {
    jiff::Timestamp::from_microsecond(us).map_or_else(|_| us.to_string(), |t| format!("{t:.0}"))
}

fn text(r: &Daily) -> String {
    let s = &r.tool_call_stats;
    let e = &r.security_events;
    let mut o = String::new();
    // Writing to a String cannot fail.
    let _written: std::fmt::Result = (|| {
        writeln!(o, "MCP Security Report")?;
        writeln!(o, "{}", "=".repeat(60))?;
        writeln!(o, "Period: {} to {}", time(r.since_us), time(r.until_us))?;
        writeln!(o)?;
        writeln!(o, "Total Calls: {}", s.total_calls)?;
        writeln!(o, "Successful: {}", s.successful)?;
        writeln!(o, "Failed: {}", s.failed)?;
        writeln!(o, "  of which tool errors (isError): {}", s.tool_errors)?;
        writeln!(o, "Blocked: {}", s.blocked)?;
        // Nothing to divide or average is "n/a", never a made-up zero.
        let na =
            |v: Option<f64>, unit: &str| v.map_or("n/a".to_owned(), |v| format!("{v:.2}{unit}"));
        writeln!(
            o,
            "Error Rate: {}",
            s.error_rate_pct
                .map_or("n/a".to_owned(), |v| format!("{v:.1}%"))
        )?;
        writeln!(o, "Avg Latency: {}", na(s.avg_latency_ms, "ms"))?;
        writeln!(o, "P95 Latency: {}", na(s.p95_latency_ms, "ms"))?;
        writeln!(o)?;
        writeln!(o, "Security Events:")?;
        writeln!(o, "  Access Denied: {}", e.access_denied)?;
        writeln!(o, "  Rate Limits: {}", e.rate_limits)?;
        writeln!(o, "  Budget Exceeded: {}", e.budget_exceeded)?;
        writeln!(o, "  Approval Required: {}", e.approval_required)?;
        writeln!(o, "  Anomalies: {}", e.anomalies)?;
        for (title, rows) in [
            ("Top Tools", &r.top_tools),
            ("Top Principals", &r.top_principals),
        ] {
            if rows.is_empty() {
                continue;
            }
            writeln!(o)?;
            writeln!(o, "{title}:")?;
            for c in rows {
                let name = if c.name.is_empty() { "(none)" } else { &c.name };
                writeln!(
                    o,
                    "  {name}: {} calls, {} failed, {} blocked",
                    c.calls, c.failed, c.blocked
                )?;
            }
        }
        let a = &r.approvals;
        if a.requested + a.approved + a.denied + a.expired + a.cancelled > 0 {
            writeln!(o)?;
            writeln!(
                o,
                "Approvals: {} requested, {} approved, {} denied, {} expired, {} cancelled",
                a.requested, a.approved, a.denied, a.expired, a.cancelled
            )?;
            if let (Some(avg), Some(max)) = (a.avg_wait_ms, a.max_wait_ms) {
                writeln!(
                    o,
                    "  Wait for a decision: {:.1} s average, {:.1} s longest",
                    avg / 1000.0,
                    max as f64 / 1000.0
                )?;
            }
            let or = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
            for x in &a.decisions {
                writeln!(
                    o,
                    "  {} {} by {} via {} (asked by {}, waited {:.1} s)",
                    or(&x.tool),
                    x.status,
                    or(&x.decided_by),
                    or(&x.channel),
                    or(&x.principal),
                    x.waited_ms.unwrap_or(0) as f64 / 1000.0
                )?;
            }
            for x in &a.expired_approvals {
                writeln!(
                    o,
                    "  {} expired undecided (asked by {})",
                    or(&x.tool),
                    or(&x.principal)
                )?;
            }
        }
        writeln!(o)?;
        if r.alerts.is_empty() {
            writeln!(o, "No alerts")?;
        } else {
            writeln!(o, "ALERTS:")?;
            for a in &r.alerts {
                writeln!(o, "  [{}] {}", a.severity.to_uppercase(), a.message)?;
            }
        }
        Ok(())
    })();
    o
}
