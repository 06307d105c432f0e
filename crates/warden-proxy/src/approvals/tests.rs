//! The desk behind a real pipeline and store: what an approval lets through is exactly the
//! approved action — reordered members and escapes are the same call, any other value, tool,
//! principal or session (for a session grant) is not — and a held call is released once.

use std::sync::Arc;

use bytes::Bytes;
use warden_audit::approvals::{ApprovalFilter, ApprovalStore, Decider, SqliteApprovals, Status};
use warden_audit::writer::{AuditWriter, WriterConfig};
use warden_audit::{Durability, Store};
use warden_core::Direction;
use warden_policy::PolicySet;

use super::Desk;
use crate::pipeline::{Governance, OnStoreError, Pipeline, Release, Route};

const POLICY: &str = r#"
default: allow
policies:
  - name: approve-writes
    tool_pattern: "srv:write"
    action: approve
    approval: { hold: 200ms, grant: once }
  - name: approve-sends
    tool_pattern: "srv:send"
    action: approve
    approval: { hold: 200ms, grant: session }
  - name: approve-pays
    tool_pattern: "srv:pay"
    action: approve
    approval: { hold: 200ms, grant: session }
  - name: two-pays-a-minute
    tool_pattern: "srv:pay"
    rate_limit: { limit: 2, window: 1m, per: principal }
  - name: approve-exports
    tool_pattern: "srv:export"
    action: approve
    approval: { hold: 200ms, grant: session }
  - name: one-export-a-day
    tool_pattern: "srv:export"
    budget: { calls: 1, window: 1d, per: principal }
"#;

struct Bench {
    store: Arc<SqliteApprovals>,
    desk: Arc<Desk>,
    writer: Arc<AuditWriter>,
    _dir: tempfile::TempDir,
}

fn bench() -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let store = Store::open(&db, false).unwrap();
    let keys = warden_audit::Keys::load_or_create(&dir.path().join("keys"), "t").unwrap();
    let hasher = keys.hasher.clone();
    let writer = Arc::new(AuditWriter::start(store, keys, WriterConfig::default()).unwrap());
    let approvals = Arc::new(SqliteApprovals::open(&db).unwrap());
    let handle = writer.handle();
    let desk = Desk::start(
        approvals.clone(),
        hasher,
        Arc::new(move |ev| handle.record(ev).unwrap()),
        None,
        None,
    )
    .unwrap();
    Bench {
        store: approvals,
        desk,
        writer,
        _dir: dir,
    }
}

impl Bench {
    fn session(&self, principal: &str) -> Pipeline {
        Pipeline::new(
            self.writer.handle(),
            Some("srv".into()),
            Durability::Batch,
            OnStoreError::FailClosed,
        )
        .with_governance(Governance {
            policy: Arc::new(PolicySet::compile(POLICY).unwrap()),
            principal: Some(principal.into()),
            roles: Vec::new(),
        })
        .with_holder(self.desk.clone())
    }

    fn approve_pending(&self) -> String {
        let pending = self
            .store
            .list(&ApprovalFilter {
                status: Some(Status::Pending),
                ..ApprovalFilter::default()
            })
            .unwrap();
        assert_eq!(pending.len(), 1, "{pending:?}");
        let who = Decider {
            by: "op".into(),
            roles: Vec::new(),
            channel: "cli".into(),
            check_approvers: false,
        };
        self.store
            .decide(&pending[0].id, true, &who, None, warden_audit::now_us())
            .unwrap();
        pending[0].id.clone()
    }

    fn pending_count(&self) -> usize {
        self.store
            .list(&ApprovalFilter {
                status: Some(Status::Pending),
                ..ApprovalFilter::default()
            })
            .unwrap()
            .len()
    }
}

fn call(id: u32, tool: &str, args: &str) -> Bytes {
    Bytes::from(
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{args}}}}}"#
        ) + "\n",
    )
}

/// Sends `frame` and follows a hold to its end: what the transport does with it.
fn send(p: &Pipeline, frame: Bytes) -> Route {
    match p.on_frame(Direction::C2S, frame).unwrap().route {
        Route::Hold(h) => {
            let (call, release) = h.wait_blocking();
            assert!(!matches!(release, Release::Forward), "the desk says why");
            p.release(&call, &release).unwrap()
        }
        r => r,
    }
}

