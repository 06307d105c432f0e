//! Tests of the pipeline as a whole, and a test transport for held calls.

use std::sync::Arc;

use warden_audit::writer::{AuditWriter, WriterConfig};
use warden_audit::{Durability, Store};

use super::{OnStoreError, Pipeline};

/// A pipeline on a fresh store in a temporary directory (kept alive by the returned writer).
pub(super) fn pipeline() -> Pipeline {
    pipeline_on().0
}

pub(super) fn pipeline_on() -> (Pipeline, Arc<AuditWriter>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("audit.db"), false).unwrap();
    let keys = warden_audit::Keys::load_or_create(&dir.path().join("keys"), "test").unwrap();
    let writer = Arc::new(AuditWriter::start(store, keys, WriterConfig::default()).unwrap());
    let p = Pipeline::new(
        writer.handle(),
        Some("srv".into()),
        Durability::Batch,
        OnStoreError::FailClosed,
    );
    (p, writer, dir)
}

/// What must outlive a test's pipeline (its writer and store directory).
pub(super) type Keep = (Arc<AuditWriter>, tempfile::TempDir);

/// A pipeline governed by the policy `yaml`, for principal `alice`.
pub(super) fn governed(yaml: &str) -> (Pipeline, Keep) {
    let (p, w, d) = pipeline_on();
    let p = p.with_governance(super::Governance {
        policy: Arc::new(warden_policy::PolicySet::compile(yaml).unwrap()),
        principal: Some("alice".into()),
        roles: Vec::new(),
    });
    (p, (w, d))
}

/// `frame` as the bytes a transport reads.
pub(super) fn line(frame: &str) -> bytes::Bytes {
    bytes::Bytes::from(format!("{frame}\n"))
}

/// Every record the pipeline queues: (kind or event name, outcome, exchange, detail).
#[derive(Default)]
pub(super) struct Seen(std::sync::Mutex<Vec<warden_audit::AuditEvent>>);

impl crate::observer::Observer for Seen {
    fn observe(
        &self,
        records: &[warden_audit::AuditEvent],
        _: crate::observer::FrameHints<'_>,
    ) -> Vec<(&'static str, serde_json::Value)> {
        self.0.lock().unwrap().extend(records.iter().cloned());
        Vec::new()
    }
}

impl Seen {
    pub(super) fn take(&self) -> Vec<warden_audit::AuditEvent> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

mod holds {
    use std::sync::Arc;
    use std::time::Duration;

    use bytes::Bytes;
    use crossbeam_channel::{Receiver, Sender, unbounded};
    use tokio::sync::oneshot;
    use warden_audit::Outcome;
    use warden_core::Direction;
    use warden_policy::PolicySet;

    use super::super::{Governance, HeldCall, Holder, Pipeline, Release, Route};
    use super::{Keep, Seen, pipeline_on};

    const POLICY: &str = r#"
default: allow
policies:
  - name: approve-writes
    tool_pattern: "srv:write"
    action: approve
    approvers: ["role:security"]
"#;

    /// A holder whose releases the test gives: each held call arrives on `calls`.
    struct TestHolder(Sender<Held>);

    impl Holder for TestHolder {
        fn hold(&self, call: &HeldCall) -> oneshot::Receiver<Release> {
            let (tx, rx) = oneshot::channel();
            self.0.send((call.clone(), tx)).unwrap();
            rx
        }
    }

    /// A test transport, as the stdio one does it: what goes to the server and what to the
    /// client arrive on two channels; a held call waits on a thread of its own.
    struct Transport {
        p: Arc<Pipeline>,
        server: (Sender<Vec<u8>>, Receiver<Vec<u8>>),
        client: (Sender<Vec<u8>>, Receiver<Vec<u8>>),
    }

    impl Transport {
        fn send(&self, dir: Direction, frame: &str) {
            let frame = Bytes::from(format!("{frame}\n"));
            let d = self.p.on_frame(dir, frame.clone()).unwrap();
            let (to, back) = match dir {
                Direction::C2S => (&self.server.0, &self.client.0),
                Direction::S2C => (&self.client.0, &self.server.0),
            };
            match d.route {
                Route::Forward => to.send(frame.to_vec()).unwrap(),
                Route::Replace(b) => to.send(b).unwrap(),
                Route::Answer(b) => back.send(b).unwrap(),
                Route::Drop => {}
                Route::Hold(hold) => {
                    let (p, to, back) = (self.p.clone(), to.clone(), back.clone());
                    std::thread::spawn(move || {
                        let (call, release) = hold.wait_blocking();
                        match p.release(&call, &release).unwrap() {
                            Route::Answer(b) => back.send(b).unwrap(),
                            _ => to.send(frame.to_vec()).unwrap(),
                        }
                    });
                }
            }
        }
    }

    /// A held call as the test holder hands it over, with its release.
    type Held = (HeldCall, oneshot::Sender<Release>);

    fn setup(holder: bool) -> (Transport, Arc<Seen>, Receiver<Held>, Keep) {
        let (p, writer, dir) = pipeline_on();
        let seen = Arc::new(Seen::default());
        let (tx, calls) = unbounded();
        let mut p = p.with_observer(seen.clone()).with_governance(Governance {
            policy: Arc::new(PolicySet::compile(POLICY).unwrap()),
            principal: Some("alice".into()),
            roles: Vec::new(),
        });
        if holder {
            p = p.with_holder(Arc::new(TestHolder(tx)));
        }
        let t = Transport {
            p: Arc::new(p),
            server: unbounded(),
            client: unbounded(),
        };
        (t, seen, calls, (writer, dir))
    }

