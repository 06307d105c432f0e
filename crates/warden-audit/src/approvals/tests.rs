//! The approvals store: admission, first decision wins, grants used exactly as written,
//! expiry, and two connections (two processes) racing.

use std::sync::Arc;

use super::*;
use crate::Store;

fn store() -> (tempfile::TempDir, SqliteApprovals) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    drop(Store::open(&path, false).unwrap());
    let a = SqliteApprovals::open(&path).unwrap();
    (dir, a)
}

fn ask(id: &str, hash: &str, grant: GrantKind) -> NewApproval {
    NewApproval {
        id: id.into(),
        action_hash: hash.into(),
        server: "fs".into(),
        method: "tools/call".into(),
        tool: Some("write_file".into()),
        principal: Some("alice".into()),
        agent: None,
        session: "s1".into(),
        rule: Some("approve-writes".into()),
        policy: Some("sha256:00".into()),
        approvers: vec!["bob".into(), "role:security".into()],
        grant,
        self_approval: false,
        arguments: Some(serde_json::json!({"path": "/tmp/x"})),
        timeout_ms: 60_000,
        log_id: None,
        request_record: None,
    }
}

fn who(by: &str, roles: &[&str]) -> Decider {
    Decider {
        by: by.into(),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        channel: "api".into(),
        check_approvers: true,
    }
}

#[test]
fn a_once_grant_lets_exactly_one_call_through_and_the_same_call_attaches_while_pending() {
    let (_d, s) = store();
    let Admission::Fresh(a) = s.admit(ask("a1", "h1", GrantKind::Once), 1_000).unwrap() else {
        panic!("not fresh")
    };
    assert_eq!(a.status, Status::Pending);
    assert_eq!(a.expires_us, 1_000 + 60_000_000);
    let Admission::Attached(b) = s.admit(ask("a2", "h1", GrantKind::Once), 2_000).unwrap() else {
        panic!("not attached")
    };
    assert_eq!(b.id, "a1");
    // Another principal asking the same thing gets its own approval.
    let mut other = ask("a3", "h1", GrantKind::Once);
    other.principal = Some("carol".into());
    assert!(matches!(
        s.admit(other, 2_000).unwrap(),
        Admission::Fresh(_)
    ));

    s.decide("a1", true, &who("bob", &[]), Some("ok"), 3_000)
        .unwrap();
    assert!(
        !s.consume("a1", "other-hash", "s1", 4_000).unwrap(),
        "hash checked"
    );
    assert!(s.consume("a1", "h1", "s1", 4_000).unwrap());
    assert!(!s.consume("a1", "h1", "s1", 4_000).unwrap(), "used once");
    // The next identical call needs a new approval.
    assert!(matches!(
        s.admit(ask("a4", "h1", GrantKind::Once), 5_000).unwrap(),
        Admission::Fresh(_)
    ));
}

#[test]
fn an_approved_call_asked_again_is_granted_once() {
    let (_d, s) = store();
    s.admit(ask("a1", "h1", GrantKind::Once), 1_000).unwrap();
    s.decide("a1", true, &who("x", &["security"]), None, 2_000)
        .unwrap();
    let Admission::Granted(g) = s.admit(ask("a2", "h1", GrantKind::Once), 3_000).unwrap() else {
        panic!("not granted")
    };
    assert_eq!((g.id.as_str(), g.uses), ("a1", 1));
    assert!(matches!(
        s.admit(ask("a3", "h1", GrantKind::Once), 4_000).unwrap(),
        Admission::Fresh(_)
    ));
}

#[test]
fn session_and_ttl_grants() {
    let (_d, s) = store();
    s.admit(ask("a1", "h1", GrantKind::Session), 1_000).unwrap();
    s.decide("a1", true, &who("bob", &[]), None, 2_000).unwrap();
    for t in 0..3 {
        assert!(matches!(
            s.admit(ask(&format!("n{t}"), "h1", GrantKind::Session), 3_000)
                .unwrap(),
            Admission::Granted(_)
        ));
    }
    let mut elsewhere = ask("n9", "h1", GrantKind::Session);
    elsewhere.session = "s2".into();
    assert!(matches!(
        s.admit(elsewhere, 3_000).unwrap(),
        Admission::Fresh(_)
    ));

    s.admit(ask("t1", "h2", GrantKind::Ttl { ms: 1_000 }), 1_000)
        .unwrap();
    s.decide("t1", true, &who("bob", &[]), None, 10_000)
        .unwrap();
    assert_eq!(s.get("t1").unwrap().unwrap().grant, "ttl:1s");
    assert!(matches!(
        s.admit(ask("t2", "h2", GrantKind::Ttl { ms: 1_000 }), 1_009_999)
            .unwrap(),
        Admission::Granted(_)
    ));
    assert!(matches!(
        s.admit(ask("t3", "h2", GrantKind::Ttl { ms: 1_000 }), 1_010_000)
            .unwrap(),
        Admission::Fresh(_)
    ));
}