fn pending_id(r: &Route) -> String {
    let Route::Answer(b) = r else {
        panic!("not answered: {r:?}")
    };
    let v: serde_json::Value = serde_json::from_slice(b).unwrap();
    assert_eq!(v["result"]["isError"], true, "{v}");
    v["result"]["_meta"]["dev.warden/approval"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn an_approval_lets_through_exactly_the_approved_call_once() {
    let b = bench();
    let p = b.session("alice");
    let first = send(&p, call(1, "write", r#"{"path":"/a","text":"x"}"#));
    let asked = pending_id(&first);
    // While pending, the same call attaches: no second approval.
    let again = send(&p, call(2, "write", r#"{ "text":"x", "path":"/a" }"#));
    assert_eq!(pending_id(&again), asked);
    assert_eq!(b.pending_count(), 1);
    assert_eq!(b.approve_pending(), asked);

    // Other arguments, another tool, another principal: not this approval.
    for (who, frame) in [
        ("alice", call(3, "write", r#"{"path":"/a","text":"y"}"#)),
        (
            "alice",
            call(4, "write", r#"{"path":"/a","text":"x","extra":1}"#),
        ),
        ("alice", call(5, "send", r#"{"path":"/a","text":"x"}"#)),
        ("mallory", call(6, "write", r#"{"path":"/a","text":"x"}"#)),
    ] {
        let elsewhere;
        let other = if who == "alice" {
            &p
        } else {
            elsewhere = b.session(who);
            &elsewhere
        };
        let r = send(other, frame);
        assert_ne!(pending_id(&r), asked, "{who} got the approval");
    }
    // The approved call, members reordered and a string escaped: it goes on, once.
    let same = call(7, "write", r#"{"text":"\u0078","path":"/a"}"#);
    assert_eq!(send(&p, same.clone()), Route::Forward);
    let once_more = send(&p, call(8, "write", r#"{"path":"/a","text":"x"}"#));
    assert_ne!(pending_id(&once_more), asked, "a once grant is used up");
    assert_eq!(b.store.get(&asked).unwrap().unwrap().uses, 1);
}

#[test]
fn a_session_grant_stays_in_its_session() {
    let b = bench();
    let p = b.session("alice");
    let asked = pending_id(&send(&p, call(1, "send", r#"{"to":"x"}"#)));
    b.approve_pending();
    for id in 2..5 {
        assert_eq!(send(&p, call(id, "send", r#"{"to":"x"}"#)), Route::Forward);
    }
    // The same principal in another session asks anew.
    let other = b.session("alice");
    assert_ne!(
        pending_id(&send(&other, call(1, "send", r#"{"to":"x"}"#))),
        asked
    );
    assert_eq!(b.store.get(&asked).unwrap().unwrap().uses, 3);
}

/// The JSON-RPC error reason of an answer.
fn reason(r: &Route) -> String {
    let Route::Answer(b) = r else {
        panic!("not answered: {r:?}")
    };
    let v: serde_json::Value = serde_json::from_slice(b).unwrap();
    v["error"]["data"]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn an_approval_never_lets_a_call_past_a_full_rate_limit() {
    let b = bench();
    let p = b.session("alice");
    // Asking counts: two asks fill the limit of two a minute.
    let asked = pending_id(&send(&p, call(1, "pay", r#"{"to":"x"}"#)));
    b.approve_pending();
    assert_eq!(send(&p, call(2, "pay", r#"{"to":"x"}"#)), Route::Forward);
    let third = send(&p, call(3, "pay", r#"{"to":"x"}"#));
    assert_eq!(reason(&third), "rate_limited", "{third:?}");
    assert_eq!(
        b.store.get(&asked).unwrap().unwrap().uses,
        1,
        "the refused call used nothing"
    );
}

#[test]
fn a_call_let_through_by_an_approval_is_charged_to_its_budget() {
    let b = bench();
    let p = b.session("alice");
    pending_id(&send(&p, call(1, "export", r#"{"q":"all"}"#)));
    b.approve_pending();
    assert_eq!(
        send(&p, call(2, "export", r#"{"q":"all"}"#)),
        Route::Forward
    );
    // The session grant would let it through again; the budget of one a day does not.
    let again = send(&p, call(3, "export", r#"{"q":"all"}"#));
    assert_eq!(reason(&again), "budget_exceeded", "{again:?}");
}
