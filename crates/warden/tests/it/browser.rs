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
fn the_dashboard_approvals_queue_shows_a_pending_call_and_approves_it_as_the_key_holder() {
    use warden_audit::approvals::{ApprovalStore, GrantKind, NewApproval, SqliteApprovals, Status};

    let Some((python, chromium)) = browser() else {
        return;
    };
    let place = Place::new();
    let (alice, sam) = ("k-alice-approvals-01234", "k-sam-approvals-56789");
    let config = format!(
        "servers:\n  hr: {{ command: [\"{}\", \"demo-server\"] }}\nauth:\n  api_keys:\n    - {{ key_sha256: \"{}\", principal: \"alice@example.com\" }}\n    - {{ key_sha256: \"{}\", principal: \"sam@example.com\", roles: [security] }}\n",
        warden_bin().display(),
        crate::serve::sha256_hex(alice),
        crate::serve::sha256_hex(sam)
    );
    let served = crate::serve::Served::start(&place, &config, &["--admin-listen", "127.0.0.1:0"]);
    let admin = served.admin.clone().unwrap();
    // A call of alice's waiting for someone with role `security`, as the proxy admits it.
    let approvals = SqliteApprovals::open(&place.db()).unwrap();
    approvals
        .admit(
            NewApproval {
                id: "appr-browser-1".into(),
                action_hash: "9f2c4e6a8b0d1f3e5a7c9b1d3f5e7a9c0b2d4f6e8a1c3e5b7d9f1a3c5e7b9d1f"
                    .into(),
                server: "hr".into(),
                method: "tools/call".into(),
                tool: Some("submit_time_off".into()),
                principal: Some("alice@example.com".into()),
                agent: Some("claude-code/2.1".into()),
                session: "browser-session".into(),
                rule: Some("approve-time-off".into()),
                policy: None,
                approvers: vec!["role:security".into()],
                grant: GrantKind::Once,
                self_approval: false,
                arguments: Some(serde_json::json!({"id": "E004", "note": "[REDACTED]"})),
                timeout_ms: 600_000,
                log_id: None,
                request_record: None,
            },
            warden_audit::now_us(),
        )
        .unwrap();
    run_script(
        &python,
        "approvals.py",
        &[
            format!("http://{admin}/"),
            artifacts().display().to_string(),
            chromium.display().to_string(),
            "appr-browser-1".into(),
            sam.into(),
            "sam@example.com".into(),
        ],
    );
    let a = approvals.get("appr-browser-1").unwrap().unwrap();
    assert_eq!(a.status, Status::Approved);
    assert_eq!(a.decided_by.as_deref(), Some("sam@example.com"));
    assert_eq!(a.decided_roles, ["security"]);
    assert_eq!(a.channel.as_deref(), Some("dashboard"));
    assert_eq!(a.reason.as_deref(), Some("checked with HR"));
    served.stop();
    // serve's own log holds the decision, and still verifies.
    let by: Vec<String> = rusqlite::Connection::open(place.db())
        .unwrap()
        .prepare(
            "SELECT principal FROM records WHERE session = 'browser-session' \
             AND json_extract(CAST(leaf AS TEXT), '$.event') = 'approval_decided'",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(by, ["sam@example.com"]);
    let v = place.verify();
    assert!(v.status.success(), "{v:?}");
}
