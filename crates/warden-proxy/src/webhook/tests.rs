//! The webhook against real HTTP receivers on 127.0.0.1 that check what arrives themselves.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use warden_audit::approvals::{Approval, Status};
use warden_policy::Webhook;

use super::*;

const SECRET: &str = "s3cr3t-SIGNING-KEY-9b1e";
const TOKEN: &str = "T0KEN-in-path-77aa";
const QUERY_TOKEN: &str = "QTOKEN-in-query-42";

/// What the receiver was sent.
struct Hit {
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

/// A receiver answering with `script` in turn (its last status thereafter).
struct Receiver {
    base: String,
    hits: UnboundedReceiver<Hit>,
    count: Arc<AtomicUsize>,
}

async fn receiver(script: &'static [u16]) -> Receiver {
    #[derive(Clone)]
    struct S {
        script: &'static [u16],
        count: Arc<AtomicUsize>,
        tx: tokio::sync::mpsc::UnboundedSender<Hit>,
    }
    async fn handle(State(s): State<S>, uri: Uri, headers: HeaderMap, body: Bytes) -> StatusCode {
        let n = s.count.fetch_add(1, Ordering::SeqCst);
        let code = s.script[n.min(s.script.len() - 1)];
        s.tx.send(Hit { uri, headers, body }).unwrap();
        StatusCode::from_u16(code).unwrap()
    }
    let (tx, hits) = unbounded_channel();
    let count = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().fallback(handle).with_state(S {
        script,
        count: count.clone(),
        tx,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver { base, hits, count }
}

fn approval(expires_in: Duration) -> Approval {
    let now = warden_audit::now_us();
    Approval {
        id: "apr_01HZX".into(),
        action_hash: "hmac-sha256:abcd".into(),
        status: Status::Pending,
        server: "filesystem".into(),
        method: "tools/call".into(),
        tool: Some("write_file".into()),
        principal: Some("alice".into()),
        agent: Some("claude-code".into()),
        session: "sess-BEARERISH-5150".into(),
        rule: Some("writes-need-approval".into()),
        policy: Some("policy.yaml".into()),
        approvers: vec!["role:admin".into()],
        grant: "once".into(),
        self_approval: false,
        arguments: Some(json!({"path": "/tmp/x", "content": "[REDACTED]"})),
        requested_us: now,
        expires_us: now + i64::try_from(expires_in.as_micros()).unwrap(),
        decided_us: None,
        decided_by: None,
        decided_roles: vec![],
        channel: None,
        reason: None,
        uses: 0,
        log_id: None,
        request_record: None,
    }
}

fn fast(attempts: u32) -> Retry {
    Retry {
        attempts,
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
        attempt_timeout: Duration::from_secs(5),
    }
}

fn sender(retry: Retry, secret: Option<&'static str>) -> WebhookSender {
    WebhookSender::with(
        retry,
        Arc::new(move |name: &str| {
            if name == "HOOK_SECRET" {
                secret.map(str::to_owned)
            } else {
                None
            }
        }),
    )
    .unwrap()
}

/// A `Record` that forwards to a channel; the channel closes when the delivery is over.
fn recorder() -> (Record, UnboundedReceiver<(&'static str, Value)>) {
    let (tx, rx) = unbounded_channel();
    let record: Record = Arc::new(move |name, detail| {
        tx.send((name, detail)).unwrap();
    });
    (record, rx)
}

/// Every record until the delivery ends (its `Record` dropped).
async fn all(mut rx: UnboundedReceiver<(&'static str, Value)>) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(20), rx.recv()).await {
            Ok(Some((name, detail))) => {
                assert_eq!(name, EVENT);
                out.push(detail);
            }
            Ok(None) => return out,
            Err(_) => panic!("delivery still going after 20 s; so far {out:?}"),
        }
    }
}

async fn hit(r: &mut Receiver) -> Hit {
    tokio::time::timeout(Duration::from_secs(10), r.hits.recv())
        .await
        .expect("nothing arrived within 10 s")
        .unwrap()
}

fn hook(base: &str, secret_env: Option<&str>) -> Webhook {
    Webhook {
        url: format!("{base}/services/{TOKEN}/hook?token={QUERY_TOKEN}"),
        secret_env: secret_env.map(str::to_owned),
    }
}

/// The receiver's own check: HMAC-SHA-256(secret, "<timestamp>.<body>"), hex, after `v1=`.
fn verifies(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let ts = headers["x-warden-timestamp"].to_str().unwrap();
    let sig = headers["x-warden-signature"].to_str().unwrap();
    let Some(hex) = sig.strip_prefix("v1=") else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(body);
    let want: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    want == hex
}

fn assert_no_secrets(what: &str, s: &str) {
    for secret in [SECRET, TOKEN, QUERY_TOKEN, "sess-BEARERISH-5150"] {
        assert!(!s.contains(secret), "{what} carries {secret:?}: {s}");
    }
}

#[tokio::test]
async fn a_signed_notice_verifies_and_carries_no_secret() {
    let mut r = receiver(&[200]).await;
    let a = approval(Duration::from_secs(60));
    let (record, rx) = recorder();
    let started = sender(fast(3), Some(SECRET)).send(
        &tokio::runtime::Handle::current(),
        &hook(&r.base, Some("HOOK_SECRET")),
        &a,
        Some("https://warden.example.com/"),
        record,
    );
    assert!(started.is_some());
    let got = hit(&mut r).await;
    let records = all(rx).await;

    assert_eq!(got.uri.path(), format!("/services/{TOKEN}/hook"));
    assert!(verifies(SECRET, &got.headers, &got.body), "bad signature");
    assert!(!verifies("another secret", &got.headers, &got.body));
    let ts: i64 = got.headers["x-warden-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((ts - warden_audit::now_us() / 1_000_000).abs() < 60);
    assert_eq!(got.headers["content-type"], "application/json");

    let text = std::str::from_utf8(&got.body).unwrap();
    assert_no_secrets("the body", text);
    let b: Value = serde_json::from_str(text).unwrap();
    assert_eq!(b["type"], "warden.approval.requested");
    assert_eq!(b["id"], "apr_01HZX");
    assert_eq!(b["tool"], "write_file");
    assert_eq!(b["principal"], "alice");
    assert_eq!(b["rule"], "writes-need-approval");
    assert_eq!(
        b["arguments"],
        json!({"path": "/tmp/x", "content": "[REDACTED]"})
    );
    assert_eq!(b["action_hash"], "hmac-sha256:abcd");
    assert_eq!(b["expires_us"], a.expires_us);
    assert!(b["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(b["approvers"], json!(["role:admin"]));
    assert_eq!(
        b["dashboard_url"],
        "https://warden.example.com/#approvals/apr_01HZX"
    );
    let line = b["text"].as_str().unwrap();
    assert!(line.contains("alice"), "{line}");
    assert!(line.contains("write_file"), "{line}");
    assert!(
        line.contains("warden approvals approve apr_01HZX"),
        "{line}"
    );
    assert!(!line.contains('\n'));

    assert_eq!(records.len(), 1, "{records:?}");
    let w = &records[0]["webhook"];
    assert_eq!(records[0]["approval"]["id"], "apr_01HZX");
    assert_eq!(w["url"], r.base.as_str());
    assert_eq!(w["outcome"], "delivered");
    assert_eq!(w["status"], 200);
    assert_eq!(w["attempt"], 1);
    assert_eq!(w["signed"], true);
    assert_eq!(w["will_retry"], false);
    assert_no_secrets("the records", &Value::from(records).to_string());
}

#[tokio::test]
async fn two_503s_are_retried_and_the_third_attempt_delivers() {
    let mut r = receiver(&[503, 503, 200]).await;
    let (record, rx) = recorder();
    sender(fast(5), None).send(
        &tokio::runtime::Handle::current(),
        &hook(&r.base, None),
        &approval(Duration::from_secs(60)),
        None,
        record,
    );
    let records = all(rx).await;
    let bodies: Vec<Bytes> = [hit(&mut r).await, hit(&mut r).await, hit(&mut r).await]
        .into_iter()
        .map(|h| {
            assert!(h.headers.get("x-warden-signature").is_none());
            h.body
        })
        .collect();
    assert!(
        bodies.iter().all(|b| *b == bodies[0]),
        "retries send the same body"
    );
    assert_eq!(r.count.load(Ordering::SeqCst), 3);

    let w: Vec<&Value> = records.iter().map(|r| &r["webhook"]).collect();
    assert_eq!(w.len(), 3, "{records:?}");
    for (i, w) in w.iter().enumerate() {
        assert_eq!(w["attempt"], i + 1);
        assert_eq!(w["signed"], false);
    }
    assert_eq!(
        (w[0]["status"].clone(), w[0]["outcome"].clone()),
        (json!(503), json!("failed"))
    );
    assert_eq!(w[0]["will_retry"], true);
    assert_eq!(w[0]["retry_in_ms"], 10);
    assert_eq!(w[1]["retry_in_ms"], 20);
    assert_eq!(w[2]["outcome"], "delivered");
    assert_eq!(w[2]["will_retry"], false);
    let b: Value = serde_json::from_slice(&bodies[0]).unwrap();
    assert_eq!(b["dashboard_url"], Value::Null);
}

#[tokio::test]
async fn a_400_is_a_permanent_failure_tried_once() {
    let mut r = receiver(&[400, 200]).await;
    let (record, rx) = recorder();
    sender(fast(5), Some(SECRET)).send(
        &tokio::runtime::Handle::current(),
        &hook(&r.base, Some("HOOK_SECRET")),
        &approval(Duration::from_secs(60)),
        None,
        record,
    );
    let records = all(rx).await;
    hit(&mut r).await;
    assert_eq!(r.count.load(Ordering::SeqCst), 1);
    // No attempts configured still makes the one attempt.
    let (record, rx) = recorder();
    sender(fast(0), None).send(
        &tokio::runtime::Handle::current(),
        &hook(&r.base, None),
        &approval(Duration::from_secs(60)),
        None,
        record,
    );
    assert_eq!(all(rx).await.len(), 1);
    assert_eq!(r.count.load(Ordering::SeqCst), 2);
    assert_eq!(records.len(), 1, "{records:?}");
    let w = &records[0]["webhook"];
    assert_eq!(w["status"], 400);
    assert_eq!(w["outcome"], "failed");
    assert_eq!(w["will_retry"], false);
    assert_eq!(w["gave_up"], "permanent");
}

#[tokio::test]
async fn a_missing_secret_sends_nothing_and_says_so() {
    let r = receiver(&[200]).await;
    let rt = tokio::runtime::Handle::current();
    let a = approval(Duration::from_secs(60));
    // The real process environment, where this variable does not exist.
    let unset = "WARDEN_TEST_WEBHOOK_SECRET_THAT_IS_NOT_SET_4c1d";
    assert!(std::env::var_os(unset).is_none());
    let real = WebhookSender::new().unwrap();
    // And an environment where the variable is set, but empty.
    let empty = sender(fast(3), Some(""));
    for (s, name) in [(&real, unset), (&empty, "HOOK_SECRET")] {
        let (record, rx) = recorder();
        assert!(
            s.send(&rt, &hook(&r.base, Some(name)), &a, None, record)
                .is_none()
        );
        let records = all(rx).await;
        assert_eq!(records.len(), 1, "{records:?}");
        let w = &records[0]["webhook"];
        assert_eq!(w["outcome"], "not_sent");
        assert_eq!(w["error"], "secret_missing");
        assert_eq!(w["attempt"], 0);
        assert!(w["message"].as_str().unwrap().contains(name));
        assert_no_secrets("the records", &records[0].to_string());
    }
    assert_eq!(r.count.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_unreachable_receiver_is_retried_then_given_up_without_naming_the_path() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let (record, rx) = recorder();
    sender(fast(3), Some(SECRET)).send(
        &tokio::runtime::Handle::current(),
        &hook(&base, Some("HOOK_SECRET")),
        &approval(Duration::from_secs(60)),
        None,
        record,
    );
    let records = all(rx).await;
    assert_eq!(records.len(), 3, "{records:?}");
    for w in records.iter().map(|r| &r["webhook"]) {
        assert_eq!(w["error"], "connect", "{w}");
        assert_eq!(w["url"], base.as_str());
    }
    assert_eq!(records[1]["webhook"]["will_retry"], true);
    assert_eq!(records[2]["webhook"]["gave_up"], "attempts");
    assert_no_secrets("the records", &Value::from(records).to_string());
}

#[tokio::test]
async fn no_retry_is_scheduled_past_the_approvals_expiry() {
    let r = receiver(&[503]).await;
    let (record, rx) = recorder();
    let slow = Retry {
        first_delay: Duration::from_secs(30),
        max_delay: Duration::from_secs(60),
        ..fast(5)
    };
    sender(slow, None).send(
        &tokio::runtime::Handle::current(),
        &hook(&r.base, None),
        &approval(Duration::from_secs(5)),
        None,
        record,
    );
    let records = all(rx).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["webhook"]["status"], 503);
    assert_eq!(records[0]["webhook"]["gave_up"], "expiry");
    assert_eq!(r.count.load(Ordering::SeqCst), 1);

    // An approval already expired is not announced at all.
    let (record, rx) = recorder();
    let mut gone = approval(Duration::ZERO);
    gone.expires_us -= 1;
    assert!(
        sender(fast(5), None)
            .send(
                &tokio::runtime::Handle::current(),
                &hook(&r.base, None),
                &gone,
                None,
                record
            )
            .is_none()
    );
    assert_eq!(all(rx).await[0]["webhook"]["error"], "expired");
}

#[test]
fn backoff_doubles_up_to_its_cap() {
    let d: Vec<u64> = (1..=9)
        .map(|n| Retry::default().delay(n).as_secs())
        .collect();
    assert_eq!(d, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    assert_eq!(Retry::default().delay(200), Duration::from_secs(60));
}

#[test]
fn names_cannot_inject_slack_markup_or_lines() {
    let mut a = approval(Duration::from_secs(60));
    a.agent = Some("<!channel> & co\nsecond line".into());
    let t = text(&a, None);
    assert!(t.contains("&lt;!channel&gt; &amp; co second line"), "{t}");
    assert!(!t.contains('<') && !t.contains('\n'), "{t}");
}

#[test]
fn a_bad_url_is_refused_without_being_recorded() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (record, mut rx) = recorder();
    let bad = Webhook {
        url: format!("hooks.example.com/{TOKEN}"),
        secret_env: None,
    };
    let s = sender(fast(1), None);
    assert!(
        s.send(
            rt.handle(),
            &bad,
            &approval(Duration::from_secs(60)),
            None,
            record
        )
        .is_none()
    );
    let (_, detail) = rx.try_recv().unwrap();
    assert_eq!(detail["webhook"]["error"], "bad_url");
    assert_no_secrets("the record", &detail.to_string());
}

#[test]
fn the_signature_matches_the_documented_recipe() {
    // Python's hmac and `openssl dgst -sha256 -hmac` give this for the same input
    // (docs/approvals-webhook.md).
    assert_eq!(
        signature(b"whsec-test", 1_764_755_000, br#"{"id":"apr_1"}"#),
        "v1=96985a884b614e5870323678285d739b70f8ea1b58e38e4007bc9c82050ef121"
    );
}
