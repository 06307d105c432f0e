//! `Observability` fed the approval records as `warden_audit::approvals::records` writes them:
//! decisions counted by outcome with their waits, the pending gauge and the next expiry kept
//! from the requests this process saw, and the approval security events without arguments or
//! the decider's reason.
#![allow(clippy::unwrap_used)]

use warden_audit::approvals::records::{decided, forwarded, requested};
use warden_audit::approvals::{Approval, Status};
use warden_observe::events::{EventStream, Sink};
use warden_observe::{Observability, ObserveConfig};
use warden_proxy::{FrameHints, Observer};

/// A pending approval asked at `requested_us`, expiring `expires_in_s` after now.
fn approval(id: &str, requested_us: i64, expires_in_s: i64) -> Approval {
    Approval {
        id: id.into(),
        action_hash: "hmac-sha256:abcd".into(),
        status: Status::Pending,
        server: "fs".into(),
        method: "tools/call".into(),
        tool: Some("write_file".into()),
        principal: Some("alice".into()),
        agent: Some("claude-code".into()),
        session: "s1".into(),
        rule: Some("approve-writes".into()),
        policy: Some("sha256:00".into()),
        approvers: vec!["bob".into(), "role:security".into()],
        grant: "once".into(),
        self_approval: false,
        arguments: Some(serde_json::json!({"path": "/etc/secret-plans.txt"})),
        requested_us,
        expires_us: warden_audit::now_us() + expires_in_s * 1_000_000,
        decided_us: None,
        decided_by: None,
        decided_roles: Vec::new(),
        channel: None,
        reason: None,
        uses: 0,
        log_id: None,
        request_record: None,
    }
}

/// `a` decided as `status` by `by`, `waited_s` after it was asked.
fn decide(a: &Approval, status: Status, by: &str, waited_s: i64) -> Approval {
    Approval {
        status,
        decided_us: Some(a.requested_us + waited_s * 1_000_000),
        decided_by: Some(by.into()),
        decided_roles: vec!["security".into()],
        channel: Some("cli".into()),
        reason: Some("looks fine, ticket SEC-42".into()),
        ..a.clone()
    }
}

fn seen(o: &Observability, ev: warden_audit::AuditEvent) {
    o.observe(&[ev], FrameHints::default());
}

fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.lines().find_map(|l| l.strip_prefix(prefix))
}

