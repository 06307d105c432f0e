//! Policy through the real server-filesystem: reads inside the allowed directory work; `../`
//! escapes, encoded escapes and outside paths are denied with the documented code; nothing
//! denied reaches the server (which could have served it: its root is wider than the policy's).

use std::io::{BufReader, Write};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::support::*;

#[test]
fn server_filesystem_behind_a_path_policy() {
    let Some(peers) = peers() else { return };
    let place = Place::new();
    let base = place.dir.path().join("base");
    let data = base.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("a.txt"), "inside").unwrap();
    std::fs::write(base.join("secret.txt"), "outside").unwrap();
    let policy = place.dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "policies:\n  - name: restrict-filesystem-access\n    tool_pattern: \"filesystem:*\"\n    action: BLOCK\n    conditions:\n      - type: path_not_in\n        arg: [path, paths, source, destination]\n        allowed_paths: [\"{}\"]\n    message: \"File access outside allowed directories\"\n",
            data.display()
        ),
    )
    .unwrap();
    let policy_arg = policy.display().to_string();
    let mut child = warden()
        .args(place.run_args(&["--server-name", "filesystem", "--policy", &policy_arg]))
        .arg("node")
        .arg(peers.join("node/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js"))
        .arg(&base)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let mut output = BufReader::new(child.stdout.take().unwrap());
    let mut ask = |id: u64, method: &str, params: Value| -> Value {
        writeln!(
            input,
            "{}",
            json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
        )
        .unwrap();
        input.flush().unwrap();
        loop {
            let mut line = String::new();
            read_line_within(&mut output, &mut line);
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["id"] == id && v.get("method").is_none() {
                return v;
            }
        }
    };
    let init = ask(
        0,
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "policy-test", "version": "1"}}),
    );
    assert!(init["result"]["serverInfo"].is_object(), "{init}");
    let read = |ask: &mut dyn FnMut(u64, &str, Value) -> Value, id: u64, path: String| {
        ask(
            id,
            "tools/call",
            json!({"name": "read_text_file", "arguments": {"path": path}}),
        )
    };
    let inside = read(&mut ask, 1, data.join("a.txt").display().to_string());
    assert!(
        inside["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("inside"),
        "{inside}"
    );
    let escapes = [
        base.join("secret.txt").display().to_string(),
        format!("{}/../secret.txt", data.display()),
        format!("{}/%2e%2e/secret.txt", data.display()),
        format!("file://{}/../secret.txt", data.display()),
        "/etc/passwd".to_owned(),
    ];
    for (i, path) in escapes.iter().enumerate() {
        let id = 10 + i as u64;
        let denied = read(&mut ask, id, path.clone());
        assert_eq!(denied["error"]["code"], -32011, "{path}: {denied}");
        assert_eq!(denied["error"]["data"]["gateway"], "warden");
        assert_eq!(
            denied["error"]["data"]["rule"],
            "restrict-filesystem-access"
        );
        assert!(
            denied["error"]["message"]
                .as_str()
                .unwrap()
                .contains("File access outside allowed directories")
        );
    }
    let many = ask(
        20,
        "tools/call",
        json!({"name": "read_multiple_files", "arguments": {"paths": [data.join("a.txt"), base.join("secret.txt")]}}),
    );
    assert_eq!(many["error"]["code"], -32011, "{many}");
    let write = ask(
        21,
        "tools/call",
        json!({"name": "write_file", "arguments": {"path": data.join("b.txt"), "content": "ok"}}),
    );
    assert!(write.get("result").is_some(), "{write}");
    drop(input);
    assert!(child.wait().unwrap().success());

    // Nothing denied reached the server: no server answer exists for any denied id, and each
    // denied request is recorded with its decision.
    let leaves = place.leaves();
    for id in (10..15).chain([20]) {
        let server_said = leaves
            .iter()
            .any(|l| l["rpc_id"] == id && l["dir"] == "s2c" && l.get("detail").is_none());
        assert!(!server_said, "request {id} reached the server");
        let req = leaves
            .iter()
            .find(|l| l["rpc_id"] == id && l["kind"] == "request")
            .unwrap();
        assert_eq!(req["outcome"], "denied");
        assert_eq!(req["policy"]["action"], "deny");
        assert_eq!(req["policy"]["rule"], "restrict-filesystem-access");
        assert!(
            req["policy"]["policy"]
                .as_str()
                .unwrap()
                .starts_with("sha256:")
        );
        let answer = leaves
            .iter()
            .find(|l| l["rpc_id"] == id && l["kind"] == "error")
            .unwrap();
        assert_eq!(
            (
                answer["detail"]["origin"].as_str(),
                answer["error_code"].as_i64()
            ),
            (Some("gateway"), Some(-32011))
        );
    }
    let allowed = leaves
        .iter()
        .find(|l| l["rpc_id"] == 1 && l["kind"] == "request")
        .unwrap();
    assert_eq!(allowed["policy"]["action"], "allow");
    assert!(std::fs::read_to_string(data.join("b.txt")).unwrap() == "ok");
    place.assert_verifies();
}

