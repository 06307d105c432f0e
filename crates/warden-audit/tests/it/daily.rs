//! The daily report's totals and alerts agree, and nothing is averaged out of nothing.

use std::sync::Arc;
use std::time::Duration;

use warden_audit::daily::{Thresholds, daily};
use warden_audit::{AuditEvent, AuditWriter, Keys, Outcome, SessionContext, Store, WriterConfig};
use warden_core::Direction;

use crate::columns::event;

/// Records `n` refused calls, each as a request and warden's reply, with `outcome`.
fn refused(n: u64, outcome: Outcome) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let keys = Keys::generate(&dir.path().join("keys"), "warden-test", false).unwrap();
    let writer = AuditWriter::start(
        Store::open(&db, false).unwrap(),
        keys,
        WriterConfig {
            checkpoint_interval: Duration::from_secs(3600),
            ..WriterConfig::default()
        },
    )
    .unwrap();
    let h = writer.handle();
    let ctx = Arc::new(SessionContext {
        principal: Some("bob".into()),
        ..Default::default()
    });
    for i in 0..n {
        let mut req = event(
            &format!(
                r#"{{"jsonrpc":"2.0","id":{i},"method":"tools/call","params":{{"name":"x","arguments":{{}}}}}}"#
            ),
            "request",
            &ctx,
        );
        req.direction = Some(Direction::C2S);
        req.outcome = Some(outcome);
        h.record(req).unwrap();
        let mut reply = event(
            &format!(r#"{{"jsonrpc":"2.0","id":{i},"error":{{"code":-32011,"message":"no"}}}}"#),
            "error",
            &ctx,
        );
        reply.direction = Some(Direction::S2C);
        reply.outcome = Some(outcome);
        h.record(reply).unwrap();
    }
    writer.close(AuditEvent::gateway("".into(), ctx, "log_closed"));
    (dir, Store::open_read(&db).unwrap())
}

#[test]
fn no_latency_or_rate_is_made_up_when_nothing_was_answered() {
    let (_dir, store) = refused(3, Outcome::Denied);
    let d = daily(&store, 0, i64::MAX, Thresholds::default()).unwrap();
    let s = &d.tool_call_stats;
    assert_eq!((s.total_calls, s.blocked, s.failed), (3, 3, 0));
    assert_eq!(s.avg_latency_ms, None, "no call was answered");
    assert_eq!(s.p95_latency_ms, None);
    assert_eq!(s.error_rate_pct, Some(0.0));
    let json = serde_json::to_value(&d).unwrap();
    assert!(json["tool_call_stats"]["avg_latency_ms"].is_null());
    // An empty window has no rate either.
    let d = daily(&store, 0, 1, Thresholds::default()).unwrap();
    assert_eq!(d.tool_call_stats.total_calls, 0);
    assert_eq!(d.tool_call_stats.error_rate_pct, None);
    assert!(d.alerts.is_empty());
}

#[test]
fn every_alert_counts_what_its_total_counts() {
    // Twelve calls held for approval, none denied: no "access denied" alert can appear
    // beside "Access Denied: 0".
    let (_dir, store) = refused(12, Outcome::ApprovalRequired);
    let d = daily(&store, 0, i64::MAX, Thresholds::default()).unwrap();
    assert_eq!(d.security_events.access_denied, 0);
    assert_eq!(d.security_events.approval_required, 12);
    assert!(
        d.alerts.iter().all(|a| a.kind != "access_denied"),
        "{:?}",
        d.alerts
    );
    // Twelve denials in one hour: the alert's value is the total the report shows.
    let (_dir, store) = refused(12, Outcome::Denied);
    let d = daily(&store, 0, i64::MAX, Thresholds::default()).unwrap();
    let alert = d.alerts.iter().find(|a| a.kind == "access_denied").unwrap();
    assert_eq!(alert.value, d.security_events.access_denied as f64);
    assert_eq!(d.security_events.peak_hour.access_denied, 12);
}
