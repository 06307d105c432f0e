//! Success and failure: the statuses a closed exchange can have and the stored outcomes each
//! covers. The one definition that searches, statistics, the dashboard, every report format and
//! the daily report share (metrics use the same outcomes, `tool_error` included).

/// The statuses a closed exchange can have, and the stored outcomes each covers: the one
/// definition of success and failure that searches, statistics, the dashboard, reports and
/// the daily report share. A tool that ran and reported failure (`isError: true`) is stored
/// as `tool_error`, an error, as in metrics.
pub const STATUSES: &[(&str, &[&str])] = &[
    ("success", &["ok"]),
    (
        "error",
        &[
            "rpc_error",
            "tool_error",
            "gateway_error",
            "cancelled",
            "abandoned",
        ],
    ),
    ("denied", &["denied"]),
    ("rate_limited", &["rate_limited", "budget_exceeded"]),
    ("pending", &["approval_required"]),
    // A frame warden could not read exactly as the server would (or a reused id in flight):
    // answered by warden, never forwarded (docs/strict-reading.md).
    ("refused", &["refused"]),
];

/// What a caller means by a status, in terms of stored outcomes.
pub fn status_outcomes(status: &str) -> Option<&'static [&'static str]> {
    STATUSES.iter().find(|(s, _)| *s == status).map(|(_, o)| *o)
}

/// The status of a stored outcome; an outcome this warden does not know is an `error`
/// (never counted a success).
pub fn status_of(outcome: &str) -> &'static str {
    STATUSES
        .iter()
        .find(|(_, o)| o.contains(&outcome))
        .map_or("error", |(s, _)| *s)
}

/// Whether the server answered the call (its duration is the server's latency): `ok`,
/// `tool_error` and `rpc_error`. Refused, abandoned and cancelled calls have no latency.
pub fn answered(outcome: &str) -> bool {
    matches!(outcome, "ok" | "tool_error" | "rpc_error")
}

/// `outcome IN (…)` for a status, as SQL (the outcomes are constants, never input).
pub fn status_sql(status: &str) -> String {
    let list: Vec<String> = status_outcomes(status)
        .unwrap_or_default()
        .iter()
        .map(|o| format!("'{o}'"))
        .collect();
    format!("outcome IN ({})", list.join(", "))
}

/// Every stored outcome.
pub const OUTCOMES: &[&str] = &[
    "ok",
    "rpc_error",
    "tool_error",
    "cancelled",
    "abandoned",
    "gateway_error",
    "denied",
    "rate_limited",
    "budget_exceeded",
    "approval_required",
    "refused",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_outcomes() {
        for s in [
            "success",
            "error",
            "denied",
            "rate_limited",
            "pending",
            "refused",
        ] {
            for o in status_outcomes(s).unwrap_or_default() {
                assert!(OUTCOMES.contains(o), "{o}");
                assert_eq!(status_of(o), s, "{o}");
            }
        }
        assert!(status_outcomes("bogus").is_none());
        // Every outcome has exactly one status; an unknown one is never a success.
        for o in OUTCOMES {
            let n = STATUSES.iter().filter(|(_, os)| os.contains(o)).count();
            assert_eq!(n, 1, "{o}");
        }
        assert_eq!(status_of("tool_error"), "error");
        assert_eq!(status_of("made_up"), "error");
        assert_eq!(status_sql("success"), "outcome IN ('ok')");
        assert!(answered("tool_error") && !answered("denied") && !answered("abandoned"));
    }
}
