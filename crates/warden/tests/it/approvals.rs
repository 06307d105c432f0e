//! Human approval end to end: the real server-filesystem's `write_file` behind an approval
//! rule through `warden run`, driven by the official Python SDK, decided by another process
//! (`warden approvals`), and the request, decision and execution records linked in a log
//! that verifies.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::mpsc;

use serde_json::Value;

use crate::peers::by;
use crate::support::*;

const HOOK_SECRET: &str = "whsec-test-7f3a9c";
const URL_TOKEN: &str = "T0KEN-in-url-path";

/// What a scenario leaves: the client's report, the store's records, the allowed directory.
struct Run {
    steps: Value,
    leaves: Vec<Value>,
    place: Place,
}

fn scenario(name: &str, approval: &str, env: &[(&str, &str)]) -> Option<Run> {
    scenario_as(name, "role:security", approval, env, "someone")
}

/// A scenario whose rule names `approvers`, with `principal` as the local session's caller.
fn scenario_as(
    name: &str,
    approvers: &str,
    approval: &str,
    env: &[(&str, &str)],
    principal: &str,
) -> Option<Run> {
    let policy = format!(
        "default: allow\npolicies:\n  - name: approve-writes\n    tool_pattern: \"filesystem:write_file\"\n    action: approve\n    approvers: [\"{approvers}\"]\n    approval: {approval}\n"
    );
    scenario_with(name, &policy, env, principal)
}

/// A scenario under the policy `text`, with `principal` as the local session's caller.
fn scenario_with(name: &str, text: &str, env: &[(&str, &str)], principal: &str) -> Option<Run> {
    let peers = peers()?;
    let place = Place::new();
    let files = place.dir.path().join("files");
    std::fs::create_dir(&files).unwrap();
    let policy = place.dir.path().join("policy.yaml");
    std::fs::write(&policy, text).unwrap();
    let result = place.dir.path().join("result.json");
    let out = Command::new(peers.join("venv/bin/python"))
        .arg(repo_root().join("tests/peers/approval_client.py"))
        .args(["--out".as_ref(), result.as_os_str()])
        .args(["--dir".as_ref(), files.as_os_str()])
        .args(["--scenario", name])
        .args(["--warden".as_ref(), warden_bin().as_os_str()])
        .args(["--db".as_ref(), place.db().as_os_str()])
        .args(["--key-dir".as_ref(), place.keys().as_os_str()])
        .arg("--")
        .arg(warden_bin())
        .args(place.run_args(&[
            "--server-name",
            "filesystem",
            "--policy",
            policy.to_str().unwrap(),
            "--principal",
            principal,
        ]))
        .arg("node")
        .arg(peers.join("node/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js"))
        .arg(&files)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&std::fs::read(&result).unwrap_or_default())
        .unwrap_or_else(|_| panic!("no report: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(
        report["ok"],
        true,
        "{name}: {report:#}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    place.assert_verifies();
    Some(Run {
        steps: report["steps"][name].clone(),
        leaves: place.leaves(),
        place,
    })
}

fn events<'a>(leaves: &'a [Value], name: &str, approval: &str) -> Vec<&'a Value> {
    by(leaves, |l| {
        l["event"] == name && l["detail"]["approval"]["id"] == approval
    })
}

/// Server results of `write_file`: calls that really ran (warden's pending answers are
/// results too, from the gateway).
fn writes_run(leaves: &[Value]) -> usize {
    by(leaves, |l| {
        l["dir"] == "s2c"
            && l["kind"] == "result"
            && l["target"] == "write_file"
            && l["detail"]["origin"] != "gateway"
    })
    .len()
}

