//! Several `warden run` processes on one store (a desktop client wrapping several servers with
//! the default database), and `audit tail` following them live.

use std::io::BufRead;
use std::process::Stdio;

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
    // A first session creates the store.
    let mut first = Proxied::start(&place, &[]);
    first.calls(1);
    drop(first.input.take());
    first.child.wait().unwrap();
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
    let mut lines = std::io::BufReader::new(tail.stdout.take().unwrap()).lines();
    let mut live = Proxied::start(&place, &[]);
    live.calls(3);
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let line = lines.next().expect("tail keeps printing").unwrap();
        seen.push(serde_json::from_str::<serde_json::Value>(&line).unwrap());
    }
    tail.kill().unwrap();
    tail.wait().unwrap();
    drop(live.input.take());
    live.child.wait().unwrap();
    let ids: Vec<u64> = seen.iter().map(|l| l["rpc_id"].as_u64().unwrap()).collect();
    assert_eq!(
        ids,
        [1, 2, 3],
        "the live session's results, in order, and nothing older"
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
