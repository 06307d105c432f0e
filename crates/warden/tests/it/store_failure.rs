//! A full disk under the audit store: fail_closed refuses new requests with -32010 and says why;
//! fail_open forwards and says so; both keep every record in memory and commit it, in order,
//! once space returns. Uses a real tmpfs (needs root, which CI has: with `CI` set, not being
//! root fails these tests instead of skipping them).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::*;

/// A tiny tmpfs, unmounted on drop.
pub(crate) struct TinyDisk {
    pub(crate) path: PathBuf,
}

impl TinyDisk {
    pub(crate) fn mount(dir: &Path, size: &str) -> Option<TinyDisk> {
        if !nix::unistd::geteuid().is_root() {
            // Nothing a guarantee depends on may skip in CI.
            assert!(
                std::env::var_os("CI").is_none(),
                "the disk-full tests need root to mount a tmpfs, and CI is set: run them as root \
                 (they must not be skipped in CI)"
            );
            eprintln!("skipped: mounting a tmpfs needs root (CI runs as root and fails instead)");
            return None;
        }
        let path = dir.join("tiny");
        std::fs::create_dir_all(&path).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(ok.success(), "mount tmpfs failed");
        Some(TinyDisk { path })
    }

    pub(crate) fn grow(&self, size: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.path)
            .status()
            .unwrap();
        assert!(ok.success(), "remount failed");
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _status = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

fn call(p: &mut Proxied, id: u64) -> Value {
    let pad = "p".repeat(30_000);
    p.send(&format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"get_employee","arguments":{{"id":"E001","pad":"{pad}"}}}}}}"#
    ));
    serde_json::from_str(&p.recv()).unwrap()
}

/// warden's stderr, collected by a thread as it is written (the thread ends at EOF).
struct Stderr(
    std::sync::Arc<std::sync::Mutex<String>>,
    std::thread::JoinHandle<()>,
);

impl Stderr {
    fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }

    fn wait_for(&self, needle: &str) -> bool {
        for _ in 0..200 {
            if self.text().contains(needle) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        false
    }
}

fn start(place: &Place, db: &Path, policy: &str) -> (Proxied, Stderr) {
    let mut child = warden()
        .arg("run")
        .arg("--db")
        .arg(db)
        .arg("--key-dir")
        .arg(place.keys())
        // sync: each response waits for its commit, so the failure shows at a known request.
        .args(["--durability", "sync", "--on-store-error", policy, "--"])
        .arg(warden_bin())
        .arg("demo-server")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = child.stdin.take();
    let output = std::io::BufReader::new(child.stdout.take().unwrap());
    let collected = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = collected.clone();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut line = String::new();
        while err.read_line(&mut line).unwrap_or(0) > 0 {
            sink.lock().unwrap().push_str(&line);
            line.clear();
        }
    });
    let mut p = Proxied {
        child,
        input,
        output,
    };
    p.send(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#);
    assert!(p.recv().contains("warden-demo-hr"));
    (p, Stderr(collected, reader))
}

fn finish(mut p: Proxied, stderr: Stderr) -> String {
    drop(p.input.take());
    let status = p.child.wait().unwrap();
    // warden has exited: its stderr reaches EOF, and the reader has everything once it ends.
    let Stderr(text, reader) = stderr;
    reader.join().unwrap();
    let text = text.lock().unwrap().clone();
    assert!(status.success(), "{text}");
    text
}

/// Asserts that every call the client got a result for is in the store, request and result,
/// and every call it got warden's refusal for is there with that refusal.
fn assert_all_acknowledged(leaves: &[Value], answered: &[u64], refused: &[u64]) {
    let has = |kind: &str, id: u64, outcome: Option<&str>| {
        leaves.iter().any(|l| {
            l["kind"] == kind && l["rpc_id"] == id && outcome.is_none_or(|o| l["outcome"] == o)
        })
    };
    for &id in answered {
        assert!(
            has("request", id, None),
            "the request of acknowledged call {id} is stored"
        );
        assert!(
            leaves.iter().any(|l| l["kind"] == "result"
                && l["method"] == "tools/call"
                && l["rpc_id"] == id
                && l["outcome"] == "ok"),
            "the result of acknowledged call {id} is stored"
        );
    }
    for &id in refused {
        // Refused before forwarding, or forwarded and its answer replaced (sync durability).
        let mine: Vec<String> = leaves
            .iter()
            .filter(|l| l["rpc_id"] == id)
            .map(|l| format!("{} {} {}", l["kind"], l["outcome"], l["detail"]))
            .collect();
        assert!(
            has("request", id, None),
            "refused request {id} is stored: {mine:?}"
        );
        assert!(
            has("error", id, Some("gateway_error")),
            "the refusal of {id} is stored"
        );
    }
}