/// The request, decision and forwarded records of `approval`, and their links.
fn linked(leaves: &[Value], approval: &str, status: &str) {
    let requested = events(leaves, "approval_requested", approval);
    assert_eq!(requested.len(), 1, "one approval_requested for {approval}");
    let r = requested[0];
    assert!(
        r["detail"]["approval"]["action_hash"]
            .as_str()
            .unwrap()
            .starts_with("hmac-sha256:")
    );
    assert!(r["detail"]["approval"]["rule"].is_string());
    assert!(r["detail"]["approval"]["approvers"].is_array());
    // The held request record names the approval and shares the exchange.
    let held = by(leaves, |l| {
        l["kind"] == "request" && l["exchange"] == r["exchange"]
    });
    assert_eq!(held.len(), 1);
    assert_eq!(held[0]["detail"]["approval"]["id"], approval);
    let decided = events(leaves, "approval_decided", approval);
    assert_eq!(decided.len(), 1, "one decision for {approval}");
    let d = &decided[0]["detail"]["approval"];
    assert_eq!(d["status"], status);
    assert_eq!(d["action_hash"], r["detail"]["approval"]["action_hash"]);
    if status != "expired" {
        assert!(matches!(
            d["by"].as_str(),
            Some("security-officer" | "hana")
        ));
        assert_eq!(d["channel"], "cli");
        // The CLI decided in a log of its own.
        assert_ne!(decided[0]["log"], r["log"]);
    }
}

#[test]
fn approved_while_held_runs_once_and_a_webhook_is_signed() {
    let hook = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/services/{URL_TOKEN}", hook.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut s, _) = hook.accept().unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            headers.push(line.trim().to_ascii_lowercase());
        }
        let len: usize = headers
            .iter()
            .find_map(|h| h.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap());
        let mut body = vec![0; len];
        r.read_exact(&mut body).unwrap();
        s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .unwrap();
        tx.send((headers, body)).unwrap();
    });
    let approval = format!(
        "{{ timeout: 5m, hold: 50s, grant: once, webhook: {{ url: \"{url}\", secret_env: WARDEN_TEST_HOOK_SECRET }} }}"
    );
    let Some(run) = scenario(
        "approve",
        &approval,
        &[("WARDEN_TEST_HOOK_SECRET", HOOK_SECRET)],
    ) else {
        return;
    };
    let id = run.steps["approval"].as_str().unwrap();
    assert_eq!(run.steps["second_decision_exit"], 1);
    assert!(
        run.steps["second_decision_err"]
            .as_str()
            .unwrap()
            .contains("already approved")
    );
    linked(&run.leaves, id, "approved");
    assert_eq!(events(&run.leaves, "approval_forwarded", id).len(), 1);
    assert_eq!(writes_run(&run.leaves), 1, "the file is written once");

    let (headers, body) = rx.recv_timeout(std::time::Duration::from_secs(30)).unwrap();
    let header = |name: &str| {
        headers
            .iter()
            .find_map(|h| h.strip_prefix(&format!("{name}:")))
            .map(|v| v.trim().to_owned())
            .unwrap()
    };
    let ts: i64 = header("x-warden-timestamp").parse().unwrap();
    assert_eq!(
        header("x-warden-signature"),
        warden_proxy::webhook::signature(HOOK_SECRET.as_bytes(), ts, &body)
    );
    let text = String::from_utf8(body).unwrap();
    let notice: Value = serde_json::from_str(&text).unwrap();
    assert!(notice["text"].as_str().unwrap().contains(id), "{notice:#}");
    for secret in [HOOK_SECRET, URL_TOKEN] {
        assert!(!text.contains(secret), "{secret} in the webhook body");
        for (path, bytes) in run.place.store_files() {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} stored in {path}"
            );
        }
    }
    let delivered = by(&run.leaves, |l| l["event"] == "approval_webhook");
    assert!(!delivered.is_empty(), "webhook attempts are recorded");
}

/// Three short rules bind risk tiers to approvers; the catalog metadata makes write_file tier 3.
const TIERED: &str = r#"
default: deny
catalog:
  tools:
    - tool: "filesystem:*"
      risk_tier: 1
      owner: platform
    - tool: "filesystem:write_file"
      risk_tier: 3
      owner: storage-team
      data_classification: confidential
