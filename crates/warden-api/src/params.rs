//! Query-string parameters of the API, checked and turned into store queries.

use serde::Deserialize;
use warden_audit::query::{Cursor, Order, Query, status_outcomes};

use crate::error::ApiError;

/// Filters accepted by `/records`, `/stream` and `/sessions`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    pub server: Option<String>,
    pub tool: Option<String>,
    pub method: Option<String>,
    pub direction: Option<String>,
    /// Stored outcomes, comma-separated (`ok`, `rpc_error`, `denied`, …).
    pub outcome: Option<String>,
    /// Statuses, comma-separated: `success`, `error`, `denied`, `rate_limited`, `pending`.
    pub status: Option<String>,
    pub principal: Option<String>,
    pub agent: Option<String>,
    pub session: Option<String>,
    pub kind: Option<String>,
    /// RFC 3339 time or an age (`15m`, `24h`, `7d`).
    pub since: Option<String>,
    pub until: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
    /// `newest` (default) or `oldest`.
    pub order: Option<String>,
    /// The live tail: only rows stored after this row (`Last-Event-ID` also works).
    pub after: Option<i64>,
}

/// Parses a time: RFC 3339, or an age before `now_us` like `90s`, `15m`, `24h`, `7d`.
pub fn parse_time(s: &str, now_us: i64) -> Result<i64, String> {
    let s = s.trim();
    if let Some(age) = parse_age(s) {
        return Ok(now_us - age);
    }
    s.parse::<jiff::Timestamp>()
        .map(|t| t.as_microsecond())
        .map_err(|_| format!("{s:?} is neither an RFC 3339 time nor an age like 24h"))
}

/// `90s`, `15m`, `24h`, `7d` in microseconds.
pub fn parse_age(s: &str) -> Option<i64> {
    let unit = s.chars().last().filter(|c| "smhd".contains(*c))?;
    let n: i64 = s[..s.len() - 1].parse().ok().filter(|n| *n >= 0)?;
    let secs = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        _ => 86400,
    };
    n.checked_mul(secs)?.checked_mul(1_000_000)
}

fn nonempty(v: &Option<String>) -> Option<String> {
    v.as_ref().filter(|s| !s.is_empty()).cloned()
}

const DIRECTIONS: &[&str] = &["c2s", "s2c"];
const KINDS: &[&str] = &[
    "request",
    "notification",
    "result",
    "error",
    "invalid",
    "unparseable",
    "event",
];

impl Filters {
    pub fn query(&self, now_us: i64) -> Result<Query, ApiError> {
        let mut outcomes: Vec<String> = Vec::new();
        for o in self
            .outcome
            .iter()
            .flat_map(|s| s.split(','))
            .filter(|s| !s.is_empty())
        {
            if !warden_audit::query::OUTCOMES.contains(&o) {
                return Err(ApiError::bad_request(format!(
                    "unknown outcome {o:?}; one of {}",
                    warden_audit::query::OUTCOMES.join(", ")
                )));
            }
            outcomes.push(o.to_owned());
        }
        for s in self
            .status
            .iter()
            .flat_map(|s| s.split(','))
            .filter(|s| !s.is_empty())
        {
            let Some(os) = status_outcomes(s) else {
                return Err(ApiError::bad_request(format!(
                    "unknown status {s:?}; one of success, error, denied, rate_limited, pending"
                )));
            };
            outcomes.extend(os.iter().map(|o| o.to_string()));
        }
        outcomes.sort();
        outcomes.dedup();
        if let Some(d) = nonempty(&self.direction).filter(|d| !DIRECTIONS.contains(&d.as_str())) {
            return Err(ApiError::bad_request(format!(
                "unknown direction {d:?}; c2s or s2c"
            )));
        }
        if let Some(k) = nonempty(&self.kind).filter(|k| !KINDS.contains(&k.as_str())) {
            return Err(ApiError::bad_request(format!(
                "unknown kind {k:?}; one of {}",
                KINDS.join(", ")
            )));
        }
        let time = |v: &Option<String>, what: &str| {
            nonempty(v)
                .map(|s| parse_time(&s, now_us))
                .transpose()
                .map_err(|e| ApiError::bad_request(format!("{what}: {e}")))
        };
        Ok(Query {
            since_us: time(&self.since, "since")?,
            until_us: time(&self.until, "until")?,
            server: nonempty(&self.server),
            tool: nonempty(&self.tool),
            method: nonempty(&self.method),
            direction: nonempty(&self.direction),
            outcomes,
            session: nonempty(&self.session),
            kind: nonempty(&self.kind),
            principal: nonempty(&self.principal),
            agent: nonempty(&self.agent),
        })
    }

    pub fn cursor(&self) -> Result<Option<Cursor>, ApiError> {
        nonempty(&self.cursor)
            .map(|c| {
                Cursor::decode(&c).ok_or_else(|| {
                    ApiError::bad_request("cursor is not one this API gave out (use next_cursor)")
                })
            })
            .transpose()
    }

    pub fn order(&self) -> Result<Order, ApiError> {
        match self.order.as_deref() {
            None | Some("") | Some("newest") | Some("desc") => Ok(Order::NewestFirst),
            Some("oldest") | Some("asc") => Ok(Order::OldestFirst),
            Some(o) => Err(ApiError::bad_request(format!(
                "unknown order {o:?}; newest or oldest"
            ))),
        }
    }

    pub fn limit(&self, default: u32) -> Result<u32, ApiError> {
        match self.limit {
            None => Ok(default),
            Some(n) if (1..=warden_audit::query::MAX_PAGE).contains(&n) => Ok(n),
            Some(n) => Err(ApiError::bad_request(format!(
                "limit {n} is out of range 1..={}",
                warden_audit::query::MAX_PAGE
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_ages_parse_and_garbage_is_refused() {
        assert_eq!(
            parse_time("24h", 100_000_000_000),
            Ok(100_000_000_000 - 86_400_000_000)
        );
        assert_eq!(
            parse_time("2026-11-22T00:00:00Z", 0),
            Ok(1_795_305_600_000_000)
        );
        for bad in ["", "h", "-5m", "5y", "yesterday", "99999999999999999d"] {
            assert!(parse_time(bad, 0).is_err(), "{bad}");
        }
    }

    #[test]
    fn statuses_expand_and_unknown_values_are_errors() {
        let f = Filters {
            status: Some("denied,rate_limited".into()),
            ..Filters::default()
        };
        let q = f.query(0).unwrap_or_default();
        assert_eq!(q.outcomes, ["budget_exceeded", "denied", "rate_limited"]);
        for f in [
            Filters {
                status: Some("nope".into()),
                ..Filters::default()
            },
            Filters {
                outcome: Some("fine".into()),
                ..Filters::default()
            },
            Filters {
                direction: Some("up".into()),
                ..Filters::default()
            },
            Filters {
                kind: Some("x".into()),
                ..Filters::default()
            },
            Filters {
                since: Some("later".into()),
                ..Filters::default()
            },
        ] {
            assert!(f.query(0).is_err(), "{f:?}");
        }
    }
}
