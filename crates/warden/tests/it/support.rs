//! Shared test plumbing: the warden binary, a proxied demo server, the peers directory, the store.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

pub(crate) fn warden_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_warden"))
}

pub(crate) fn warden() -> Command {
    let mut c = Command::new(warden_bin());
    c.env_remove("WARDEN_DB").env_remove("WARDEN_KEY_DIR");
    c
}

/// The first record of the gateway event `name` among `leaves` (panics if there is none).
pub(crate) fn first_event<'a>(
    leaves: &'a [serde_json::Value],
    name: &str,
) -> &'a serde_json::Value {
    leaves
        .iter()
        .find(|l| l["event"] == name)
        .unwrap_or_else(|| panic!("no {name} event recorded"))
}

/// The installed real peers (`scripts/test` sets WARDEN_PEERS). `None` means skip, loudly.
pub(crate) fn peers() -> Option<PathBuf> {
    match std::env::var_os("WARDEN_PEERS") {
        Some(p) => {
            let p = PathBuf::from(p);
            assert!(
                p.join("venv/bin/python").exists(),
                "WARDEN_PEERS={} has no venv: run scripts/install-peers.sh",
                p.display()
            );
            Some(p)
        }
        None => {
            eprintln!("skipped: real-peer test needs WARDEN_PEERS (scripts/test sets it)");
            None
        }
    }
}

pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A store and key directory in a fresh temp dir.
pub(crate) struct Place {
    pub(crate) dir: tempfile::TempDir,
}

impl Place {
    /// The store's files (database, WAL, shared memory), each by path with its bytes: what a
    /// test greps for a secret that must never be stored.
    pub(crate) fn store_files(&self) -> Vec<(String, Vec<u8>)> {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("audit.db")
            })
            .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
            .collect()
    }

    pub(crate) fn new() -> Place {
        Place {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    pub(crate) fn db(&self) -> PathBuf {
        self.dir.path().join("audit.db")
    }
    pub(crate) fn keys(&self) -> PathBuf {
        self.dir.path().join("keys")
    }
    /// `warden run` with this store, then `extra` flags, then `--`.
    pub(crate) fn run_args(&self, extra: &[&str]) -> Vec<String> {
        let mut v = vec![
            "run".to_owned(),
            "--db".to_owned(),
            self.db().display().to_string(),
            "--key-dir".to_owned(),
        ];
        v.push(self.keys().display().to_string());
        v.extend(extra.iter().map(|s| s.to_string()));
        v.push("--".to_owned());
        v
    }
    pub(crate) fn verify(&self) -> std::process::Output {
        warden()
            .args(["audit", "verify", "--db"])
            .arg(self.db())
            .arg("--pubkey")
            .arg(self.keys().join("checkpoint.vkey"))
            .output()
            .unwrap()
    }
    /// Asserts that `warden audit verify` passes on this store (its report shown if not).
    pub(crate) fn assert_verifies(&self) {
        let v = self.verify();
        assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    }
    /// `warden audit export` of this store into `out`.
    pub(crate) fn export(&self, out: &std::path::Path) -> std::process::Output {
        warden()
            .args(["audit", "export", "--db"])
            .arg(self.db())
            .arg("--out")
            .arg(out)
            .output()
            .unwrap()
    }
    pub(crate) fn conn(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.db()).unwrap()
    }
    /// Every record's leaf as JSON, in log order, with its stored content (see [`leaves_of`]).
    pub(crate) fn leaves(&self) -> Vec<serde_json::Value> {
        leaves_of(&self.db())
    }
}

/// Every record's leaf in the store at `db` as JSON, in log order. A leaf that commits to
/// content (leaf v2) gets it as a `payload` member (JSON, or text as a string), so that what
/// tests check of a record (what was kept, that no secret was) covers the content store too.
pub(crate) fn leaves_of(db: &std::path::Path) -> Vec<serde_json::Value> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut st = c
        .prepare(
            "SELECT r.leaf, c.body FROM records r LEFT JOIN content c ON c.digest = r.content \
             ORDER BY r.log_id, r.seq",
        )
        .unwrap();
    st.query_map([], |r| {
        Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Option<Vec<u8>>>(1)?))
    })
    .unwrap()
    .map(|row| {
        let (leaf, body) = row.unwrap();
        let mut leaf: serde_json::Value = serde_json::from_slice(&leaf).unwrap();
        if let Some(body) = body {
            let payload = if leaf["content_type"] == "json" {
                serde_json::from_slice(&body).unwrap()
            } else {
                serde_json::Value::String(String::from_utf8_lossy(&body).into_owned())
            };
            leaf["payload"] = payload;
        }
        leaf
    })
    .collect()
}

/// The demo HR server behind `warden run`, driven line by line.
pub(crate) struct Proxied {
    pub(crate) child: Child,
    pub(crate) input: Option<ChildStdin>,
    pub(crate) output: BufReader<ChildStdout>,
}

impl Proxied {
    pub(crate) fn start(place: &Place, extra: &[&str]) -> Proxied {
        let mut child = warden()
            .args(place.run_args(extra))
            .arg(warden_bin())
            .arg("demo-server")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let input = child.stdin.take();
        let output = BufReader::new(child.stdout.take().unwrap());
        Proxied {
            child,
            input,
            output,
        }
    }

    pub(crate) fn send(&mut self, line: &str) {
        let w = self.input.as_mut().unwrap();
        w.write_all(line.as_bytes()).unwrap();
        w.write_all(b"\n").unwrap();
        w.flush().unwrap();
    }

    pub(crate) fn recv(&mut self) -> String {
        let mut s = String::new();
        read_line_within(&mut self.output, &mut s);
        s
    }

    /// initialize + one tools/call per `n`, each answered before the next.
    pub(crate) fn calls(&mut self, n: usize) {
        self.send(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"crash-test","version":"1"}}}"#);
        let reply = self.recv();
        if !reply.contains("warden-demo-hr") {
            let exited = self.child.try_wait().ok().flatten();
            panic!(
                "no initialize answer: {reply:?}; warden exited: {exited:?} (its stderr is above)"
            );
        }
        for i in 1..=n {
            self.send(&format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"tools/call","params":{{"name":"get_employee","arguments":{{"id":"E001"}}}}}}"#));
            let reply = self.recv();
            assert!(reply.contains(&format!(r#""id":{i}"#)), "{reply}");
        }
    }
}

/// How long a test waits for warden's next line before it fails (instead of hanging CI).
pub(crate) const LINE_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// `read_line` on a child's stdout that fails the test when nothing arrives within
/// `LINE_WAIT`. Returns the bytes read (0: the child closed its stdout).
pub(crate) fn read_line_within(from: &mut BufReader<ChildStdout>, line: &mut String) -> usize {
    use std::os::fd::AsFd;
    if from.buffer().is_empty() {
        let wait = u16::try_from(LINE_WAIT.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [nix::poll::PollFd::new(
            from.get_ref().as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let ready = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(wait)).unwrap();
        assert!(ready > 0, "no line from warden within {LINE_WAIT:?}");
    }
    from.read_line(line).unwrap()
}

/// Runs openssl in `dir`, failing the test with its stderr if it fails.
pub(crate) fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes the JWKS and tokens of `tests/peers/jwt_tokens.py` in `dir`; the tokens by name.
pub(crate) fn jwt_tokens(peers: &Path, dir: &Path) -> serde_json::Value {
    let made = Command::new(peers.join("venv/bin/python"))
        .arg(repo_root().join("tests/peers/jwt_tokens.py"))
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    serde_json::from_slice(&std::fs::read(dir.join("tokens.json")).unwrap()).unwrap()
}
