//! Periodic review of catalogued tools, from the policy's catalog metadata: a real Python SDK
//! server's tool past its `next_review` is held under `overdue: quarantine` (hidden, refused
//! with its own reason), `warden catalog review` lists it and fails a scheduled job, and once
//! the review is recorded the running warden lets the tool through again at its next call.

use std::process::Stdio;

use serde_json::Value;

use crate::catalog::{Session, catalog};
use crate::support::*;

const POLICY: &str = r#"
default: allow
catalog:
  overdue: quarantine
  tools:
    - tool: "web:*"
      owner: platform
      risk_tier: 1
    - tool: "web:fetch_page"
      owner: research-team
      purpose: Reads public web pages for the research agent
      data_classification: public
      next_review: "2020-01-01"
      review_every: 30d
"#;

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn an_overdue_review_holds_the_tool_until_it_is_recorded() {
    let Some(peers) = peers() else { return };
    let place = Place::new();
    let policy = place.dir.path().join("policy.yaml");
    std::fs::write(&policy, POLICY).unwrap();
    let p = policy.to_str().unwrap();
    let mut s = Session::start_with(&place, &peers, &[], &["--policy", p], Stdio::inherit());
    assert_eq!(s.tools(1), vec!["rotate"], "the overdue tool is hidden");
    let r = s.fetch(2, "fetch_page");
    assert_eq!(r["error"]["code"], -32018, "{r}");
    assert_eq!(r["error"]["data"]["reason"], "review_overdue");
    assert_eq!(r["error"]["data"]["review_due"], "2020-01-01");
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("warden catalog review web fetch_page"),
        "{msg}"
    );

    // The review list shows it, with its metadata, and fails a scheduled job.
    let out = catalog(&place, &["review", "--policy", p, "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let due: Value = serde_json::from_slice(&out.stdout).unwrap();
    let due = due.as_array().unwrap();
    assert_eq!(due.len(), 1, "{due:?}");
    assert_eq!(due[0]["tool"], "fetch_page");
    assert_eq!(due[0]["owner"], "research-team");
    assert_eq!(due[0]["review_overdue"], true);
    assert_eq!(due[0]["data_classification"], "public");
    let out = catalog(&place, &["review", "--policy", p, "--fail-on-overdue"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("OVERDUE"), "{}", text(&out));

    // The review is recorded by another process; the running warden honours it at once.
    let out = catalog(
        &place,
        &[
            "review",
            "--policy",
            p,
            "web",
            "fetch_page",
            "--as",
            "hana",
            "--reason",
            "still needed",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let r = s.fetch(3, "fetch_page");
    assert!(r["result"].is_object(), "{r}");
    assert_eq!(s.tools(4), vec!["fetch_page", "rotate"]);
    s.stop();

    // Nothing is overdue now; the next review is 30 days out.
    let out = catalog(&place, &["review", "--policy", p, "--fail-on-overdue"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("no review is due"), "{}", text(&out));
    let out = catalog(
        &place,
        &[
            "review", "--policy", p, "--within", "31", "--format", "json",
        ],
    );
    let due: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(due[0]["tool"], "fetch_page", "{due}");
    assert_eq!(due[0]["reviewed_by"], "hana");
    assert_eq!(due[0]["review_overdue"], false);
    let out = catalog(&place, &["list", "--policy", p]);
    assert!(text(&out).contains("research-team"), "{}", text(&out));

    // The review is in the log, which verifies.
    place.assert_verifies();
    let leaves = place.leaves();
    let reviewed: Vec<&Value> = leaves
        .iter()
        .filter(|l| l["event"] == "catalog_tool_reviewed")
        .collect();
    assert_eq!(reviewed.len(), 1);
    let d = &reviewed[0]["detail"];
    assert_eq!(d["by"], "hana");
    assert_eq!(d["reason"], "still needed");
    assert_eq!(d["via"], "cli");
    assert!(d["next_review"].as_str().is_some_and(|n| n > "2020-01-01"));
    // The refusal was recorded: the held call's request, answered by warden, not the server.
    let refused: Vec<&Value> = leaves
        .iter()
        .filter(|l| l["kind"] == "request" && l["target"] == "fetch_page")
        .collect();
    assert_eq!(
        refused.len(),
        2,
        "the refused call and the one after the review"
    );
    assert_eq!(refused[0]["outcome"], "denied", "{:#}", refused[0]);
}

/// A server's identity in the catalog is its command line: a password in it (a connection
/// string) is redacted before the catalog, its records or any other record keep it.
#[test]
fn a_password_in_the_servers_command_line_never_reaches_the_store() {
    use std::io::Write;
    let Some(peers) = peers() else { return };
    let place = Place::new();
    let secret = "hunter2-Zq8vLw3";
    let mut child = warden()
        .args(place.run_args(&["--server-name", "web"]))
        .arg(peers.join("venv/bin/python"))
        .arg(repo_root().join("tests/peers/rugpull_server.py"))
        .arg(format!("postgresql://app:{secret}@127.0.0.1:5432/prod"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let mut output = std::io::BufReader::new(child.stdout.take().unwrap());
    writeln!(input, r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"2025-06-18","capabilities":{{}},"clientInfo":{{"name":"t","version":"1"}}}}}}"#).unwrap();
    let mut line = String::new();
    read_line_within(&mut output, &mut line);
    writeln!(
        input,
        r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
    )
    .unwrap();
    writeln!(input, r#"{{"jsonrpc":"2.0","id":1,"method":"tools/list"}}"#).unwrap();
    line.clear();
    read_line_within(&mut output, &mut line);
    let listed: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        listed["result"]["tools"].as_array().unwrap().len(),
        2,
        "{listed}"
    );
    drop(input);
    assert!(child.wait().unwrap().success());
    place.assert_verifies();
    let out = catalog(&place, &["list", "--format", "json"]);
    let tools: Value = serde_json::from_slice(&out.stdout).unwrap();
    let server = tools[0]["server"].as_str().unwrap();
    assert!(
        server.starts_with("stdio:") && server.contains("[REDACTED"),
        "{server}"
    );
    // No file of the store holds it (the database, its WAL).
    for entry in std::fs::read_dir(place.db().parent().unwrap()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} holds the password",
                path.display()
            );
        }
    }
}

/// `warden serve` takes each server's new tools as its config says: one server's first list
/// waits for review (no baseline, new tools quarantined) while another's is its baseline.
#[test]
fn serve_takes_each_servers_new_tools_as_its_config_says() {
    use crate::browser::response_to;
    use crate::serve::{Served, post_to, session_of};
    let Some(peers) = peers() else { return };
    let place = Place::new();
    let python = peers.join("venv/bin/python");
    let script = repo_root().join("tests/peers/rugpull_server.py");
    // The second server's command differs (an argument the script ignores): its own identity.
    let config = format!(
        "servers:\n  careful: {{ command: [\"{p}\", \"{s}\"], new_tools: quarantine, tool_baseline: false }}\n  trusting: {{ command: [\"{p}\", \"{s}\", \"second\"] }}\n",
        p = python.display(),
        s = script.display()
    );
    let served = Served::start(&place, &config, &[]);
    let list = |path: &str| -> Vec<String> {
        let sid = session_of(&served.addr, path);
        let (status, _, body) = post_to(
            &served.addr,
            path,
            &format!("Mcp-Session-Id: {sid}\r\n"),
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}"#,
        );
        assert_eq!(status, 200, "{body}");
        let mut names: Vec<String> = response_to(&body, 2)["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    };
    assert!(
        list("/mcp/careful").is_empty(),
        "every new tool waits for review"
    );
    assert_eq!(list("/mcp/trusting"), ["fetch_page", "rotate"]);
    served.stop();
    let out = catalog(&place, &["list", "--format", "json"]);
    let tools: Value = serde_json::from_slice(&out.stdout).unwrap();
    let state = |label: &str, name: &str| {
        tools
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["label"] == label && t["name"] == name)
            .map(|t| t["state"].clone())
    };
    assert_eq!(state("careful", "rotate"), Some(Value::from("new")));
    assert_eq!(state("trusting", "rotate"), Some(Value::from("approved")));
    // A value the config does not know stops serve with a clear error.
    let bad = Place::new();
    let config = format!(
        "servers:\n  x: {{ command: [\"{}\"], new_tools: maybe }}\n",
        python.display()
    );
    let path = bad.dir.path().join("bad.yaml");
    std::fs::write(&path, config).unwrap();
    let out = warden()
        .args(["serve", "--config"])
        .arg(&path)
        .arg("--db")
        .arg(bad.db())
        .arg("--key-dir")
        .arg(bad.keys())
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("new_tools: \"maybe\" is not one of"), "{err}");
}
