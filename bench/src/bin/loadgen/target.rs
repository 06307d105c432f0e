//! One benchmark target process: how each path (direct, relay, warden, warden with
//! `--durability sync`, or any command for `loadgen drive`) is spawned, the MCP
//! handshake, the request framing shared by the workloads, and the proxy process's CPU time
//! and memory read from /proc (utime+stime from /proc/PID/stat, VmRSS/VmHWM from
//! /proc/PID/status).

use std::fs;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
pub use warden_bench::procfs::Mem;
use warden_bench::procfs::{clock_ticks, cpu_ticks, mem, store_size};

/// The three ways the client reaches the same echo server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathKind {
    /// loadgen → server.
    Direct,
    /// loadgen → relay → server.
    Relay,
    /// loadgen → warden run → server.
    Warden,
    /// loadgen → warden run --durability sync → server.
    WardenSync,
}

impl PathKind {
    pub const ALL: [PathKind; 4] = [
        PathKind::Direct,
        PathKind::Relay,
        PathKind::Warden,
        PathKind::WardenSync,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PathKind::Direct => "direct",
            PathKind::Relay => "relay",
            PathKind::Warden => "warden",
            PathKind::WardenSync => "warden-sync",
        }
    }

    pub fn from_name(name: &str) -> Option<PathKind> {
        PathKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// warden, in either durability.
    pub fn is_warden(self) -> bool {
        matches!(self, PathKind::Warden | PathKind::WardenSync)
    }
}

/// Where the three programs are.
#[derive(Clone, Debug)]
pub struct Bins {
    pub server: PathBuf,
    pub relay: PathBuf,
    pub warden: PathBuf,
    /// Extra `warden run` flags (e.g. `--policy FILE`), placed before `--`.
    pub warden_args: Vec<String>,
}

/// What a finished target leaves behind.
#[derive(Clone, Copy, Debug, Default)]
pub struct Finish {
    /// CPU seconds (user+system, all threads) the proxy process used between `mark()` and its
    /// exit; 0 for the direct path.
    pub proxy_cpu_s: f64,
    /// Peak resident memory of the proxy process, sampled just before its stdin is closed.
    pub proxy_mem: Option<Mem>,
    /// Bytes of warden's audit store (db + WAL) at exit.
    pub store_bytes: Option<u64>,
    /// Whether the process exited successfully.
    pub exit_ok: bool,
}

/// A running target with its pipes.
pub struct Target {
    pub kind: PathKind,
    child: Child,
    pub input: BufWriter<ChildStdin>,
    pub output: BufReader<ChildStdout>,
    tmp: PathBuf,
    cpu_mark_ticks: u64,
}