policies:
  - name: tier-1
    when: [{risk_tier: 1}]
    action: allow
  - name: tier-2
    when: [{risk_tier: 2}]
    action: approve
    approvers: ["role:team-lead"]
  - name: tier-3
    when: [{risk_tier: 3}]
    action: approve
    approvers: ["role:security"]
    approval: { timeout: 5m, hold: 50s }
"#;

#[test]
fn a_tier_3_tool_waits_for_a_security_approver_and_tier_1_tools_flow() {
    let Some(run) = scenario_with("approve", TIERED, &[], "someone") else {
        return;
    };
    let requested = by(&run.leaves, |l| l["event"] == "approval_requested");
    assert_eq!(requested.len(), 1, "only the tier-3 call asks");
    let a = &requested[0]["detail"]["approval"];
    assert_eq!(a["rule"], "tier-3");
    assert_eq!(a["approvers"], serde_json::json!(["role:security"]));
    assert_eq!(requested[0]["target"], "write_file");
    let id = a["id"].as_str().unwrap();
    linked(&run.leaves, id, "approved");
    assert_eq!(writes_run(&run.leaves), 1);
    // The tier-1 tools the client used went through on the tier-1 rule, none on the default.
    let reads = by(&run.leaves, |l| {
        l["kind"] == "request" && l["method"] == "tools/call" && l["target"] != "write_file"
    });
    assert!(!reads.is_empty());
    for r in reads {
        assert_eq!(r["policy"]["rule"], "tier-1", "{r:#}");
    }
}

#[test]
fn denied_while_held_is_refused_and_nothing_is_written() {
    let Some(run) = scenario("deny", "{ timeout: 5m }", &[]) else {
        return;
    };
    let id = run.steps["approval"].as_str().unwrap();
    assert_eq!(run.steps["error"]["data"]["reason"], "approval_denied");
    linked(&run.leaves, id, "denied");
    assert!(events(&run.leaves, "approval_forwarded", id).is_empty());
    assert_eq!(writes_run(&run.leaves), 0);
}

#[test]
fn nobody_deciding_expires_the_approval_and_refuses_the_call() {
    let Some(run) = scenario("expire", "{ timeout: 2s }", &[]) else {
        return;
    };
    let id = run.steps["error"]["data"]["approval"]["id"]
        .as_str()
        .unwrap();
    linked(&run.leaves, id, "expired");
    assert_eq!(writes_run(&run.leaves), 0);
}

#[test]
fn a_pending_answer_then_approval_lets_the_retry_run_exactly_once() {
    let Some(run) = scenario("hold", "{ hold: 3s, grant: once }", &[]) else {
        return;
    };
    let id = run.steps["approval"].as_str().unwrap();
    linked(&run.leaves, id, "approved");
    assert!(
        run.steps["progress_notifications"].as_u64().unwrap() >= 1,
        "progress while held: {:#}",
        run.steps
    );
    let progress = by(&run.leaves, |l| {
        l["method"] == "notifications/progress" && l["dir"] == "s2c"
    });
    assert!(
        !progress.is_empty(),
        "warden's progress notifications are recorded"
    );
    // The retry ran under the approval (once); the third call asked anew.
    assert_eq!(events(&run.leaves, "approval_forwarded", id).len(), 1);
    assert_eq!(writes_run(&run.leaves), 1);
    let third = run.steps["third"]["meta"]["id"].as_str().unwrap();
    assert_ne!(third, id);
    assert_eq!(events(&run.leaves, "approval_requested", third).len(), 1);
}

#[test]
fn a_session_grant_lets_the_sessions_identical_calls_through() {
    let Some(run) = scenario("session", "{ hold: 1s, grant: session }", &[]) else {
        return;
    };
    let id = run.steps["approval"].as_str().unwrap();
    linked(&run.leaves, id, "approved");
    assert_eq!(events(&run.leaves, "approval_forwarded", id).len(), 2);
    assert_eq!(writes_run(&run.leaves), 2);
}