#[test]
fn a_policy_with_problems_stops_run_before_the_server_starts() {
    let place = Place::new();
    let policy = place.dir.path().join("bad.yaml");
    std::fs::write(&policy, "policies:\n  - name: x\n    action: maybe\n").unwrap();
    let marker = place.dir.path().join("started");
    let out = warden()
        .args(place.run_args(&["--shell", "--policy", &policy.display().to_string()]))
        .arg(format!("touch {}", marker.display()))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yaml:3:13") && err.contains("maybe"),
        "{err}"
    );
    assert!(!marker.exists(), "the server never started");
    let check = Command::new(warden_bin())
        .args(["policy", "check"])
        .arg(&policy)
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(1));
}

#[test]
fn the_fixture_cases_pass_and_a_wrong_expectation_fails_with_a_diff() {
    let dir = repo_root().join("fixtures/policies");
    let out = warden()
        .args(["policy", "test"])
        .arg(dir.join("governance.yaml"))
        .arg(dir.join("governance.cases.yaml"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(" passed, 0 failed"), "{text}");
    let place = Place::new();
    let cases = std::fs::read_to_string(dir.join("governance.cases.yaml")).unwrap();
    let wrong = cases.replacen(
        "expect: { action: deny, rule: no-pay-for-agents }",
        "expect: { action: allow }",
        1,
    );
    assert_ne!(wrong, cases);
    let file = place.dir.path().join("wrong.cases.yaml");
    std::fs::write(&file, wrong).unwrap();
    let out = warden()
        .args(["policy", "test"])
        .arg(dir.join("governance.yaml"))
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL agent reading pay")
            && text.contains("actual:   action deny, rule no-pay-for-agents"),
        "{text}"
    );
    assert!(text.contains(" passed, 1 failed"), "{text}");
}

#[test]
fn the_policy_reloads_on_change_and_a_broken_file_keeps_the_old_one() {
    let place = Place::new();
    let policy = place.dir.path().join("hr.yaml");
    let deny =
        "policies:\n  - name: no-pay\n    tool_pattern: \"hr:get_pay_info\"\n    action: deny\n";
    std::fs::write(&policy, deny).unwrap();
    let policy_arg = policy.display().to_string();
    let mut p = Proxied::start(&place, &["--server-name", "hr", "--policy", &policy_arg]);
    p.calls(0);
    let pay = |p: &mut Proxied, id: u64| -> Value {
        p.send(&format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"get_pay_info","arguments":{{"id":"E002"}}}}}}"#));
        serde_json::from_str(&p.recv()).unwrap()
    };
    assert_eq!(pay(&mut p, 1)["error"]["code"], -32011);
    // The file changes: once the reload is recorded (the new policy is in force before its
    // record is written), the next call is decided by the new policy.
    std::fs::write(&policy, "policies: []\n# now allowed\n").unwrap();
    wait_for_events(&place, "policy_reloaded", 1);
    assert!(
        pay(&mut p, 2).get("result").is_some(),
        "the reloaded policy allows it"
    );
    // A broken file: reported, and the policy in force stays.
    std::fs::write(&policy, "policies:\n  - name: x\n    action: perhaps\n").unwrap();
    let before = wait_for_events(&place, "policy_reload_failed", 1);
    kill(&p, nix::sys::signal::Signal::SIGHUP);
    wait_for_events(&place, "policy_reload_failed", before + 1);
    assert!(
        pay(&mut p, 100).get("result").is_some(),
        "the last good policy still allows it"
    );
    drop(p.input.take());
    assert!(p.child.wait().unwrap().success());
    let leaves = place.leaves();
    let reloaded: Vec<&Value> = leaves
        .iter()
        .filter(|l| l["event"] == "policy_reloaded")
        .collect();
    assert_eq!(reloaded.len(), 1);
    let failed: Vec<&Value> = leaves
        .iter()
        .filter(|l| l["event"] == "policy_reload_failed")
        .collect();
    assert!(
        failed.len() >= 2,
        "the change and the SIGHUP each tried and failed: {failed:?}"
    );
    assert!(
        failed[0]["detail"]["problems"][0]
            .as_str()
            .unwrap()
            .contains("hr.yaml:3:13")
    );
    let first = leaves
        .iter()
        .find(|l| l["rpc_id"] == 1 && l["kind"] == "request")
        .unwrap();
    let last = leaves
        .iter()
        .find(|l| l["rpc_id"] == 100 && l["kind"] == "request")
        .unwrap();
    assert_eq!(first["policy"]["policy"], reloaded[0]["detail"]["previous"]);
    assert_eq!(last["policy"]["policy"], reloaded[0]["detail"]["policy"]);
    assert_ne!(first["policy"]["policy"], last["policy"]["policy"]);
}

