//! Crashes and signals: acknowledged calls survive kill -9 (sync: all; batch: within the
//! documented window), client EOF and SIGTERM lose nothing, a dying server's in-flight
//! requests are recorded as abandoned, and a server flooding stderr stalls nothing.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::support::*;

fn results(place: &Place) -> usize {
    place
        .leaves()
        .iter()
        .filter(|l| l["kind"] == "result" && l["method"] == "tools/call" && l["outcome"] == "ok")
        .count()
}

fn closed(place: &Place) -> bool {
    place.leaves().iter().any(|l| l["event"] == "log_closed")
}

#[test]
fn kill_9_in_sync_mode_loses_no_acknowledged_call() {
    let place = Place::new();
    let mut p = Proxied::start(&place, &["--durability", "sync"]);
    p.calls(60);
    p.child.kill().unwrap();
    p.child.wait().unwrap();
    assert_eq!(
        results(&place),
        60,
        "every acknowledged call is in the store"
    );
    place.assert_verifies();
}

#[test]
fn kill_9_in_sync_mode_loses_no_acknowledged_call_sent_many_at_a_time() {
    // 60 calls in flight at once: their responses wait for their commits on warden's ordered
    // releaser while it reads on (commits are grouped), and reach the client in the order the
    // server wrote them, every one stored before the client sees it.
    let place = Place::new();
    let mut p = Proxied::start(&place, &["--durability", "sync"]);
    p.calls(0);
    let mut batch = String::new();
    for i in 1..=60 {
        batch.push_str(&format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"tools/call","params":{{"name":"get_employee","arguments":{{"id":"E00{}"}}}}}}"#, 1 + i % 4));
        batch.push('\n');
    }
    {
        use std::io::Write;
        let w = p.input.as_mut().unwrap();
        w.write_all(batch.as_bytes()).unwrap();
        w.flush().unwrap();
    }
    for i in 1..=60 {
        let reply = p.recv();
        assert!(
            reply.contains(&format!(r#""id":{i},"#)),
            "reply {i} in order: {reply}"
        );
    }
    p.child.kill().unwrap();
    p.child.wait().unwrap();
    assert_eq!(
        results(&place),
        60,
        "every acknowledged call is in the store"
    );
    place.assert_verifies();
}

#[test]
fn kill_9_in_batch_mode_loses_only_the_last_commit_window() {
    // docs/durability.md: in batch mode a record is committed within one commit cycle of being
    // queued; kill -9 loses only what was not yet committed, and what survives is a gap-free prefix.
    let place = Place::new();
    let mut p = Proxied::start(&place, &[]);
    p.calls(60);
    std::thread::sleep(std::time::Duration::from_millis(250));
    p.child.kill().unwrap();
    p.child.wait().unwrap();
    assert_eq!(
        results(&place),
        60,
        "calls acknowledged a commit window before the kill are all stored"
    );
    place.assert_verifies();

    // 200 calls, paced over about two seconds so that most were acknowledged well before
    // the kill: every call acknowledged a window (250 ms, far beyond the documented commit
    // cycle) before the kill must be stored, and that is most of them.
    const WINDOW: std::time::Duration = std::time::Duration::from_millis(250);
    let place = Place::new();
    let mut p = Proxied::start(&place, &[]);
    p.calls(0);
    let mut acked = Vec::new();
    for i in 1..=200u64 {
        p.send(&format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"tools/call","params":{{"name":"get_employee","arguments":{{"id":"E001"}}}}}}"#));
        let reply = p.recv();
        assert!(reply.contains(&format!(r#""id":{i}"#)), "{reply}");
        acked.push(std::time::Instant::now());
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let killed = std::time::Instant::now();
    p.child.kill().unwrap();
    p.child.wait().unwrap();
    let must_survive = acked
        .iter()
        .filter(|t| killed.duration_since(**t) >= WINDOW)
        .count();
    assert!(
        must_survive >= 150,
        "the pacing left {must_survive} calls a window before the kill: the test would prove little"
    );
    let leaves = place.leaves();
    let seqs: Vec<u64> = leaves.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (0..seqs.len() as u64).collect::<Vec<_>>(),
        "what survives is a prefix"
    );
    let ids: Vec<u64> = leaves
        .iter()
        .filter(|l| l["kind"] == "result" && l["method"] == "tools/call")
        .map(|l| l["rpc_id"].as_u64().unwrap())
        .collect();
    assert_eq!(
        ids,
        (1..=ids.len() as u64).collect::<Vec<_>>(),
        "no acknowledged call missing before the last one stored"
    );
    assert!(
        ids.len() >= must_survive,
        "{} of 200 stored, but {must_survive} were acknowledged {WINDOW:?} or more before the kill",
        ids.len()
    );
    eprintln!(
        "kill -9 right after 200 calls: {} of 200 results stored",
        ids.len()
    );
    place.assert_verifies();
}

#[test]
fn client_eof_loses_nothing_and_closes_the_log() {
    let place = Place::new();
    let mut p = Proxied::start(&place, &[]);
    p.calls(40);
    drop(p.input.take());
    let status = p.child.wait().unwrap();
    assert!(
        status.success(),
        "warden exits with the server's status: {status}"
    );
    assert_eq!(results(&place), 40);
    assert!(closed(&place));
    let v = place.verify();
    let text = String::from_utf8_lossy(&v.stdout);
    assert!(
        v.status.success() && !text.contains("after its last checkpoint"),
        "{text}"
    );
}

#[test]
fn sigterm_loses_nothing_and_exits_with_the_server_status() {
    let place = Place::new();
    let mut p = Proxied::start(&place, &[]);
    p.calls(40);
    kill(Pid::from_raw(p.child.id() as i32), Signal::SIGTERM).unwrap();
    let status = p.child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(128 + 15),
        "server was terminated by the passed-on SIGTERM"
    );
    assert_eq!(results(&place), 40);
    assert!(closed(&place));
    place.assert_verifies();
}

#[test]
fn a_dying_server_is_recorded_with_its_in_flight_requests_abandoned() {
    let place = Place::new();
    let mut child = warden()
        .args(place.run_args(&["--shell"]))
        .arg("read line; exit 3")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    let mut input = child.stdin.take().unwrap();
    input.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"slow\"}}\n").unwrap();
    input.flush().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3));
    let leaves = place.leaves();
    let abandoned: Vec<_> = leaves
        .iter()
        .filter(|l| l["event"] == "exchange_abandoned")
        .collect();
    assert_eq!(abandoned.len(), 1);
    assert_eq!(abandoned[0]["target"], "slow");
    assert_eq!(abandoned[0]["outcome"], "abandoned");
    let end = first_event(&leaves, "session_end");
    assert_eq!(end["detail"]["exit_code"], 3);
    place.assert_verifies();
}

