//! The dashboard and the report in real headless Chromium (Debian's `chromium`, driven by
//! Playwright for Python from the peers venv; no browser download). Screenshots are kept
//! under `target/test-artifacts/`.

use std::path::PathBuf;
use std::process::Command;

use crate::admin::{Dashboard, fill};
use crate::support::*;

/// `(python, chromium)`, or `None` to skip (loudly; under CI a missing tool is a failure).
fn browser() -> Option<(PathBuf, PathBuf)> {
    let chromium = std::env::var_os("WARDEN_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    let peers = peers();
    let python = peers.as_ref().map(|p| p.join("venv/bin/python"));
    let playwright = python.as_ref().is_some_and(|py| {
        Command::new(py)
            .args(["-c", "import playwright"])
            .status()
            .is_ok_and(|s| s.success())
    });
    let missing = match (chromium.exists(), playwright) {
        (true, true) => return python.map(|py| (py, chromium)),
        (false, _) => format!("{} (apt-get install chromium)", chromium.display()),
        (true, false) => "playwright in the peers venv (scripts/install-peers.sh)".to_owned(),
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "browser test needs {missing}"
    );
    eprintln!("skipped: browser test needs {missing}");
    None
}

fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run_script(python: &PathBuf, script: &str, args: &[String]) {
    let out = Command::new(python)
        .arg(repo_root().join("tests/browser").join(script))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{script} failed:\n{text}");
    assert!(text.contains("all checks passed"), "{text}");
}

#[test]
fn the_dashboard_loads_filters_expands_and_follows_a_live_session() {
    let Some((python, chromium)) = browser() else {
        return;
    };
    let place = Place::new();
    fill(&place);
    let d = Dashboard::start(&place.db(), &[]);
    run_script(
        &python,
        "dashboard.py",
        &[
            d.url(),
            artifacts().display().to_string(),
            warden_bin().display().to_string(),
            place.db().display().to_string(),
            place.keys().display().to_string(),
            chromium.display().to_string(),
        ],
    );
}

#[test]
fn the_demo_report_opens_offline_with_every_section_and_expands() {
    let Some((python, chromium)) = browser() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let out = warden().arg("demo").arg("--db").arg(&db).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let session: String = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT session FROM records WHERE target = 'get_pay_info' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let report = artifacts().join("demo-report.html");
    let out = warden()
        .args(["report", "html", "--db"])
        .arg(&db)
        .args(["--session", &session, "--out"])
        .arg(&report)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    run_script(
        &python,
        "report.py",
        &[
            report.display().to_string(),
            artifacts().display().to_string(),
            chromium.display().to_string(),
        ],
    );
}

#[test]
fn the_dashboard_approvals_queue_approves_a_held_serve_call_as_the_key_holder() {
    use crate::serve::{Served, post_to, session_id, sha256_hex};
    use warden_audit::approvals::{ApprovalFilter, ApprovalStore, SqliteApprovals, Status};

    let Some((python, chromium)) = browser() else {
        return;
    };
    let place = Place::new();
    let (alice, sam) = ("k-alice-approvals-01234", "k-sam-approvals-56789");
    let policy = place.dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "default: allow\npolicies:\n  - name: approve-time-off\n    tool_pattern: \"hr:submit_time_off\"\n    action: approve\n    approvers: [\"role:security\"]\n    approval: { timeout: 10m, hold: 50s }\n",
    )
    .unwrap();
    let config = format!(
        "servers:\n  hr: {{ command: [\"{}\", \"demo-server\"] }}\nauth:\n  api_keys:\n    - {{ key_sha256: \"{}\", principal: \"alice@example.com\" }}\n    - {{ key_sha256: \"{}\", principal: \"sam@example.com\", roles: [security] }}\n",
        warden_bin().display(),
        sha256_hex(alice),
        sha256_hex(sam)
    );
    let served = Served::start(
        &place,
        &config,
        &[
            "--admin-listen",
            "127.0.0.1:0",
            "--policy",
            policy.to_str().unwrap(),
        ],
    );
    let admin = served.admin.clone().unwrap();
    // alice's client asks to submit time off; warden holds the call for approval.
    let addr = served.addr.clone();
    let held = std::thread::spawn(move || {
        let auth = format!("Authorization: Bearer {alice}\r\n");
        let (status, head, _) = post_to(&addr, "/mcp/hr", &auth, crate::serve::INIT);
        assert_eq!(status, 200, "{head}");
        let sid = session_id(&head);
        let headers = format!("{auth}Mcp-Session-Id: {sid}\r\n");
        let (status, _, _) = post_to(
            &addr,
            "/mcp/hr",
            &headers,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        );
        assert_eq!(status, 202);
        post_to(
            &addr,
            "/mcp/hr",
            &headers,
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"submit_time_off","arguments":{"id":"E004","from":"2026-12-24","to":"2026-12-31","password":"hunter2-in-the-args"}}}"#,
        )
    });
    run_script(
        &python,
        "approvals.py",
        &[
            format!("http://{admin}/"),
            artifacts().display().to_string(),
            chromium.display().to_string(),
            sam.into(),
            "sam@example.com".into(),
        ],
    );
    // The held call completes with the server's real answer.
    let (status, _, body) = held.join().unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("TO-") && body.contains("submitted"), "{body}");
    assert!(!body.contains("isError\":true"), "{body}");
    let approvals = SqliteApprovals::open(&place.db()).unwrap();
    let all = approvals.list(&ApprovalFilter::default()).unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    let a = &all[0];
    assert_eq!(a.status, Status::Approved);
    assert_eq!(a.principal.as_deref(), Some("alice@example.com"));
    assert_eq!(a.decided_by.as_deref(), Some("sam@example.com"));
    assert_eq!(a.decided_roles, ["security"]);
    assert_eq!(a.channel.as_deref(), Some("dashboard"));
    assert_eq!(a.reason.as_deref(), Some("checked with HR"));
    assert_eq!(a.uses, 1);
    served.stop();
    // serve's log holds the request, the dashboard's decision and the forwarded call, and
    // still verifies.
    let leaves = place.leaves();
    let named = |event: &str| {
        leaves
            .iter()
            .filter(|l| l["event"] == event && l["detail"]["approval"]["id"] == a.id.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(named("approval_requested").len(), 1);
    let decided = named("approval_decided");
    assert_eq!(decided.len(), 1);
    assert_eq!(decided[0]["detail"]["approval"]["by"], "sam@example.com");
    assert_eq!(decided[0]["detail"]["approval"]["channel"], "dashboard");
    assert_eq!(named("approval_forwarded").len(), 1);
    place.assert_verifies();
}

/// The JSON-RPC response with `id` in a streamable HTTP answer (one JSON body, or SSE events).
pub(crate) fn response_to(body: &str, id: u64) -> serde_json::Value {
    let whole = std::iter::once(body.trim());
    let events = body
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim);
    whole
        .chain(events)
        .filter_map(|t| serde_json::from_str::<serde_json::Value>(t).ok())
        .find(|v| v["id"] == id)
        .unwrap_or_else(|| panic!("no response {id} in {body}"))
}

