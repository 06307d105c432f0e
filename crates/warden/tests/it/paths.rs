//! The Tork seed's own path policy (`type: path_not_in`, `allowed_paths`, no argument named)
//! through `warden run --policy` in front of the real server-filesystem, whose own root is wider
//! than the policy's (so it would serve whatever warden lets through): every path argument is
//! fenced, symlinks leading out are caught with `resolve_symlinks`, and the secret's content
//! reaches neither the client nor the audit store.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

const SECRET: &str = "TOP-SECRET-7f3c9a1e-never-leaves";

/// The seed's rule as written there, with the allowed directory filled in; `extra` is added to
/// the condition (`resolve_symlinks: true`).
fn seed_policy(allowed: &Path, extra: &str) -> String {
    format!(
        "policies:\n  - name: restrict-filesystem-access\n    description: Limit file operations to specific directories\n    tool_pattern: \"filesystem:*\"\n    action: BLOCK\n    conditions:\n      - type: path_not_in\n{extra}        allowed_paths:\n          - \"{}\"\n    message: \"File access outside allowed directories\"\n",
        allowed.display()
    )
}

/// `base/allowed` (the policy's directory) and `base/secret` (outside it), both inside the
/// server's root `base`.
struct Tree {
    base: PathBuf,
    allowed: PathBuf,
    secret: PathBuf,
}

fn tree(place: &Place) -> Tree {
    let base = place.dir.path().join("base");
    let allowed = base.join("allowed");
    let secret = base.join("secret");
    std::fs::create_dir_all(&allowed).unwrap();
    std::fs::create_dir_all(&secret).unwrap();
    std::fs::write(allowed.join("a.txt"), "inside-content").unwrap();
    std::fs::write(secret.join("s.txt"), SECRET).unwrap();
    Tree {
        base,
        allowed,
        secret,
    }
}

/// warden run with `policy` in front of server-filesystem rooted at `root`.
struct Fs {
    child: Child,
    input: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Every line the client received.
    seen: Vec<String>,
}

impl Fs {
    fn start(peers: &Path, place: &Place, policy: &str, root: &Path) -> Fs {
        let file = place.dir.path().join("policy.yaml");
        std::fs::write(&file, policy).unwrap();
        let file = file.display().to_string();
        let mut child =
            warden()
                .args(place.run_args(&["--server-name", "filesystem", "--policy", &file]))
                .arg("node")
                .arg(peers.join(
                    "node/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js",
                ))
                .arg(root)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
        let input = child.stdin.take();
        let output = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in output.lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut fs = Fs {
            child,
            input,
            lines,
            seen: Vec::new(),
        };
        let init = fs.ask(
            0,
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "paths-test", "version": "1"}}),
        );
        assert!(init["result"]["serverInfo"].is_object(), "{init}");
        fs.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        fs
    }

    fn send(&mut self, v: &Value) {
        let w = self.input.as_mut().unwrap();
        writeln!(w, "{v}").unwrap();
        w.flush().unwrap();
    }

    /// Sends a request and waits (at most 30 s) for its answer.
    fn ask(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|e| panic!("no answer to request {id} ({method}): {e}"));
            self.seen.push(line.clone());
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["id"] == id && v.get("method").is_none() {
                return v;
            }
        }
    }

    fn call(&mut self, id: u64, tool: &str, arguments: Value) -> Value {
        self.ask(
            id,
            "tools/call",
            json!({"name": tool, "arguments": arguments}),
        )
    }

    /// Closes stdin and waits (bounded) for warden to exit cleanly.
    fn finish(mut self) -> Vec<String> {
        drop(self.input.take());
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "warden exited with {status}");
                break;
            }
            if std::time::Instant::now() > deadline {
                let _killed = self.child.kill();
                panic!("warden did not exit after its client left");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.seen.extend(self.lines.try_iter());
        self.seen
    }
}

fn assert_denied(answer: &Value, what: &str) {
    assert_eq!(answer["error"]["code"], -32011, "{what}: {answer}");
    assert_eq!(
        answer["error"]["data"]["rule"], "restrict-filesystem-access",
        "{what}"
    );
}

fn text_of(answer: &Value) -> String {
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text in {answer}"))
        .to_owned()
}

/// The secret is in no line the client saw and in no byte of the store's files.
fn assert_secret_kept(place: &Place, seen: &[String]) {
    for line in seen {
        assert!(!line.contains(SECRET), "the client saw the secret: {line}");
    }
    let files = place.store_files();
    assert!(!files.is_empty(), "no store files found");
    for (name, bytes) in files {
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "the secret is in {name}"
        );
    }
}

/// Every denied id was recorded as denied and never answered by the server.
fn assert_recorded_denied(place: &Place, ids: &[u64]) {
    let leaves = place.leaves();
    for id in ids {
        let req = leaves
            .iter()
            .find(|l| l["rpc_id"] == *id && l["kind"] == "request")
            .unwrap_or_else(|| panic!("request {id} not recorded"));
        assert_eq!(req["outcome"], "denied", "{req}");
        assert_eq!(req["policy"]["rule"], "restrict-filesystem-access");
        let server_said = leaves
            .iter()
            .any(|l| l["rpc_id"] == *id && l["dir"] == "s2c" && l.get("detail").is_none());
        assert!(!server_said, "request {id} reached the server");
    }
    place.assert_verifies();
}