const ASK_ALICE: &str = "{ hold: 20s, self_approval: true, channels: [queue, elicitation] }";

/// warden's elicitations to the client, and the client's answers to them.
fn elicitations(leaves: &[Value]) -> (Vec<&Value>, Vec<&Value>) {
    let asked = by(leaves, |l| {
        l["method"] == "elicitation/create" && l["dir"] == "s2c" && l["kind"] == "request"
    });
    let answers = by(leaves, |l| {
        l["method"] == "elicitation/create" && l["dir"] == "c2s"
    });
    (asked, answers)
}

#[test]
fn the_requester_approving_at_its_client_lets_the_call_run() {
    let Some(run) = scenario_as("elicit-accept", "alice", ASK_ALICE, &[], "alice") else {
        return;
    };
    let (asked, answers) = elicitations(&run.leaves);
    assert_eq!((asked.len(), answers.len()), (1, 1));
    let id = asked[0]["detail"]["approval"]["id"].as_str().unwrap();
    assert!(
        asked[0]["rpc_id"]
            .as_str()
            .unwrap()
            .starts_with("warden-approval-")
    );
    assert_eq!(answers[0]["exchange"], asked[0]["exchange"]);
    let decided = events(&run.leaves, "approval_decided", id);
    assert_eq!(decided.len(), 1);
    assert_eq!(decided[0]["detail"]["approval"]["channel"], "elicitation");
    assert_eq!(decided[0]["detail"]["approval"]["by"], "alice");
    assert_eq!(events(&run.leaves, "approval_forwarded", id).len(), 1);
    assert_eq!(writes_run(&run.leaves), 1);
    // The answer was warden's: the server never saw an elicitation result.
    assert!(by(&run.leaves, |l| l["detail"]["unsolicited"] == true).is_empty());
}

#[test]
fn the_requester_declining_at_its_client_denies_the_call() {
    let Some(run) = scenario_as("elicit-decline", "alice", ASK_ALICE, &[], "alice") else {
        return;
    };
    let (asked, _) = elicitations(&run.leaves);
    let id = asked[0]["detail"]["approval"]["id"].as_str().unwrap();
    let decided = events(&run.leaves, "approval_decided", id);
    assert_eq!(decided[0]["detail"]["approval"]["status"], "denied");
    assert_eq!(writes_run(&run.leaves), 0);
}

#[test]
fn a_client_without_the_capability_is_never_asked() {
    let approval = "{ hold: 1s, self_approval: true, channels: [queue, elicitation] }";
    let Some(run) = scenario_as("no-elicit", "alice", approval, &[], "alice") else {
        return;
    };
    assert_eq!(elicitations(&run.leaves).0.len(), 0);
    assert_eq!(writes_run(&run.leaves), 0);
}

#[test]
fn a_requester_who_may_not_approve_is_never_asked() {
    // self_approval is false: the requester cannot decide, so the client is not asked.
    let approval = "{ hold: 1s, channels: [queue, elicitation] }";
    let Some(run) = scenario_as("no-elicit", "alice", approval, &[], "alice") else {
        return;
    };
    assert_eq!(elicitations(&run.leaves).0.len(), 0);
}

/// The first pending approval's id, once one is in the store (the call is held by then).
fn pending_approval(place: &Place) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let id: Option<String> = place
            .conn()
            .query_row(
                "SELECT id FROM approvals WHERE status = 'pending' ORDER BY requested_us LIMIT 1",
                [],
                |r| r.get(0),
            )
            .ok();
        if let Some(id) = id {
            return id;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no approval was asked for"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn cli_decide(place: &Place, verb: &str, id: &str) -> std::process::Output {
    warden()
        .args(["approvals", verb, id, "--reason", "checked", "--as", "hana"])
        .arg("--db")
        .arg(place.db())
        .arg("--key-dir")
        .arg(place.keys())
        .output()
        .unwrap()
}