#[test]
fn decisions_are_counted_by_outcome_with_their_waits_and_pending_follows_requests() {
    let o = Observability::new(ObserveConfig::default(), None);
    let t0 = warden_audit::now_us();
    let before = o.metrics().encode();
    // Every outcome is there from the start, at 0; nothing pending, no expiry series.
    for outcome in ["approved", "denied", "expired", "cancelled"] {
        assert_eq!(
            line(
                &before,
                &format!("mcp_approvals_total{{outcome=\"{outcome}\"}} ")
            ),
            Some("0"),
            "{before}"
        );
    }
    assert_eq!(line(&before, "mcp_approvals_pending "), Some("0"));
    assert!(!before.contains("mcp_approval_next_expiry_seconds "));

    let a1 = approval("a1", t0, 300);
    let a2 = approval("a2", t0, 60);
    let a3 = approval("a3", t0, 600);
    seen(&o, requested(&a1, &["queue"], None));
    seen(&o, requested(&a2, &["queue"], None));
    // Attaching the same call again names the same approval: still one.
    seen(&o, requested(&a2, &["queue"], None));
    seen(&o, requested(&a3, &["queue"], None));
    let text = o.metrics().encode();
    assert_eq!(line(&text, "mcp_approvals_pending "), Some("3"), "{text}");
    let next: f64 = line(&text, "mcp_approval_next_expiry_seconds ")
        .unwrap()
        .parse()
        .unwrap();
    assert!((55.0..=60.0).contains(&next), "a2 expires first: {next}");

    seen(&o, decided(&decide(&a2, Status::Approved, "bob", 42)));
    seen(&o, decided(&decide(&a1, Status::Denied, "carol", 3)));
    // A decision on an approval another process asked for is counted, but pending never
    // goes below what this process asked.
    let other = approval("elsewhere", t0, 300);
    seen(&o, decided(&decide(&other, Status::Expired, "warden", 300)));
    seen(&o, decided(&decide(&other, Status::Cancelled, "warden", 1)));
    let text = o.metrics().encode();
    assert_eq!(line(&text, "mcp_approvals_pending "), Some("1"), "{text}");
    let next: f64 = line(&text, "mcp_approval_next_expiry_seconds ")
        .unwrap()
        .parse()
        .unwrap();
    assert!((595.0..=600.0).contains(&next), "now a3: {next}");
    for (outcome, n) in [
        ("approved", "1"),
        ("denied", "1"),
        ("expired", "1"),
        ("cancelled", "1"),
    ] {
        assert_eq!(
            line(
                &text,
                &format!("mcp_approvals_total{{outcome=\"{outcome}\"}} ")
            ),
            Some(n),
            "{text}"
        );
    }
    // 42 s waited for the approval: in the 60 s bucket, not the 30 s one.
    assert_eq!(
        line(
            &text,
            r#"mcp_approval_wait_seconds_bucket{le="30.0",outcome="approved"} "#
        ),
        Some("0"),
        "{text}"
    );
    assert_eq!(
        line(
            &text,
            r#"mcp_approval_wait_seconds_bucket{le="60.0",outcome="approved"} "#
        ),
        Some("1")
    );
    assert_eq!(
        line(
            &text,
            r#"mcp_approval_wait_seconds_sum{outcome="approved"} "#
        ),
        Some("42.0")
    );
    assert_eq!(
        line(
            &text,
            r#"mcp_approval_wait_seconds_sum{outcome="expired"} "#
        ),
        Some("300.0")
    );

    // The last one is let through after a decision this process did not see (the CLI's):
    // the forward settles it, and the expiry series goes away.
    let approved = decide(&a3, Status::Approved, "bob", 5);
    seen(&o, forwarded(&approved, "s1", None, Some("7".into())));
    let text = o.metrics().encode();
    assert_eq!(line(&text, "mcp_approvals_pending "), Some("0"), "{text}");
    assert!(
        !text.contains("mcp_approval_next_expiry_seconds "),
        "{text}"
    );
    assert_eq!(
        line(&text, r#"mcp_approvals_total{outcome="approved"} "#),
        Some("1"),
        "a forward is no second decision"
    );
}

#[test]
fn an_approval_past_its_expiry_is_no_longer_pending() {
    let o = Observability::new(ObserveConfig::default(), None);
    let t0 = warden_audit::now_us();
    seen(&o, requested(&approval("late", t0, -1), &["queue"], None));
    seen(&o, requested(&approval("live", t0, 120), &["queue"], None));
    let text = o.metrics().encode();
    assert_eq!(line(&text, "mcp_approvals_pending "), Some("1"), "{text}");
    let next: f64 = line(&text, "mcp_approval_next_expiry_seconds ")
        .unwrap()
        .parse()
        .unwrap();
    assert!(next > 100.0, "the expired one is not the next: {next}");
}

#[test]
fn approval_security_events_name_who_and_what_but_carry_no_arguments_or_reason() {
    let path = std::env::temp_dir().join(format!(
        "warden-approval-events-{}-{}.jsonl",
        std::process::id(),
        uuid::Uuid::now_v7()
    ));
    let o = Observability::new(ObserveConfig::default(), None);
    let stream = EventStream::start(&Sink::File(path.clone()), o.events_dropped()).unwrap();
    let o = o.with_events(stream);
    let t0 = warden_audit::now_us();
    let a = approval("a1", t0, 300);
    seen(&o, requested(&a, &["queue", "webhook"], None));
    seen(&o, decided(&decide(&a, Status::Approved, "bob", 42)));
    // Not a security event of its own.
    seen(
        &o,
        forwarded(
            &decide(&a, Status::Approved, "bob", 42),
            "s1",
            None,
            Some("7".into()),
        ),
    );
    o.shutdown(std::time::Duration::from_secs(1));
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(!text.contains("secret-plans"), "arguments leaked: {text}");
    assert!(!text.contains("SEC-42"), "the reason leaked: {text}");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    let (req, dec) = (&lines[0], &lines[1]);
    assert_eq!(req["event"], "mcp_approval_requested");
    assert_eq!(req["approval_id"], "a1");
    assert_eq!(req["tool_name"], "write_file");
    assert_eq!(req["server_id"], "fs");
    assert_eq!(req["user_id"], "alice");
    assert_eq!(req["rule"], "approve-writes");
    assert_eq!(req["outcome"], "pending");
    assert_eq!(req["channels"], serde_json::json!(["queue", "webhook"]));
    assert!(req["expires"].as_str().unwrap().ends_with('Z'));
    assert_eq!(dec["event"], "mcp_approval_decided");
    assert_eq!(dec["approval_id"], "a1");
    assert_eq!(dec["user_id"], "alice", "the requester, as in the request");
    assert_eq!(dec["decided_by"], "bob");
    assert_eq!(dec["outcome"], "approved");
    assert_eq!(dec["success"], true);
    assert_eq!(dec["channel"], "cli");
    assert_eq!(dec["waited_ms"], 42_000);
    assert_eq!(dec["action_hash"], req["action_hash"]);
    let m = o.metrics().encode();
    assert!(
        m.contains(r#"warden_security_events_total{event="mcp_approval_decided"} 1"#),
        "{m}"
    );
}
