//! The official server-everything and server-filesystem through `warden run`, driven by the
//! official Python MCP SDK; then the records of everything they did.

use std::process::Command;

use serde_json::Value;

use crate::support::*;

pub(crate) fn by(leaves: &[Value], f: impl Fn(&Value) -> bool) -> Vec<&Value> {
    leaves.iter().filter(|l| f(l)).collect()
}

pub(crate) fn is(l: &Value, dir: &str, kind: &str, method: &str) -> bool {
    l["dir"] == dir && l["kind"] == kind && l["method"] == method
}

/// The request record and the response record of one server→client request method.
fn server_request_answered(leaves: &[Value], method: &str) {
    let reqs = by(leaves, |l| is(l, "s2c", "request", method));
    assert!(!reqs.is_empty(), "no {method} request recorded");
    for r in reqs {
        let ex = &r["exchange"];
        let resp = by(leaves, |l| {
            l["exchange"] == *ex && l["dir"] == "c2s" && l["kind"] == "result"
        });
        assert_eq!(
            resp.len(),
            1,
            "{method} exchange {ex} has no client response"
        );
        assert_eq!(resp[0]["outcome"], "ok");
        assert!(resp[0]["duration_us"].as_u64().is_some());
        assert!(
            resp[0]["result_hash"]
                .as_str()
                .unwrap()
                .starts_with("hmac-sha256:")
        );
    }
}

pub(crate) fn call_exchange<'a>(leaves: &'a [Value], tool: &str) -> &'a Value {
    let req = by(leaves, |l| {
        is(l, "c2s", "request", "tools/call") && l["target"] == tool
    });
    assert_eq!(req.len(), 1, "one tools/call {tool} request");
    let ex = &req[0]["exchange"];
    let resp = by(leaves, |l| {
        l["exchange"] == *ex && l["dir"] == "s2c" && l["kind"] == "result"
    });
    assert_eq!(resp.len(), 1, "tools/call {tool} has one result");
    assert_eq!(resp[0]["outcome"], "ok");
    assert_eq!(resp[0]["target"], tool);
    assert!(resp[0]["duration_us"].as_u64().unwrap() > 0);
    ex
}

#[test]
fn server_everything_through_warden_with_the_python_sdk() {
    let Some(peers) = peers() else { return };
    let place = Place::new();
    let result = place.dir.path().join("result.json");
    let out = Command::new(peers.join("venv/bin/python"))
        .arg(repo_root().join("tests/peers/everything_client.py"))
        .arg("--out")
        .arg(&result)
        .arg("--root")
        .arg(place.dir.path())
        .arg("--")
        .arg(warden_bin())
        .args(place.run_args(&["--server-name", "everything"]))
        .arg("node")
        .arg(peers.join("node/node_modules/@modelcontextprotocol/server-everything/dist/index.js"))
        .arg("stdio")
        .output()
        .unwrap();
    check_everything_report(&result, &out);
    check_everything_records(&place.leaves(), 1_000_000);
    place.assert_verifies();
}

