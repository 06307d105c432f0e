//! The approvals routes over a real store, a real audit writer and the gateway's real
//! authenticator (API keys): who may decide, what each refusal answers, racing decisions,
//! and the `approval_decided` record each decision leaves in the log.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns panic on failure by design

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tower::ServiceExt;
use warden_api::{ApiOptions, ApiState, Decisions};
use warden_audit::approvals::{ApprovalStore, GrantKind, NewApproval, SqliteApprovals, Status};
use warden_audit::{AuditWriter, Keys, Store, WriterConfig, now_us};
use warden_proxy::http::auth::Authenticator;
use warden_proxy::http::config::{ApiKey, AuthConfig};

const ADMIN_TOKEN: &str = "5f1c9e2ab7d04e3f8a6b1c2d9e0f7a3b";

struct Env {
    _dir: tempfile::TempDir,
    app: Router,
    approvals: SqliteApprovals,
    writer: AuditWriter,
}

impl Env {
    /// Waits until every record queued so far is committed.
    fn flush(&self) {
        self.writer.handle().flush().unwrap();
    }
}

fn key(principal: &str, roles: &[&str]) -> ApiKey {
    ApiKey {
        key_sha256: Sha256::digest(format!("{principal}-key").as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        principal: principal.into(),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
    }
}

/// A store with an audit writer, and the admin plane over it deciding as the principals
/// alice (who asks), bob (a named approver), sam (role `security`) and carol (neither).
/// `token`: the admin listener's token. `decide`: whether this plane decides at all.
async fn env(token: Option<&str>, decide: bool) -> Env {
    env_with(token, decide, true).await
}

/// As [`env`]; `with_keys`: whether the gateway has any API keys (principals) at all.
async fn env_with(token: Option<&str>, decide: bool, with_keys: bool) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let db: PathBuf = dir.path().join("audit.db");
    let store = Store::open(&db, false).unwrap();
    let keys = Keys::load_or_create(&dir.path().join("keys"), "api-test").unwrap();
    let writer = AuditWriter::start(
        store,
        keys,
        WriterConfig {
            instance: "api-test".into(),
            ..WriterConfig::default()
        },
    )
    .unwrap();
    let auth = AuthConfig {
        api_keys: vec![
            key("alice", &[]),
            key("bob", &[]),
            key("sam", &["security"]),
            key("carol", &["support"]),
        ],
        ..AuthConfig::default()
    };
    let auth = if with_keys {
        auth
    } else {
        AuthConfig::default()
    };
    let principals = Arc::new(Authenticator::new(&auth).await.unwrap());
    let handle = writer.handle();
    let decisions = decide.then(|| Decisions {
        principals,
        record: Arc::new(move |ev| handle.record(ev).unwrap()),
    });
    let state = ApiState::new(ApiOptions {
        db: db.clone(),
        token: token.map(str::to_owned),
        decisions,
        ..ApiOptions::default()
    });
    Env {
        app: warden_api::router(state),
        approvals: SqliteApprovals::open(&db).unwrap(),
        writer,
        _dir: dir,
    }
}

/// alice asks to write a file; bob or anyone with role `security` may approve.
fn ask(env: &Env, id: &str, hash: &str, asked_us: i64, timeout_ms: u64) {
    env.approvals
        .admit(
            NewApproval {
                id: id.into(),
                action_hash: hash.into(),
                server: "fs".into(),
                method: "tools/call".into(),
                tool: Some("write_file".into()),
                principal: Some("alice".into()),
                agent: Some("claude-code/2.1".into()),
                session: "s1".into(),
                rule: Some("approve-writes".into()),
                policy: Some("sha256:00".into()),
                approvers: vec!["bob".into(), "role:security".into()],
                grant: GrantKind::Once,
                self_approval: false,
                arguments: Some(json!({"path": "/tmp/x", "content": "[REDACTED]"})),
                timeout_ms,
                log_id: None,
                request_record: None,
            },
            asked_us,
        )
        .unwrap();
}

