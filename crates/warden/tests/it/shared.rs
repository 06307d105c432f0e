//! Several `warden run` processes on one store (a desktop client wrapping several servers with
//! the default database), and `audit tail` following them live.

use std::io::BufRead;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::*;

#[test]
fn concurrent_sessions_share_one_store_each_with_its_own_log() {
    let place = Place::new();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                let mut s = Proxied::start(&place, &[]);
                s.calls(150);
                drop(s.input.take());
                assert!(s.child.wait().unwrap().success());
            });
        }
    });
    let v = place.verify();
    let text = String::from_utf8_lossy(&v.stdout);
    assert!(v.status.success(), "{text}");
    assert!(text.contains("4 logs"), "{text}");
    let results = place
        .leaves()
        .iter()
        .filter(|l| l["kind"] == "result" && l["method"] == "tools/call")
        .count();
    assert_eq!(results, 600);
}

#[test]
fn tail_follows_a_live_session() {
    let place = Place::new();
    // A first session creates the store: its records are older than the tail.
    let mut first = Proxied::start(&place, &[]);
    first.calls(1);
    drop(first.input.take());
    first.child.wait().unwrap();
    let old_log = place.leaves()[0]["log"].clone();
    let mut tail = warden()
        .args([
            "audit",
            "tail",
            "-n",
            "0",
            "--format",
            "jsonl",
            "--tool",
            "get_employee",
            "--direction",
            "s2c",
            "--db",
        ])
        .arg(place.db())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // tail's lines arrive on a channel, so that no read can block the test forever.
    let (tx, lines) = std::sync::mpsc::channel::<String>();
    let out = tail.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // When tail takes its starting point is not observable from outside: the live session
    // keeps calling until tail has shown three of its results (each call waits up to 50 ms for
    // a line; the whole wait is bounded).
    let mut live = Proxied::start(&place, &[]);
    live.calls(0);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    let mut id = 0u64;
    while seen.len() < 3 {
        assert!(
            Instant::now() < deadline,
            "tail showed {} of 3 live results within 30 s: {seen:?}",
            seen.len()
        );
        id += 1;
        live.send(&format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"get_employee","arguments":{{"id":"E001"}}}}}}"#));
        assert!(live.recv().contains(&format!(r#""id":{id}"#)));
        while let Ok(line) = lines.recv_timeout(Duration::from_millis(50)) {
            seen.push(serde_json::from_str::<serde_json::Value>(&line).unwrap());
        }
    }
    tail.kill().unwrap();
    tail.wait().unwrap();
    reader.join().unwrap();
    drop(live.input.take());
    live.child.wait().unwrap();
    assert!(
        seen.iter().all(|l| l["log"] != old_log),
        "nothing older than the tail: {seen:?}"
    );
    let ids: Vec<u64> = seen.iter().map(|l| l["rpc_id"].as_u64().unwrap()).collect();
    let from = ids[0];
    assert!(
        ids.iter().zip(from..).all(|(a, b)| *a == b),
        "the live session's results, in order, none missed: {ids:?}"
    );
    assert!(
        seen.iter()
            .all(|l| l["kind"] == "result" && l["dir"] == "s2c" && l["log"] == seen[0]["log"])
    );
}

#[test]
fn verify_and_export_see_one_snapshot_while_a_session_writes() {
    let place = Place::new();
    let mut live = Proxied::start(&place, &["--checkpoint-every", "4"]);
    live.calls(2);
    let writer = std::thread::spawn(move || {
        for i in 0..150 {
            live.send(&format!(
                r#"{{"jsonrpc":"2.0","id":{},"method":"ping"}}"#,
                1000 + i
            ));
            live.recv();
        }
        live
    });
    let file = place.dir.path().join("live.jsonl");
    for _ in 0..5 {
        place.assert_verifies();
        let e = place.export(&file);
        assert!(e.status.success());
        let v = warden()
            .args(["audit", "verify", "--file"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            v.status.success(),
            "export: {}",
            String::from_utf8_lossy(&v.stdout)
        );
    }
    let mut live = writer.join().unwrap();
    drop(live.input.take());
    live.child.wait().unwrap();
}