pub(crate) fn check_everything_report(result: &std::path::Path, out: &std::process::Output) {
    let report: Value = serde_json::from_slice(&std::fs::read(result).unwrap()).unwrap();
    assert!(
        out.status.success() && report["ok"] == true,
        "client steps failed: {report:#}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let steps = &report["steps"];
    assert_eq!(
        steps["echo_large_utf8"]["contains_exact"], true,
        "1 MB UTF-8 echo came back exactly"
    );
}

/// What every session of the everything client must have left in the store, whatever the
/// transports on either side of warden (the matrix shares these assertions).
pub(crate) fn check_everything_records(leaves: &[Value], min_echo: u64) {
    let leaves = leaves.to_vec();
    // Session identity from both sides of initialize.
    let init = by(&leaves, |l| is(l, "s2c", "result", "initialize"));
    assert_eq!(init.len(), 1);
    assert!(
        init[0]["server"]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("everything")),
        "the configured server name: {}",
        init[0]["server"]
    );
    assert_eq!(init[0]["server"]["info"]["name"], "mcp-servers/everything");
    assert_eq!(init[0]["protocol"], "2025-11-25");
    assert!(init[0]["client"]["name"].as_str().is_some());
    // The 1 MB echo: request and result paired, hashed, the stored payload truncated with the hash of the whole.
    let ex = call_exchange(&leaves, "echo");
    let req = by(&leaves, |l| l["exchange"] == *ex && l["kind"] == "request")[0];
    assert!(req["size"].as_u64().unwrap() > min_echo);
    assert!(
        req["args_hash"]
            .as_str()
            .unwrap()
            .starts_with("hmac-sha256:")
    );
    assert_eq!(req["payload_truncated"], true);
    assert!(req["payload_hash"].as_str().is_some());
    // Server→client requests and the client's answers.
    server_request_answered(&leaves, "sampling/createMessage");
    server_request_answered(&leaves, "elicitation/create");
    server_request_answered(&leaves, "roots/list");
    call_exchange(&leaves, "trigger-sampling-request");
    call_exchange(&leaves, "trigger-elicitation-request");
    // Progress notifications belong to the long-running call's exchange.
    let long = call_exchange(&leaves, "trigger-long-running-operation");
    let progress = by(&leaves, |l| {
        is(l, "s2c", "notification", "notifications/progress")
    });
    assert!(progress.len() >= 4, "progress notifications recorded");
    assert!(
        progress.iter().all(|p| p["exchange"] == *long),
        "progress linked to its request"
    );
    // Logging, subscriptions, ping, client notifications.
    assert!(
        !by(&leaves, |l| is(
            l,
            "s2c",
            "notification",
            "notifications/message"
        ))
        .is_empty()
    );
    assert!(
        !by(&leaves, |l| is(
            l,
            "s2c",
            "notification",
            "notifications/resources/updated"
        ))
        .is_empty()
    );
    assert!(
        !by(&leaves, |l| is(
            l,
            "c2s",
            "notification",
            "notifications/initialized"
        ))
        .is_empty()
    );
    for m in [
        "resources/subscribe",
        "logging/setLevel",
        "ping",
        "tools/list",
        "resources/list",
    ] {
        let reqs = by(&leaves, |l| is(l, "c2s", "request", m));
        assert!(!reqs.is_empty(), "{m} recorded");
        let ex = &reqs[0]["exchange"];
        assert!(
            by(&leaves, |l| l["exchange"] == *ex
                && l["kind"] == "result"
                && l["outcome"] == "ok")
            .len()
                == 1,
            "{m} answered"
        );
    }
    // Every tool call is classed (the server's annotations, else MCP's defaults).
    for call in by(&leaves, |l| is(l, "c2s", "request", "tools/call")) {
        assert!(
            ["read", "write", "sensitive"]
                .contains(&call["tool_class"].as_str().unwrap_or_default()),
            "{call}"
        );
    }
    // Every exchange that was opened was closed; nothing abandoned in a clean session.
    assert!(by(&leaves, |l| l["event"] == "exchange_abandoned").is_empty());
}

#[test]
fn server_filesystem_through_warden() {
    let Some(peers) = peers() else { return };
    let place = Place::new();
    let data = place.dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let result = place.dir.path().join("result.json");
    let out = Command::new(peers.join("venv/bin/python"))
        .arg(repo_root().join("tests/peers/filesystem_client.py"))
        .arg("--out")
        .arg(&result)
        .arg("--dir")
        .arg(&data)
        .arg("--")
        .arg(warden_bin())
        .args(place.run_args(&["--server-name", "filesystem"]))
        .arg("node")
        .arg(peers.join("node/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js"))
        .arg(&data)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&std::fs::read(&result).unwrap()).unwrap();
    assert!(
        out.status.success() && report["ok"] == true,
        "{report:#}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written: Vec<_> = std::fs::read_dir(&data).unwrap().collect();
    assert_eq!(written.len(), 1, "the file was written through warden");

    let leaves = place.leaves();
    for tool in ["write_file", "read_text_file", "list_directory"] {
        let ex = call_exchange(&leaves, tool);
        let req = by(&leaves, |l| l["exchange"] == *ex && l["kind"] == "request")[0];
        assert!(
            req["args_hash"]
                .as_str()
                .unwrap()
                .starts_with("hmac-sha256:"),
            "{tool} arguments hashed"
        );
        assert_eq!(req["server"]["name"], "filesystem");
    }
    server_request_answered(&leaves, "roots/list");
    place.assert_verifies();
}