#[test]
fn the_seed_policy_fences_every_path_argument() {
    let Some(peers) = peers() else { return };
    let place = Place::new();
    let t = tree(&place);
    let mut fs = Fs::start(&peers, &place, &seed_policy(&t.allowed, ""), &t.base);
    let inside = t.allowed.join("a.txt");
    let secret = t.secret.join("s.txt");

    let read = fs.call(1, "read_file", json!({"path": inside}));
    assert_eq!(text_of(&read), "inside-content");
    let both = fs.call(2, "read_multiple_files", json!({"paths": [inside, secret]}));
    assert_denied(&both, "read_multiple_files with one path outside");
    let moved_in = fs.call(
        3,
        "move_file",
        json!({"source": secret, "destination": t.allowed.join("stolen.txt")}),
    );
    assert_denied(&moved_in, "move_file from outside");
    let moved_out = fs.call(
        4,
        "move_file",
        json!({"source": inside, "destination": t.secret.join("planted.txt")}),
    );
    assert_denied(&moved_out, "move_file to outside");
    // A file URI with an encoded `..`, a relative name, and a path hidden in a nested value.
    let uri = format!("file://{}/%2e%2e/secret/s.txt", t.allowed.display());
    let by_uri = fs.call(5, "read_file", json!({"path": uri}));
    assert_denied(&by_uri, "file URI with %2e%2e");
    let relative = fs.call(6, "read_file", json!({"path": "../secret/s.txt"}));
    assert_denied(&relative, "relative path");
    let nested = fs.call(
        7,
        "search_files",
        json!({"path": t.allowed, "pattern": "*", "options": {"also": [secret]}}),
    );
    assert_denied(&nested, "a path in a nested value");
    // A move inside is allowed and happens.
    let fine = fs.call(
        8,
        "move_file",
        json!({"source": inside, "destination": t.allowed.join("b.txt")}),
    );
    assert!(fine.get("result").is_some(), "{fine}");
    let seen = fs.finish();

    assert_eq!(
        std::fs::read_to_string(&secret).unwrap(),
        SECRET,
        "secret not moved"
    );
    assert!(!t.allowed.join("stolen.txt").exists());
    assert!(!t.secret.join("planted.txt").exists());
    assert!(
        t.allowed.join("b.txt").exists(),
        "the allowed move happened"
    );
    assert_secret_kept(&place, &seen);
    assert_recorded_denied(&place, &[2, 3, 4, 5, 6, 7]);
}

#[test]
fn symlinks_out_of_the_allowed_directory_are_caught_when_resolving() {
    let Some(peers) = peers() else { return };
    // Without the option, the lexical check lets a symlink out (the limit the option lifts):
    // shown with a decoy file, so the real secret never moves.
    {
        let place = Place::new();
        let t = tree(&place);
        std::fs::write(t.secret.join("decoy.txt"), "decoy-content").unwrap();
        std::os::unix::fs::symlink(&t.secret, t.allowed.join("link")).unwrap();
        let mut fs = Fs::start(&peers, &place, &seed_policy(&t.allowed, ""), &t.base);
        let through = fs.call(
            1,
            "read_text_file",
            json!({"path": t.allowed.join("link/decoy.txt")}),
        );
        assert_eq!(text_of(&through), "decoy-content");
        fs.finish();
    }

    let place = Place::new();
    let t = tree(&place);
    std::os::unix::fs::symlink(&t.secret, t.allowed.join("link")).unwrap();
    std::os::unix::fs::symlink(t.secret.join("made.txt"), t.allowed.join("dangling")).unwrap();
    std::fs::create_dir(t.allowed.join("sub")).unwrap();
    let policy = seed_policy(&t.allowed, "        resolve_symlinks: true\n");
    let mut fs = Fs::start(&peers, &place, &policy, &t.base);

    let read = fs.call(
        1,
        "read_text_file",
        json!({"path": t.allowed.join("link/s.txt")}),
    );
    assert_denied(&read, "read through a symlink");
    let listed = fs.call(2, "list_directory", json!({"path": t.allowed.join("link")}));
    assert_denied(&listed, "the symlink itself");
    // Write targets that do not exist yet: judged by their nearest existing ancestor.
    let write = fs.call(
        3,
        "write_file",
        json!({"path": t.allowed.join("link/new.txt"), "content": "x"}),
    );
    assert_denied(&write, "a new file under the symlink");
    let dangling = fs.call(
        4,
        "write_file",
        json!({"path": t.allowed.join("dangling"), "content": "x"}),
    );
    assert_denied(&dangling, "a dangling symlink");
    // `..` after the link is its target's parent for the kernel.
    let up = fs.call(
        5,
        "read_text_file",
        json!({"path": format!("{}/link/../secret/s.txt", t.allowed.display())}),
    );
    assert_denied(&up, "`..` after the symlink");
    // Real paths inside stay allowed, new files included.
    let ok = fs.call(
        6,
        "read_text_file",
        json!({"path": t.allowed.join("a.txt")}),
    );
    assert_eq!(text_of(&ok), "inside-content");
    let created = fs.call(
        7,
        "write_file",
        json!({"path": t.allowed.join("sub/new/../fresh.txt"), "content": "fresh"}),
    );
    assert!(created.get("result").is_some(), "{created}");
    let seen = fs.finish();

    assert!(
        !t.secret.join("new.txt").exists(),
        "nothing written through the link"
    );
    assert!(
        !t.secret.join("made.txt").exists(),
        "nothing written through the dangling link"
    );
    assert_eq!(
        std::fs::read_to_string(t.allowed.join("sub/fresh.txt")).unwrap(),
        "fresh"
    );
    assert_secret_kept(&place, &seen);
    assert_recorded_denied(&place, &[1, 2, 3, 4, 5]);
}