#[test]
fn serve_holds_a_sessions_call_until_the_cli_approves_it() {
    use crate::serve::{INIT, Served, post, session_id, sha256_hex};
    let place = Place::new();
    let policy = place.dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "default: allow\npolicies:\n  - name: pay-needs-hr\n    tool_pattern: \"hr:get_pay_info\"\n    action: approve\n    approvers: [\"role:hr\"]\n    approval: { hold: 30s }\n",
    )
    .unwrap();
    let config = format!(
        "servers:\n  hr: {{ command: [\"{}\", \"demo-server\"] }}\nauth:\n  api_keys:\n    - {{ key_sha256: \"{}\", principal: \"bob@example.com\", roles: [engineer] }}\n",
        warden_bin().display(),
        sha256_hex("k-bob")
    );
    let served = Served::start(&place, &config, &["--policy", policy.to_str().unwrap()]);
    let a = served.addr.clone();
    let auth = "Authorization: Bearer k-bob\r\n";
    let (status, head, _) = post(&a, "/mcp/hr", auth, INIT);
    assert_eq!(status, 200);
    let session = format!("{auth}Mcp-Session-Id: {}\r\n", session_id(&head));
    let held = {
        let (a, session) = (a.clone(), session.clone());
        std::thread::spawn(move || {
            post(
                &a,
                "/mcp/hr",
                &session,
                r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_pay_info","arguments":{"id":"E001"}}}"#,
            )
        })
    };
    let id = pending_approval(&place);
    // The session goes on while the call is held.
    let (status, _, body) = post(
        &a,
        "/mcp/hr",
        &session,
        r#"{"jsonrpc":"2.0","id":8,"method":"tools/list"}"#,
    );
    assert_eq!(status, 200);
    assert!(body.contains("get_pay_info"), "{body}");
    let out = cli_decide(&place, "approve", &id);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, _, body) = held.join().unwrap();
    assert_eq!(status, 200);
    assert!(
        body.contains(r#""id":7"#) && body.contains("\"result\""),
        "{body}"
    );
    assert!(!body.contains("isError\":true"), "{body}");
    served.stop();
    let leaves = place.leaves();
    linked(&leaves, &id, "approved");
    assert_eq!(events(&leaves, "approval_forwarded", &id).len(), 1);
    let asked = events(&leaves, "approval_requested", &id);
    assert_eq!(asked[0]["principal"], "bob@example.com");
    place.assert_verifies();
}

