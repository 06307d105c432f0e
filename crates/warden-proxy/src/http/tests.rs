//! `begin` and `Pending::finish` on a real pipeline and store: a held call waits in its own
//! `finish` while the session's other messages go through theirs.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use warden_audit::writer::{AuditWriter, WriterConfig};
use warden_audit::{Durability, Keys, Store};
use warden_core::Direction;
use warden_policy::PolicySet;

use super::{Step, begin};
use crate::pipeline::{Governance, HeldCall, Holder, OnStoreError, Pipeline, Release};

const POLICY: &str = r#"
default: allow
policies:
  - name: approve-writes
    tool_pattern: "srv:write"
    action: approve
    approvers: ["role:security"]
"#;

/// Hands each held call to the test, which releases it.
struct TestHolder(mpsc::UnboundedSender<oneshot::Sender<Release>>);

impl Holder for TestHolder {
    fn hold(&self, _call: &HeldCall) -> oneshot::Receiver<Release> {
        let (tx, rx) = oneshot::channel();
        self.0.send(tx).unwrap();
        rx
    }
}

fn call(id: u32, tool: &str) -> Bytes {
    Bytes::from(format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{{}}}}}}"#
    ))
}

#[tokio::test]
async fn a_held_call_does_not_hold_up_the_sessions_other_messages() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("audit.db"), true).unwrap();
    let keys = Keys::load_or_create(&dir.path().join("keys"), "test").unwrap();
    let cfg = WriterConfig {
        durability: Durability::Sync,
        ..WriterConfig::default()
    };
    let writer = AuditWriter::start(store, keys, cfg).unwrap();
    let (held_tx, mut held) = mpsc::unbounded_channel();
    let p = Arc::new(
        Pipeline::new(
            writer.handle(),
            Some("srv".into()),
            Durability::Sync,
            OnStoreError::FailClosed,
        )
        .with_governance(Governance {
            policy: Arc::new(PolicySet::compile(POLICY).unwrap()),
            principal: Some("alice".into()),
            roles: Vec::new(),
        })
        .with_holder(Arc::new(TestHolder(held_tx))),
    );
    let first = begin(&p, Direction::C2S, call(1, "write"), None).unwrap();
    let waiting = tokio::spawn({
        let p = p.clone();
        async move { first.finish(&p, OnStoreError::FailClosed).await }
    });
    let release = tokio::time::timeout(Duration::from_secs(10), held.recv())
        .await
        .unwrap()
        .unwrap();
    // The session goes on: another call, and a response under sync (it waits for its commit).
    let second = begin(&p, Direction::C2S, call(2, "read"), None).unwrap();
    let step = tokio::time::timeout(
        Duration::from_secs(10),
        second.finish(&p, OnStoreError::FailClosed),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(matches!(step, Step::Pass(b) if b == call(2, "read")));
    let answer = Bytes::from_static(br#"{"jsonrpc":"2.0","id":2,"result":{"content":[]}}"#);
    let response = begin(&p, Direction::S2C, answer.clone(), None).unwrap();
    let step = tokio::time::timeout(
        Duration::from_secs(10),
        response.finish(&p, OnStoreError::FailClosed),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(matches!(step, Step::Pass(b) if b == answer));
    assert!(!waiting.is_finished(), "the held call still waits");
    release.send(Release::Forward).unwrap();
    let step = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(step, Step::Pass(b) if b == call(1, "write")));
}
