//! The approvals section over a real store: approval records written by a real `AuditWriter`,
//! read back by `report::build`, and shown in every format.

use std::sync::Arc;

use warden_audit::approvals::records::{decided, forwarded, requested};
use warden_audit::approvals::{Approval, Status};
use warden_audit::{AuditEvent, AuditWriter, Keys, SessionContext, Store, WriterConfig};

use crate::report::{Scope, build, html, text};

/// A directory of its own under the system's temporary directory, removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let p =
            std::env::temp_dir().join(format!("warden-report-approvals-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _gone = std::fs::remove_dir_all(&self.0);
    }
}

fn approval(id: &str, tool: &str, principal: &str) -> Approval {
    let requested_us = warden_audit::now_us();
    Approval {
        id: id.into(),
        action_hash: format!("hmac-sha256:{id}"),
        status: Status::Pending,
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
        arguments: None,
        requested_us,
        expires_us: requested_us + 300_000_000,
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

fn decide(a: &Approval, status: Status, by: &str, waited_s: i64, reason: Option<&str>) -> Approval {
    Approval {
        status,
        decided_us: Some(a.requested_us + waited_s * 1_000_000),
        decided_by: Some(by.into()),
        decided_roles: vec!["security".into()],
        channel: Some("dashboard".into()),
        reason: reason.map(str::to_owned),
        ..a.clone()
    }
}

#[test]
fn who_approved_what_how_long_it_waited_and_what_expired() {
    let dir = TempDir::new();
    let db = dir.0.join("audit.db");
    let keys = Keys::generate(&dir.0.join("keys"), "warden-test", false).unwrap();
    let writer = AuditWriter::start(
        Store::open(&db, false).unwrap(),
        keys,
        WriterConfig::default(),
    )
    .unwrap();
    let h = writer.handle();
    let a1 = approval("a1", "write_file", "alice");
    let a2 = approval("a2", "delete_file", "alice");
    let a3 = approval("a3", "write_file", "dave");
    let a4 = approval("a4", "move_file", "dave");
    for a in [&a1, &a2, &a3, &a4] {
        h.record(requested(a, &["queue"], None)).unwrap();
    }
    let approved = decide(&a1, Status::Approved, "bob", 42, Some("ok <b>ticket</b> 7"));
    h.record(decided(&approved)).unwrap();
    h.record(forwarded(&approved, "s1", None, Some("7".into())))
        .unwrap();
    h.record(decided(&decide(
        &a2,
        Status::Denied,
        "carol",
        125,
        Some("no"),
    )))
    .unwrap();
    h.record(decided(&decide(&a3, Status::Expired, "warden", 300, None)))
        .unwrap();
    // The pipeline's release of held calls: a1's forwarded, a2's answered (denied).
    for (id, forwarded) in [("a1", true), ("a2", false)] {
        let mut ev = AuditEvent::gateway(
            "s1".into(),
            Arc::new(SessionContext::default()),
            "hold_released",
        );
        ev.method = Some("tools/call".into());
        ev.detail = Some(serde_json::json!({
            "approval": {"id": id, "status": if forwarded { "released" } else { "refused" }},
            "forwarded": forwarded, "reason": if forwarded { None } else { Some("denied") },
        }));
        h.record(ev).unwrap();
    }
    writer.close(AuditEvent::gateway(
        "".into(),
        Arc::new(SessionContext::default()),
        "log_closed",
    ));
    let store = Store::open_read(&db).unwrap();
    let r = build(&store, &Scope::default(), None).unwrap();
    assert_eq!(r.integrity.verdict, "ok");
    let a = &r.approvals;
    assert_eq!(
        (
            a.requested,
            a.approved,
            a.denied,
            a.expired,
            a.cancelled,
            a.pending
        ),
        (4, 1, 1, 1, 0, 1)
    );
    assert_eq!(r.summary.tool_calls, 0, "approval records are no calls");
    let ids: Vec<&str> = a.approvals.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["a1", "a2", "a3", "a4"]);
    let e = &a.approvals[0];
    assert_eq!(e.status, "approved");
    assert_eq!(e.tool.as_deref(), Some("write_file"));
    assert_eq!(e.principal.as_deref(), Some("alice"));
    assert_eq!(e.decided_by.as_deref(), Some("bob"));
    assert_eq!(e.decided_roles, ["security"]);
    assert_eq!(e.channel.as_deref(), Some("dashboard"));
    assert_eq!(e.waited_ms, Some(42_000));
    assert_eq!(e.forwarded, 1);
    assert_eq!(e.held_answered, 0, "its held call was forwarded");
    assert_eq!(e.records.len(), 3, "request, decision, forward");
    assert_eq!(a.approvals[1].held_answered, 1);
    assert_eq!(a.approvals[2].status, "expired");
    assert_eq!(a.approvals[2].principal.as_deref(), Some("dave"));
    assert_eq!(a.approvals[3].status, "pending");
    // In the timeline each record is named as the event it is, not as the call it is about.
    assert!(r.timeline.iter().any(|t| t.what == "approval_decided"));
    assert!(r.timeline.iter().all(|t| t.what != "tools/call"));

    let page = html::render(&r);
    assert!(page.contains("<section id=\"approvals\">"));
    assert!(page.contains("bob (security)"));
    assert!(page.contains("2 min 5 s"), "a2 waited 125 s");
    assert!(
        page.contains("ok &lt;b&gt;ticket&lt;/b&gt; 7"),
        "the reason is escaped"
    );
    assert!(!page.contains("<b>ticket"));
    let csv = text::csv(&r);
    assert!(csv.contains("approval,a1,"), "{csv}");
    assert!(csv.contains("summary,approvals_expired,1"));
    let md = text::markdown(&r);
    assert!(md.contains("## Approvals"));
    assert!(md.contains("| a3 |"));
    let json: serde_json::Value = serde_json::from_str(&text::json(&r)).unwrap();
    assert_eq!(json["approvals"]["approvals"][1]["decided_by"], "carol");
}