#[test]
fn serve_holds_a_stateless_2026_call_until_the_cli_denies_it() {
    use crate::serve::{Served, post};
    let Some(peers) = peers() else { return };
    let place = Place::new();
    let policy = place.dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "default: allow\npolicies:\n  - name: echo-needs-approval\n    tool_pattern: \"modern:echo\"\n    action: approve\n    approval: { hold: 30s }\n",
    )
    .unwrap();
    let config = format!(
        "servers:\n  modern: {{ command: [\"{}\", \"{}\"] }}\n",
        peers.join("venv/bin/python").display(),
        repo_root().join("tests/peers/modern_server.py").display()
    );
    let served = Served::start(&place, &config, &["--policy", policy.to_str().unwrap()]);
    let a = served.addr.clone();
    let held = std::thread::spawn(move || {
        post(
            &a,
            "/mcp/modern",
            "",
            r#"{"jsonrpc":"2.0","id":"m1","method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#,
        )
    });
    let id = pending_approval(&place);
    let out = cli_decide(&place, "deny", &id);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, _, body) = held.join().unwrap();
    assert_eq!(status, 200);
    assert!(
        body.contains("-32016") && body.contains("approval_denied"),
        "{body}"
    );
    assert!(body.contains(r#""id":"m1""#), "{body}");
    served.stop();
    let leaves = place.leaves();
    let decided = events(&leaves, "approval_decided", &id);
    assert_eq!(decided[0]["detail"]["approval"]["status"], "denied");
    // Nothing reached the server: no echo result.
    assert!(
        by(&leaves, |l| l["kind"] == "result"
            && l["target"] == "echo"
            && l["dir"] == "s2c"
            && l["detail"]["origin"] != "gateway")
        .is_empty()
    );
    place.assert_verifies();
}

#[test]
fn a_pending_approval_survives_a_restart_and_the_retry_runs_once() {
    let place = Place::new();
    let policy = place.dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "default: allow\npolicies:\n  - name: pay-needs-approval\n    tool_pattern: \"hr:get_pay_info\"\n    action: approve\n    approval: { hold: 1s }\n",
    )
    .unwrap();
    let args = ["--server-name", "hr", "--policy", policy.to_str().unwrap()];
    let init = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"restart-test","version":"1"}}}"#;
    let call = |id: u32| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"get_pay_info","arguments":{{"id":"E001"}}}}}}"#
        )
    };
    let mut first = Proxied::start(&place, &args);
    first.send(init);
    first.recv();
    first.send(&call(1));
    let pending: Value = serde_json::from_str(&first.recv()).unwrap();
    assert_eq!(pending["result"]["isError"], true, "{pending}");
    let id = pending["result"]["_meta"]["dev.warden/approval"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    drop(first.input.take());
    assert!(first.child.wait().unwrap().success());

    let out = cli_decide(&place, "approve", &id);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut second = Proxied::start(&place, &args);
    second.send(init);
    second.recv();
    second.send(&call(1));
    let ran: Value = serde_json::from_str(&second.recv()).unwrap();
    assert!(ran["result"]["isError"] != true, "{ran}");
    assert!(
        ran["result"]["_meta"].get("dev.warden/approval").is_none(),
        "{ran}"
    );
    // Once: the next identical call asks anew.
    second.send(&call(2));
    let again: Value = serde_json::from_str(&second.recv()).unwrap();
    let next = again["result"]["_meta"]["dev.warden/approval"]["id"]
        .as_str()
        .unwrap();
    assert_ne!(next, id);
    drop(second.input.take());
    assert!(second.child.wait().unwrap().success());
    let leaves = place.leaves();
    linked(&leaves, &id, "approved");
    let fwd = events(&leaves, "approval_forwarded", &id);
    assert_eq!(fwd.len(), 1);
    let asked = events(&leaves, "approval_requested", &id);
    assert_ne!(
        fwd[0]["log"], asked[0]["log"],
        "asked before the restart, used after it"
    );
    place.assert_verifies();
}

#[test]
fn a_batch_with_a_call_that_needs_approval_is_refused_whole() {
    let place = Place::new();
    let policy = place.dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "default: allow\npolicies:\n  - name: pay-needs-approval\n    tool_pattern: \"hr:get_pay_info\"\n    action: approve\n",
    )
    .unwrap();
    let mut p = Proxied::start(
        &place,
        &["--server-name", "hr", "--policy", policy.to_str().unwrap()],
    );
    p.send(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"batch-test","version":"1"}}}"#);
    p.recv();
    p.send(r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_pay_info","arguments":{"id":"E001"}}},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_employee","arguments":{"id":"E001"}}}]"#);
    let reply: Value = serde_json::from_str(&p.recv()).unwrap();
    let answers = reply.as_array().unwrap();
    assert_eq!(answers.len(), 2, "{reply}");
    assert_eq!(answers[0]["error"]["data"]["reason"], "approval_required");
    assert_eq!(answers[1]["error"]["data"]["reason"], "batch_denied");
    drop(p.input.take());
    assert!(p.child.wait().unwrap().success());
    let leaves = place.leaves();
    // Nothing of the batch reached the server, and no approval was opened for it.
    assert!(
        by(&leaves, |l| l["dir"] == "s2c"
            && l["kind"] == "result"
            && l["method"] == "tools/call"
            && l["detail"]["origin"] != "gateway")
        .is_empty()
    );
    assert!(by(&leaves, |l| l["event"] == "approval_requested").is_empty());
    let n: i64 = place
        .conn()
        .query_row("SELECT count(*) FROM approvals", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
}