    fn call(id: u32, tool: &str) -> String {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{{"x":1}}}}}}"#
        )
    }

    fn within<T>(rx: &Receiver<T>) -> T {
        rx.recv_timeout(Duration::from_secs(10))
            .expect("nothing arrived within 10 s")
    }

    fn json(b: &[u8]) -> serde_json::Value {
        serde_json::from_slice(b).unwrap()
    }

    #[test]
    fn a_held_call_waits_while_the_session_flows_then_goes_on_as_received() {
        let (t, seen, calls, _keep) = setup(true);
        t.send(Direction::C2S, &call(1, "write"));
        let (held, release) = within(&calls);
        assert_eq!(held.target.as_deref(), Some("write"));
        assert_eq!(held.approvers, ["role:security"]);
        assert_eq!(held.rpc_id, "1");
        // The session goes on: another call passes while the first is held.
        t.send(Direction::C2S, &call(2, "read"));
        assert_eq!(json(&within(&t.server.1))["id"], 2);
        assert!(t.server.1.is_empty() && t.client.1.is_empty());
        // Its id is in flight: reusing it is refused.
        t.send(Direction::C2S, &call(1, "read"));
        assert_eq!(
            json(&within(&t.client.1))["error"]["data"]["reason"],
            "id_in_flight"
        );
        release.send(Release::Forward).unwrap();
        assert_eq!(
            within(&t.server.1),
            format!("{}\n", call(1, "write")).into_bytes()
        );
        t.send(
            Direction::S2C,
            r#"{"jsonrpc":"2.0","id":1,"result":{"content":[]}}"#,
        );
        assert_eq!(json(&within(&t.client.1))["id"], 1);
        let records = seen.take();
        let request = records
            .iter()
            .find(|e| e.kind == "request" && e.rpc_id.as_deref() == Some("1"))
            .unwrap();
        assert_eq!(request.outcome, Some(Outcome::ApprovalRequired));
        let detail = request.detail.as_ref().unwrap();
        assert_eq!(detail["held"], true);
        assert_eq!(detail["approval"]["id"], held.approval.as_str());
        let released = records
            .iter()
            .find(|e| e.event == Some("hold_released"))
            .unwrap();
        assert_eq!(released.exchange, request.exchange);
        assert_eq!(released.detail.as_ref().unwrap()["forwarded"], true);
        let response = records
            .iter()
            .find(|e| e.kind == "result" && e.rpc_id.as_deref() == Some("1"))
            .unwrap();
        assert_eq!(response.exchange, request.exchange);
        assert_eq!(response.outcome, Some(Outcome::Ok));
    }

    #[test]
    fn a_refused_hold_is_answered_by_warden_and_ends_its_exchange() {
        let (t, seen, calls, _keep) = setup(true);
        t.send(Direction::C2S, &call(7, "write"));
        let (held, release) = within(&calls);
        release
            .send(Release::Refuse {
                code: -32012,
                reason: "approval_denied".into(),
                message: "denied by bob".into(),
            })
            .unwrap();
        let answer = json(&within(&t.client.1));
        assert_eq!(answer["id"], 7);
        assert_eq!(answer["error"]["code"], -32012);
        assert_eq!(answer["error"]["data"]["reason"], "approval_denied");
        assert_eq!(
            answer["error"]["data"]["approval"]["id"],
            held.approval.as_str()
        );
        assert!(t.server.1.is_empty(), "a refused hold reaches the server");
        // The exchange is closed: a late server answer to id 7 is unsolicited, never delivered.
        t.send(Direction::S2C, r#"{"jsonrpc":"2.0","id":7,"result":{}}"#);
        assert!(t.client.1.is_empty());
        let records = seen.take();
        let closed = records
            .iter()
            .find(|e| e.kind == "error" && e.outcome == Some(Outcome::Denied))
            .unwrap();
        assert_eq!(closed.exchange, held.exchange);
    }

    #[test]
    fn a_holder_that_goes_away_refuses_the_call() {
        let (t, _seen, calls, _keep) = setup(true);
        t.send(Direction::C2S, &call(3, "write"));
        drop(within(&calls));
        let answer = json(&within(&t.client.1));
        assert_eq!(answer["error"]["data"]["reason"], "hold_abandoned");
        assert!(t.server.1.is_empty());
    }

    #[test]
    fn without_a_holder_or_in_a_batch_approval_is_refused_as_before() {
        let (t, _seen, _calls, _keep) = setup(false);
        t.send(Direction::C2S, &call(1, "write"));
        let answer = json(&within(&t.client.1));
        assert_eq!(answer["error"]["code"], -32012);
        let (t, _seen, calls, _keep) = setup(true);
        t.send(
            Direction::C2S,
            &format!("[{},{}]", call(1, "write"), call(2, "read")),
        );
        let answer = json(&within(&t.client.1));
        assert_eq!(answer.as_array().map(Vec::len), Some(2));
        assert!(calls.is_empty() && t.server.1.is_empty());
    }
}
