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

/// An approval of `tool` asked by `principal`, decided as `status` by `by` after `waited_s`
/// (`Pending`: not decided).
pub(crate) fn approval(
    id: &str,
    tool: &str,
    principal: &str,
    status: warden_audit::approvals::Status,
    by: &str,
    waited_s: i64,
) -> warden_audit::approvals::Approval {
    use warden_audit::approvals::{Approval, Status};
    let requested_us = warden_audit::now_us();
    let decided = status != Status::Pending;
    Approval {
        id: id.into(),
        action_hash: format!("hmac-sha256:{id}"),
        status,
        server: "fs".into(),
        method: "tools/call".into(),
        tool: Some(tool.into()),
        principal: Some(principal.into()),
        agent: None,
        session: "s1".into(),
        rule: Some("approve-writes".into()),
        policy: None,
        approvers: vec!["role:security".into()],
        grant: "once".into(),
        self_approval: false,
        arguments: Some(serde_json::json!({"path": "/tmp/x"})),
        requested_us,
        expires_us: requested_us + 300_000_000,
        decided_us: decided.then_some(requested_us + waited_s * 1_000_000),
        decided_by: decided.then(|| by.to_owned()),
        decided_roles: vec!["security".into()],
        channel: decided.then(|| "cli".to_owned()),
        reason: None,
        uses: 0,
        log_id: None,
        request_record: None,
    }
}

#[test]
fn approvals_are_counted_with_who_decided_what_and_what_expired() {
    use warden_audit::approvals::Status;
    use warden_audit::approvals::records::{decided, forwarded, requested};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let keys = Keys::generate(&dir.path().join("keys"), "warden-test", false).unwrap();
    let writer = AuditWriter::start(
        Store::open(&db, false).unwrap(),
        keys,
        WriterConfig::default(),
    )
    .unwrap();
    let h = writer.handle();
    let asked = [
        approval("a1", "write_file", "alice", Status::Approved, "bob", 42),
        approval("a2", "delete_file", "alice", Status::Denied, "carol", 4),
        approval("a3", "write_file", "dave", Status::Expired, "warden", 300),
        approval("a4", "write_file", "dave", Status::Pending, "", 0),
    ];
    for a in &asked {
        h.record(requested(a, &["queue"], None)).unwrap();
    }
    // The same call asked again attaches to a1: still one approval asked.
    h.record(requested(&asked[0], &["queue"], None)).unwrap();
    for a in &asked[..3] {
        h.record(decided(a)).unwrap();
    }
    h.record(forwarded(&asked[0], "s1", None, Some("7".into())))
        .unwrap();
    writer.close(AuditEvent::gateway(
        "".into(),
        Arc::new(SessionContext::default()),
        "log_closed",
    ));
    let store = Store::open_read(&db).unwrap();
    let d = daily(&store, 0, i64::MAX, Thresholds::default()).unwrap();
    assert_eq!(
        d.tool_call_stats.total_calls, 0,
        "approval records are no calls"
    );
    let a = &d.approvals;
    assert_eq!(
        (a.requested, a.approved, a.denied, a.expired, a.cancelled),
        (4, 1, 1, 1, 0)
    );
    assert_eq!(a.avg_wait_ms, Some(23_000.0), "over the people's decisions");
    assert_eq!(a.max_wait_ms, Some(42_000));
    assert_eq!(a.decisions.len(), 2);
    let by_bob = a.decisions.iter().find(|r| r.id == "a1").unwrap();
    assert_eq!(
        (
            by_bob.status.as_str(),
            by_bob.tool.as_deref(),
            by_bob.principal.as_deref(),
            by_bob.decided_by.as_deref(),
            by_bob.channel.as_deref(),
            by_bob.waited_ms
        ),
        (
            "approved",
            Some("write_file"),
            Some("alice"),
            Some("bob"),
            Some("cli"),
            Some(42_000)
        )
    );
    assert_eq!(a.expired_approvals.len(), 1);
    assert_eq!(a.expired_approvals[0].id, "a3");
    assert_eq!(a.expired_approvals[0].principal.as_deref(), Some("dave"));
    let alert = d
        .alerts
        .iter()
        .find(|x| x.kind == "approval_expired")
        .unwrap();
    assert_eq!(alert.value, 1.0);
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["approvals"]["decisions"][0]["decided_by"], "carol");
    // A window before any of it has none of it.
    let d = daily(&store, 0, 1, Thresholds::default()).unwrap();
    assert_eq!(d.approvals.requested + d.approvals.approved, 0);
    assert!(d.approvals.decisions.is_empty());
    assert!(d.alerts.is_empty());
}