async fn call(
    app: &Router,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn decide(env: &Env, id: &str, verb: &str, who: &str, body: Value) -> (StatusCode, Value) {
    let key = format!("{who}-key");
    call(
        &env.app,
        "POST",
        &format!("/api/v1/approvals/{id}/{verb}"),
        &[("x-api-key", &key)],
        Some(body),
    )
    .await
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_requester_and_non_approvers_are_refused_and_an_approver_by_role_decides() {
    let env = env(None, true).await;
    ask(&env, "ap1", "h1", now_us(), 60_000);

    let (st, body) = decide(&env, "ap1", "approve", "alice", json!({})).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(code(&body), "self_approval");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("may not approve"),
        "{body}"
    );

    let (st, body) = decide(&env, "ap1", "approve", "carol", json!({})).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(code(&body), "not_an_approver");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("bob, role:security"),
        "{body}"
    );
    assert_eq!(
        env.approvals.get("ap1").unwrap().unwrap().status,
        Status::Pending
    );

    let (st, body) = decide(
        &env,
        "ap1",
        "approve",
        "sam",
        json!({"reason": "looks fine"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "approved");
    assert_eq!(body["decided_by"], "sam");
    assert_eq!(body["decided_roles"], json!(["security"]));
    assert_eq!(body["channel"], "api");
    assert!(body["waited_ms"].is_u64(), "{body}");
    let stored = env.approvals.get("ap1").unwrap().unwrap();
    assert_eq!(stored.status, Status::Approved);
    assert_eq!(stored.decided_by.as_deref(), Some("sam"));
    assert_eq!(stored.reason.as_deref(), Some("looks fine"));

    // The decision is in the log, through the API that reads it.
    env.flush();
    let (st, page) = call(&env.app, "GET", "/api/v1/records?session=s1", &[], None).await;
    assert_eq!(st, StatusCode::OK, "{page}");
    let recs = page["records"].as_array().unwrap();
    let decided: Vec<&Value> = recs
        .iter()
        .filter(|r| r["event"] == "approval_decided")
        .collect();
    assert_eq!(decided.len(), 1, "{page}");
    assert_eq!(decided[0]["principal"], "sam");
    let rid = decided[0]["id"].as_str().unwrap();
    let (_, rec) = call(
        &env.app,
        "GET",
        &format!("/api/v1/records/{rid}"),
        &[],
        None,
    )
    .await;
    let leaf = rec["leaf"].to_string();
    for want in [
        r#""id":"ap1""#,
        r#""status":"approved""#,
        r#""by":"sam""#,
        r#""channel":"api""#,
    ] {
        assert!(leaf.contains(want), "{want} not in {leaf}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_id_is_404_and_an_unauthenticated_decision_401() {
    let env = env(None, true).await;
    ask(&env, "ap1", "h1", now_us(), 60_000);
    let (st, body) = decide(&env, "nope", "approve", "bob", json!({})).await;
    assert_eq!(
        (st, code(&body)),
        (StatusCode::NOT_FOUND, "not_found"),
        "{body}"
    );
    let (st, _) = call(&env.app, "GET", "/api/v1/approvals/nope", &[], None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    let (st, body) = call(&env.app, "POST", "/api/v1/approvals/ap1/approve", &[], None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("X-API-Key"),
        "{body}"
    );
    let (st, body) = decide(&env, "ap1", "approve", "mallory", json!({})).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown API key"),
        "{body}"
    );
    // Without an admin token, the approver's key may travel as a bearer token too.
    let (st, body) = call(
        &env.app,
        "POST",
        "/api/v1/approvals/ap1/approve",
        &[("authorization", "Bearer bob-key")],
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["decided_by"], "bob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_admin_token_the_token_alone_names_no_approver() {
    let env = env(Some(ADMIN_TOKEN), true).await;
    ask(&env, "ap1", "h1", now_us(), 60_000);
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    // No admin token: 401 before anything else, even with an approver's key.
    let (st, _) = decide(&env, "ap1", "approve", "bob", json!({})).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    // The admin token alone reads, but does not decide.
    let (st, page) = call(
        &env.app,
        "GET",
        "/api/v1/approvals",
        &[("authorization", &bearer)],
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{page}");
    assert_eq!(page["approvals"][0]["id"], "ap1");
    let (st, body) = call(
        &env.app,
        "POST",
        "/api/v1/approvals/ap1/approve",
        &[("authorization", &bearer)],
        None,
    )
    .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("names no approver"),
        "{body}"
    );
    // Both: the token opens the plane, the key names the approver.
    let (st, body) = call(
        &env.app,
        "POST",
        "/api/v1/approvals/ap1/deny",
        &[("authorization", &bearer), ("x-api-key", "bob-key")],
        Some(json!({"reason": "not this file", "via": "dashboard"})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "denied");
    assert_eq!(body["channel"], "dashboard");
    assert_eq!(body["reason"], "not this file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_racing_approvals_give_one_success_and_one_already_decided() {
    let env = env(None, true).await;
    for round in 0..10 {
        let id = format!("race{round}");
        ask(&env, &id, &format!("h{round}"), now_us(), 60_000);
        let (a, b) = tokio::join!(
            decide(&env, &id, "approve", "bob", json!({})),
            decide(&env, &id, "deny", "sam", json!({"reason": "no"})),
        );
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::CONFLICT],
            "{a:?} {b:?}"
        );
        let (winner, loser) = if a.0 == StatusCode::OK {
            (a, b)
        } else {
            (b, a)
        };
        assert_eq!(code(&loser.1), "already_decided", "{loser:?}");
        assert!(
            loser.1["error"]["message"]
                .as_str()
                .unwrap()
                .contains("first decision wins"),
            "{loser:?}"
        );
        let stored = env.approvals.get(&id).unwrap().unwrap();
        assert_eq!(
            stored.decided_by.as_ref(),
            winner.1["decided_by"].as_str().map(str::to_owned).as_ref()
        );
    }
    // One decision record per approval, for the winner only.
    env.flush();
    let (_, page) = call(
        &env.app,
        "GET",
        "/api/v1/records?session=s1&limit=100",
        &[],
        None,
    )
    .await;
    let decided = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["event"] == "approval_decided")
        .count();
    assert_eq!(decided, 10, "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_approval_is_409_expired_and_bad_bodies_are_400() {
    let env = env(None, true).await;
    // Asked 10 s ago with a 1 s timeout: past its expiry.
    ask(&env, "old", "h1", now_us() - 10_000_000, 1_000);
    let (st, body) = decide(&env, "old", "approve", "bob", json!({})).await;
    assert_eq!(
        (st, code(&body)),
        (StatusCode::CONFLICT, "expired"),
        "{body}"
    );

    ask(&env, "ap2", "h2", now_us(), 60_000);
    let (st, body) = decide(&env, "ap2", "deny", "bob", json!({})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("needs a reason")
    );
    let (st, _) = decide(
        &env,
        "ap2",
        "approve",
        "bob",
        json!({"via": "carrier-pigeon"}),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) = decide(&env, "ap2", "approve", "bob", json!({"reasn": "typo"})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(
        env.approvals.get("ap2").unwrap().unwrap().status,
        Status::Pending
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_lists_pending_first_with_time_left_and_filters() {
    let env = env(None, true).await;
    let now = now_us();
    ask(&env, "later", "h1", now, 120_000);
    ask(&env, "sooner", "h2", now, 30_000);
    ask(&env, "done", "h3", now, 60_000);
    decide(&env, "done", "approve", "bob", json!({})).await;
    let (st, page) = call(&env.app, "GET", "/api/v1/approvals", &[], None).await;
    assert_eq!(st, StatusCode::OK, "{page}");
    let ids: Vec<&str> = page["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["sooner", "later", "done"]);
    assert_eq!(page["can_decide"], true);
    let first = &page["approvals"][0];
    assert_eq!(first["tool"], "write_file");
    assert_eq!(first["arguments"]["content"], "[REDACTED]");
    let left = first["expires_in_ms"].as_i64().unwrap();
    assert!((20_000..=30_000).contains(&left), "{first}");
    assert!(page["approvals"][2]["expires_in_ms"].is_null());

    let (_, page) = call(
        &env.app,
        "GET",
        "/api/v1/approvals?status=approved",
        &[],
        None,
    )
    .await;
    assert_eq!(page["approvals"].as_array().unwrap().len(), 1);
    let (_, page) = call(
        &env.app,
        "GET",
        "/api/v1/approvals?principal=bob",
        &[],
        None,
    )
    .await;
    assert_eq!(page["approvals"].as_array().unwrap().len(), 0);
    let (st, _) = call(&env.app, "GET", "/api/v1/approvals?status=maybe", &[], None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, page) = call(&env.app, "GET", "/api/v1/approvals/sooner", &[], None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(page["rule"], "approve-writes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plane_without_decisions_or_principals_shows_approvals_and_refuses_decisions() {
    let env = env(None, false).await;
    ask(&env, "ap1", "h1", now_us(), 60_000);
    let (_, page) = call(&env.app, "GET", "/api/v1/approvals", &[], None).await;
    assert_eq!(page["can_decide"], false);
    let (st, body) = decide(&env, "ap1", "approve", "bob", json!({})).await;
    assert_eq!(
        (st, code(&body)),
        (StatusCode::METHOD_NOT_ALLOWED, "read_only"),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("warden approvals approve")
    );
    // The Host check still comes first.
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/approvals/ap1/approve")
        .header("host", "evil.example")
        .body(Body::empty())
        .unwrap();
    let res = env.app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // A gateway without `auth:` authenticates nobody: nobody can decide through the API.
    let env = env_with(None, true, false).await;
    ask(&env, "ap1", "h1", now_us(), 60_000);
    let (_, page) = call(&env.app, "GET", "/api/v1/approvals", &[], None).await;
    assert_eq!(page["can_decide"], false);
    let (st, body) = decide(&env, "ap1", "approve", "bob", json!({})).await;
    assert_eq!(
        (st, code(&body)),
        (StatusCode::FORBIDDEN, "no_principals"),
        "{body}"
    );
    assert_eq!(
        env.approvals.get("ap1").unwrap().unwrap().status,
        Status::Pending
    );
}