#[test]
fn the_dashboard_catalog_shows_a_rug_pull_with_its_diff_and_approves_it_as_the_key_holder() {
    use crate::serve::{INIT, Served, post_to, session_id, sha256_hex};
    use warden_audit::catalog::{CatalogStore, SqliteCatalog, State};

    let Some((python, chromium)) = browser() else {
        return;
    };
    let Some(peers) = peers() else { return };
    let place = Place::new();
    let (alice, sam) = ("k-alice-catalog-01234567", "k-sam-catalog-89abcdef");
    let config = format!(
        "servers:\n  web: {{ command: [\"{}\", \"{}\"] }}\nauth:\n  api_keys:\n    - {{ key_sha256: \"{}\", principal: \"alice@example.com\" }}\n    - {{ key_sha256: \"{}\", principal: \"sam@example.com\", roles: [security] }}\n",
        peers.join("venv/bin/python").display(),
        repo_root().join("tests/peers/rugpull_server.py").display(),
        sha256_hex(alice),
        sha256_hex(sam)
    );
    // Catalog metadata for the page to show beside each tool.
    let policy = place.dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "default: allow\ncatalog:\n  tools:\n    - tool: \"web:fetch_page\"\n      owner: research-team\n      risk_tier: 2\n      data_classification: public\n      next_review: \"2099-01-01\"\n",
    )
    .unwrap();
    let served = Served::start(
        &place,
        &config,
        &[
            "--admin-listen",
            "127.0.0.1:0",
            "--policy",
            policy.to_str().unwrap(),
        ],
    );
    let admin = served.admin.clone().unwrap();
    let auth = format!("Authorization: Bearer {alice}\r\n");
    let (status, head, _) = post_to(&served.addr, "/mcp/web", &auth, INIT);
    assert_eq!(status, 200, "{head}");
    let headers = format!("{auth}Mcp-Session-Id: {}\r\n", session_id(&head));
    let rpc = |id: u64, method: &str, params: &str| {
        let (status, _, body) = post_to(
            &served.addr,
            "/mcp/web",
            &headers,
            &format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{params}}}"#),
        );
        assert_eq!(status, 200, "{body}");
        response_to(&body, id)
    };
    let (status, _, _) = post_to(
        &served.addr,
        "/mcp/web",
        &headers,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    );
    assert_eq!(status, 202);
    let tools = |id| {
        let mut names: Vec<String> = rpc(id, "tools/list", "{}")["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    };
    let fetch = r#"{"name":"fetch_page","arguments":{"url":"https://example.com"}}"#;
    assert_eq!(tools(2), ["fetch_page", "rotate"]);
    // The rug pull: fetch_page's description now addresses the model.
    let rotated = rpc(3, "tools/call", r#"{"name":"rotate","arguments":{}}"#);
    assert_eq!(rotated["result"]["isError"], false, "{rotated}");
    assert_eq!(tools(4), ["rotate"], "the changed tool is hidden");
    let refused = rpc(5, "tools/call", fetch);
    assert_eq!(refused["error"]["code"], -32018, "{refused}");

    run_script(
        &python,
        "catalog.py",
        &[
            format!("http://{admin}/"),
            artifacts().display().to_string(),
            chromium.display().to_string(),
            sam.into(),
            "sam@example.com".into(),
        ],
    );
    // Approved on the dashboard: the same session calls it again and lists it.
    let called = rpc(6, "tools/call", fetch);
    assert_eq!(called["result"]["isError"], false, "{called}");
    assert!(
        called.to_string().contains("fetched https://example.com"),
        "{called}"
    );
    assert_eq!(tools(7), ["fetch_page", "rotate"]);
    let catalog = SqliteCatalog::open(&place.db()).unwrap();
    let t = catalog
        .list(None)
        .unwrap()
        .into_iter()
        .find(|t| t.name == "fetch_page")
        .unwrap();
    assert_eq!(t.state, State::Approved);
    assert_eq!(t.decided_by.as_deref(), Some("sam@example.com"));
    assert_eq!(t.reason.as_deref(), Some("reviewed the new description"));
    assert!(
        t.definition["description"]
            .as_str()
            .unwrap()
            .contains("id_rsa")
    );
    served.stop();
    // serve's log holds the change and the dashboard's decision, and still verifies.
    let leaves = place.leaves();
    let decided: Vec<_> = leaves
        .iter()
        .filter(|l| l["event"] == "catalog_tool_decided")
        .collect();
    assert_eq!(decided.len(), 1, "{decided:?}");
    let d = &decided[0]["detail"];
    assert_eq!(d["tool"], "fetch_page");
    assert_eq!(d["was"], "changed");
    assert_eq!(d["state"], "approved");
    assert_eq!(d["by"], "sam@example.com");
    assert_eq!(d["via"], "dashboard");
    assert_eq!(d["pin"], t.pin.as_str());
    assert!(leaves.iter().any(|l| l["event"] == "catalog_tool_changed"));
    place.assert_verifies();
}