/// Waits (at most 30 s, then fails) until the store holds `n` records of the gateway event
/// `name`, and returns how many it holds. The store is read as another process would, while
/// warden writes it.
pub(crate) fn wait_for_events(place: &Place, name: &str, n: usize) -> usize {
    let count = || -> rusqlite::Result<usize> {
        let c = rusqlite::Connection::open_with_flags(
            place.db(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        let mut st = c.prepare("SELECT leaf FROM records")?;
        let leaves = st.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        let mut seen = 0;
        for leaf in leaves {
            let leaf: Value = serde_json::from_slice(&leaf?).unwrap_or_default();
            seen += usize::from(leaf["event"] == name);
        }
        Ok(seen)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match count() {
            Ok(seen) if seen >= n => return seen,
            Ok(_) | Err(_) => {}
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {n} {name} record(s) within 30 s: {:?}",
            count()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

pub(crate) fn kill(p: &Proxied, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(p.child.id() as i32), sig).unwrap();
}

#[test]
fn conditions_see_the_client_named_in_initialize() {
    let place = Place::new();
    let policy = place.dir.path().join("clients.yaml");
    std::fs::write(&policy, "policies:\n  - name: not-from-crash-test\n    tool_pattern: \"hr:*\"\n    action: deny\n    when:\n      - client: [crash-test]\n").unwrap();
    let policy_arg = policy.display().to_string();
    let mut p = Proxied::start(&place, &["--server-name", "hr", "--policy", &policy_arg]);
    p.calls(0); // initialize as client "crash-test"
    p.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_employee","arguments":{"id":"E001"}}}"#);
    let reply: Value = serde_json::from_str(&p.recv()).unwrap();
    assert_eq!(
        reply["error"]["data"]["rule"], "not-from-crash-test",
        "{reply}"
    );
    drop(p.input.take());
    p.child.wait().unwrap();
}

#[test]
fn a_rate_limit_passes_exactly_its_limit_and_then_answers_retry_after() {
    let place = Place::new();
    let policy = place.dir.path().join("limits.yaml");
    std::fs::write(
        &policy,
        "policies:\n  - name: lookups\n    tool_pattern: \"hr:get_employee\"\n    rate_limit: { limit: 3, window: 1m }\n  - name: watch-lists\n    tool_pattern: \"hr:list_employees\"\n    mode: monitor\n    rate_limit: { limit: 1, window: 1m, per: global }\n",
    )
    .unwrap();
    let policy_arg = policy.display().to_string();
    let mut p = Proxied::start(&place, &["--server-name", "hr", "--policy", &policy_arg]);
    p.calls(0);
    let call = |p: &mut Proxied, id: u64, tool: &str| -> Value {
        p.send(&format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{{"id":"E001"}}}}}}"#));
        serde_json::from_str(&p.recv()).unwrap()
    };
    let answers: Vec<Value> = (1..=5).map(|id| call(&mut p, id, "get_employee")).collect();
    assert!(
        answers[..3].iter().all(|a| a.get("result").is_some()),
        "{answers:?}"
    );
    for a in &answers[3..] {
        assert_eq!(a["error"]["code"], -32013, "{a}");
        assert_eq!(a["error"]["data"]["rule"], "lookups");
        let retry = a["error"]["data"]["retry_after_ms"].as_u64().unwrap();
        assert!(retry > 50_000 && retry <= 60_000, "{retry}");
    }
    assert!(
        call(&mut p, 6, "get_pay_info").get("result").is_some(),
        "other tools are not limited"
    );
    // A monitor-mode limit records the would-be refusal and forwards anyway.
    assert!(call(&mut p, 7, "list_employees").get("result").is_some());
    assert!(call(&mut p, 8, "list_employees").get("result").is_some());
    drop(p.input.take());
    p.child.wait().unwrap();
    let leaves = place.leaves();
    let limited: Vec<&Value> = leaves
        .iter()
        .filter(|l| l["kind"] == "request" && l["outcome"] == "rate_limited")
        .collect();
    assert_eq!(limited.len(), 2);
    assert_eq!(limited[0]["policy"]["rate_limit"]["rule"], "lookups");
    let watched = leaves
        .iter()
        .find(|l| l["kind"] == "request" && l["rpc_id"] == 8)
        .unwrap();
    assert_eq!(watched["policy"]["rate_limit"]["enforced"], false);
    assert!(watched.get("outcome").is_none(), "forwarded");
}

#[test]
fn tools_list_hides_the_tools_a_principal_may_never_call() {
    let policy_text = "hide_denied_tools: true\npolicies:\n  - name: no-pay-for-agents\n    tool_pattern: \"hr:get_pay_info\"\n    principals: [\"role:agent\"]\n    action: deny\n  - name: checked-time-off\n    tool_pattern: \"hr:submit_time_off\"\n    action: deny\n    when:\n      - arg_equals: { arg: id, value: E001 }\n";
    let list = |roles: &[&str]| -> (Value, Vec<Value>) {
        let place = Place::new();
        let policy = place.dir.path().join("hide.yaml");
        std::fs::write(&policy, policy_text).unwrap();
        let mut args = vec!["--server-name", "hr", "--policy"];
        let policy_arg = policy.display().to_string();
        args.push(&policy_arg);
        for r in roles {
            args.extend(["--role", r]);
        }
        let mut p = Proxied::start(&place, &args);
        p.calls(0);
        p.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
        let reply: Value = serde_json::from_str(&p.recv()).unwrap();
        drop(p.input.take());
        p.child.wait().unwrap();
        (reply, place.leaves())
    };
    let names = |reply: &Value| -> Vec<String> {
        reply["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (agent, leaves) = list(&["agent"]);
    assert!(
        !names(&agent).contains(&"get_pay_info".to_owned()),
        "{:?}",
        names(&agent)
    );
    assert!(
        names(&agent).contains(&"submit_time_off".to_owned()),
        "a conditional deny keeps the tool: other arguments may pass"
    );
    assert_eq!(names(&agent).len(), 4);
    let record = leaves
        .iter()
        .find(|l| l["kind"] == "result" && l["method"] == "tools/list")
        .unwrap();
    assert_eq!(
        record["detail"]["rewritten"]["hidden_tools"],
        json!(["get_pay_info"])
    );
    assert_eq!(
        record["payload"]["tools"].as_array().unwrap().len(),
        5,
        "the record keeps what the server sent"
    );
    let (manager, _) = list(&["manager"]);
    assert_eq!(names(&manager).len(), 5, "other principals see every tool");
}

#[test]
fn a_budget_survives_a_restart_and_is_reported() {
    let place = Place::new();
    let policy = place.dir.path().join("budget.yaml");
    std::fs::write(
        &policy,
        "policies:\n  - name: daily-lookups\n    tool_pattern: \"hr:*\"\n    budget: { calls: 5, window: 1d, costs: { get_pay_info: 2 } }\n",
    )
    .unwrap();
    let policy_arg = policy.display().to_string();
    let args = [
        "--server-name",
        "hr",
        "--policy",
        policy_arg.as_str(),
        "--principal",
        "alice",
    ];
    let call = |p: &mut Proxied, id: u64, tool: &str| -> Value {
        p.send(&format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{{"id":"E001"}}}}}}"#));
        serde_json::from_str(&p.recv()).unwrap()
    };
    // First run: 1 + 2 units.
    let mut p = Proxied::start(&place, &args);
    p.calls(0);
    assert!(call(&mut p, 1, "get_employee").get("result").is_some());
    assert!(call(&mut p, 2, "get_pay_info").get("result").is_some());
    drop(p.input.take());
    p.child.wait().unwrap();
    // Second run, same store: the budget remembers 3 of 5 units.
    let mut p = Proxied::start(&place, &args);
    p.calls(0);
    assert!(
        call(&mut p, 3, "get_employee").get("result").is_some(),
        "4 of 5"
    );
    let over = call(&mut p, 4, "get_pay_info");
    assert_eq!(
        over["error"]["code"], -32015,
        "4 + 2 would exceed 5: {over}"
    );
    assert_eq!(over["error"]["data"]["used"], 4);
    assert!(
        over["error"]["data"]["resets_at_ms"].as_u64().unwrap() % 86_400_000 == 0,
        "resets at midnight UTC"
    );
    assert!(
        call(&mut p, 5, "get_employee").get("result").is_some(),
        "5 of 5"
    );
    assert_eq!(call(&mut p, 6, "get_employee")["error"]["code"], -32015);
    drop(p.input.take());
    p.child.wait().unwrap();
    let leaves = place.leaves();
    assert_eq!(
        leaves
            .iter()
            .filter(|l| l["outcome"] == "budget_exceeded" && l["kind"] == "request")
            .count(),
        2
    );
    let out = warden()
        .args(["budgets", "--format", "jsonl", "--policy"])
        .arg(&policy)
        .arg("--db")
        .arg(place.db())
        .output()
        .unwrap();
    let row: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(
        (
            row["rule"].as_str(),
            row["scope"].as_str(),
            row["used"].as_u64(),
            row["limit"].as_u64()
        ),
        (Some("daily-lookups"), Some("alice"), Some(5), Some(5))
    );
}