/// The store at `db` verified, and its leaves in order.
pub(crate) fn verify_db(place: &Place, db: &Path) -> Vec<Value> {
    let v = warden()
        .args(["audit", "verify", "--db"])
        .arg(db)
        .arg("--pubkey")
        .arg(place.keys().join("checkpoint.vkey"))
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    crate::support::leaves_of(db)
}

#[test]
fn disk_full_fail_closed_refuses_then_recovers_losing_nothing() {
    let place = Place::new();
    let Some(disk) = TinyDisk::mount(place.dir.path(), "600k") else {
        return;
    };
    let db = disk.path.join("audit.db");
    let (mut p, stderr) = start(&place, &db, "fail_closed");
    let mut refused = None;
    // What the client was told: a result, or warden's refusal.
    let (mut answered, mut refused_ids) = (Vec::new(), Vec::new());
    for id in 1..=200 {
        let reply = call(&mut p, id);
        if reply.get("error").is_some() {
            refused_ids.push(id);
            refused = Some(reply);
            break;
        }
        answered.push(id);
    }
    let refused = refused.expect("the disk filled up and a request was refused");
    assert_eq!(refused["error"]["code"], -32010);
    assert_eq!(refused["error"]["data"]["gateway"], "warden");
    assert_eq!(
        refused["error"]["data"]["reason"],
        "audit_store_unavailable"
    );
    // A batch while failing: nothing of it is forwarded; each request gets its own error.
    p.send(r#"[{"jsonrpc":"2.0","id":500,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/x"},{"jsonrpc":"2.0","id":501,"method":"ping"}]"#);
    let batch: Value = serde_json::from_str(&p.recv()).unwrap();
    let errors = batch.as_array().expect("a batch is answered with an array");
    assert_eq!(errors.len(), 2);
    assert_eq!(
        (errors[0]["id"].as_u64(), errors[1]["id"].as_u64()),
        (Some(500), Some(501))
    );
    assert!(errors.iter().all(|e| e["error"]["code"] == -32010));
    disk.grow("64m");
    // The writer retries every 500 ms; requests flow again once the held records are committed.
    let mut recovered = false;
    for id in 1000..1100 {
        if call(&mut p, id).get("result").is_some() {
            answered.push(id);
            recovered = true;
            break;
        }
        refused_ids.push(id);
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // And a few more once it has.
    for id in 2000..2005 {
        assert!(call(&mut p, id).get("result").is_some());
        answered.push(id);
    }
    assert!(
        recovered,
        "requests are forwarded again after the store recovers"
    );
    let stderr = finish(p, stderr);
    assert!(
        stderr.contains("audit store failing"),
        "says why on stderr: {stderr}"
    );
    let leaves = verify_db(&place, &db);
    let refusals = leaves
        .iter()
        .filter(|l| l["kind"] == "error" && l["outcome"] == "gateway_error")
        .count();
    assert!(refusals >= 1, "the refusals themselves are recorded");
    let refused_id = refused["id"].as_u64().unwrap();
    assert!(
        leaves.iter().any(|l| l["kind"] == "error"
            && l["rpc_id"] == refused_id
            && l["outcome"] == "gateway_error"),
        "the answer the client got instead (id {refused_id}) is recorded"
    );
    assert!(
        answered.len() >= 2,
        "calls were answered before the disk filled: {answered:?}"
    );
    assert_all_acknowledged(&leaves, &answered, &refused_ids);
    for id in [500, 501] {
        assert!(
            leaves.iter().any(|l| l["kind"] == "error"
                && l["rpc_id"] == id
                && l["outcome"] == "gateway_error"),
            "the batch refusal of {id} is recorded"
        );
    }
}

#[test]
fn disk_full_fail_open_forwards_then_commits_everything() {
    let place = Place::new();
    let Some(disk) = TinyDisk::mount(place.dir.path(), "600k") else {
        return;
    };
    let db = disk.path.join("audit.db");
    let (mut p, stderr) = start(&place, &db, "fail_open");
    let mut id = 0;
    while !stderr.text().contains("audit store failing") {
        id += 1;
        assert!(id <= 200, "the disk never filled");
        let reply = call(&mut p, id);
        assert!(reply.get("result").is_some(), "fail_open forwards: {reply}");
    }
    // The store is failing now: these calls are forwarded anyway, and that is said loudly.
    for _ in 0..20 {
        id += 1;
        assert!(call(&mut p, id).get("result").is_some());
    }
    assert!(
        stderr.wait_for("fail_open"),
        "says so loudly: {}",
        stderr.text()
    );
    disk.grow("64m");
    assert!(stderr.wait_for("recovered"), "{}", stderr.text());
    finish(p, stderr);
    let leaves = verify_db(&place, &db);
    let results = leaves
        .iter()
        .filter(|l| l["kind"] == "result" && l["method"] == "tools/call")
        .count();
    assert_eq!(
        results as u64, id,
        "every forwarded call was recorded once space returned"
    );
    assert_all_acknowledged(&leaves, &(1..=id).collect::<Vec<_>>(), &[]);
}