static RUN_COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Target {
    /// Starts the path, with its stderr going to a file in a fresh temp dir (which for warden
    /// also holds the fresh --db and --key-dir), and performs the MCP handshake.
    pub fn start(kind: PathKind, bins: &Bins) -> Target {
        let tmp = fresh_tmp();
        let server = bins.server.as_os_str();
        let cmd = match kind {
            PathKind::Direct => Command::new(server),
            PathKind::Relay => {
                let mut c = Command::new(&bins.relay);
                c.arg("--").arg(server);
                c
            }
            PathKind::Warden | PathKind::WardenSync => {
                let mut c = Command::new(&bins.warden);
                // Default flags otherwise: standard payload level, batch durability.
                c.arg("run")
                    .arg("--db")
                    .arg(tmp.join("audit.db"))
                    .arg("--key-dir")
                    .arg(tmp.join("keys"));
                if kind == PathKind::WardenSync {
                    c.arg("--durability").arg("sync");
                }
                c.args(&bins.warden_args).arg("--").arg(server);
                c
            }
        };
        Target::spawn(kind, cmd, tmp)
    }

    /// Starts any command that speaks MCP over stdio to the echo server (for `loadgen
    /// drive`: e.g. warden or the relay under valgrind), treated as the direct path (no
    /// proxy process is measured), and performs the handshake.
    pub fn start_command(argv: &[String]) -> Target {
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        Target::spawn(PathKind::Direct, cmd, fresh_tmp())
    }

    fn spawn(kind: PathKind, mut cmd: Command, tmp: PathBuf) -> Target {
        let stderr = fs::File::create(tmp.join("stderr.log")).expect("stderr log");
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
        let input = BufWriter::with_capacity(256 * 1024, child.stdin.take().expect("stdin"));
        let output = BufReader::with_capacity(256 * 1024, child.stdout.take().expect("stdout"));
        let mut t = Target {
            kind,
            child,
            input,
            output,
            tmp,
            cpu_mark_ticks: 0,
        };
        t.handshake();
        t
    }

    /// initialize → notifications/initialized → tools/list, each answer checked.
    fn handshake(&mut self) {
        let init = r#"{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"loadgen","version":"0"}}}"#;
        let v = self.round_trip_json(init);
        assert!(
            v["result"]["serverInfo"]["name"] == "mcp-echo-server",
            "bad initialize answer: {v}"
        );
        self.send_raw(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        let v = self.round_trip_json(r#"{"jsonrpc":"2.0","id":"list","method":"tools/list"}"#);
        assert!(
            v["result"]["tools"][0]["name"] == "echo",
            "bad tools/list answer: {v}"
        );
        let v = self.round_trip_json(r#"{"jsonrpc":"2.0","id":"ping","method":"ping"}"#);
        assert!(v["result"].is_object(), "bad ping answer: {v}");
    }

    fn send_raw(&mut self, line: &[u8]) {
        self.input.write_all(line).expect("write");
        self.input.write_all(b"\n").expect("write");
        self.input.flush().expect("flush");
    }

    fn round_trip_json(&mut self, line: &str) -> Value {
        self.send_raw(line.as_bytes());
        let mut buf = Vec::new();
        read_line(&mut self.output, &mut buf);
        serde_json::from_slice(&buf).expect("answer is JSON")
    }

    /// One echo call, checked in full (parsed), used before each timed phase.
    pub fn checked_call(&mut self, id: u64, message: &str) {
        let mut buf = Vec::new();
        write_call(&mut self.input, id, message);
        self.input.flush().expect("flush");
        read_line(&mut self.output, &mut buf);
        let v: Value = serde_json::from_slice(&buf).expect("echo answer is JSON");
        assert_eq!(v["id"], id, "wrong id");
        assert_eq!(
            v["result"]["content"][0]["text"].as_str(),
            Some(message),
            "echo mismatch"
        );
    }

    /// The pid of the proxy process (relay or warden), if any.
    pub fn proxy_pid(&self) -> Option<u32> {
        (self.kind != PathKind::Direct).then(|| self.child.id())
    }

    /// Starts the proxy-CPU clock here (after handshake and warm-up).
    pub fn mark(&mut self) {
        self.cpu_mark_ticks = self
            .proxy_pid()
            .and_then(|p| cpu_ticks(p).map(|(t, _)| t))
            .unwrap_or(0);
    }

    /// The proxy's current memory.
    pub fn proxy_mem(&self) -> Option<Mem> {
        self.proxy_pid().and_then(mem)
    }

    /// Closes the client side, lets the path shut down, and reads the proxy's CPU time at its
    /// exit (as a zombie, before it is reaped, so the count covers every thread and any work
    /// done after our last answer, e.g. warden's final commits and checkpoint).
    pub fn finish(self) -> Finish {
        let Target {
            kind,
            mut child,
            input,
            mut output,
            tmp,
            cpu_mark_ticks,
        } = self;
        let pid = child.id();
        let proxy = kind != PathKind::Direct;
        let proxy_mem = if proxy { mem(pid) } else { None };
        drop(input);
        // Anything left on stdout (there should be nothing) until EOF.
        let mut rest = Vec::new();
        let _ = output.read_to_end(&mut rest);
        assert!(
            rest.is_empty(),
            "{} wrote {} unexpected bytes",
            kind.name(),
            rest.len()
        );
        let mut proxy_cpu_s = 0.0;
        if proxy {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                match cpu_ticks(pid) {
                    Some((ticks, 'Z')) => {
                        proxy_cpu_s = ticks.saturating_sub(cpu_mark_ticks) as f64 / clock_ticks();
                        break;
                    }
                    Some(_) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(1))
                    }
                    _ => break,
                }
            }
        }
        let status = child.wait().expect("wait");
        let exit_ok = status.success();
        let store_bytes = kind.is_warden().then(|| store_size(&tmp));
        if !status.success() {
            let log = fs::read_to_string(tmp.join("stderr.log")).unwrap_or_default();
            eprintln!("{} exited with {status}; stderr:\n{log}", kind.name());
        }
        let _ = fs::remove_dir_all(&tmp);
        Finish {
            proxy_cpu_s,
            proxy_mem,
            store_bytes,
            exit_ok,
        }
    }

    /// Like `finish`, for a driven command: whether it exited successfully.
    pub fn finish_status(self) -> bool {
        self.finish().exit_ok
    }
}

/// A fresh temp dir for one target (its stderr log; warden's store and keys).
pub fn fresh_tmp() -> PathBuf {
    let n = RUN_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = std::env::temp_dir().join(format!("warden-bench-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).expect("create temp dir");
    tmp
}

/// Writes one `tools/call` of `echo` (not flushed). `message` must need no JSON escaping.
pub fn write_call(w: &mut impl Write, id: u64, message: &str) {
    write!(
        w,
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"message":""#
    )
    .expect("write");
    w.write_all(message.as_bytes()).expect("write");
    w.write_all(b"\"}}}\n").expect("write");
}

/// Reads one line (without the newline) into `buf`; panics on EOF, which means the path died.
pub fn read_line(r: &mut impl BufRead, buf: &mut Vec<u8>) {
    buf.clear();
    let n = r.read_until(b'\n', buf).expect("read");
    assert!(
        n > 0 && buf.last() == Some(&b'\n'),
        "target closed its stdout early"
    );
    buf.pop();
}

/// A cheap check of an echo answer during timed phases: right id, a result, and at least as
/// long as the message. (The server writes `{"jsonrpc":"2.0","id":N,"result":…` and every path
/// forwards bytes unchanged, so the prefix is exact.)
pub fn check_answer(line: &[u8], id: u64, message_len: usize) {
    let mut prefix = [0u8; 64];
    let len = {
        let mut cur = std::io::Cursor::new(&mut prefix[..]);
        write!(cur, r#"{{"jsonrpc":"2.0","id":{id},"result":"#).expect("prefix");
        cur.position() as usize
    };
    let p = &prefix[..len];
    assert!(
        line.starts_with(p) && line.len() >= message_len,
        "unexpected answer for id {id}: {}",
        String::from_utf8_lossy(&line[..line.len().min(200)])
    );
}