#[test]
fn the_first_decision_wins_and_none_counts_after_expiry() {
    let (_d, s) = store();
    s.admit(ask("a1", "h1", GrantKind::Once), 0).unwrap();
    s.decide("a1", false, &who("bob", &[]), Some("no"), 1)
        .unwrap();
    let e = s.decide("a1", true, &who("bob", &[]), None, 2).unwrap_err();
    assert!(
        matches!(
            e,
            DecideError::AlreadyDecided {
                status: "denied",
                ..
            }
        ),
        "{e}"
    );
    assert!(
        !s.consume("a1", "h1", "s1", 3).unwrap(),
        "a denied approval is never used"
    );
    assert!(matches!(
        s.decide("nope", true, &who("bob", &[]), None, 2)
            .unwrap_err(),
        DecideError::NotFound(_)
    ));

    s.admit(ask("a2", "h2", GrantKind::Once), 0).unwrap();
    assert!(matches!(
        s.decide("a2", true, &who("bob", &[]), None, 60_000_000)
            .unwrap_err(),
        DecideError::Expired(_)
    ));
    let expired = s.expire_due(60_000_000).unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].status, Status::Expired);
    assert!(
        s.expire_due(60_000_001).unwrap().is_empty(),
        "each expiry returned once"
    );
}

#[test]
fn approvers_roles_and_self_approval() {
    let (_d, s) = store();
    s.admit(ask("a1", "h1", GrantKind::Once), 0).unwrap();
    assert!(matches!(
        s.decide("a1", true, &who("alice", &["security"]), None, 1)
            .unwrap_err(),
        DecideError::SelfApproval { .. }
    ));
    assert!(matches!(
        s.decide("a1", true, &who("mallory", &["dev"]), None, 1)
            .unwrap_err(),
        DecideError::NotAnApprover { .. }
    ));
    let a = s
        .decide("a1", true, &who("sec", &["security"]), None, 1)
        .unwrap();
    assert_eq!(a.decided_by.as_deref(), Some("sec"));
    assert_eq!(a.decided_roles, ["security"]);
}

#[test]
fn racing_deciders_on_separate_connections_give_one_success() {
    let (d, s) = store();
    s.admit(ask("a1", "h1", GrantKind::Once), 0).unwrap();
    let path = d.path().join("audit.db");
    let stores: Vec<Arc<SqliteApprovals>> = (0..4)
        .map(|_| Arc::new(SqliteApprovals::open(&path).unwrap()))
        .collect();
    let barrier = Arc::new(std::sync::Barrier::new(stores.len()));
    let wins: usize = stores
        .into_iter()
        .enumerate()
        .map(|(i, st)| {
            let b = barrier.clone();
            std::thread::spawn(move || {
                b.wait();
                st.decide("a1", i % 2 == 0, &who("bob", &[]), None, 1)
                    .is_ok()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| usize::from(h.join().unwrap()))
        .sum();
    assert_eq!(wins, 1);
}

#[test]
fn racing_consumers_of_a_once_grant_give_one_call() {
    let (d, s) = store();
    s.admit(ask("a1", "h1", GrantKind::Once), 0).unwrap();
    s.decide("a1", true, &who("bob", &[]), None, 1).unwrap();
    let path = d.path().join("audit.db");
    let barrier = Arc::new(std::sync::Barrier::new(4));
    let through: usize = (0..4)
        .map(|_| {
            let st = SqliteApprovals::open(&path).unwrap();
            let b = barrier.clone();
            std::thread::spawn(move || {
                b.wait();
                st.consume("a1", "h1", "s1", 2).unwrap()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| usize::from(h.join().unwrap()))
        .sum();
    assert_eq!(through, 1);
}

#[test]
fn listing_puts_pending_first_and_filters() {
    let (_d, s) = store();
    s.admit(ask("a1", "h1", GrantKind::Once), 0).unwrap();
    s.admit(ask("a2", "h2", GrantKind::Once), 10).unwrap();
    s.decide("a1", true, &who("bob", &[]), None, 20).unwrap();
    let all = s.list(&ApprovalFilter::default()).unwrap();
    assert_eq!(
        all.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        ["a2", "a1"]
    );
    let pending = s
        .list(&ApprovalFilter {
            status: Some(Status::Pending),
            ..ApprovalFilter::default()
        })
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert!(s.cancel("a2", "session ended", 30).unwrap());
    assert!(!s.cancel("a2", "again", 31).unwrap());
}
