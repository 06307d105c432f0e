//! Frames built to smuggle a denied call past the policy, sent to the real server-filesystem
//! behind `warden run --policy` and `warden serve` with a policy (default deny): duplicate
//! members, invalid UTF-8, lone surrogates, deep nesting, a bare CR, an oversized line. Each is
//! refused; the secret the server could have read (its root is wider than the policy's) never
//! reaches the client, the store or its WAL.

use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::{Value, json};

use crate::serve::{Served, http, post_to, session_of};
use crate::support::*;

const SECRET: &str = "TOP-SECRET-7f3a";

struct Setup {
    place: Place,
    base: PathBuf,
    data: PathBuf,
    policy: PathBuf,
}

fn setup() -> Setup {
    let place = Place::new();
    let base = place.dir.path().join("base");
    let data = base.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("a.txt"), "inside").unwrap();
    std::fs::write(base.join("secret.txt"), SECRET).unwrap();
    let policy = place.dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "default: deny\npolicies:\n  - name: reads-inside\n    tool_pattern: \"filesystem:read_text_file\"\n    action: allow\n  - name: nothing-outside\n    tool_pattern: \"filesystem:*\"\n    action: deny\n    conditions:\n      - type: path_not_in\n        arg: path\n        allowed_paths: [\"{}\"]\n",
            data.display()
        ),
    )
    .unwrap();
    Setup {
        place,
        base,
        data,
        policy,
    }
}

fn filesystem(peers: &Path) -> String {
    peers
        .join("node/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js")
        .display()
        .to_string()
}

