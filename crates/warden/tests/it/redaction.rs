//! Redaction of the audit copy: a corpus of real-looking secrets in arguments and results never
//! appears in the store's bytes (database and WAL), an export, search output or stderr, while
//! the log still verifies and each record says what was redacted.

use std::io::Write;
use std::process::Stdio;

use serde_json::{Value, json};

use crate::support::*;

/// (what to grep for, the secret as sent)
fn corpus() -> Vec<(&'static str, &'static str)> {
    vec![
        ("AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
        (
            "ghp_1234567890abcdefghijABCDEFGHIJklmnop",
            "ghp_1234567890abcdefghijABCDEFGHIJklmnop",
        ),
        (
            "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
            "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        ),
        (
            "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
            "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
        ),
        (
            "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        ),
        (
            "MIIEowIBAAKCAQEAwarden",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAwarden0test0key0material0only\n-----END RSA PRIVATE KEY-----",
        ),
        (
            "abcdef0123456789abcdef0123456789",
            "Bearer abcdef0123456789abcdef0123456789",
        ),
        ("4111 1111 1111 1111", "4111 1111 1111 1111"),
        ("jane.doe@example.com", "jane.doe@example.com"),
        ("DE89370400440532013000", "DE89370400440532013000"),
        ("hunter2-correct-horse", "hunter2-correct-horse"),
    ]
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn secrets_never_reach_the_store_exports_or_stderr() {
    let place = Place::new();
    let mut child = warden()
        .args(place.run_args(&["--log-level", "detailed"]))
        .arg("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let secrets = corpus();
    let mut input = String::new();
    for (i, (_, secret)) in secrets.iter().enumerate() {
        let args = if i == secrets.len() - 1 {
            json!({ "password": secret, "note": "ordinary text" })
        } else {
            json!({ "query": format!("please use {secret} for this"), "headers": { "X-Trace": secret } })
        };
        let msg = json!({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": "lookup", "arguments": args}});
        input.push_str(&format!("{msg}\n"));
    }
    input.push_str("not json, but it carries AKIAIOSFODNN7EXAMPLE anyway\n");
    let mut stdin = child.stdin.take().unwrap();
    let sent = input.clone();
    let writer = std::thread::spawn(move || stdin.write_all(sent.as_bytes()).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success());
    // The wire is untouched (only the audit copy is redacted): every JSON line comes back from
    // `cat` exactly, and the line that is not JSON is answered by warden, never forwarded.
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let (refusals, echoed): (Vec<&str>, Vec<&str>) = text
        .split_inclusive('\n')
        .partition(|l| l.contains(r#""gateway":"warden""#));
    let json_lines: Vec<&str> = input
        .split_inclusive('\n')
        .filter(|l| l.starts_with('{'))
        .collect();
    assert_eq!(echoed, json_lines);
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert!(refusals[0].contains("-32700"), "{}", refusals[0]);
    assert!(
        !refusals[0].contains("AKIA"),
        "the refusal does not echo the frame"
    );

    let export = place.dir.path().join("export.jsonl");
    assert!(place.export(&export).status.success());
    let search = warden()
        .args(["audit", "search", "--format", "json", "--db"])
        .arg(place.db())
        .output()
        .unwrap();
    let mut places: Vec<(String, Vec<u8>)> = vec![
        ("warden's stderr".into(), out.stderr.clone()),
        ("the export".into(), std::fs::read(&export).unwrap()),
        ("search output".into(), search.stdout.clone()),
    ];
    places.extend(place.store_files());
    assert!(places.len() >= 4, "database and WAL files were read");
    for (grep, _) in &secrets {
        for (name, bytes) in &places {
            assert!(!contains(bytes, grep), "{grep:?} found in {name}");
        }
    }
    place.assert_verifies();

    let leaves = place.leaves();
    let requests: Vec<&Value> = leaves
        .iter()
        .filter(|l| l["kind"] == "request" && l["dir"] == "c2s")
        .collect();
    assert_eq!(requests.len(), secrets.len());
    for r in &requests {
        assert_eq!(r["dlp"], "redacted", "{r}");
        assert!(!r["redactions"].as_array().unwrap().is_empty());
    }
    let rules: Vec<&str> = requests
        .iter()
        .flat_map(|r| r["redactions"].as_array().unwrap())
        .filter_map(|x| x["rule"].as_str())
        .collect();
    for expected in [
        "aws_access_key",
        "github_token",
        "slack_token",
        "openai_key",
        "jwt",
        "pem_private_key",
        "bearer",
        "card_number",
        "email",
        "iban",
        "key",
    ] {
        assert!(rules.contains(&expected), "{expected} not among {rules:?}");
    }
    let last = requests.last().unwrap();
    assert_eq!(
        last["payload"]["params"]["arguments"]["note"], "ordinary text",
        "the rest of the message is kept"
    );
    let raw = leaves
        .iter()
        .find(|l| l["kind"] == "unparseable" && l["dir"] == "c2s")
        .unwrap();
    assert_eq!(raw["dlp"], "redacted");
}

#[test]
fn clean_messages_are_stored_as_received_and_redaction_can_be_turned_off() {
    let place = Place::new();
    let mut p = Proxied::start(&place, &[]);
    p.calls(2);
    drop(p.input.take());
    p.child.wait().unwrap();
    let leaves = place.leaves();
    let call = leaves
        .iter()
        .find(|l| l["kind"] == "request" && l["method"] == "tools/call")
        .unwrap();
    assert_eq!(call["dlp"], "clean");
    assert!(call.get("redactions").is_none());

    let place = Place::new();
    let mut p = Proxied::start(&place, &["--no-redact"]);
    p.calls(1);
    drop(p.input.take());
    p.child.wait().unwrap();
    assert!(place.leaves().iter().all(|l| l.get("dlp").is_none()));
}

#[test]
fn block_on_detect_refuses_a_call_carrying_a_secret() {
    let place = Place::new();
    let rules = place.dir.path().join("redact.yaml");
    std::fs::write(
        &rules,
        "block_on_detect: [aws_access_key, pem_private_key]\n",
    )
    .unwrap();
    let rules_arg = rules.display().to_string();
    let mut child = warden()
        .args(place.run_args(&["--redact-config", &rules_arg]))
        .arg("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = concat!(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"upload","arguments":{"key":"AKIAIOSFODNN7EXAMPLE"}}}"#,
        "\n",
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"upload","arguments":{"note":"mail jane.doe@example.com"}}}"#,
        "\n",
    );
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The first call is answered by warden; `cat` only ever saw (and echoed) the second.
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["id"], 1);
    assert_eq!(lines[0]["error"]["code"], -32014);
    assert_eq!(
        lines[0]["error"]["data"]["rules"],
        json!(["aws_access_key"])
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("AKIAIOSFODNN7EXAMPLE"),
        "the secret is not echoed back"
    );
    assert_eq!(
        lines[1]["id"], 2,
        "a redacted but not blocked call is forwarded"
    );
    assert_eq!(
        lines[1]["params"]["arguments"]["note"], "mail jane.doe@example.com",
        "the wire is untouched"
    );
    let leaves = place.leaves();
    let blocked = leaves
        .iter()
        .find(|l| l["rpc_id"] == 1 && l["kind"] == "request")
        .unwrap();
    assert_eq!(
        (blocked["dlp"].as_str(), blocked["outcome"].as_str()),
        (Some("blocked"), Some("denied"))
    );
    let db: Vec<u8> = place
        .store_files()
        .into_iter()
        .flat_map(|(_, bytes)| bytes)
        .collect();
    assert!(!contains(&db, "AKIAIOSFODNN7EXAMPLE"));
    let bad = place.dir.path().join("bad.yaml");
    std::fs::write(&bad, "block_on_detect: [aws_keys]\n").unwrap();
    let out = warden()
        .args(place.run_args(&["--redact-config", &bad.display().to_string()]))
        .arg("cat")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("block_on_detect"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn wire_masking_hides_fields_from_the_client_too() {
    let place = Place::new();
    let rules = place.dir.path().join("dlp.yaml");
    std::fs::write(&rules, "scan_response: true\nmask_fields: [email, phone]\n").unwrap();
    let rules_arg = rules.display().to_string();
    // Phone numbers under a `phone` key, in free text, and in JSON rows carried as text (an
    // SQL server's result): all masked.
    let script = r#"read a; printf '%s\n' '{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"Contact jane.doe@example.com or call (555) 010-0199"},{"type":"text","text":"[{\"name\":\"Ann\",\"phone\":\"+44 20 7946 0958\",\"joined\":\"2026-12-03 12:30:00\"}]"}],"structuredContent":{"name":"Jane","phone":"+1 555 0100","email":"jane.doe@example.com"}}}'; read b; exit 0"#;
    let mut child = warden()
        .args(place.run_args(&["--redact-config", &rules_arg, "--shell"]))
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"lookup\",\"arguments\":{\"who\":\"jane\"}}}\n")
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for value in ["jane.doe@example.com", "555 0100", "010-0199", "7946 0958"] {
        assert!(!text.contains(value), "{value} in {text}");
    }
    let reply: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(
        reply["result"]["structuredContent"]["name"], "Jane",
        "the rest is kept"
    );
    assert_eq!(
        reply["result"]["content"][0]["text"],
        "Contact [REDACTED:email] or call [REDACTED:phone]"
    );
    assert_eq!(
        reply["result"]["content"][1]["text"],
        r#"[{"name":"Ann","phone":"[REDACTED:phone]","joined":"2026-12-03 12:30:00"}]"#,
        "a phone inside JSON text is masked, the date beside it kept"
    );
    assert_eq!(
        reply["result"]["structuredContent"]["phone"], "[REDACTED:key]",
        "a member named phone is masked whatever its value"
    );
    let leaves = place.leaves();
    let result = leaves.iter().find(|l| l["kind"] == "result").unwrap();
    let masked: Vec<&str> = result["detail"]["rewritten"]["masked"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["rule"].as_str())
        .collect();
    assert!(
        masked.contains(&"email") && masked.contains(&"key") && masked.contains(&"phone"),
        "{masked:?}"
    );
    // The audit copy's own redaction (phone is on by default) finds them too: the stored result
    // has each phone replaced.
    let stored: Vec<(&str, &str)> = result["redactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| Some((r["rule"].as_str()?, r["pointer"].as_str()?)))
        .collect();
    for at in [
        "/result/content/0/text",
        "/result/content/1/text",
        "/result/structuredContent/phone",
    ] {
        assert!(stored.contains(&("phone", at)), "{at}: {stored:?}");
    }
}

#[test]
fn what_warden_cannot_parse_strictly_is_still_redacted_in_the_store() {
    let place = Place::new();
    // A server whose result cut an emoji in half (a lone surrogate): serde_json refuses it, so
    // a tree walk alone would store the whole result in clear.
    let result = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"half an emoji \ud83d then ghp_R3sultT0kenR3sultT0kenR3sultT0ken12345"}],"structuredContent":{"password":"result-pass-secret","dsn":"postgres://app:dsn-secret-pw@db/prod"}}}"#;
    let script = format!(
        r#"read a; printf '%s\n' '{{"jsonrpc":"2.0","id":0,"result":{{"protocolVersion":"2025-06-18","capabilities":{{}},"serverInfo":{{"name":"s","version":"1"}}}}}}'; read b; printf '%s\n' '{result}'; while read c; do :; done"#
    );
    let mut child = warden()
        .args(place.run_args(&["--log-level", "detailed", "--shell"]))
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let lines = [
        r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bot","version":"1.0 sk-ant-api03-ClientInfoSecretClientInfoSecret00"}}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"lookup","arguments":{"q":"x"}}}"#,
        // A duplicated member: serde_json keeps the last copy only.
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"lookup","arguments":{"api_key":"first-dup-secret","api_key":"second-dup-secret","note":"AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY","note":"fine"}}}"#,
        r#"{"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"postgres://reader:uri-secret-pw@db/docs?sslmode=require&token=uri-query-secret"}}"#,
        r#"{"jsonrpc":"2.0","id":"req-AKIAIOSFODNN7EXAMPLE","method":"tools/call","params":{"name":"lookup","arguments":{"passphrase":"pass-phrase-secret","h":"Authorization: Basic dXNlcjpiYXNpYy1hdXRoLXNlY3JldA=="}}}"#,
    ];
    for l in lines {
        stdin.write_all(format!("{l}\n").as_bytes()).unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let echoed = String::from_utf8_lossy(&out.stdout);
    assert!(
        echoed.contains("ghp_R3sult"),
        "the wire is untouched: {echoed}"
    );

    let planted = [
        "ghp_R3sultT0kenR3sultT0kenR3sultT0ken12345",
        "result-pass-secret",
        "dsn-secret-pw",
        "sk-ant-api03-ClientInfoSecret",
        "first-dup-secret",
        "second-dup-secret",
        "AIzaSyD-9tSrke72PouQMnMX",
        "uri-secret-pw",
        "uri-query-secret",
        "AKIAIOSFODNN7EXAMPLE",
        "pass-phrase-secret",
        "dXNlcjpiYXNpYy1hdXRoLXNlY3JldA",
    ];
    let files = place.store_files();
    assert!(
        files.iter().any(|(n, _)| n.ends_with("audit.db")),
        "the database (and any WAL left) was read"
    );
    for secret in planted {
        for (name, bytes) in &files {
            assert!(!contains(bytes, secret), "{secret:?} found in {name}");
        }
    }
    place.assert_verifies();
    let leaves = place.leaves();
    let result = leaves
        .iter()
        .find(|l| l["kind"] == "result" && l["rpc_id"] == 1)
        .unwrap();
    assert_eq!(result["dlp"], "redacted", "never clean: {result}");
    assert!(
        result["redactions"].to_string().contains("github_token"),
        "{result}"
    );
    // The request with a duplicated member is refused (never forwarded), and its record, kept
    // as text with no id read from it, is redacted all the same.
    let dup = leaves
        .iter()
        .find(|l| l["dir"] == "c2s" && l["outcome"] == "refused")
        .unwrap();
    assert_eq!(dup["detail"]["reason"], "duplicate_member", "{dup}");
    assert_ne!(dup["dlp"], "clean", "{dup}");
}

#[test]
fn block_on_detect_refuses_secrets_in_requests_warden_cannot_parse_strictly() {
    let place = Place::new();
    let rules = place.dir.path().join("redact.yaml");
    std::fs::write(&rules, "block_on_detect: [key, aws_access_key]\n").unwrap();
    let rules_arg = rules.display().to_string();
    let mut child = warden()
        .args(place.run_args(&["--redact-config", &rules_arg]))
        .arg("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = concat!(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"up","arguments":{"password":"dup-one","password":"dup-two"}}}"#,
        "\n",
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"up","arguments":{"k":"AKIAIOSFODNN7EXAMPLE","odd":"\udc00"}}}"#,
        "\n",
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"up","arguments":{"k":"ok"}}}"#,
        "\n",
    );
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for secret in ["dup-one", "dup-two", "AKIAIOSFODNN7EXAMPLE"] {
        assert!(
            !text.contains(secret),
            "{secret} reached the server: {text}"
        );
    }
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for id in [1, 2] {
        let reply = lines.iter().find(|l| l["id"] == id).unwrap();
        assert!(reply["error"]["code"].is_i64(), "{reply}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l["id"] == 3 && l.get("error").is_none()),
        "a clean call still goes through: {text}"
    );
    for (name, bytes) in place.store_files() {
        for secret in ["dup-one", "dup-two", "AKIAIOSFODNN7EXAMPLE"] {
            assert!(!contains(&bytes, secret), "{secret:?} found in {name}");
        }
    }
}
