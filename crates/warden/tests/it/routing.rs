//! A response reaches only the request it answers: a second request reusing an id in flight is
//! refused, and a server message answering no request warden forwarded is recorded and dropped,
//! over stdio and over `warden serve`.

use std::io::{BufReader, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::serve::{Served, post_to, session_of};
use crate::support::*;

/// A server that answers nothing until it reads its second line, then sends an answer to a
/// request nobody made (id 99, carrying a "secret") and the answer to request 7.
const GATED: &str = r#"read a; read go; printf '%s\n' '{"jsonrpc":"2.0","id":99,"result":{"secret":"leak-99"}}' '{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"for seven"}]}}'; read rest"#;

#[test]
fn over_stdio_a_reused_id_is_refused_and_an_unsolicited_answer_dropped() {
    let place = Place::new();
    let mut child = warden()
        .args(place.run_args(&["--shell", "--grace-ms", "300"]))
        .arg(GATED)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let call = |id: u32, tool: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{{}}}}}}"#
        )
    };
    writeln!(input, "{}", call(7, "safe")).unwrap();
    // The smuggled twin: same id while 7 is in flight.
    writeln!(input, "{}", call(7, "steal")).unwrap();
    writeln!(input, r#"{{"jsonrpc":"2.0","method":"notifications/go"}}"#).unwrap();
    input.flush().unwrap();
    let mut lines = Vec::new();
    for _ in 0..2 {
        let mut l = String::new();
        assert!(
            read_line_within(&mut out, &mut l) > 0,
            "warden closed stdout early"
        );
        lines.push(serde_json::from_str::<Value>(&l).unwrap());
    }
    drop(input);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    child.wait().unwrap();
    assert!(
        rest.trim().is_empty(),
        "nothing else reaches the client: {rest}"
    );
    let refusal = lines.iter().find(|l| l.get("error").is_some()).unwrap();
    assert_eq!(refusal["id"], 7);
    assert_eq!(refusal["error"]["code"], -32600);
    assert_eq!(refusal["error"]["data"]["reason"], "id_in_flight");
    let answer = lines.iter().find(|l| l.get("result").is_some()).unwrap();
    assert_eq!(answer["id"], 7);
    assert_eq!(answer["result"]["content"][0]["text"], "for seven");
    let leaves = place.leaves();
    let stray = leaves
        .iter()
        .find(|l| l["dir"] == "s2c" && l["detail"]["unsolicited"] == true)
        .expect("the unsolicited answer is recorded");
    assert_eq!(stray["rpc_id"], 99);
    assert_eq!(stray["detail"]["forwarded"], false);
    // The answer to 7 closes the exchange of the first call, not the refused one.
    let first = leaves
        .iter()
        .find(|l| l["kind"] == "request" && l["target"] == "safe")
        .unwrap();
    let closed = leaves
        .iter()
        .find(|l| l["kind"] == "result" && l["rpc_id"] == 7)
        .unwrap();
    assert_eq!(closed["exchange"], first["exchange"]);
    assert_eq!(closed["target"], "safe");
    assert!(
        leaves
            .iter()
            .any(|l| l["outcome"] == "refused" && l["detail"]["reason"] == "id_in_flight"),
        "the refused twin is recorded"
    );
    place.assert_verifies();
}

#[test]
fn over_serve_a_concurrent_request_with_the_same_id_never_gets_the_answer() {
    let place = Place::new();
    let marker = place.dir.path().join("got-seven");
    // The stdio server: initialize, initialized, then as GATED (marking that it read call 7).
    let script = format!(
        r#"read i; printf '%s\n' '{{"jsonrpc":"2.0","id":1,"result":{{"protocolVersion":"2025-06-18","capabilities":{{"tools":{{}}}},"serverInfo":{{"name":"gated","version":"1"}}}}}}'; read n; read a; : > {}; {}"#,
        marker.display(),
        GATED.trim_start_matches("read a; ")
    );
    let config = format!(
        "servers:\n  gated: {{ command: [\"sh\", \"-c\", {}] }}\n",
        Value::from(script)
    );
    let served = Served::start(&place, &config, &[]);
    let addr = served.addr.clone();
    let sid = session_of(&addr, "/mcp/gated");
    let session = format!("Mcp-Session-Id: {sid}\r\n");
    let call = |tool: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{{"name":"{tool}","arguments":{{}}}}}}"#
        )
    };
    let first = {
        let (addr, session, body) = (addr.clone(), session.clone(), call("safe"));
        std::thread::spawn(move || post_to(&addr, "/mcp/gated", &session, &body))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !marker.exists() {
        assert!(Instant::now() < deadline, "the server never read call 7");
        std::thread::sleep(Duration::from_millis(10));
    }
    let (status, _, body) = post_to(&addr, "/mcp/gated", &session, &call("steal"));
    assert_eq!(status, 200);
    assert!(
        body.contains("id_in_flight") && body.contains("-32600"),
        "{body}"
    );
    assert!(
        !body.contains("for seven") && !body.contains("leak-99"),
        "{body}"
    );
    let (status, _, _) = post_to(
        &addr,
        "/mcp/gated",
        &session,
        r#"{"jsonrpc":"2.0","method":"notifications/go"}"#,
    );
    assert_eq!(status, 202);
    let (status, _, body) = first.join().unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("for seven"), "{body}");
    assert!(
        !body.contains("leak-99"),
        "the stray answer reaches no stream: {body}"
    );
    served.stop();
    let leaves = place.leaves();
    assert!(
        leaves
            .iter()
            .any(|l| l["detail"]["unsolicited"] == true && l["rpc_id"] == 99),
        "the stray answer is recorded"
    );
    let safe = leaves
        .iter()
        .find(|l| l["kind"] == "request" && l["target"] == "safe")
        .unwrap();
    let answer = leaves
        .iter()
        .find(|l| l["kind"] == "result" && l["rpc_id"] == 7)
        .unwrap();
    assert_eq!(
        answer["exchange"], safe["exchange"],
        "recorded as the answer to the allowed call"
    );
    assert!(
        !leaves
            .iter()
            .any(|l| l["kind"] == "request" && l["target"] == "steal"),
        "the twin never became a request of the exchange log"
    );
}
