//! `warden serve` pipelines each session to its stdio server: many requests of one session on
//! the child's stdin at once, each response routed to its own request by id, the server's
//! messages delivered in the order it wrote them, and with `--durability sync` a response
//! whose commit fails still answered (`audit_store_unavailable`), once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde_json::Value;

use crate::serve::{Served, http, session_of};
use crate::store_failure::{TinyDisk, verify_db};
use crate::support::*;

/// The JSON-RPC messages of a POST's answer: an SSE stream's `data:` lines, or one JSON body.
fn messages(body: &str) -> Vec<Value> {
    let data: Vec<Value> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    if data.is_empty() && !body.trim().is_empty() {
        return vec![serde_json::from_str(body.trim()).unwrap()];
    }
    data
}

/// POSTs `body` on session `sid` (an SSE answer accepted), on a connection of its own.
fn call(addr: &str, path: &str, sid: &str, body: &str) -> (u16, Vec<Value>) {
    let (status, _, answer) = http(
        addr,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMcp-Session-Id: {sid}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        ),
        body.as_bytes(),
    );
    (status, messages(&answer))
}

/// A stdio server that answers nothing until it has read `N` requests (so it answers only
/// if they are all on its stdin at once), then answers them last first, each after two
/// progress notifications for it.
const GATHER: &str = r#"read l; printf '%s\n' '{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"gather","version":"1"}}}'; read l; ids=""; for i in 1 2 3 4; do read l; id=$(printf '%s' "$l" | sed 's/.*"id":\([0-9]*\).*/\1/'); ids="$id $ids"; done; for id in $ids; do printf '{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t%s","progress":1}}\n' $id; printf '{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t%s","progress":2}}\n' $id; printf '{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":"r%s"}]}}\n' $id $id; done; while read l; do :; done"#;

#[test]
fn a_session_has_several_requests_on_its_stdio_server_at_once() {
    let place = Place::new();
    let config = format!(
        "servers:\n  g: {{ command: [\"sh\", \"-c\", {}] }}\n",
        Value::from(GATHER)
    );
    // sync: each response waits for its commit, and the server's next lines are read meanwhile.
    let served = Served::start(&place, &config, &["--durability", "sync"]);
    let a = served.addr.clone();
    let sid = session_of(&a, "/mcp/g");
    // Four requests of the one session, each on its own connection, all in flight. The server
    // answers only once it has read all four: on a gateway that sends one at a time, each
    // waits for its answer until `http`'s read timeout, and the answers are missing.
    let threads: Vec<_> = (11..=14)
        .map(|id| {
            let (a, sid) = (a.clone(), sid.clone());
            std::thread::spawn(move || {
                let body = format!(
                    r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"x","arguments":{{}},"_meta":{{"progressToken":"t{id}"}}}}}}"#
                );
                (id, call(&a, "/mcp/g", &sid, &body))
            })
        })
        .collect();
    for t in threads {
        let (id, (status, got)) = t.join().unwrap();
        assert_eq!(status, 200);
        // Its own stream: its two progress notifications, then its answer, in that order.
        let what: Vec<String> = got
            .iter()
            .map(|m| match m["method"].as_str() {
                Some(_) => format!(
                    "{}:{}",
                    m["params"]["progressToken"], m["params"]["progress"]
                ),
                None => format!("{}:{}", m["id"], m["result"]["content"][0]["text"]),
            })
            .collect();
        assert_eq!(
            what,
            [
                format!("\"t{id}\":1"),
                format!("\"t{id}\":2"),
                format!("{id}:\"r{id}\"")
            ],
            "the stream of request {id}"
        );
    }
    served.stop();
    let leaves = place.leaves();
    // The pipeline saw the server's messages in its order: per request, two notifications
    // then the result.
    let from_server: Vec<&str> = leaves
        .iter()
        .filter(|l| l["dir"] == "s2c" && l["method"] != "initialize")
        .filter_map(|l| l["kind"].as_str())
        .collect();
    assert_eq!(
        from_server,
        ["notification", "notification", "result"].repeat(4),
        "{leaves:#?}"
    );
    let results: Vec<&Value> = leaves
        .iter()
        .filter(|l| l["kind"] == "result" && l["method"] == "tools/call")
        .collect();
    assert_eq!(results.len(), 4);
    assert!(results.iter().all(|r| r["outcome"] == "ok"));
    place.assert_verifies();
}

/// A demo-server call with a large argument (the store fills quickly).
fn padded_call(id: u64) -> String {
    let pad = "p".repeat(30_000);
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"get_employee","arguments":{{"id":"E001","pad":"{pad}"}}}}}}"#
    )
}

#[test]
fn a_store_failure_under_sync_answers_each_call_in_flight_once() {
    let place = Place::new();
    let Some(disk) = TinyDisk::mount(place.dir.path(), "600k") else {
        return;
    };
    let db = disk.path.join("audit.db");
    let config = format!(
        "servers:\n  hr: {{ command: [\"{}\", \"demo-server\"] }}\n",
        warden_bin().display()
    );
    let served = Served::start_on(
        &place,
        &db,
        &config,
        &["--durability", "sync", "--on-store-error", "fail_closed"],
    );
    let a = served.addr.clone();
    let sid = session_of(&a, "/mcp/hr");
    // Four clients of the one session call until the disk is full.
    let full = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(100));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (a, sid, full, next) = (a.clone(), sid.clone(), full.clone(), next.clone());
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !full.load(Ordering::SeqCst) {
                    let id = next.fetch_add(1, Ordering::SeqCst);
                    assert!(id < 400, "the disk never filled");
                    let (status, got) = call(&a, "/mcp/hr", &sid, &padded_call(id));
                    assert_eq!(status, 200);
                    // One answer, to this call.
                    assert_eq!(got.len(), 1, "call {id}: {got:?}");
                    assert_eq!(got[0]["id"], id);
                    if got[0].get("error").is_some() {
                        full.store(true, Ordering::SeqCst);
                    }
                    seen.push((id, got[0].clone()));
                }
                seen
            })
        })
        .collect();
    let seen: Vec<(u64, Value)> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let refused: Vec<u64> = seen
        .iter()
        .filter(|(_, m)| m.get("error").is_some())
        .map(|(id, m)| {
            assert_eq!(m["error"]["code"], -32010, "{m}");
            assert_eq!(m["error"]["data"]["reason"], "audit_store_unavailable");
            *id
        })
        .collect();
    assert!(!refused.is_empty());
    assert!(
        seen.iter().any(|(_, m)| m.get("result").is_some()),
        "calls were answered before the disk filled"
    );
    // Room again: the records held meanwhile are committed, and calls flow again.
    disk.grow("64m");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, got) = call(&a, "/mcp/hr", &sid, &padded_call(1000));
        if got.first().is_some_and(|m| m.get("result").is_some()) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never recovered");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    served.stop();
    let leaves = verify_db(&place, &db);
    for id in &refused {
        assert!(
            leaves.iter().any(|l| l["rpc_id"] == *id
                && l["kind"] == "error"
                && l["outcome"] == "gateway_error"),
            "the answer call {id} got instead is recorded"
        );
    }
    // At least one of them was the server's response, replaced because its commit failed.
    assert!(
        leaves
            .iter()
            .any(|l| !l["detail"]["replaced"].is_null()
                && refused.iter().any(|id| l["rpc_id"] == *id)),
        "a response whose commit failed was answered in its place"
    );
}
