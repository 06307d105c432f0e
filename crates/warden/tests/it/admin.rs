//! The admin plane against real stores filled by real proxied sessions: every filter of
//! `/api/v1/records`, cursor paging while a session writes, sessions, statistics,
//! integrity, the live tail, access control, error shapes, the OpenAPI document, and the
//! same queries and the report from the CLI.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

/// `warden dashboard` on a free loopback port, stopped when dropped.
pub(crate) struct Dashboard {
    child: Child,
    pub(crate) addr: String,
}

impl Dashboard {
    pub(crate) fn start(db: &std::path::Path, extra: &[&str]) -> Dashboard {
        let mut child = warden()
            .arg("dashboard")
            .arg("--db")
            .arg(db)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .env_remove("WARDEN_ADMIN_TOKEN")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|s| s.split('/').next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        Dashboard { child, addr }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub(crate) fn get(&self, path: &str) -> (u16, Value) {
        let (status, body) = http_get(&self.addr, path, &[]);
        let v = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{path}: {status} not JSON ({e}): {body}"));
        (status, v)
    }

    /// `GET` that must succeed.
    pub(crate) fn ok(&self, path: &str) -> Value {
        let (status, v) = self.get(path);
        assert_eq!(status, 200, "{path}: {v}");
        v
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _killed = self.child.kill();
        let _waited = self.child.wait();
    }
}

/// A plain HTTP/1.1 GET over loopback: `(status, body)`, chunked bodies decoded.
pub(crate) fn http_get(addr: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.push_str(&tail[..n]);
            rest = &tail[n + 2..];
        }
        out
    } else {
        body.to_owned()
    };
    (status, body)
}

pub(crate) const POLICY: &str = "policies:\n  - name: no-pay-for-agents\n    tool_pattern: \"hr:get_pay_info\"\n    principals: [\"role:agent\"]\n    action: deny\n    message: \"agents may not read pay\"\n  - name: lookups\n    tool_pattern: \"hr:get_employee\"\n    rate_limit: { limit: 3, window: 1m }\n";

pub(crate) fn call(p: &mut Proxied, id: u64, tool: &str, args: &str) -> Value {
    p.send(&format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{args}}}}}"#
    ));
    serde_json::from_str(&p.recv()).unwrap()
}

