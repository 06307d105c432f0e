//! The processes behind one path: the HTTP echo server alone (direct), the same server behind
//! `http-relay` (the bare proxy) or behind `warden serve` (an HTTP upstream), `warden serve`
//! running the stdio echo server per session, or mcp-proxy (a third-party Rust MCP gateway,
//! audit log on) in front of one stdio echo server. Each is started fresh (warden with its own
//! config, --db and --key-dir in a temp dir; mcp-proxy with its own config and log there), its
//! address read from its stderr (mcp-proxy: its first successful connect), and at the end its
//! CPU time (from a mark set after the warm-up) and peak RSS are read from /proc.

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

/// The five ways a client reaches an echo server.
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
    /// httpload → mcp-proxy → mcp-echo-server (stdio, one child shared by all sessions).
    McpProxy,
}

impl PathKind {
    pub const ALL: [PathKind; 5] = [
        PathKind::Direct,
        PathKind::Relay,
        PathKind::Warden,
        PathKind::WardenStdio,
        PathKind::McpProxy,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PathKind::Direct => "direct",
            PathKind::Relay => "relay",
            PathKind::Warden => "warden",
            PathKind::WardenStdio => "warden-stdio",
            PathKind::McpProxy => "mcp-proxy",
        }
    }

    /// The paths whose upstream is the stdio echo server (slower calls; fewer of them).
    pub fn is_stdio(self) -> bool {
        matches!(self, PathKind::WardenStdio | PathKind::McpProxy)
    }

    /// The file the proxy's stderr goes to, in the run's temp dir (mcp-proxy's holds its audit
    /// log).
    fn log_name(self) -> &'static str {
        match self {
            PathKind::Relay => "relay.log",
            PathKind::McpProxy => "mcp-proxy.log",
            _ => "warden.log",
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
    /// mcp-proxy 0.6.0 (`cargo install mcp-proxy --version 0.6.0 --locked`), if any.
    pub mcp_proxy: Option<PathBuf>,
}

