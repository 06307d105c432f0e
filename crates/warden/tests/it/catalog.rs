//! The tool catalog against a rug pull: a real Python SDK server changes a tool's description
//! mid-session (`notifications/tools/list_changed`), and through `warden run` the changed tool
//! disappears from `tools/list`, its calls are refused, the diff is classified, and after
//! `warden catalog approve` it works again; the quarantine holds across a restart, and a
//! rename with the same schema is flagged. warden also re-reads the list itself on the
//! server's `notifications/tools/list_changed`, so the changed tool is refused before the client
//! lists again.

use std::io::{BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};

use serde_json::{Value, json};

use crate::support::*;

pub(crate) struct Session {
    child: Child,
    input: Option<ChildStdin>,
    output: BufReader<ChildStdout>,
    /// Every message the client received.
    received: Vec<Value>,
}

impl Session {
    fn start(place: &Place, peers: &std::path::Path, env: &[(&str, &str)]) -> Session {
        Session::start_with(place, peers, env, &[], Stdio::inherit())
    }

    pub(crate) fn start_with(
        place: &Place,
        peers: &std::path::Path,
        env: &[(&str, &str)],
        flags: &[&str],
        stderr: Stdio,
    ) -> Session {
        let mut child = warden()
            .args(place.run_args(&[&["--server-name", "web"], flags].concat()))
            .arg(peers.join("venv/bin/python"))
            .arg(repo_root().join("tests/peers/rugpull_server.py"))
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let input = child.stdin.take();
        let output = BufReader::new(child.stdout.take().unwrap());
        let mut s = Session {
            child,
            input,
            output,
            received: Vec::new(),
        };
        s.rpc(0, "initialize", json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "catalog-test", "version": "1"}}));
        s.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        s
    }

    fn send(&mut self, v: &Value) {
        let w = self.input.as_mut().unwrap();
        writeln!(w, "{v}").unwrap();
        w.flush().unwrap();
    }

    /// Sends a request and returns its response, passing over notifications.
    pub(crate) fn rpc(&mut self, id: u32, method: &str, params: Value) -> Value {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let mut line = String::new();
            read_line_within(&mut self.output, &mut line);
            let v: Value = serde_json::from_str(&line).unwrap();
            self.received.push(v.clone());
            if v["id"] == id {
                return v;
            }
        }
    }

    pub(crate) fn tools(&mut self, id: u32) -> Vec<String> {
        let r = self.rpc(id, "tools/list", json!({}));
        r["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    pub(crate) fn fetch(&mut self, id: u32, tool: &str) -> Value {
        self.rpc(
            id,
            "tools/call",
            json!({"name": tool, "arguments": {"url": "https://example.com"}}),
        )
    }

    pub(crate) fn stop(mut self) -> Vec<Value> {
        drop(self.input.take());
        assert!(self.child.wait().unwrap().success());
        self.received
    }
}

pub(crate) fn catalog(place: &Place, args: &[&str]) -> std::process::Output {
    let mut c = warden();
    c.arg("catalog").args(args).arg("--db").arg(place.db());
    if matches!(args[0], "approve" | "reject" | "review") {
        c.arg("--key-dir").arg(place.keys());
    }
    c.output().unwrap()
}

