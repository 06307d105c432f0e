//! Protocol features through `warden run` with small shell servers whose exact bytes we control:
//! cancellation, the 2026-07-28 stateless era, oversized frames.

use std::io::{BufReader, Write};
use std::process::Stdio;

use serde_json::Value;

use crate::support::*;

fn shell_server(place: &Place, extra: &[&str], script: &str) -> std::process::Child {
    let mut args = extra.to_vec();
    args.push("--shell");
    warden()
        .args(place.run_args(&args))
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn cancellation_closes_the_exchange_as_cancelled() {
    let place = Place::new();
    let mut child = shell_server(
        &place,
        &[],
        r#"read a; read b; printf '%s\n' '{"jsonrpc":"2.0","id":1,"result":{"content":[]}}'; read c; exit 0"#,
    );
    let mut input = child.stdin.take().unwrap();
    let mut output = BufReader::new(child.stdout.take().unwrap());
    input.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"slow\"}}\n").unwrap();
    input
        .write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":1,\"reason\":\"user\"}}\n")
        .unwrap();
    input.flush().unwrap();
    let mut line = String::new();
    read_line_within(&mut output, &mut line);
    assert!(line.contains("\"id\":1"));
    drop(input);
    assert!(child.wait().unwrap().success());
    let leaves = place.leaves();
    let req = leaves.iter().find(|l| l["kind"] == "request").unwrap();
    let cancel = leaves
        .iter()
        .find(|l| l["method"] == "notifications/cancelled")
        .unwrap();
    assert_eq!(cancel["exchange"], req["exchange"]);
    assert_eq!(cancel["outcome"], "cancelled");
    let late = leaves.iter().find(|l| l["kind"] == "result").unwrap();
    assert_eq!(late["exchange"], req["exchange"]);
    assert_eq!(
        late["outcome"], "cancelled",
        "a response after cancellation closes the exchange as cancelled"
    );
}

#[test]
fn a_cancelled_exchange_the_server_never_answers_is_not_also_abandoned() {
    let place = Place::new();
    let mut child = shell_server(&place, &[], "read a; read b; read c; exit 0");
    let mut input = child.stdin.take().unwrap();
    input.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"slow\"}}\n").unwrap();
    input.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"slower\"}}\n").unwrap();
    input
        .write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":1}}\n")
        .unwrap();
    drop(input);
    assert!(child.wait().unwrap().success());
    let leaves = place.leaves();
    let abandoned: Vec<&Value> = leaves
        .iter()
        .filter(|l| l["event"] == "exchange_abandoned")
        .collect();
    assert_eq!(
        abandoned.len(),
        1,
        "only the call never cancelled: {abandoned:?}"
    );
    assert_eq!(abandoned[0]["target"], "slower");
}

#[test]
fn the_stateless_2026_era_is_recorded_from_request_metadata() {
    let place = Place::new();
    let mut child = shell_server(
        &place,
        &["--server-name", "modern"],
        r#"read a; printf '%s\n' '{"jsonrpc":"2.0","id":"d1","result":{"resultType":"complete","supportedVersions":["2026-07-28"],"_meta":{"io.modelcontextprotocol/serverInfo":{"name":"modern-srv","version":"9.1"}}}}'; read b; printf '%s\n' '{"jsonrpc":"2.0","id":"t1","result":{"resultType":"complete","content":[]}}'; read c; exit 0"#,
    );
    let mut input = child.stdin.take().unwrap();
    let mut output = BufReader::new(child.stdout.take().unwrap());
    let meta = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"modern-client","version":"3"}}"#;
    writeln!(
        input,
        r#"{{"jsonrpc":"2.0","id":"d1","method":"server/discover","params":{{{meta}}}}}"#
    )
    .unwrap();
    input.flush().unwrap();
    let mut line = String::new();
    read_line_within(&mut output, &mut line);
    writeln!(input, r#"{{"jsonrpc":"2.0","id":"t1","method":"tools/call","params":{{"name":"echo","arguments":{{}},{meta}}}}}"#).unwrap();
    input.flush().unwrap();
    read_line_within(&mut output, &mut line);
    drop(input);
    assert!(child.wait().unwrap().success());
    let leaves = place.leaves();
    let call = leaves
        .iter()
        .find(|l| l["kind"] == "result" && l["method"] == "tools/call")
        .unwrap();
    assert_eq!(call["protocol"], "2026-07-28");
    assert_eq!(call["client"]["name"], "modern-client");
    assert_eq!(call["server"]["info"]["name"], "modern-srv");
    assert_eq!(call["server"]["name"], "modern");
    assert_eq!(call["target"], "echo");
    assert_eq!(call["outcome"], "ok");
}

#[test]
fn an_oversized_client_frame_is_refused_and_recorded_and_the_next_one_goes_on() {
    let place = Place::new();
    let mut child = warden()
        .args(place.run_args(&["--max-frame", "4096"]))
        .arg("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // A denied-looking call hidden past the limit must not reach the server.
    let big = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\",\"params\":{{\"name\":\"rm\",\"arguments\":{{\"x\":\"{}\"}}}}}}\n",
        "y".repeat(300_000)
    );
    let small = "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\"}\n";
    let input_bytes = [big.as_bytes(), small.as_bytes()].concat();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input_bytes).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "warden's answer and cat's echo of the ping: {text:.300}"
    );
    assert!(
        lines.contains(&small.trim_end()),
        "the next frame is forwarded exactly"
    );
    let answer: Value =
        serde_json::from_str(lines.iter().find(|l| l.contains("error")).unwrap()).unwrap();
    assert_eq!(answer["error"]["code"], -32600);
    assert_eq!(answer["error"]["data"]["reason"], "too_large");
    let leaves = place.leaves();
    let c2s: Vec<&Value> = leaves.iter().filter(|l| l["dir"] == "c2s").collect();
    assert_eq!(c2s[0]["kind"], "invalid");
    assert_eq!(c2s[0]["outcome"], "refused");
    assert_eq!(c2s[0]["detail"]["reason"], "too_large");
    let end = leaves
        .iter()
        .find(|l| l["event"] == "oversized_frame_end" && l["detail"]["direction"] == "c2s")
        .unwrap();
    assert_eq!(end["detail"]["size"].as_u64().unwrap() as usize, big.len());
    assert_eq!(end["detail"]["forwarded"], false);
    assert!(
        c2s.iter()
            .any(|l| l["method"] == "ping" && l["kind"] == "request"),
        "the next frame is parsed again"
    );
    place.assert_verifies();
}

#[test]
fn every_record_names_the_principal_and_agent() {
    let place = Place::new();
    let mut p = Proxied::start(&place, &["--principal", "alice@example.com"]);
    p.calls(2);
    drop(p.input.take());
    assert!(p.child.wait().unwrap().success());
    let leaves = place.leaves();
    let wire: Vec<&Value> = leaves.iter().filter(|l| l["kind"] != "event").collect();
    assert!(wire.len() >= 6, "{leaves:?}");
    // Every record of the session (log_opened belongs to the writer, not to a session).
    for l in leaves.iter().filter(|l| l["session"] != "") {
        assert_eq!(l["principal"], "alice@example.com", "{l}");
    }
    // The query columns: the principal, and the agent from clientInfo once initialize is seen.
    let conn = place.conn();
    let agents: Vec<(Option<String>, Option<String>)> = conn
        .prepare("SELECT principal, agent FROM records WHERE method = 'tools/call'")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(agents.len(), 4);
    for (principal, agent) in agents {
        assert_eq!(principal.as_deref(), Some("alice@example.com"));
        assert_eq!(agent.as_deref(), Some("crash-test/1"));
    }
}