/// What a finished path leaves behind (NaN / None where a process is absent).
#[derive(Clone, Copy, Debug)]
pub struct Finish {
    /// The proxy's (warden's or the relay's) CPU, all threads, from the mark to its exit, in
    /// seconds.
    pub proxy_cpu_s: f64,
    /// The HTTP echo server's CPU from the mark; for warden-stdio, the CPU of the stdio
    /// children warden reaped after the mark; for mcp-proxy, its stdio child's CPU from the
    /// mark to just before the proxy is stopped.
    pub server_cpu_s: f64,
    /// The proxy's VmHWM before it was stopped, in KiB.
    pub proxy_hwm_kb: Option<u64>,
    pub server_hwm_kb: Option<u64>,
    /// Bytes of warden's audit store after it exited (mcp-proxy: of its log, the audit log).
    pub store_bytes: Option<u64>,
    /// mcp-proxy: the audit records (lines of target `mcp::audit`) in its log.
    pub audit_records: Option<u64>,
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
    /// warden, the relay or mcp-proxy.
    proxy: Option<Proc>,
    /// mcp-proxy's stdio children (the echo server) and their CPU at the mark.
    upstreams: Vec<(u32, procfs::Cpu)>,
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
        let server = (!kind.is_stdio()).then(|| {
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
                        tool: "echo".into(),
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
                        tool: "echo".into(),
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
                        tool: "echo".into(),
                    },
                )
            }
            PathKind::McpProxy => {
                let bin = bins.mcp_proxy.as_ref().expect("mcp-proxy binary (checked)");
                let (child, addr) = spawn_mcp_proxy(bin, &bins.stdio_server, &tmp);
                (
                    Some(child),
                    Endpoint {
                        addr,
                        path: "/".into(),
                        tool: "echo/echo".into(),
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
            upstreams: Vec::new(),
            tmp,
        }
    }

    /// Starts the CPU clocks here (after the warm-up).
    pub fn mark(&mut self) {
        for p in [&mut self.server, &mut self.proxy].into_iter().flatten() {
            p.mark = procfs::cpu(p.pid()).unwrap_or(ZERO_CPU);
        }
        if let (PathKind::McpProxy, Some(p)) = (self.kind, &self.proxy) {
            self.upstreams = procfs::children(p.pid())
                .into_iter()
                .filter_map(|c| Some((c, procfs::cpu(c)?)))
                .collect();
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
            upstreams,
            tmp,
            ..
        } = self;
        let mut f = Finish {
            proxy_cpu_s: f64::NAN,
            server_cpu_s: f64::NAN,
            proxy_hwm_kb: None,
            server_hwm_kb: None,
            store_bytes: None,
            audit_records: None,
        };
        if let Some(mut w) = proxy {
            let pid = w.pid();
            f.proxy_hwm_kb = procfs::mem(pid).map(|m| m.hwm_kb);
            if kind == PathKind::McpProxy {
                // Its stdio child lives as long as it does: read the child's CPU before the
                // proxy is stopped (after the mark; NaN if the child was not found then).
                let ticks: Option<u64> = upstreams
                    .iter()
                    .map(|(c, mark)| Some(procfs::cpu(*c)?.own.saturating_sub(mark.own)))
                    .sum();
                f.server_cpu_s = match ticks {
                    Some(t) if !upstreams.is_empty() => t as f64 / clock_ticks(),
                    _ => f64::NAN,
                };
            }
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
                let log = tmp.join(kind.log_name());
                if !status.success() {
                    // Without mcp-proxy's audit records (one per request).
                    let text: String = fs::read_to_string(&log)
                        .unwrap_or_default()
                        .lines()
                        .filter(|l| !is_audit_line(l))
                        .map(|l| format!("{l}\n"))
                        .collect();
                    eprintln!(
                        "httpload: {} exited with {status}; its stderr:\n{text}",
                        kind.name()
                    );
                }
                if kind == PathKind::McpProxy {
                    let text = fs::read_to_string(&log).unwrap_or_default();
                    f.store_bytes = Some(text.len() as u64);
                    f.audit_records =
                        Some(text.lines().filter(|l| is_audit_line(l)).count() as u64);
                } else {
                    f.store_bytes = Some(procfs::store_size(&tmp));
                }
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

/// mcp-proxy's configuration: one stdio backend `echo` (its tool is exposed as `echo/echo`),
/// the audit log on. `audit = true` alone adds the audit layer, whose records (target
/// `mcp::audit`) mcp-proxy 0.6.0's own log filter (`tower_mcp=LEVEL,mcp_proxy=LEVEL`) then
/// drops; `log_level` is spliced into that filter, so naming the target there is what makes
/// the records be written (JSON lines on stderr, as its docs advise for audit).
fn mcp_proxy_config(port: u16, stdio_server: &Path) -> String {
    format!(
        "[proxy]\n\
         name = \"httpload\"\n\
         [proxy.listen]\n\
         host = \"127.0.0.1\"\n\
         port = {port}\n\
         \n\
         [[backends]]\n\
         name = \"echo\"\n\
         transport = \"stdio\"\n\
         command = {:?}\n\
         \n\
         [observability]\n\
         audit = true\n\
         log_level = \"info,mcp::audit=info\"\n\
         json_logs = true\n",
        stdio_server.display().to_string()
    )
}

/// Whether a line of mcp-proxy's JSON log is an audit record.
fn is_audit_line(line: &str) -> bool {
    line.contains(r#""target":"mcp::audit""#)
}

/// Starts mcp-proxy on a free loopback port with its stderr (its log, audit records included)
/// in `tmp/mcp-proxy.log`, and waits for its first successful connect. (It logs "Proxy ready"
/// before it binds, and prints the configured port, so its log cannot tell when it listens.)
fn spawn_mcp_proxy(bin: &Path, stdio_server: &Path, tmp: &Path) -> (Child, SocketAddr) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let config = tmp.join("proxy.toml");
    fs::write(&config, mcp_proxy_config(port, stdio_server)).expect("write mcp-proxy config");
    let log = tmp.join(PathKind::McpProxy.log_name());
    let mut child = Command::new(bin)
        .arg("--config")
        .arg(&config)
        .current_dir(tmp)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).expect("log file"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if std::net::TcpStream::connect(addr).is_ok() {
            return (child, addr);
        }
        let exited = child.try_wait().ok().flatten();
        if exited.is_some() || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let text = fs::read_to_string(&log).unwrap_or_default();
            panic!(
                "mcp-proxy did not listen on {addr} ({}); its stderr:\n{text}",
                exited.map_or("30 s passed".to_string(), |s| format!("exited with {s}"))
            );
        }
        // A refused connect answers at once: pause between tries rather than spin.
        std::thread::sleep(Duration::from_millis(2));
    }
}
