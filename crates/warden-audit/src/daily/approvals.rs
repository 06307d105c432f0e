//! The daily report's approvals section, from the approval records in the window (read-only
//! SQL over the leaves' `detail.approval`; see `approvals::records`): how many were asked and
//! how each ended, how long people took, who approved or denied what, and what expired.

use rusqlite::params;
use serde::Serialize;

use crate::store::{Store, StoreError};

/// Most decisions and expired approvals listed one by one (all are counted).
pub const LISTED: usize = 100;

/// One decided approval.
#[derive(Clone, Debug, Serialize)]
pub struct ApprovalRow {
    pub id: String,
    /// `approved`, `denied`, `expired` or `cancelled`.
    pub status: String,
    pub tool: Option<String>,
    pub server: Option<String>,
    /// Who asked (the principal whose call it was).
    pub principal: Option<String>,
    /// Who decided (`warden` for an expiry or a cancellation it made).
    pub decided_by: Option<String>,
    pub channel: Option<String>,
    pub rule: Option<String>,
    pub waited_ms: Option<u64>,
    pub decided_us: i64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Approvals {
    /// Approvals asked in the window (distinct ids).
    pub requested: u64,
    /// Decisions in the window, by outcome.
    pub approved: u64,
    pub denied: u64,
    pub expired: u64,
    pub cancelled: u64,
    /// Over the decisions a person made (approved, denied); none when there were none.
    pub avg_wait_ms: Option<f64>,
    pub max_wait_ms: Option<u64>,
    /// Approved and denied, most recent first (at most [`LISTED`]).
    pub decisions: Vec<ApprovalRow>,
    /// Expired undecided (their calls were denied), most recent first (at most [`LISTED`]).
    pub expired_approvals: Vec<ApprovalRow>,
}

/// The approval records of one kind in `[?1, ?2)`: their columns, and `t`, the leaf as text.
fn of(event: &str) -> String {
    format!(
        "(SELECT rowid AS r, ts_us, target, server, CAST(leaf AS TEXT) AS t FROM records \
         WHERE ts_us >= ?1 AND ts_us < ?2 AND kind = 'event' \
         AND json_extract(CAST(leaf AS TEXT), '$.event') = '{event}')"
    )
}

/// Builds the section for records in `[since_us, until_us)`.
pub fn approvals(store: &Store, since_us: i64, until_us: i64) -> Result<Approvals, StoreError> {
    let conn = store.conn();
    let sql = |source| StoreError::Sqlite {
        path: store.path().to_owned(),
        source,
    };
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let mut out = Approvals::default();
    let requested: i64 = conn
        .query_row(
            &format!(
                "SELECT COUNT(DISTINCT json_extract(t, '$.detail.approval.id')) FROM {}",
                of("approval_requested")
            ),
            params![since_us, until_us],
            |r| r.get(0),
        )
        .map_err(sql)?;
    out.requested = count(requested);
    let decided = of("approval_decided");
    {
        let mut st = conn
            .prepare(&format!(
                "SELECT json_extract(t, '$.detail.approval.status'), COUNT(*) FROM {decided} GROUP BY 1"
            ))
            .map_err(sql)?;
        let rows = st
            .query_map(params![since_us, until_us], |r| {
                Ok((r.get::<_, Option<String>>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(sql)?;
        for r in rows {
            let (status, n) = r.map_err(sql)?;
            let slot = match status.as_deref() {
                Some("approved") => &mut out.approved,
                Some("denied") => &mut out.denied,
                Some("expired") => &mut out.expired,
                Some("cancelled") => &mut out.cancelled,
                _ => continue,
            };
            *slot += count(n);
        }
    }
    let by_people = "json_extract(t, '$.detail.approval.status') IN ('approved', 'denied')";
    let (avg, max): (Option<f64>, Option<i64>) = conn
        .query_row(
            &format!(
                "SELECT AVG(json_extract(t, '$.detail.approval.waited_ms')), \
                 MAX(json_extract(t, '$.detail.approval.waited_ms')) FROM {decided} WHERE {by_people}"
            ),
            params![since_us, until_us],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(sql)?;
    out.avg_wait_ms = avg;
    out.max_wait_ms = max.map(count);
    let list = |filter: &str| -> Result<Vec<ApprovalRow>, StoreError> {
        let mut st = conn
            .prepare(&format!(
                "SELECT ts_us, target, server, \
                 json_extract(t, '$.detail.approval.id'), json_extract(t, '$.detail.approval.status'), \
                 json_extract(t, '$.detail.approval.requested_by'), json_extract(t, '$.detail.approval.by'), \
                 json_extract(t, '$.detail.approval.channel'), json_extract(t, '$.detail.approval.rule'), \
                 json_extract(t, '$.detail.approval.waited_ms') \
                 FROM {decided} WHERE {filter} ORDER BY ts_us DESC, r DESC LIMIT {LISTED}"
            ))
            .map_err(sql)?;
        let rows = st
            .query_map(params![since_us, until_us], |r| {
                Ok(ApprovalRow {
                    decided_us: r.get(0)?,
                    tool: r.get(1)?,
                    server: r.get(2)?,
                    id: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                    status: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                    principal: r.get(5)?,
                    decided_by: r.get(6)?,
                    channel: r.get(7)?,
                    rule: r.get(8)?,
                    waited_ms: r.get::<_, Option<i64>>(9)?.map(count),
                })
            })
            .map_err(sql)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(sql)
    };
    out.decisions = list(by_people)?;
    out.expired_approvals = list("json_extract(t, '$.detail.approval.status') = 'expired'")?;
    Ok(out)
}