/// Two governed sessions: alice (5 lookups, 2 rate limited; pay; a failing report) and an
/// agent (pay denied; a listing).
pub(crate) fn fill(place: &Place) {
    let policy = place.dir.path().join("admin-policy.yaml");
    std::fs::write(&policy, POLICY).unwrap();
    let policy = policy.display().to_string();
    let common = [
        "--server-name",
        "hr",
        "--policy",
        &policy,
        "--sensitive-tools",
        "get_pay_info",
    ];
    let mut a = Proxied::start(place, &[&common[..], &["--principal", "alice"]].concat());
    a.calls(0);
    for id in 1..=5 {
        call(
            &mut a,
            id,
            "get_employee",
            &format!(r#"{{"id":"E00{id}"}}"#),
        );
    }
    assert!(
        call(&mut a, 6, "get_pay_info", r#"{"id":"E002"}"#)
            .get("result")
            .is_some()
    );
    assert!(
        call(&mut a, 7, "run_payroll_report", "{}")
            .get("error")
            .is_some()
    );
    drop(a.input.take());
    a.child.wait().unwrap();
    let mut b = Proxied::start(
        place,
        &[&common[..], &["--principal", "bot-7", "--role", "agent"]].concat(),
    );
    b.calls(0);
    assert!(
        call(&mut b, 1, "get_pay_info", r#"{"id":"E001"}"#)
            .get("error")
            .is_some()
    );
    // A secret in the arguments is redacted from the audit copy.
    assert!(
        call(
            &mut b,
            2,
            "list_employees",
            r#"{"department":"Engineering","api_key":"sk-live-0123456789abcdef"}"#
        )
        .get("result")
        .is_some()
    );
    drop(b.input.take());
    b.child.wait().unwrap();
}

fn count(place: &Place, sql_where: &str) -> usize {
    place
        .conn()
        .query_row(
            &format!("SELECT COUNT(*) FROM records WHERE {sql_where}"),
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap() as usize
}

/// Every record matching `query`, following cursors.
fn all(d: &Dashboard, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/records?limit=7&{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = d.ok(&path);
        out.extend(page["records"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

type Check = Box<dyn Fn(&Value) -> bool>;

#[test]
fn every_records_filter_matches_the_store() {
    let place = Place::new();
    fill(&place);
    let d = Dashboard::start(&place.db(), &[]);
    let session_a: String = place
        .conn()
        .query_row(
            "SELECT session FROM records WHERE principal = 'alice' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let cases: Vec<(String, String, Check)> = vec![
        (
            "server=hr".into(),
            "server = 'hr'".into(),
            Box::new(|r: &Value| r["server"] == "hr"),
        ),
        (
            "tool=get_pay_info".into(),
            "target = 'get_pay_info'".into(),
            Box::new(|r: &Value| r["target"] == "get_pay_info"),
        ),
        (
            "method=tools/call".into(),
            "method = 'tools/call'".into(),
            Box::new(|r: &Value| r["method"] == "tools/call"),
        ),
        (
            "direction=s2c".into(),
            "dir = 's2c'".into(),
            Box::new(|r: &Value| r["dir"] == "s2c"),
        ),
        (
            "status=success".into(),
            "outcome = 'ok'".into(),
            Box::new(|r: &Value| r["status"] == "success"),
        ),
        (
            "status=error".into(),
            "outcome IN ('rpc_error','gateway_error','cancelled','abandoned')".into(),
            Box::new(|r: &Value| r["status"] == "error"),
        ),
        (
            "status=denied".into(),
            "outcome = 'denied'".into(),
            Box::new(|r: &Value| r["outcome"] == "denied"),
        ),
        (
            "status=rate_limited".into(),
            "outcome IN ('rate_limited','budget_exceeded')".into(),
            Box::new(|r: &Value| r["status"] == "rate_limited"),
        ),
        (
            "status=denied,rate_limited".into(),
            "outcome IN ('denied','rate_limited','budget_exceeded')".into(),
            Box::new(|r: &Value| r["status"] == "denied" || r["status"] == "rate_limited"),
        ),
        (
            "status=pending".into(),
            "outcome = 'approval_required'".into(),
            Box::new(|r: &Value| r["status"] == "pending"),
        ),
        (
            "outcome=rpc_error".into(),
            "outcome = 'rpc_error'".into(),
            Box::new(|r: &Value| r["outcome"] == "rpc_error"),
        ),
        (
            "principal=alice".into(),
            "principal = 'alice'".into(),
            Box::new(|r: &Value| r["principal"] == "alice"),
        ),
        (
            "agent=crash-test/1".into(),
            "agent = 'crash-test/1'".into(),
            Box::new(|r: &Value| r["agent"] == "crash-test/1"),
        ),
        (
            format!("session={session_a}"),
            format!("session = '{session_a}'"),
            {
                let sa = session_a.clone();
                Box::new(move |r: &Value| r["session"] == sa.as_str())
            },
        ),
        (
            "kind=event".into(),
            "kind = 'event'".into(),
            Box::new(|r: &Value| r["kind"] == "event"),
        ),
        (
            "tool=get_employee&status=rate_limited&principal=alice".into(),
            "target = 'get_employee' AND outcome = 'rate_limited' AND principal = 'alice'".into(),
            Box::new(|r: &Value| r["target"] == "get_employee" && r["outcome"] == "rate_limited"),
        ),
        (
            "since=2000-01-01T00:00:00Z".into(),
            "1 = 1".into(),
            Box::new(|_: &Value| true),
        ),
        (
            "until=2000-01-01T00:00:00Z".into(),
            "1 = 0".into(),
            Box::new(|_: &Value| true),
        ),
        (
            "since=1h".into(),
            "1 = 1".into(),
            Box::new(|_: &Value| true),
        ),
    ];
    for (query, sql, check) in &cases {
        let want = count(&place, sql);
        let got = all(&d, query);
        assert_eq!(got.len(), want, "{query}");
        assert!(got.iter().all(check), "{query}: {got:?}");
    }
    // The scenario produced every status the filters name, but for pending.
    for sql in [
        "outcome = 'denied'",
        "outcome = 'rate_limited'",
        "outcome = 'rpc_error'",
        "principal = 'alice'",
    ] {
        assert!(count(&place, sql) > 0, "{sql}");
    }
    // Newest first by default; oldest first on request; the same rows either way.
    let newest = all(&d, "");
    let oldest = all(&d, "order=oldest");
    assert_eq!(newest.len(), count(&place, "1 = 1"));
    let ts = |v: &[Value]| {
        v.iter()
            .map(|r| r["ts_us"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    assert!(ts(&newest).windows(2).all(|w| w[0] >= w[1]));
    assert!(ts(&oldest).windows(2).all(|w| w[0] <= w[1]));
    let mut a: Vec<&str> = newest.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let mut b: Vec<&str> = oldest.iter().map(|r| r["id"].as_str().unwrap()).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    // A record expands to its leaf as stored.
    let one = &all(&d, "tool=get_pay_info&kind=request&principal=alice")[0];
    let detail = d.ok(&format!("/api/v1/records/{}", one["id"].as_str().unwrap()));
    assert_eq!(detail["content"]["state"], "present");
    assert_eq!(detail["content"]["value"]["arguments"]["id"], "E002");
    assert!(
        detail["leaf"].get("payload").is_none(),
        "content is kept apart"
    );
    assert_eq!(detail["tool_class"], "sensitive");
}

#[test]
fn pages_stay_stable_while_a_session_writes() {
    let place = Place::new();
    fill(&place);
    let before: Vec<String> = {
        let c = place.conn();
        let mut st = c.prepare("SELECT id FROM records").unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let d = Dashboard::start(&place.db(), &[]);
    let mut writer = Proxied::start(&place, &["--server-name", "hr", "--durability", "sync"]);
    writer.calls(0);
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut id = 100;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/records?limit=4&cursor={c}"),
            None => "/api/v1/records?limit=4".to_owned(),
        };
        let page = d.ok(&path);
        seen.extend(
            page["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned()),
        );
        // Between pages, the session writes more records.
        id += 1;
        call(&mut writer, id, "get_employee", r#"{"id":"E001"}"#);
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    drop(writer.input.take());
    writer.child.wait().unwrap();
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no record twice");
    for id in &before {
        assert!(
            seen.contains(id),
            "record {id} that existed before paging was skipped"
        );
    }
}

#[test]
fn sessions_stats_and_integrity_describe_the_store() {
    let place = Place::new();
    fill(&place);
    let d = Dashboard::start(&place.db(), &[]);
    let list = d.ok("/api/v1/sessions");
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{list}");
    assert_eq!(sessions[0]["principal"], "bot-7", "newest first");
    assert_eq!(sessions[1]["principal"], "alice");
    assert_eq!(sessions[1]["calls"], 7);
    assert_eq!(sessions[0]["problems"], 1, "the denied call");
    let paged = d.ok("/api/v1/sessions?limit=1");
    assert_eq!(paged["sessions"].as_array().unwrap().len(), 1);
    let rest = d.ok(&format!(
        "/api/v1/sessions?limit=1&cursor={}",
        paged["next_cursor"].as_str().unwrap()
    ));
    assert_eq!(rest["sessions"][0]["principal"], "alice");
    assert!(rest["next_cursor"].is_null());
    assert_eq!(
        d.ok("/api/v1/sessions?principal=alice")["sessions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let id = sessions[1]["session"].as_str().unwrap();
    let one = d.ok(&format!("/api/v1/sessions/{id}"));
    let records = one["records"].as_array().unwrap();
    assert_eq!(records.len(), count(&place, &format!("session = '{id}'")));
    assert!(
        records
            .windows(2)
            .all(|w| w[0]["ts_us"].as_i64() <= w[1]["ts_us"].as_i64()),
        "in order"
    );
    assert_eq!(records[0]["event"], "session_start");
    let (status, err) = d.get("/api/v1/sessions/nope");
    assert_eq!(status, 404);
    assert_eq!(err["error"]["code"], "not_found");

    let stats = d.ok("/api/v1/stats?window=24h");
    assert_eq!(stats["total_invocations"], 9, "{stats}");
    assert_eq!(stats["successes"], 5);
    assert_eq!(stats["errors"], 1);
    assert_eq!(stats["policy_blocks"], 1);
    assert_eq!(stats["rate_limit_hits"], 2);
    assert_eq!(stats["success_rate"], 55.56);
    assert_eq!(stats["error_rate"], 11.11);
    assert!(stats["p95_latency_ms"].as_f64().unwrap() > 0.0);
    let tools = stats["by_tool"].as_array().unwrap();
    assert_eq!(tools[0]["name"], "get_employee");
    assert_eq!(tools[0]["invocations"], 5);
    assert_eq!(tools[0]["rate_limited"], 2);
    let pay = tools.iter().find(|t| t["name"] == "get_pay_info").unwrap();
    assert_eq!(
        (pay["invocations"].as_u64(), pay["blocked"].as_u64()),
        (Some(2), Some(1))
    );
    let who = stats["by_principal"].as_array().unwrap();
    assert_eq!(who[0]["name"], "alice");
    assert_eq!(who[0]["invocations"], 7);
    assert_eq!(d.ok("/api/v1/stats?server=nope")["total_invocations"], 0);
    assert_eq!(
        d.ok("/api/v1/stats?window=1h&until=2000-01-01T00:00:00Z")["total_invocations"],
        0
    );
    assert_eq!(d.get("/api/v1/stats?window=forever").0, 400);

    let v = d.ok("/api/v1/verify");
    assert_eq!(v["ok"], true, "{v}");
    let logs = v["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 2, "one log per warden run");
    for l in logs {
        assert_eq!(l["status"], "ok");
        assert!(
            l["key_fingerprint"]
                .as_str()
                .unwrap()
                .starts_with("warden+")
        );
        assert!(l["last_checkpoint_size"].as_u64().unwrap() > 0);
    }
    drop(d);
    // Tampering with one record's stored content (the arguments it committed to) is reported
    // by a fresh check.
    let edited = place
        .conn()
        .execute(
            "UPDATE content SET body = CAST(replace(CAST(body AS TEXT), 'E002', 'E009') AS BLOB) \
             WHERE digest IN (SELECT content FROM records WHERE target = 'get_pay_info' AND kind = 'request')",
            [],
        )
        .unwrap();
    assert!(edited > 0);
    let d = Dashboard::start(&place.db(), &[]);
    let v = d.ok("/api/v1/verify");
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["status"], "tampered");
    assert!(v["problem"]["log_id"].is_string());
    assert_eq!(v["problem"]["kind"], "content edited", "{v}");
}

#[test]
fn the_stream_sends_new_records_as_they_are_written() {
    let place = Place::new();
    fill(&place);
    let d = Dashboard::start(&place.db(), &[]);
    let mut s = TcpStream::connect(&d.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET /api/v1/stream?tool=get_employee&kind=result HTTP/1.1\r\nHost: {}\r\n\r\n",
        d.addr
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !text.contains("event: ready") {
        assert!(Instant::now() < deadline, "{text}");
        r.read_line(&mut text).unwrap();
    }
    assert!(
        text.to_ascii_lowercase()
            .contains("content-type: text/event-stream"),
        "{text}"
    );
    let mut p = Proxied::start(&place, &["--server-name", "hr", "--principal", "carol"]);
    p.calls(0);
    call(&mut p, 1, "list_employees", "{}");
    call(&mut p, 2, "get_employee", r#"{"id":"E003"}"#);
    let mut events = Vec::new();
    while events.is_empty() {
        assert!(Instant::now() < deadline, "no record event: {text}");
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        text.push_str(&line);
        if let Some(data) = line.strip_prefix("data: ")
            && let Ok(v) = serde_json::from_str::<Value>(data.trim())
            && v.get("id").is_some()
        {
            events.push(v);
        }
    }
    drop(p.input.take());
    p.child.wait().unwrap();
    assert_eq!(events[0]["target"], "get_employee", "filtered: {events:?}");
    assert_eq!(events[0]["kind"], "result");
    assert_eq!(
        events[0]["principal"], "carol",
        "only the new session's record"
    );
    // Resuming from a row id replays what came after it.
    let row = events[0]["row"].as_i64().unwrap();
    let mut s = TcpStream::connect(&d.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /api/v1/stream?principal=carol HTTP/1.1\r\nHost: {}\r\nLast-Event-ID: {}\r\n\r\n",
        d.addr,
        row - 1
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    while !line.contains(&format!("id: {row}")) {
        line.clear();
        r.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "stream ended before row {row}");
    }
    assert_eq!(d.get("/api/v1/stream?cursor=x").0, 400);
}

/// A token strong enough for the admin listener (32 characters or more, not a pattern).
const TOKEN: &str = "9f86d081884c7d65-correct-horse-battery";

#[test]
fn a_non_loopback_listener_needs_a_token_and_static_files_cannot_escape() {
    let place = Place::new();
    fill(&place);
    // Without a token, warden refuses to listen where others can reach it.
    let out = warden()
        .arg("dashboard")
        .arg("--db")
        .arg(place.db())
        .args(["--listen", "0.0.0.0:0"])
        .env_remove("WARDEN_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("set a token"),
        "{out:?}"
    );

    let mut child = warden()
        .arg("dashboard")
        .arg("--db")
        .arg(place.db())
        .args(["--listen", "0.0.0.0:0"])
        .env("WARDEN_ADMIN_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .rsplit(':')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let addr = format!("127.0.0.1:{port}");
    let short = format!("Bearer {}", &TOKEN[..TOKEN.len() - 1]);
    for path in [
        "/api/v1/records",
        "/api/v1/stats",
        "/api/v1/verify",
        "/api/v1/stream",
        "/api/v1/sessions",
        "/api/v1/openapi.json",
        "/api/v1/nope",
    ] {
        for auth in [
            None,
            Some("Bearer wrong"),
            Some(short.as_str()),
            Some(TOKEN),
            Some("Basic Y29ycmVjdC1ob3JzZQ=="),
        ] {
            let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", *a)).collect();
            let (status, body) = http_get(&addr, path, &headers);
            assert_eq!(status, 401, "{path} with {auth:?}: {body}");
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["error"]["code"], "unauthorized");
        }
    }
    let (status, body) = http_get(
        &addr,
        "/api/v1/records?limit=1",
        &[("Authorization", &format!("Bearer {TOKEN}"))],
    );
    assert_eq!(status, 200, "{body}");
    // The dashboard's own files carry no data and load without the token (it asks for it).
    assert_eq!(http_get(&addr, "/", &[]).0, 200);
    for path in [
        "/assets/../Cargo.toml",
        "/assets/..%2f..%2f..%2fCargo.toml",
        "/assets/%2e%2e%2f%2e%2e%2fCargo.toml",
        "/assets/..%5c..%5cCargo.toml",
        "/assets/%2fetc%2fpasswd",
        "/assets//etc/passwd",
        "/assets/app.js/../../../../etc/passwd",
        "/assets/index.html%00.js",
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
    ] {
        let (status, body) = http_get(&addr, path, &[]);
        assert!(status == 404 || status == 400, "{path}: {status}");
        assert!(
            !body.contains("root:") && !body.contains("[package]"),
            "{path}: {body}"
        );
    }
    assert_eq!(http_get(&addr, "/assets/app.js", &[]).0, 200);
    let _killed = child.kill();
    let _waited = child.wait();
}

#[test]
fn errors_are_json_with_a_stable_shape_and_no_internals() {
    let place = Place::new();
    fill(&place);
    let d = Dashboard::start(&place.db(), &[]);
    for (path, status) in [
        ("/api/v1/records?cursor=garbage", 400),
        ("/api/v1/records?limit=0", 400),
        ("/api/v1/records?limit=abc", 400),
        ("/api/v1/records?bogus=1", 400),
        ("/api/v1/records?status=fine", 400),
        ("/api/v1/records?since=yesterday", 400),
        ("/api/v1/records?order=sideways", 400),
        ("/api/v1/records?direction=up", 400),
        ("/api/v1/records/01a00000-0000-7000-8000-000000000000", 404),
        ("/api/v1/nothing", 404),
        ("/api/v1/sessions?cursor=..%2F..", 400),
        ("/api/v1/records/%ff%fe", 400),
        ("/api/v1/sessions/%c0%af", 400),
    ] {
        let (got, v) = d.get(path);
        assert_eq!(got, status, "{path}: {v}");
        let e = &v["error"];
        assert!(
            e["code"].is_string() && e["message"].is_string(),
            "{path}: {v}"
        );
        let text = v.to_string();
        let db = place.db().display().to_string();
        assert!(
            !text.contains(&db) && !text.contains("SQL") && !text.contains("sqlite"),
            "{path}: {text}"
        );
    }
    // The API is read-only: other methods get the same error shape.
    let mut s = TcpStream::connect(&d.addr).unwrap();
    write!(
        s,
        "POST /api/v1/records HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        d.addr
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 405"), "{raw}");
    assert!(raw.contains(r#""code":"method_not_allowed""#), "{raw}");
    // `warden dashboard` shows approvals but does not decide them: it says where to.
    let mut s = std::net::TcpStream::connect(&d.addr).unwrap();
    write!(
        s,
        "POST /api/v1/approvals/x/approve HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        d.addr
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 405"), "{raw}");
    assert!(raw.contains(r#""code":"read_only""#), "{raw}");
    assert!(raw.contains("warden approvals approve"), "{raw}");
    // A missing store is a clear error before listening.
    let out = warden()
        .args(["dashboard", "--listen", "127.0.0.1:0", "--db"])
        .arg(place.dir.path().join("missing.db"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not exist"),
        "{out:?}"
    );
}

#[test]
fn the_openapi_document_is_served_and_names_every_route() {
    let place = Place::new();
    fill(&place);
    let d = Dashboard::start(&place.db(), &[]);
    let served = d.ok("/api/v1/openapi.json");
    let checked_in: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("crates/warden-api/openapi.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(served, checked_in);
    let paths: Vec<&str> = served["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let routes = [
        "/records",
        "/records/{id}",
        "/sessions",
        "/sessions/{id}",
        "/stats",
        "/verify",
        "/logs/{log_id}/checkpoint",
        "/logs/{log_id}/tile/{tile}",
        "/stream",
        "/openapi.json",
        "/approvals",
        "/approvals/{id}",
        "/catalog",
        "/catalog/{server}/{tool}",
    ];
    // Decisions (POST; `warden dashboard` shows approvals and the catalog but decides neither).
    let decisions = [
        "/approvals/{id}/approve",
        "/approvals/{id}/deny",
        "/catalog/{server}/{tool}/approve",
        "/catalog/{server}/{tool}/reject",
        "/catalog/{server}/{tool}/review",
        "/catalog/approve-cosmetic",
    ];
    let mut a = paths.clone();
    a.sort();
    let mut b = [&routes[..], &decisions[..]].concat();
    b.sort();
    assert_eq!(a, b);
    for r in decisions {
        assert!(served["paths"][r]["post"].is_object(), "{r}");
    }
    // Every documented route answers (not the API's 404).
    for r in routes {
        let path = format!(
            "/api/v1{}",
            r.replace("{id}", "x")
                .replace("{server}", "x")
                .replace("{tool}", "x")
                .replace("{log_id}", "x")
                .replace("{tile}", "0/000")
        );
        if r == "/stream" {
            continue;
        }
        let (status, v) = d.get(&path);
        assert!(
            status == 200
                || (r.contains('{')
                    && status == 404
                    && v["error"]["message"].as_str().unwrap().starts_with("no ")),
            "{path}: {status} {v}"
        );
    }
    // Query parameters the document names are accepted by the server.
    for p in served["paths"]["/records"]["get"]["parameters"]
        .as_array()
        .unwrap()
    {
        let name = p["name"].as_str().unwrap();
        let value = match name {
            "since" | "until" => "1h",
            "limit" => "5",
            "order" => "oldest",
            "direction" => "c2s",
            "kind" => "request",
            "status" => "success",
            "outcome" => "ok",
            "cursor" => continue,
            _ => "x",
        };
        let (status, v) = d.get(&format!("/api/v1/records?{name}={value}"));
        assert_eq!(status, 200, "{name}: {v}");
    }
}

#[test]
fn audit_search_has_the_same_filters_and_cursor() {
    let place = Place::new();
    fill(&place);
    let search = |args: &[&str]| {
        let out = warden()
            .args(["audit", "search", "--db"])
            .arg(place.db())
            .args(["--format", "json"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        (v, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (denied, _) = search(&["--status", "denied", "--principal", "bot-7"]);
    assert_eq!(
        denied.len(),
        count(&place, "outcome = 'denied' AND principal = 'bot-7'")
    );
    assert!(denied.iter().all(|l| l["outcome"] == "denied"));
    let (limited, _) = search(&["--status", "rate_limited", "--agent", "crash-test/1"]);
    assert_eq!(limited.len(), 4, "2 requests and 2 answers");
    let (first, note) = search(&["--tool", "get_employee", "--limit", "3", "--newest-first"]);
    assert_eq!(first.len(), 3);
    let cursor = note.split("--cursor ").nth(1).unwrap().trim().to_owned();
    let (second, _) = search(&[
        "--tool",
        "get_employee",
        "--limit",
        "100",
        "--newest-first",
        "--cursor",
        &cursor,
    ]);
    assert_eq!(
        first.len() + second.len(),
        count(&place, "target = 'get_employee'")
    );
    assert!(second.iter().all(|l| !first.contains(l)));
    let out = warden()
        .args(["audit", "search", "--status", "nope", "--db"])
        .arg(place.db())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown status"));
}

#[test]
fn the_report_has_every_section_in_every_format() {
    let place = Place::new();
    fill(&place);
    let session: String = place
        .conn()
        .query_row(
            "SELECT session FROM records WHERE principal = 'bot-7' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let report = |args: &[&str]| {
        let out = warden()
            .args(["report", "html", "--db"])
            .arg(place.db())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let json: Value = serde_json::from_str(&report(&["--format", "json"])).unwrap();
    assert_eq!(json["summary"]["sessions"], 2);
    assert_eq!(json["summary"]["tool_calls"], 9);
    assert_eq!(json["summary"]["denied"], 1);
    assert_eq!(json["summary"]["rate_limited"], 2);
    assert_eq!(json["integrity"]["verdict"], "ok");
    assert_eq!(
        json["tools"][0]["name"], "get_pay_info",
        "sensitive tools first"
    );
    assert_eq!(json["tools"][0]["class"], "sensitive");
    let access = json["data_access"].as_array().unwrap();
    let lookups = access.iter().find(|a| a["tool"] == "get_employee").unwrap();
    assert_eq!(
        lookups["entities"].as_array().unwrap().len(),
        5,
        "E001..E005"
    );
    assert_eq!(json["policy"]["blocked_total"], 3);
    assert!(
        json["policy"]["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["action"] == "deny" && d["rule"] == "no-pay-for-agents")
    );
    assert_eq!(json["failures_total"], 1);
    assert_eq!(json["failures"][0]["tool"], "run_payroll_report");
    let timeline = json["timeline"].as_array().unwrap();
    let denied = timeline.iter().find(|e| e["outcome"] == "denied").unwrap();
    assert_eq!(
        denied["records"].as_array().unwrap().len(),
        2,
        "a refused request pairs with warden's answer"
    );
    assert!(denied["args"].as_str().unwrap().contains("E001"));

    let one: Value =
        serde_json::from_str(&report(&["--format", "json", "--session", &session])).unwrap();
    assert_eq!(one["summary"]["sessions"], 1);
    assert_eq!(one["summary"]["tool_calls"], 2);
    assert_eq!(
        one["integrity"]["logs"].as_array().unwrap().len(),
        1,
        "only the session's log"
    );
    let none: Value = serde_json::from_str(&report(&[
        "--format",
        "json",
        "--to",
        "2000-01-01T00:00:00Z",
    ]))
    .unwrap();
    assert_eq!(none["summary"]["records"], 0);

    assert_eq!(json["summary"]["redacted_records"], 1);
    let redactions = json["policy"]["redactions"].as_array().unwrap();
    assert_eq!(
        redactions[0]["tools"][0], "list_employees",
        "{redactions:?}"
    );
    assert!(!report(&["--format", "json"]).contains("sk-live-0123456789abcdef"));

    let csv = report(&["--format", "csv"]);
    for section in [
        "summary,",
        "tool,",
        "entity,",
        "decision,",
        "blocked,",
        "redaction,",
        "failure,",
        "integrity,",
        "timeline,",
    ] {
        assert!(csv.lines().any(|l| l.starts_with(section)), "{section}");
    }
    assert_eq!(
        csv.lines().filter(|l| l.starts_with("timeline,")).count(),
        timeline.len()
    );
    let md = report(&["--format", "md"]);
    for h in [
        "## Summary",
        "## Tools",
        "## Data access",
        "## Policy decisions",
        "## Redactions",
        "## Failures (1)",
        "## Integrity: ok",
        "## Timeline",
    ] {
        assert!(md.contains(h), "{h}");
    }
    let html = report(&[]);
    for id in [
        "id=\"summary\"",
        "id=\"tools\"",
        "id=\"data-access\"",
        "id=\"policy\"",
        "id=\"failures\"",
        "id=\"integrity\"",
        "id=\"timeline\"",
    ] {
        assert!(html.contains(id), "{id}");
    }
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains("src=\""),
        "self-contained"
    );
    let out = warden()
        .args(["report", "html", "--session", "nope", "--db"])
        .arg(place.db())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no session nope"));
}
