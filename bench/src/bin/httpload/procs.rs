//! The processes behind one path: the HTTP echo server alone (direct), the same server behind
//! `http-relay` (the bare proxy) or behind `warden serve` (an HTTP upstream), or `warden serve`
//! running the stdio echo server per session. Each is started fresh (warden with its own
//! config, --db and --key-dir in a temp dir), its address read from its stderr, and at the end
//! its CPU time (from a mark set after the warm-up) and peak RSS are read from /proc.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use warden_bench::procfs::{self, clock_ticks};

use crate::client::Endpoint;

/// The four ways a client reaches an echo server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathKind {
    /// httpload → mcp-http-echo-server.
    Direct,
    /// httpload → http-relay → mcp-http-echo-server.
    Relay,
    /// httpload → warden serve → mcp-http-echo-server.
    Warden,
    /// httpload → warden serve → mcp-echo-server (stdio, one child per session).
    WardenStdio,
}

impl PathKind {
    pub const ALL: [PathKind; 4] = [
        PathKind::Direct,
        PathKind::Relay,
        PathKind::Warden,
        PathKind::WardenStdio,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PathKind::Direct => "direct",
            PathKind::Relay => "relay",
            PathKind::Warden => "warden",
            PathKind::WardenStdio => "warden-stdio",
        }
    }

    pub fn parse(s: &str) -> Option<PathKind> {
        PathKind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// Where the programs are, and extra `warden serve` flags.
#[derive(Clone, Debug)]
pub struct Bins {
    pub http_server: PathBuf,
    pub http_relay: PathBuf,
    pub stdio_server: PathBuf,
    pub warden: PathBuf,
    pub warden_args: Vec<String>,
}

/// What a finished path leaves behind (NaN / None where a process is absent).
#[derive(Clone, Copy, Debug)]
pub struct Finish {
    /// The proxy's (warden's or the relay's) CPU, all threads, from the mark to its exit, in
    /// seconds.
    pub proxy_cpu_s: f64,
    /// The HTTP echo server's CPU from the mark; for warden-stdio, the CPU of the stdio
    /// children warden reaped after the mark.
    pub server_cpu_s: f64,
    /// The proxy's VmHWM before it was stopped, in KiB.
    pub proxy_hwm_kb: Option<u64>,
    pub server_hwm_kb: Option<u64>,
    /// Bytes of warden's audit store after it exited.
    pub store_bytes: Option<u64>,
}

/// One started process and its CPU mark.
struct Proc {
    child: Child,
    mark: procfs::Cpu,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// The running processes of one path.
pub struct Running {
    pub kind: PathKind,
    pub endpoint: Endpoint,
    server: Option<Proc>,
    /// warden or the relay.
    proxy: Option<Proc>,
    tmp: PathBuf,
}

static RUN_COUNTER: AtomicUsize = AtomicUsize::new(0);

const ZERO_CPU: procfs::Cpu = procfs::Cpu {
    own: 0,
    children: 0,
    state: 'R',
};

impl Running {
    pub fn start(kind: PathKind, bins: &Bins) -> Running {
        let n = RUN_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = std::env::temp_dir().join(format!("httpload-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp).expect("create temp dir");
        let server = (kind != PathKind::WardenStdio).then(|| {
            let mut c = Command::new(&bins.http_server);
            c.args(["--listen", "127.0.0.1:0"]);
            spawn_listening(
                c,
                "mcp-http-echo-server: listening on http://",
                &tmp.join("server.log"),
            )
        });
        let (proxy, endpoint) = match kind {
            PathKind::Direct => {
                let (_, addr) = server.as_ref().expect("server");
                (
                    None,
                    Endpoint {
                        addr: *addr,
                        path: "/mcp".into(),
                    },
                )
            }
            PathKind::Relay => {
                let (_, addr) = server.as_ref().expect("server");
                let mut c = Command::new(&bins.http_relay);
                c.args(["--listen", "127.0.0.1:0", "--upstream"])
                    .arg(format!("http://{addr}"));
                let (child, addr) = spawn_listening(
                    c,
                    "http-relay: listening on http://",
                    &tmp.join("relay.log"),
                );
                (
                    Some(child),
                    Endpoint {
                        addr,
                        path: "/mcp".into(),
                    },
                )
            }
            PathKind::Warden | PathKind::WardenStdio => {
                let upstream = match &server {
                    Some((_, addr)) => format!("{{ url: \"http://{addr}/mcp\" }}"),
                    None => format!(
                        "{{ command: [{:?}] }}",
                        bins.stdio_server.display().to_string()
                    ),
                };
                let config = tmp.join("serve.yaml");
                fs::write(
                    &config,
                    format!("listen: 127.0.0.1:0\nservers:\n  echo: {upstream}\n"),
                )
                .expect("write warden config");
                let mut c = Command::new(&bins.warden);
                c.arg("serve")
                    .arg("--config")
                    .arg(&config)
                    .args(["--listen", "127.0.0.1:0"])
                    .arg("--db")
                    .arg(tmp.join("audit.db"))
                    .arg("--key-dir")
                    .arg(tmp.join("keys"))
                    .args(&bins.warden_args);
                let (child, addr) =
                    spawn_listening(c, "warden: listening on http://", &tmp.join("warden.log"));
                (
                    Some(child),
                    Endpoint {
                        addr,
                        path: "/mcp/echo".into(),
                    },
                )
            }
        };
        let proc = |child| Proc {
            child,
            mark: ZERO_CPU,
        };
        Running {
            kind,
            endpoint,
            server: server.map(|(c, _)| proc(c)),
            proxy: proxy.map(proc),
            tmp,
        }
    }

    /// Starts the CPU clocks here (after the warm-up).
    pub fn mark(&mut self) {
        for p in [&mut self.server, &mut self.proxy].into_iter().flatten() {
            p.mark = procfs::cpu(p.pid()).unwrap_or(ZERO_CPU);
        }
    }

    /// Stops everything: the proxy with SIGTERM (so warden ends its sessions and closes its
    /// store; the CPU is read as a zombie, before it is reaped, to include that work), then
    /// the server (its CPU read just before it is killed).
    pub fn finish(self) -> Finish {
        let Running {
            kind,
            server,
            proxy,
            tmp,
            ..
        } = self;
        let mut f = Finish {
            proxy_cpu_s: f64::NAN,
            server_cpu_s: f64::NAN,
            proxy_hwm_kb: None,
            server_hwm_kb: None,
            store_bytes: None,
        };
        if let Some(mut w) = proxy {
            let pid = w.pid();
            f.proxy_hwm_kb = procfs::mem(pid).map(|m| m.hwm_kb);
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut last = None;
            while let Some(c) = procfs::cpu(pid) {
                last = Some(c);
                if c.state == 'Z' || Instant::now() > deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            if let Some(c) = last {
                f.proxy_cpu_s = c.own.saturating_sub(w.mark.own) as f64 / clock_ticks();
                if kind == PathKind::WardenStdio {
                    f.server_cpu_s =
                        c.children.saturating_sub(w.mark.children) as f64 / clock_ticks();
                }
            }
            if last.is_some_and(|c| c.state != 'Z') {
                eprintln!(
                    "httpload: {} did not stop within 30 s; killing it",
                    kind.name()
                );
                let _ = w.child.kill();
            }
            let status = w.child.wait().expect("wait for the proxy");
            // The relay has no shutdown of its own: SIGTERM ends it, so its status says so.
            if kind != PathKind::Relay {
                if !status.success() {
                    let log = fs::read_to_string(tmp.join("warden.log")).unwrap_or_default();
                    eprintln!("httpload: warden exited with {status}; its stderr:\n{log}");
                }
                f.store_bytes = Some(procfs::store_size(&tmp));
            }
        }
        if let Some(mut s) = server {
            let pid = s.pid();
            if let Some(c) = procfs::cpu(pid) {
                f.server_cpu_s = c.own.saturating_sub(s.mark.own) as f64 / clock_ticks();
            }
            f.server_hwm_kb = procfs::mem(pid).map(|m| m.hwm_kb);
            let _ = s.child.kill();
            let _ = s.child.wait();
        }
        let _ = fs::remove_dir_all(&tmp);
        f
    }
}

/// Spawns `cmd` with its stderr copied to `log` by a thread, and waits for the line that
/// starts with `prefix` and ends with the address it listens on.
fn spawn_listening(mut cmd: Command, prefix: &'static str, log: &Path) -> (Child, SocketAddr) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
    let stderr = child.stderr.take().expect("stderr");
    let mut file = fs::File::create(log).expect("log file");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = writeln!(file, "{line}");
            if let Some(addr) = line.trim().strip_prefix(prefix)
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(addr.trim_end_matches('/').to_owned());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| {
            let _ = child.kill();
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(100));
            let text = fs::read_to_string(log).unwrap_or_default();
            panic!(
                "{:?} did not say where it listens; its stderr:\n{text}",
                cmd.get_program()
            )
        });
    let addr = addr
        .parse()
        .unwrap_or_else(|_| panic!("not an address: {addr}"));
    (child, addr)
}