/// The attacks: each frame would read the secret if the server ran what it reads.
fn attacks(s: &Setup) -> Vec<(&'static str, Vec<u8>)> {
    let inside = s.data.join("a.txt").display().to_string();
    let outside = s.base.join("secret.txt").display().to_string();
    let read = |args: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":ID,"method":"tools/call","params":{{"name":"read_text_file","arguments":{args}}}}}"#
        )
    };
    let mut v: Vec<(&'static str, Vec<u8>)> = vec![
        ("duplicate path", read(&format!(r#"{{"path":"{inside}","path":"{outside}"}}"#)).into_bytes()),
        (
            "duplicate name",
            format!(r#"{{"jsonrpc":"2.0","id":ID,"method":"tools/call","params":{{"name":"list_allowed_directories","name":"read_text_file","arguments":{{"path":"{outside}"}}}}}}"#).into_bytes(),
        ),
        (
            "duplicate params",
            format!(r#"{{"jsonrpc":"2.0","id":ID,"method":"tools/call","params":{{"name":"read_text_file","arguments":{{"path":"{inside}"}}}},"params":{{"name":"read_text_file","arguments":{{"path":"{outside}"}}}}}}"#).into_bytes(),
        ),
        (
            "duplicate method",
            format!(r#"{{"jsonrpc":"2.0","id":ID,"method":"ping","method":"tools/call","params":{{"name":"read_text_file","arguments":{{"path":"{outside}"}}}}}}"#).into_bytes(),
        ),
        ("lone surrogate", read(&format!(r#"{{"path":"{outside}","x":"\ud800"}}"#)).into_bytes()),
        (
            "deep nesting",
            read(&format!(r#"{{"path":"{outside}","x":{}{}}}"#, "[".repeat(200), "]".repeat(200))).into_bytes(),
        ),
    ];
    let mut bad = read(&format!(r#"{{"path":"{outside}","x":"AB"}}"#)).into_bytes();
    let at = bad.windows(2).position(|w| w == b"AB").unwrap();
    bad[at] = 0xff;
    v.push(("invalid UTF-8", bad));
    v
}

fn grep_store(place: &Place) {
    for entry in std::fs::read_dir(place.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("audit.db")
        {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
                "the secret is in {}",
                path.display()
            );
        }
    }
}

#[test]
fn smuggled_calls_are_refused_by_warden_run_in_front_of_server_filesystem() {
    let Some(peers) = peers() else { return };
    let s = setup();
    let policy = s.policy.display().to_string();
    let mut child = warden()
        .args(s.place.run_args(&[
            "--server-name",
            "filesystem",
            "--policy",
            &policy,
            "--max-frame",
            "65536",
        ]))
        .arg("node")
        .arg(filesystem(&peers))
        .arg(&s.base)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let mut output = BufReader::new(child.stdout.take().unwrap());
    let mut send = |frame: &[u8]| -> Value {
        input.write_all(frame).unwrap();
        input.write_all(b"\n").unwrap();
        input.flush().unwrap();
        let mut line = String::new();
        assert!(
            read_line_within(&mut output, &mut line) > 0,
            "warden closed stdout"
        );
        assert!(
            !line.contains(SECRET),
            "the secret reached the client: {line}"
        );
        serde_json::from_str(&line).unwrap()
    };
    let init = send(br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"smuggler","version":"1"}}}"#);
    assert!(init["result"]["serverInfo"].is_object(), "{init}");
    // The control: an allowed read works, a plain read outside is denied by policy.
    let inside = s.data.join("a.txt").display().to_string();
    let ok = send(json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_text_file","arguments":{"path":inside}}}).to_string().as_bytes());
    assert_eq!(ok["result"]["content"][0]["text"], "inside", "{ok}");
    let outside = s.base.join("secret.txt").display().to_string();
    let denied = send(json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"read_text_file","arguments":{"path":outside}}}).to_string().as_bytes());
    assert_eq!(denied["error"]["code"], -32011, "{denied}");
    for (n, (what, frame)) in attacks(&s).into_iter().enumerate() {
        let id = (100 + n).to_string();
        let frame: Vec<u8> = String::from_utf8_lossy(&frame)
            .replace("ID", &id)
            .into_bytes();
        // Invalid UTF-8 must survive the id substitution.
        let frame = if what == "invalid UTF-8" {
            let mut f = frame;
            let at = f
                .windows(3)
                .position(|w| w == "\u{fffd}".as_bytes())
                .unwrap();
            f.splice(at..at + 3, [0xff]);
            f
        } else {
            frame
        };
        let answer = send(&frame);
        assert!(
            [-32700, -32600, -32602].contains(&answer["error"]["code"].as_i64().unwrap_or(0)),
            "{what}: {answer}"
        );
        assert_eq!(answer["error"]["data"]["gateway"], "warden", "{what}");
        if what != "duplicate params" && what != "duplicate method" {
            assert_eq!(answer["id"].to_string(), id, "{what}: answered with its id");
        }
    }
    // A bare CR: two messages to a Python reader, one unreadable frame to warden.
    let cr = format!(
        "{}\r{}",
        r#"{"jsonrpc":"2.0","id":200,"method":"ping"}"#,
        json!({"jsonrpc":"2.0","id":201,"method":"tools/call","params":{"name":"read_text_file","arguments":{"path":outside}}})
    );
    let answer = send(cr.as_bytes());
    assert_eq!(
        answer["error"]["data"]["reason"], "bare_carriage_return",
        "{answer}"
    );
    // A read hidden past --max-frame.
    let big = json!({"jsonrpc":"2.0","id":300,"method":"tools/call","params":{"name":"read_text_file","arguments":{"path":outside,"pad":"y".repeat(70_000)}}});
    let answer = send(big.to_string().as_bytes());
    assert_eq!(answer["error"]["data"]["reason"], "too_large", "{answer}");
    // The session still works after all of that.
    let again = send(json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"read_text_file","arguments":{"path":inside}}}).to_string().as_bytes());
    assert_eq!(again["result"]["content"][0]["text"], "inside", "{again}");
    drop(input);
    child.wait().unwrap();
    grep_store(&s.place);
    let leaves = s.place.leaves();
    let refused = leaves
        .iter()
        .filter(|l| l["dir"] == "c2s" && l["outcome"] == "refused")
        .count();
    assert_eq!(
        refused,
        attacks(&s).len() + 2,
        "every attack is recorded as refused"
    );
    s.place.assert_verifies();
}

#[test]
fn smuggled_calls_are_refused_by_warden_serve_in_front_of_server_filesystem() {
    let Some(peers) = peers() else { return };
    let s = setup();
    let config = format!(
        "servers:\n  filesystem: {{ command: [\"node\", {}, {}] }}\n",
        Value::from(filesystem(&peers)),
        Value::from(s.base.display().to_string())
    );
    let policy = s.policy.display().to_string();
    let served = Served::start(&s.place, &config, &["--policy", &policy]);
    let addr = served.addr.clone();
    let sid = session_of(&addr, "/mcp/filesystem");
    let session = format!("Mcp-Session-Id: {sid}\r\n");
    let inside = s.data.join("a.txt").display().to_string();
    let (status, _, body) = post_to(
        &addr,
        "/mcp/filesystem",
        &session,
        &json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_text_file","arguments":{"path":inside}}}).to_string(),
    );
    assert_eq!(status, 200);
    assert!(body.contains("inside"), "{body}");
    for (n, (what, frame)) in attacks(&s).into_iter().enumerate() {
        let id = (100 + n).to_string();
        let at = frame.windows(2).position(|w| w == b"ID").unwrap();
        let mut bytes = frame;
        bytes.splice(at..at + 2, id.bytes());
        let (status, _, body) = http(
            &addr,
            &format!(
                "POST /mcp/filesystem HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n{session}\r\n",
                bytes.len()
            ),
            &bytes,
        );
        assert!(
            !body.contains(SECRET),
            "{what}: the secret reached the client"
        );
        assert_eq!(status, 200, "{what}: {body}");
        assert!(body.contains(r#""gateway":"warden""#), "{what}: {body}");
        assert!(
            body.contains("-32700") || body.contains("-32600") || body.contains("-32602"),
            "{what}: {body}"
        );
    }
    served.stop();
    grep_store(&s.place);
    let leaves = s.place.leaves();
    assert!(
        leaves
            .iter()
            .filter(|l| l["dir"] == "c2s" && l["outcome"] == "refused")
            .count()
            == attacks(&s).len(),
        "every attack is recorded as refused"
    );
    s.place.assert_verifies();
}