#[test]
fn a_rug_pull_is_quarantined_until_approved_across_a_restart_and_a_rename_is_flagged() {
    let Some(peers) = peers() else { return };
    let place = Place::new();
    let mut s = Session::start(&place, &peers, &[]);
    assert_eq!(s.tools(1), ["fetch_page", "rotate"]);
    assert_eq!(s.fetch(2, "fetch_page")["result"]["isError"], false);
    // The rug pull: the server rewrites the description and says its list changed.
    let rotated = s.rpc(3, "tools/call", json!({"name": "rotate", "arguments": {}}));
    assert_eq!(rotated["result"]["isError"], false, "{rotated}");
    assert_eq!(s.tools(4), ["rotate"], "the changed tool is hidden");
    let refused = s.fetch(5, "fetch_page");
    assert_eq!(refused["error"]["code"], -32018, "{refused}");
    assert_eq!(refused["error"]["data"]["reason"], "tool_quarantined");
    s.stop();

    // A restart: the server comes back with the changed description; still quarantined.
    let mut s = Session::start(&place, &peers, &[("RUGPULL_CHANGED", "1")]);
    assert_eq!(s.tools(1), ["rotate"]);
    assert_eq!(s.fetch(2, "fetch_page")["error"]["code"], -32018);
    let diff = catalog(&place, &["diff", "web", "fetch_page", "--format", "json"]);
    assert!(
        diff.status.success(),
        "{}",
        String::from_utf8_lossy(&diff.stderr)
    );
    let d: Value = serde_json::from_slice(&diff.stdout).unwrap();
    assert_eq!(d["changes"][0]["class"], "risk-raising", "{d:#}");
    assert!(
        d["description"].as_str().unwrap().contains("{+<IMPORTANT>"),
        "{d:#}"
    );
    let ok = catalog(
        &place,
        &[
            "approve",
            "web",
            "fetch_page",
            "--reason",
            "reviewed",
            "--as",
            "sec",
        ],
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // Approved: callable at once, and listed again.
    assert_eq!(s.fetch(3, "fetch_page")["result"]["isError"], false);
    assert_eq!(s.tools(4), ["fetch_page", "rotate"]);
    s.stop();

    // A rename: fetch_page is gone and get_page has its schema: flagged, not silently new.
    let mut s = Session::start(&place, &peers, &[("RUGPULL_RENAMED", "1")]);
    assert_eq!(s.tools(1), ["rotate"]);
    assert_eq!(
        s.fetch(2, "get_page")["error"]["data"]["reason"],
        "tool_quarantined"
    );
    s.stop();
    let list = catalog(&place, &["list", "--format", "json"]);
    let tools: Value = serde_json::from_slice(&list.stdout).unwrap();
    let renamed = tools
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "get_page")
        .unwrap();
    assert_eq!(renamed["state"], "new");
    assert_eq!(renamed["renamed_from"], "fetch_page");

    let leaves = place.leaves();
    let changed: Vec<&Value> = leaves
        .iter()
        .filter(|l| l["event"] == "catalog_tool_changed")
        .collect();
    assert_eq!(changed.len(), 1, "the change is recorded once");
    assert_eq!(changed[0]["detail"]["class"], "risk-raising");
    let decided = leaves
        .iter()
        .find(|l| l["event"] == "catalog_tool_decided")
        .unwrap();
    assert_eq!(decided["detail"]["state"], "approved");
    assert_eq!(decided["detail"]["by"], "sec");
    assert!(
        leaves
            .iter()
            .any(|l| l["event"] == "catalog_tool_first_seen"
                && l["detail"]["renamed_from"] == "fetch_page")
    );
    place.assert_verifies();
}

