//! The differential test of warden's strict reading: a corpus of tricky client frames goes
//! through `warden run` to echo servers that report what the official SDKs' stdio readers parsed
//! (TypeScript: `ReadBuffer` + `JSON.parse` + the SDK's schema; Python: `stdio_server` +
//! pydantic). For every frame, either warden refuses it and the server sees nothing, or the
//! server read exactly what warden read (serde_json's reading of the frame): method, id, tool
//! and arguments.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

/// The corpus: each frame with `ID` standing for a fresh id (ids in flight cannot repeat).
fn corpus() -> Vec<Vec<u8>> {
    let call = |params: &str| {
        format!(r#"{{"jsonrpc":"2.0","id":ID,"method":"tools/call","params":{params}}}"#)
    };
    let args = |a: &str| call(&format!(r#"{{"name":"read_file","arguments":{a}}}"#));
    let mut c: Vec<String> = vec![
        // Ordinary frames, which must pass.
        args(r#"{"path":"/tmp/a"}"#),
        call(r#"{"name":"read_file"}"#),
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.into(),
        r#"{"jsonrpc":"2.0","id":ID,"method":"ping"}"#.into(),
        // Duplicate members at every level.
        r#"{"jsonrpc":"2.0","id":ID,"method":"ping","method":"tools/call","params":{"name":"rm"}}"#.into(),
        r#"{"jsonrpc":"2.0","id":ID,"id":77,"method":"ping"}"#.into(),
        r#"{"jsonrpc":"2.0","id":ID,"method":"tools/call","params":{"name":"a"},"params":{"name":"rm"}}"#.into(),
        call(r#"{"name":"read_file","name":"rm"}"#),
        args(r#"{"path":"/tmp/a","path":"/etc/shadow"}"#),
        args(r#"{"x":{"y":[{"k":1,"k":2}]}}"#),
        r#"{"jsonrpc":"2.0","jsonrpc":"2.0","id":ID,"method":"ping"}"#.into(),
        // Escapes: the same names and values spelled another way are read alike.
        r#"{"jsonrpc":"2.0","id":ID,"m\u0065thod":"tools/call","params":{"n\u0061me":"read_\u0066ile","arguments":{"p\u0061th":"\/tmp\/b"}}}"#.into(),
        r#"{"jsonrpc":"2.0","id":ID,"method":"ping","m\u0065thod":"tools/call"}"#.into(),
        // Surrogates: a pair passes, lone halves do not.
        args(r#"{"s":"\ud83d\ude00"}"#),
        args(r#"{"s":"\ud800","path":"/etc/shadow"}"#),
        args(r#"{"s":"\udc00"}"#),
        r#"{"jsonrpc":"2.0","id":ID,"method":"tools/call\ud800","params":{"name":"x"}}"#.into(),
        // Numbers and ids every reader reads alike, and ones they do not.
        r#"{"jsonrpc":"2.0","id":9007199254740991,"method":"ping"}"#.into(),
        r#"{"jsonrpc":"2.0","id":9007199254740993,"method":"ping"}"#.into(),
        r#"{"jsonrpc":"2.0","id":12345678901234567890123,"method":"ping"}"#.into(),
        r#"{"jsonrpc":"2.0","id":1e2,"method":"ping"}"#.into(),
        r#"{"jsonrpc":"2.0","id":5.0,"method":"ping"}"#.into(),
        r#"{"jsonrpc":"2.0","id":[1],"method":"ping"}"#.into(),
        r#"{"jsonrpc":"2.0","id":true,"method":"ping"}"#.into(),
        args(r#"{"n":1.5,"m":-7,"e":2.5e3}"#),
        args(r#"{"n":18446744073709551616}"#),
        args(r#"{"n":1e400}"#),
        args(r#"{"n":NaN}"#),
        args(r#"{"n":Infinity}"#),
        // Nesting at and past the limit.
        args(&format!(r#"{{"d":{}{}}}"#, "[".repeat(60), "]".repeat(60))),
        args(&format!(r#"{{"d":{}{}}}"#, "[".repeat(62), "]".repeat(62))),
        args(&format!(r#"{{"d":{}{}}}"#, "[".repeat(3000), "]".repeat(3000))),
        // Shapes the SDKs reject or read another way.
        r#"{"id":ID,"method":"ping"}"#.into(),
        r#"{"jsonrpc":"2.0","id":ID}"#.into(),
        r#"{"jsonrpc":"2.0","id":ID,"method":7}"#.into(),
        call(r#"["read_file"]"#),
        call(r#"{"name":"read_file","arguments":"{\"path\":\"/etc/shadow\"}"}"#),
        call(r#"{"name":"read_file","arguments":[1]}"#),
        call(r#"{"name":{"n":"read_file"}}"#),
        r#"[]"#.into(),
        r#"[{"jsonrpc":"2.0","id":ID,"method":"ping"}]"#.into(),
        // Not JSON.
        "not json".into(),
        args(r#"{"a":1,}"#),
        args(r#"{"a":'x'}"#),
        args("{\"a\":\"tab\there\"}"),
        format!("{} {}", args("{}"), args("{}")),
        // Whitespace every reader skips.
        format!(" \t{} ", args(r#"{"path":"/tmp/c"}"#)),
        // Raw line and paragraph separators inside strings (not line breaks to any stdio reader).
        args("{\"s\":\"a\u{2028}b\u{2029}c\u{85}d\"}"),
    ];
    // Every line-break character between tokens and inside strings.
    for brk in ["\r", "\u{b}", "\u{c}", "\u{1c}", "\u{1d}", "\u{1e}"] {
        c.push(format!(
            r#"{{"jsonrpc":"2.0",{brk}"id":ID,"method":"ping"}}"#
        ));
        c.push(args(&format!(r#"{{"s":"a{brk}b"}}"#)));
    }
    // Two messages on one line, split by a bare CR (two to Python's reader).
    c.push(format!(
        "{}\r{}",
        r#"{"jsonrpc":"2.0","id":ID,"method":"ping"}"#,
        args(r#"{"path":"/etc/shadow"}"#)
    ));
    let mut frames: Vec<Vec<u8>> = c.into_iter().map(String::into_bytes).collect();
    // Byte-level oddities.
    frames.push([&b"\xEF\xBB\xBF"[..], args("{}").as_bytes()].concat());
    let mut bad = args(r#"{"s":"AB"}"#).into_bytes();
    let at = bad.iter().position(|b| *b == b'A').unwrap();
    bad[at] = 0xff;
    frames.push(bad.clone());
    bad[at] = 0xed; // a UTF-8-encoded surrogate: ED A0 80
    bad.splice(at + 1..at + 2, [0xa0, 0x80]);
    frames.push(bad);
    frames.push(args(&format!(r#"{{"big":"{}"}}"#, "y".repeat(70_000))).into_bytes());
    frames
}

/// What a reader reports, or warden's refusal.
#[derive(Debug)]
enum Seen {
    Refused(Value),
    Parsed(Value),
    ReaderError(String),
}

/// Sends each frame, then a sentinel, and collects what came back before the sentinel's report.
fn drive(place: &Place, server: &[String], frames: &[Vec<u8>]) -> Vec<Vec<Seen>> {
    let mut child = warden()
        .args(place.run_args(&["--grace-ms", "300", "--max-frame", "65536"]))
        .args(server)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let (tx, rx) = mpsc::channel::<Value>();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("warden wrote a line that is not JSON ({e}): {line}"));
            if tx.send(v).is_err() {
                return;
            }
        }
    });
    let mut out = Vec::new();
    for (n, frame) in frames.iter().enumerate() {
        let id = (1000 + n).to_string();
        let mut bytes = replace(frame, b"ID", id.as_bytes());
        bytes.push(b'\n');
        input.write_all(&bytes).unwrap();
        let sentinel = json!({"jsonrpc":"2.0","method":"sentinel","params":{"n":n}});
        writeln!(input, "{sentinel}").unwrap();
        input.flush().unwrap();
        let mut seen = Vec::new();
        loop {
            let v = rx
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("no answer to frame {n} within 20 s"));
            if v["params"]["message"]["method"] == "sentinel" {
                assert_eq!(v["params"]["message"]["params"]["n"], n);
                break;
            }
            seen.push(if v["error"]["data"]["gateway"] == "warden" {
                Seen::Refused(v)
            } else if let Some(e) = v["params"]["error"].as_str() {
                Seen::ReaderError(e.to_owned())
            } else {
                Seen::Parsed(v["params"]["message"].clone())
            });
        }
        out.push(seen);
    }
    drop(input);
    child.wait().unwrap();
    reader.join().unwrap();
    out
}

fn replace(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// Numbers compared by value (`2.5e3` is 2500 to every reader, whatever it prints).
fn numbers_as_f64(v: &Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64()),
        Value::Array(a) => Value::Array(a.iter().map(numbers_as_f64).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), numbers_as_f64(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The members both readers are compared on.
fn reading(m: &Value) -> Value {
    let m = &numbers_as_f64(m);
    json!({
        "method": m["method"], "id": m["id"],
        "name": m["params"]["name"], "uri": m["params"]["uri"],
        "arguments": m["params"]["arguments"],
    })
}

#[test]
fn warden_refuses_every_frame_the_sdks_read_differently() {
    let Some(peers) = peers() else { return };
    let root = repo_root();
    let servers: Vec<(&str, Vec<String>)> = vec![
        (
            "node",
            vec![
                "node".into(),
                root.join("tests/peers/parse_echo.cjs")
                    .display()
                    .to_string(),
            ],
        ),
        (
            "python",
            vec![
                peers.join("venv/bin/python").display().to_string(),
                root.join("tests/peers/parse_echo.py").display().to_string(),
            ],
        ),
    ];
    let frames = corpus();
    let mut passed = vec![0usize; frames.len()];
    for (name, server) in &servers {
        let place = Place::new();
        let seen = drive(&place, server, &frames);
        for (n, (frame, seen)) in frames.iter().zip(&seen).enumerate() {
            let shown = String::from_utf8_lossy(frame);
            let shown = &shown[..shown.len().min(200)];
            assert!(
                !seen.is_empty(),
                "{name}: nothing came back for frame {n}: {shown}"
            );
            let refused = seen.iter().find_map(|s| match s {
                Seen::Refused(v) => Some(v),
                _ => None,
            });
            if let Some(answer) = refused {
                let code = answer["error"]["code"].as_i64().unwrap_or(0);
                assert!(
                    [-32700, -32600, -32602].contains(&code),
                    "{name}: frame {n} refused with {answer}"
                );
                assert_eq!(
                    seen.len(),
                    1,
                    "{name}: frame {n} was refused, yet the server saw it: {seen:?}\n{shown}"
                );
                continue;
            }
            passed[n] += 1;
            // Forwarded: serde_json's reading is warden's, and the reader must agree exactly.
            let id = (1000 + n).to_string();
            let sent = replace(frame, b"ID", id.as_bytes());
            let mine: Value = serde_json::from_slice(&sent).unwrap_or_else(|e| {
                panic!("warden forwarded frame {n} it cannot read ({e}): {shown}")
            });
            let mine: Vec<&Value> = match &mine {
                Value::Array(a) => a.iter().collect(),
                one => vec![one],
            };
            // The SDKs at these versions read no 2025-03-26 batches: the server refuses the whole
            // frame, so no element runs unread (warden governed each one).
            if frame.starts_with(b"[") && seen.iter().all(|s| matches!(s, Seen::ReaderError(_))) {
                continue;
            }
            let theirs: Vec<&Value> = seen
                .iter()
                .map(|s| match s {
                    Seen::Parsed(m) => m,
                    Seen::ReaderError(e) => panic!(
                        "{name}: warden forwarded frame {n}, which the reader could not read ({e}): {shown}"
                    ),
                    Seen::Refused(_) => unreachable!("handled above"),
                })
                .collect();
            if *name == "node" || mine.len() == 1 {
                assert_eq!(mine.len(), theirs.len(), "{name}: frame {n}: {shown}");
                for (a, b) in mine.iter().zip(&theirs) {
                    assert_eq!(
                        reading(a),
                        reading(b),
                        "{name}: frame {n} read differently: {shown}"
                    );
                }
            }
        }
        place.assert_verifies();
        // Every refused frame is recorded as refused, with warden's answer.
        let leaves = place.leaves();
        let refused = leaves
            .iter()
            .filter(|l| l["outcome"] == "refused" && l["dir"] == "c2s")
            .count();
        assert_eq!(
            refused,
            seen.iter()
                .filter(|s| s.iter().any(|x| matches!(x, Seen::Refused(_))))
                .count(),
            "{name}: one refused record per refused frame"
        );
    }
    // The corpus is not vacuous: the ordinary frames went through, the tricky ones did not.
    let through = passed.iter().filter(|p| **p > 0).count();
    assert!(through >= 8, "only {through} frames were forwarded");
    assert!(
        passed.iter().filter(|p| **p == 0).count() >= 40,
        "the corpus must hold frames warden refuses"
    );
}
