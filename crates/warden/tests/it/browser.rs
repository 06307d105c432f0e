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