#[test]
fn a_call_needing_approval_is_held_recorded_as_pending_and_answered_pending_after_its_hold() {
    let place = Place::new();
    let policy = place.dir.path().join("approve.yaml");
    std::fs::write(
        &policy,
        "policies:\n  - name: require-approval-for-time-off\n    tool_pattern: \"hr:submit_time_off\"\n    action: APPROVAL\n    approvers: [\"admin@company.com\"]\n    approval: { hold: 1s }\n",
    )
    .unwrap();
    let policy_arg = policy.display().to_string();
    let mut p = Proxied::start(&place, &["--server-name", "hr", "--policy", &policy_arg]);
    p.calls(0);
    p.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"submit_time_off","arguments":{"id":"E003","from":"2026-12-21","to":"2026-12-24"}}}"#);
    let reply: Value = serde_json::from_str(&p.recv()).unwrap();
    assert_eq!(reply["result"]["isError"], true, "{reply}");
    let approval = &reply["result"]["_meta"]["dev.warden/approval"];
    assert_eq!(approval["status"], "pending");
    assert_eq!(approval["approvers"], json!(["admin@company.com"]));
    assert!(
        reply["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Call it again with the same arguments"),
        "{reply}"
    );
    drop(p.input.take());
    p.child.wait().unwrap();
    let leaves = place.leaves();
    let held = leaves
        .iter()
        .find(|l| l["rpc_id"] == 1 && l["kind"] == "request")
        .unwrap();
    assert_eq!(held["outcome"], "approval_required");
    assert_eq!(
        held["tool_class"], "write",
        "a held call keeps its class: {held}"
    );
    assert_eq!(held["detail"]["approval"]["status"], "pending");
    assert_eq!(held["detail"]["approval"]["id"], approval["id"]);
    assert_eq!(
        held["detail"]["approval"]["approvers"],
        json!(["admin@company.com"])
    );
    let answer = leaves
        .iter()
        .find(|l| l["rpc_id"] == 1 && l["kind"] == "result")
        .unwrap();
    assert_eq!(
        answer["detail"]["origin"], "gateway",
        "warden answered: {answer}"
    );
    assert_eq!(answer["detail"]["approval"]["status"], "pending");
    assert_eq!(answer["detail"]["approval"]["id"], approval["id"]);
    assert_eq!(answer["exchange"], held["exchange"]);
    assert!(
        !leaves.iter().any(|l| l["event"] == "approval_forwarded"),
        "nothing reached the server"
    );
}