/// Lines of `from` (warden's stderr), as they come, on a channel.
fn lines_of(from: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(BufReader::new(from)) {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[test]
fn on_list_changed_warden_re_reads_the_list_and_refuses_the_changed_tool_before_the_client_lists() {
    let Some(peers) = peers() else { return };
    let place = Place::new();
    // Security events on stderr: the tool-definition change is the event waited for.
    let mut s = Session::start_with(
        &place,
        &peers,
        &[],
        &["--security-events", "-"],
        Stdio::piped(),
    );
    let events = lines_of(s.child.stderr.take().unwrap());
    assert_eq!(s.tools(1), ["fetch_page", "rotate"]);
    let rotated = s.rpc(2, "tools/call", json!({"name": "rotate", "arguments": {}}));
    assert_eq!(rotated["result"]["isError"], false, "{rotated}");
    // The client does not list again: warden's own tools/list finds the change.
    let mut seen = Vec::new();
    loop {
        let line = events
            .recv_timeout(std::time::Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no tool-definition change reported; stderr: {seen:#?}"));
        let event: Value = serde_json::from_str(&line).unwrap_or_default();
        if event["event"] == "mcp_tool_definition_changed" {
            assert_eq!(event["tool"], "fetch_page", "{event}");
            break;
        }
        seen.push(line);
    }
    let refused = s.fetch(3, "fetch_page");
    assert_eq!(refused["error"]["code"], -32018, "{refused}");
    assert_eq!(refused["error"]["data"]["reason"], "tool_quarantined");
    let received = s.stop();
    // The client got the notification, and a response to its own ids only.
    assert!(
        received
            .iter()
            .any(|m| m["method"] == "notifications/tools/list_changed")
    );
    for m in &received {
        if m.get("method").is_none() {
            assert!(
                [0, 1, 2, 3].contains(&m["id"].as_u64().unwrap_or(99)),
                "{m}"
            );
        }
    }

    // warden's own exchange is in the log: its request to the server, the server's answer.
    let leaves = place.leaves();
    let own: Vec<&Value> = leaves
        .iter()
        .filter(|l| {
            l["rpc_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("warden-relist-"))
        })
        .collect();
    let asked = own
        .iter()
        .find(|l| l["kind"] == "request")
        .expect("warden's tools/list is recorded");
    assert_eq!(asked["method"], "tools/list");
    assert_eq!(asked["dir"], "c2s");
    assert_eq!(asked["detail"]["origin"], "gateway");
    let answer = own
        .iter()
        .find(|l| l["kind"] == "result")
        .expect("the server's answer is recorded");
    assert_eq!(answer["dir"], "s2c");
    assert_eq!(answer["exchange"], asked["exchange"]);
    assert_eq!(answer["detail"]["forwarded"], false);
    let changed: Vec<&Value> = leaves
        .iter()
        .filter(|l| l["event"] == "catalog_tool_changed")
        .collect();
    assert_eq!(changed.len(), 1, "the change is recorded once");
    assert_eq!(changed[0]["detail"]["class"], "risk-raising");
    place.assert_verifies();
}

#[test]
fn bulk_approval_approves_the_cosmetic_change_only_and_the_running_warden_honours_it() {
    let Some(peers) = peers() else { return };
    let place = Place::new();
    let mut s = Session::start(&place, &peers, &[]);
    assert_eq!(s.tools(1), ["fetch_page", "rotate"], "the baseline");
    s.stop();
    // Back with fetch_page poisoned (risk-raising) and rotate restyled (cosmetic): both held.
    let mut s = Session::start(
        &place,
        &peers,
        &[("RUGPULL_CHANGED", "1"), ("RUGPULL_RESTYLED", "1")],
    );
    assert_eq!(s.tools(1), Vec::<String>::new());
    let out = catalog(
        &place,
        &[
            "approve",
            "--cosmetic",
            "web",
            "--reason",
            "wording only",
            "--as",
            "sec",
        ],
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("approved rotate"), "{said}");
    assert!(said.contains("left     fetch_page"), "{said}");
    assert!(said.contains("risk-raising"), "{said}");
    // The running warden lists the approved tool again; the poisoned one stays refused.
    assert_eq!(s.tools(2), ["rotate"]);
    assert_eq!(s.fetch(3, "fetch_page")["error"]["code"], -32018);
    s.stop();
    // Naming a tool with --cosmetic is refused.
    let both = catalog(&place, &["approve", "--cosmetic", "web", "fetch_page"]);
    assert!(!both.status.success());

    let leaves = place.leaves();
    let decided: Vec<&Value> = leaves
        .iter()
        .filter(|l| l["event"] == "catalog_tool_decided")
        .collect();
    assert_eq!(decided.len(), 1, "{decided:#?}");
    let d = &decided[0]["detail"];
    assert_eq!(d["tool"], "rotate");
    assert_eq!(d["state"], "approved");
    assert_eq!(d["was"], "changed");
    assert_eq!(d["class"], "cosmetic");
    assert_eq!(d["bulk"], "cosmetic");
    assert_eq!(d["via"], "cli");
    assert_eq!(d["by"], "sec");
    place.assert_verifies();
}

/// A client may call a tool from a list it kept: the catalog's state counts even when this
/// warden has not seen the tool listed (a restart), and under `--new-tools quarantine` a tool
/// never listed at all is not approved.
#[test]
fn a_call_without_a_list_is_judged_by_the_stored_catalog() {
    let Some(peers) = peers() else { return };
    let place = Place::new();
    let mut s = Session::start(&place, &peers, &[]);
    assert_eq!(s.tools(1), ["fetch_page", "rotate"]);
    let rotated = s.rpc(2, "tools/call", json!({"name": "rotate", "arguments": {}}));
    assert_eq!(rotated["result"]["isError"], false, "{rotated}");
    assert_eq!(s.tools(3), ["rotate"]);
    s.stop();
    // Restarted; the client calls the quarantined tool straight away, from its old list.
    let mut s = Session::start(&place, &peers, &[("RUGPULL_CHANGED", "1")]);
    let refused = s.fetch(1, "fetch_page");
    assert_eq!(refused["error"]["code"], -32018, "{refused}");
    assert_eq!(refused["error"]["data"]["state"], "changed");
    // An approved tool is callable without a list.
    let r = s.rpc(2, "tools/call", json!({"name": "rotate", "arguments": {}}));
    assert_eq!(r["result"]["isError"], false, "{r}");
    s.stop();

    // Under --new-tools quarantine, a never-listed tool of a new server is not approved...
    let other = Place::new();
    let mut s = Session::start_with(
        &other,
        &peers,
        &[],
        &["--new-tools", "quarantine"],
        Stdio::inherit(),
    );
    let refused = s.rpc(1, "tools/call", json!({"name": "rotate", "arguments": {}}));
    assert_eq!(refused["error"]["code"], -32018, "{refused}");
    assert_eq!(refused["error"]["data"]["reason"], "tool_quarantined");
    // ...until the server's first list is taken as its baseline.
    assert_eq!(s.tools(2), ["fetch_page", "rotate"]);
    let r = s.rpc(3, "tools/call", json!({"name": "rotate", "arguments": {}}));
    assert_eq!(r["result"]["isError"], false, "{r}");
    s.stop();
    other.assert_verifies();
}