#[test]
fn a_server_flooding_stderr_stalls_nothing() {
    let place = Place::new();
    let cmd = format!(
        "head -c 20000000 /dev/zero | tr '\\0' x >&2; exec {} demo-server",
        warden_bin().display()
    );
    let mut child = warden()
        .args(place.run_args(&["--shell"]))
        .arg(cmd)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut p = Proxied {
        input: child.stdin.take(),
        output: std::io::BufReader::new(child.stdout.take().unwrap()),
        child,
    };
    p.calls(5);
    drop(p.input.take());
    assert!(p.child.wait().unwrap().success());
    assert_eq!(results(&place), 5);
}

#[test]
fn frames_read_strictly_are_forwarded_exactly_and_the_rest_answered_by_warden() {
    let place = Place::new();
    // `cat` as the server echoes every byte back: what comes out is what went on, plus warden's
    // answers to what it refused (the two pumps write in either order, so lines are compared
    // as sets).
    let mut child = warden()
        .args(place.run_args(&[]))
        .arg("cat")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let passed: Vec<&[u8]> = vec![
        &b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":{\"b\":1,\"a\":2}}\r\n"[..],
        "{\"jsonrpc\":\"2.0\",\"method\":\"n\",\"params\":{\"t\":\"h\u{e9}llo \u{1F680}\"}}\n".as_bytes(),
        b"\n",
        b"[{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"a\"},{\"jsonrpc\":\"2.0\",\"method\":\"b\"}]\n",
    ];
    let refused: Vec<&[u8]> = vec![
        b"not json at all\n",
        b"{\"jsonrpc\":\"2.0\",\"id\":1.0,\"method\":\"y\"}\n",
    ];
    let last = &b"{\"jsonrpc\":\"2.0\",\"id\":\"last\",\"method\":\"no newline\"}"[..];
    let input: Vec<u8> = [
        passed[0], passed[1], refused[0], passed[2], refused[1], passed[3], last,
    ]
    .concat();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        stdin.write_all(&input).unwrap();
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    // The last frame, without its newline, comes out last and exactly.
    assert!(
        out.stdout.ends_with(last),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let body = &out.stdout[..out.stdout.len() - last.len()];
    let mut lines: Vec<&[u8]> = body.split_inclusive(|b| *b == b'\n').collect();
    for p in &passed {
        let at = lines
            .iter()
            .position(|l| l == p)
            .unwrap_or_else(|| panic!("{} not forwarded exactly", String::from_utf8_lossy(p)));
        lines.remove(at);
    }
    let answers: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(answers.len(), 2, "{answers:?}");
    let codes: Vec<(i64, Value)> = answers
        .iter()
        .map(|a| (a["error"]["code"].as_i64().unwrap(), a["id"].clone()))
        .collect();
    assert!(codes.contains(&(-32700, Value::Null)), "{codes:?}");
    assert!(
        codes.contains(&(-32600, serde_json::json!(1.0))),
        "{codes:?}"
    );
    let leaves = place.leaves();
    let kinds: Vec<&str> = leaves
        .iter()
        .filter(|l| l["dir"] == "c2s")
        .map(|l| l["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "request",
            "notification",
            "unparseable",
            "invalid",
            "request",
            "notification",
            "request"
        ]
    );
    let refusals: Vec<&Value> = leaves
        .iter()
        .filter(|l| l["outcome"] == "refused")
        .collect();
    assert_eq!(refusals.len(), 4, "each refused frame and its answer");
    assert!(leaves.iter().any(|l| l["batch_index"] == 1));
}

#[test]
fn a_server_ignoring_eof_is_terminated_with_its_process_group_after_the_grace_period() {
    let place = Place::new();
    let marker = place.dir.path().join("grandchild.pid");
    // The server never reads stdin and leaves a grandchild behind in its process group.
    let script = format!("sleep 300 & echo $! > {}; sleep 300", marker.display());
    let started = std::time::Instant::now();
    let mut child = warden()
        .args(place.run_args(&["--shell", "--grace-ms", "300"]))
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    while !marker.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(128 + 15),
        "SIGTERM after the grace period"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    let grandchild: i32 = std::fs::read_to_string(&marker)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    // Dead means gone, or a zombie waiting for PID 1 (which may not reap in a container).
    let state = std::fs::read_to_string(format!("/proc/{grandchild}/status")).unwrap_or_default();
    let alive = state
        .lines()
        .any(|l| l.starts_with("State:") && !l.contains("Z (zombie)"));
    assert!(!alive, "the whole process group was terminated: {state}");
    let end = place
        .leaves()
        .into_iter()
        .find(|l| l["event"] == "session_end")
        .unwrap();
    assert_eq!(end["detail"]["reason"], "client closed the connection");
    assert_eq!(end["detail"]["signal"], 15);
}

#[test]
fn a_client_that_stops_reading_ends_the_session_cleanly() {
    let place = Place::new();
    let mut p = Proxied::start(&place, &["--grace-ms", "200"]);
    p.calls(3);
    // The client goes away without closing its side of stdin: warden sees EPIPE on stdout.
    let Proxied {
        mut child,
        input,
        output,
    } = p;
    drop(output);
    let mut input = input.unwrap();
    use std::io::Write;
    // The write itself may already fail if warden is gone; either way is fine here.
    let _sent = writeln!(input, r#"{{"jsonrpc":"2.0","id":99,"method":"ping"}}"#)
        .and_then(|()| input.flush());
    let status = child.wait().unwrap();
    assert!(
        status.code().is_some(),
        "warden exited on its own: {status}"
    );
    drop(input);
    let leaves = place.leaves();
    let end = leaves
        .iter()
        .find(|l| l["event"] == "session_end")
        .expect("session ended and recorded");
    assert_eq!(end["detail"]["reason"], "client connection failed");
    assert!(
        leaves
            .iter()
            .any(|l| l["rpc_id"] == 99 && l["kind"] == "result"),
        "the undeliverable answer is still recorded"
    );
    place.assert_verifies();
}

#[test]
fn a_client_leaving_while_the_server_stops_reading_still_ends_the_session() {
    let place = Place::new();
    // The server never reads: warden's writes to it block once the pipe is full.
    let mut child = warden()
        .args(place.run_args(&["--shell", "--grace-ms", "300"]))
        .arg("sleep 300")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let frame = format!(
        "{{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\",\"params\":{{\"pad\":\"{}\"}}}}\n",
        "y".repeat(1000)
    );
    // More than both pipes hold: the writer blocks until warden goes away.
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        for _ in 0..1000 {
            if stdin.write_all(frame.as_bytes()).is_err() {
                return;
            }
        }
    });
    // The client leaves: it stops reading warden's stdout.
    drop(stdout);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _sent = tx.send(child.wait());
    });
    let status = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("warden exited on its own after the client left")
        .unwrap();
    assert!(
        status.code().is_some(),
        "warden exited, not killed: {status}"
    );
    writer.join().unwrap();
    let leaves = place.leaves();
    let end = first_event(&leaves, "session_end");
    assert_eq!(end["detail"]["reason"], "client connection failed");
    place.assert_verifies();
}
