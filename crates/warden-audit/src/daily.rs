//! The daily security report (`warden report daily`): tool-call totals, success and failure,
//! average and p95 latency, security events by kind, top tools and principals, and alerts
//! against thresholds, all read from the store's query columns (read-only SQL, no leaves
//! re-parsed except gateway events' names). Success and failure are `query::STATUSES`, the
//! definition searches, statistics and reports share (a tool that reported `isError: true`
//! is stored as `tool_error`, a failure); each alert compares a number the report shows.
//!
//! A tool call is counted once, on the record that closes it: the response (which carries the
//! duration), the request warden refused (denied, rate limited, over budget, held for
//! approval), or the `exchange_abandoned` event. Approvals (asked, decided, expired) are a
//! section of their own, from the approval records ([`approvals`]).

pub mod approvals;

use rusqlite::params;
use serde::Serialize;

pub use approvals::{ApprovalRow, Approvals};

use crate::query::{status_outcomes, status_sql};
use crate::store::{Store, StoreError};

/// Alert thresholds (the monitoring guide's defaults).
#[derive(Clone, Debug, Serialize)]
pub struct Thresholds {
    /// Access denials in any one hour.
    pub denied_per_hour: u64,
    /// Rate-limit hits in any one hour.
    pub rate_limited_per_hour: u64,
    /// Budget exceeded in any one hour.
    pub budget_per_hour: u64,
    /// Failed calls as a percentage of all calls.
    pub error_rate_pct: f64,
    /// p95 latency in milliseconds.
    pub p95_latency_ms: f64,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            denied_per_hour: 10,
            rate_limited_per_hour: 20,
            budget_per_hour: 5,
            error_rate_pct: 10.0,
            p95_latency_ms: 1000.0,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct CallStats {
    pub total_calls: u64,
    /// Answered without error.
    pub successful: u64,
    /// JSON-RPC errors, tool errors (`isError`), gateway errors, abandoned and cancelled calls.
    pub failed: u64,
    /// Of those, tools that ran and reported failure (`isError: true`, outcome `tool_error`).
    pub tool_errors: u64,
    /// Refused by policy, limits or budgets (never reached the server).
    pub blocked: u64,
    /// Failed calls as a percentage of all calls; none when there were no calls.
    pub error_rate_pct: Option<f64>,
    /// Over calls the server answered (`ok`, `tool_error`, `rpc_error`); none when it
    /// answered none.
    pub avg_latency_ms: Option<f64>,
    pub p95_latency_ms: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct SecurityEvents {
    pub access_denied: u64,
    pub rate_limits: u64,
    pub budget_exceeded: u64,
    pub approval_required: u64,
    pub anomalies: u64,
    /// The most in any one hour, per kind (what the alerts compare).
    pub peak_hour: PeakHour,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct PeakHour {
    pub access_denied: u64,
    pub rate_limits: u64,
    pub budget_exceeded: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Count {
    pub name: String,
    pub calls: u64,
    pub failed: u64,
    pub blocked: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Alert {
    /// `warning` or `error`.
    pub severity: &'static str,
    pub kind: &'static str,
    pub message: String,
    pub value: f64,
    pub threshold: f64,
}

/// The report.
#[derive(Clone, Debug, Serialize)]
pub struct Daily {
    pub since_us: i64,
    pub until_us: i64,
    pub tool_call_stats: CallStats,
    pub by_outcome: std::collections::BTreeMap<String, u64>,
    pub security_events: SecurityEvents,
    pub top_tools: Vec<Count>,
    pub top_principals: Vec<Count>,
    pub approvals: Approvals,
    pub thresholds: Thresholds,
    pub alerts: Vec<Alert>,
}

/// Which records close a tool call (see the module comment); `?1` / `?2` bound the time.
const CALLS: &str = "FROM records WHERE ts_us >= ?1 AND ts_us < ?2 AND method = 'tools/call' \
     AND outcome IS NOT NULL AND (kind = 'request' OR kind = 'event' OR duration_us IS NOT NULL)";

/// The failures: every closed call that neither succeeded nor was refused (an outcome this
/// warden does not know counts as failed, as `query::status_of` says).
fn failed_sql() -> String {
    format!("NOT ({} OR {})", status_sql("success"), blocked_sql())
}

fn blocked_sql() -> String {
    format!(
        "({} OR {} OR {})",
        status_sql("denied"),
        status_sql("rate_limited"),
        status_sql("pending")
    )
}

/// The outcomes of `status`, from the shared definition.
fn outcomes(status: &str) -> &'static [&'static str] {
    status_outcomes(status).unwrap_or_default()
}

/// Builds the report for records in `[since_us, until_us)`.
pub fn daily(
    store: &Store,
    since_us: i64,
    until_us: i64,
    thresholds: Thresholds,
) -> Result<Daily, StoreError> {
    let conn = store.conn();
    let sql = |source| StoreError::Sqlite {
        path: store.path().to_owned(),
        source,
    };
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let mut by_outcome = std::collections::BTreeMap::new();
    {
        let mut st = conn
            .prepare(&format!(
                "SELECT outcome, COUNT(*) {CALLS} GROUP BY outcome ORDER BY COUNT(*) DESC, outcome"
            ))
            .map_err(sql)?;
        let rows = st
            .query_map(params![since_us, until_us], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(sql)?;
        for r in rows {
            let (o, n) = r.map_err(sql)?;
            by_outcome.insert(o, count(n));
        }
    }
    let of = |names: &[&str]| -> u64 { names.iter().filter_map(|o| by_outcome.get(*o)).sum() };
    let total: u64 = by_outcome.values().sum();
    let tool_errors = of(&[crate::record::TOOL_ERROR]);
    let successful = of(outcomes("success"));
    let blocked = of(outcomes("denied")) + of(outcomes("rate_limited")) + of(outcomes("pending"));
    let failed = total.saturating_sub(successful + blocked);
    // Latency of the calls that reached the server and were answered.
    let timed = format!(
        "{CALLS} AND duration_us IS NOT NULL AND outcome IN ('ok', 'tool_error', 'rpc_error')"
    );
    let (n_timed, avg_us): (i64, Option<f64>) = conn
        .query_row(
            &format!("SELECT COUNT(*), AVG(duration_us) {timed}"),
            params![since_us, until_us],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(sql)?;
    let p95_us: Option<i64> = if n_timed > 0 {
        // The nearest-rank p95: the ceil(0.95 n)-th smallest.
        let rank = (n_timed * 95 + 99) / 100;
        conn.query_row(
            &format!("SELECT duration_us {timed} ORDER BY duration_us LIMIT 1 OFFSET ?3"),
            params![since_us, until_us, rank - 1],
            |r| r.get(0),
        )
        .map_err(sql)?
    } else {
        None
    };
    let peak = |outcomes: &str| -> Result<u64, StoreError> {
        let n: Option<i64> = conn
            .query_row(
                &format!(
                    "SELECT MAX(n) FROM (SELECT COUNT(*) AS n {CALLS} AND outcome IN {outcomes} \
                     GROUP BY ts_us / 3600000000)"
                ),
                params![since_us, until_us],
                |r| r.get(0),
            )
            .map_err(sql)?;
        Ok(n.map_or(0, count))
    };
    let anomalies: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM records WHERE ts_us >= ?1 AND ts_us < ?2 AND kind = 'event' \
             AND json_extract(CAST(leaf AS TEXT), '$.event') = 'anomaly'",
            params![since_us, until_us],
            |r| r.get(0),
        )
        .map_err(sql)?;
    let security = SecurityEvents {
        access_denied: of(&["denied"]),
        rate_limits: of(&["rate_limited"]),
        budget_exceeded: of(&["budget_exceeded"]),
        approval_required: of(&["approval_required"]),
        anomalies: count(anomalies),
        peak_hour: PeakHour {
            // Each peak counts what its total counts, so an alert never names more than the
            // report shows.
            access_denied: peak("('denied')")?,
            rate_limits: peak("('rate_limited')")?,
            budget_exceeded: peak("('budget_exceeded')")?,
        },
    };
    let top = |column: &str| -> Result<Vec<Count>, StoreError> {
        let mut st = conn
            .prepare(&format!(
                "SELECT COALESCE({column}, ''), COUNT(*), \
                 SUM({}), SUM({}) {CALLS} \
                 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
                failed_sql(),
                blocked_sql()
            ))
            .map_err(sql)?;
        let rows = st
            .query_map(params![since_us, until_us], |r| {
                Ok(Count {
                    name: r.get(0)?,
                    calls: count(r.get(1)?),
                    failed: count(r.get(2)?),
                    blocked: count(r.get(3)?),
                })
            })
            .map_err(sql)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(sql)
    };
    let error_rate_pct = (total > 0).then(|| failed as f64 * 100.0 / total as f64);
    let stats = CallStats {
        total_calls: total,
        successful,
        failed,
        tool_errors,
        blocked,
        error_rate_pct,
        avg_latency_ms: avg_us.filter(|_| n_timed > 0).map(|a| a / 1000.0),
        p95_latency_ms: p95_us.map(|p| p as f64 / 1000.0),
    };
    let approvals = approvals::approvals(store, since_us, until_us)?;
    let mut alerts = alerts(&stats, &security, &thresholds);
    if approvals.expired > 0 {
        alerts.push(Alert {
            severity: "warning",
            kind: "approval_expired",
            message: format!(
                "{} approvals expired undecided (their calls were denied)",
                approvals.expired
            ),
            value: approvals.expired as f64,
            threshold: 0.0,
        });
    }
    Ok(Daily {
        since_us,
        until_us,
        tool_call_stats: stats,
        by_outcome,
        security_events: security,
        top_tools: top("target")?,
        top_principals: top("principal")?,
        approvals,
        thresholds,
        alerts,
    })
}

fn alerts(s: &CallStats, e: &SecurityEvents, t: &Thresholds) -> Vec<Alert> {
    let mut out = Vec::new();
    let mut per_hour = |kind, what: &str, peak: u64, limit: u64| {
        if peak > limit {
            out.push(Alert {
                severity: "warning",
                kind,
                message: format!("{peak} {what} in one hour (threshold {limit} per hour)"),
                value: peak as f64,
                threshold: limit as f64,
            });
        }
    };
    per_hour(
        "access_denied",
        "access denied events",
        e.peak_hour.access_denied,
        t.denied_per_hour,
    );
    per_hour(
        "rate_limit",
        "rate limit hits",
        e.peak_hour.rate_limits,
        t.rate_limited_per_hour,
    );
    per_hour(
        "budget_exceeded",
        "budget exceeded events",
        e.peak_hour.budget_exceeded,
        t.budget_per_hour,
    );
    if let Some(rate) = s.error_rate_pct.filter(|r| *r > t.error_rate_pct) {
        out.push(Alert {
            severity: "error",
            kind: "error_rate",
            message: format!(
                "error rate is {rate:.1}% ({} of {} calls failed; threshold {}%)",
                s.failed, s.total_calls, t.error_rate_pct
            ),
            value: rate,
            threshold: t.error_rate_pct,
        });
    }
    if let Some(p95) = s.p95_latency_ms.filter(|p| *p > t.p95_latency_ms) {
        out.push(Alert {
            severity: "warning",
            kind: "latency",
            message: format!(
                "p95 latency is {p95:.1} ms (threshold {} ms)",
                t.p95_latency_ms
            ),
            value: p95,
            threshold: t.p95_latency_ms,
        });
    }
    if e.anomalies > 0 {
        out.push(Alert {
            severity: "warning",
            kind: "anomaly",
            message: format!("{} anomalies detected", e.anomalies),
            value: e.anomalies as f64,
            threshold: 0.0,
        });
    }
    out
}
