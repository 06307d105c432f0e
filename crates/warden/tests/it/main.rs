//! End-to-end tests of the `warden` binary with real peers: the demo, the official
//! server-everything and server-filesystem driven by the official Python SDK, crashes and
//! signals, and tampering with a recorded store.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns panic on failure by design

mod admin;
mod approvals;
mod audit_readers;
mod browser;
mod c2sp;
mod catalog;
mod catalog_review;
mod conformance;
mod crash;
mod differential;
mod guide_policy;
mod listeners;
mod observe;
mod paths;
mod peers;
mod pipelining;
mod policy;
mod policy_dir;
mod principals;
mod protocol;
mod redaction;
mod retention;
mod routing;
mod serve;
mod setup;
mod shared;
mod smuggling;
mod store_failure;
mod support;
mod tamper;
mod witnessing;

use support::*;

#[test]
fn demo_runs_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let out = warden()
        .arg("demo")
        .arg("--db")
        .arg(dir.path().join("d.db"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("verify: OK"), "{text}");
    assert!(text.contains("get_pay_info"), "{text}");
    assert!(text.contains("rpc_error"), "{text}");
    assert!(text.contains("get_pay_info: sensitive (config)"), "{text}");
    assert!(
        text.contains("list_employees: read (annotations)"),
        "{text}"
    );
    assert!(
        text.contains("submit_time_off: write (annotations)"),
        "{text}"
    );
}

#[test]
fn every_command_has_help_with_an_example() {
    for cmd in [
        vec!["run"],
        vec!["demo"],
        vec!["audit", "verify"],
        vec!["audit", "search"],
        vec!["audit", "tail"],
        vec!["audit", "export"],
        vec!["audit", "export-tiles"],
        vec!["audit", "prove"],
        vec!["audit", "verify-proof"],
        vec!["keys", "generate"],
        vec!["keys", "export"],
        vec!["policy", "check"],
        vec!["policy", "test"],
        vec!["policy", "explain"],
        vec!["policy", "history"],
        vec!["budgets"],
        vec!["dashboard"],
        vec!["report", "html"],
        vec!["report", "daily"],
        vec!["witness", "keygen"],
        vec!["witness", "serve"],
    ] {
        let out = warden().args(&cmd).arg("--help").output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{cmd:?}");
        assert!(
            text.contains("Example"),
            "{cmd:?} --help has no example:\n{text}"
        );
    }
}

#[test]
fn usage_errors_exit_2_and_missing_server_is_reported() {
    let out = warden()
        .args(["audit", "verify", "--bogus"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    let out = warden()
        .arg("run")
        .arg("--db")
        .arg(dir.path().join("a.db"))
        .arg("--key-dir")
        .arg(dir.path().join("k"))
        .args(["--", "/nonexistent/server"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot start server `/nonexistent/server`"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "nothing but MCP traffic on stdout");
}
