//! `httpload`: the Streamable HTTP benchmark. The same workloads against the HTTP echo server
//! directly, behind `http-relay` (the bare proxy, the floor) and behind `warden serve` (and,
//! for absolute numbers, `warden serve` with the stdio echo server as upstream, and mcp-proxy
//! 0.6.0 with its audit log on in front of the same stdio server, when it is installed). For
//! each repetition, for each workload, the paths run back to back, each in fresh processes
//! (warden with a fresh --db and --key-dir); warden/direct, warden/relay and
//! warden-stdio/mcp-proxy are paired within the repetition. Markdown on stdout, JSON to --json.
//!
//! Usage: httpload [--quick] [--reps R] [--seq N] [--sessions C] [--per-session N]
//!                 [--large N] [--large-kb KB] [--many N] [--many-calls N]
//!                 [--stdio-seq N] [--stdio-per-session N]
//!                 [--inflight-calls N]
//!                 [--paths direct,relay,warden,warden-stdio,mcp-proxy]
//!                 [--workloads seq,tput,large,many,inflight1,inflight8]
//!                 [--client-threads T] [--http-server P] [--http-relay P] [--stdio-server P]
//!                 [--warden P] [--mcp-proxy P]
//!                 [--warden-arg ARG]... [--json FILE] [--timeout-s S]

mod client;
mod procs;
mod report;
mod workloads;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use tokio::runtime::Runtime;
use warden_bench::procfs::loadavg;
use warden_bench::stats::{latency, percentile};

use procs::{Bins, Finish, PathKind, Running};
use report::Rep;

/// The run plan, from the command line.
struct Config {
    reps: usize,
    seq: u64,
    sessions: usize,
    per_session: u64,
    large: u64,
    large_bytes: usize,
    many: usize,
    many_calls: u64,
    warmup: u64,
    /// Calls of the in-flight workloads (one session, 1 or 8 calls in flight).
    inflight_calls: u64,
    /// Smaller counts for the stdio paths (warden-stdio, mcp-proxy), whose calls are slow
    /// (see BENCHMARKS.md).
    stdio_seq: u64,
    stdio_per_session: u64,
    client_threads: usize,
    paths: Vec<PathKind>,
    workloads: Vec<String>,
    bins: Bins,
    json_out: PathBuf,
    timeout: Duration,
}

/// The ~100-byte message of the small calls (plain ASCII, needs no escaping).
const SMALL_MESSAGE: &str = "The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. 0123456789";

/// Warm-up calls on the stdio paths (warden-stdio, mcp-proxy) at most.
const STDIO_WARMUP: u64 = 20;

/// The client's two runtimes: one thread for the one-session workloads, several for the
/// concurrent ones.
struct Runtimes {
    one: Runtime,
    many: Runtime,
}

fn main() {
    let mut cfg = parse_args();
    if cfg.paths.contains(&PathKind::McpProxy) {
        match &cfg.bins.mcp_proxy {
            Some(p) if p.exists() => {}
            other => {
                let why = other.as_ref().map_or(
                    "no binary given (--mcp-proxy PATH or $MCP_PROXY_BIN)".to_string(),
                    |p| format!("{} does not exist", p.display()),
                );
                eprintln!(
                    "httpload: skipping the mcp-proxy path: {why}; install it with \
                     `cargo install mcp-proxy --version 0.6.0 --locked --root DIR` (bench/README.md)"
                );
                cfg.paths.retain(|&k| k != PathKind::McpProxy);
            }
        }
    }
    let timeout = cfg.timeout;
    std::thread::spawn(move || {
        std::thread::sleep(timeout);
        eprintln!("httpload: timed out after {timeout:?}");
        std::process::exit(3);
    });
    for p in [
        &cfg.bins.http_server,
        &cfg.bins.http_relay,
        &cfg.bins.stdio_server,
        &cfg.bins.warden,
    ] {
        assert!(p.exists(), "missing binary {} (see --help)", p.display());
    }
    let rts = Runtimes {
        one: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime"),
        many: tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cfg.client_threads)
            .enable_all()
            .build()
            .expect("runtime"),
    };
    let load_before = loadavg();
    let large_message: String = (0..cfg.large_bytes)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    let mut reps: Vec<Rep> = Vec::new();
    let mut errors = serde_json::Map::new();
    for r in 1..=cfg.reps {
        eprintln!("httpload: repetition {r}/{}", cfg.reps);
        let mut rep = Rep::new();
        for workload in &cfg.workloads {
            for &kind in &cfg.paths {
                if let Err(e) = run_one(&cfg, &rts, workload, kind, &large_message, &mut rep) {
                    eprintln!("  {workload} {}: FAILED: {e}", kind.name());
                    errors.insert(format!("rep{r}.{workload}.{}", kind.name()), json!(e));
                }
            }
        }
        reps.push(rep);
    }
    let load_after = loadavg();
    eprintln!("httpload: load average before {load_before}, after {load_after}");
    println!("{}", report::markdown(&reps));
    let config = json!({
        "reps": cfg.reps, "seq_calls": cfg.seq, "sessions": cfg.sessions,
        "calls_per_session": cfg.per_session, "large_calls": cfg.large,
        "large_bytes": cfg.large_bytes, "many_sessions": cfg.many, "many_calls": cfg.many_calls,
        "warmup_calls": cfg.warmup, "inflight_calls": cfg.inflight_calls, "client_threads": cfg.client_threads,
        "stdio_seq_calls": cfg.seq.min(cfg.stdio_seq),
        "stdio_calls_per_session": cfg.per_session.min(cfg.stdio_per_session),
        "stdio_warmup_calls": cfg.warmup.min(STDIO_WARMUP),
        "small_message_bytes": SMALL_MESSAGE.len(),
        "paths": cfg.paths.iter().map(|p| p.name()).collect::<Vec<_>>(),
        "workloads": cfg.workloads,
        "warden": cfg.bins.warden, "warden_args": cfg.bins.warden_args,
        "http_server": cfg.bins.http_server, "http_relay": cfg.bins.http_relay, "stdio_server": cfg.bins.stdio_server,
        "mcp_proxy": cfg.paths.contains(&PathKind::McpProxy).then_some(&cfg.bins.mcp_proxy),
        "mb": "10^6 bytes of echoed message payload, counted once per call",
        "loadavg_before": load_before, "loadavg_after": load_after,
    });
    let doc = report::json(&reps, config, serde_json::Value::Object(errors));
    std::fs::write(
        &cfg.json_out,
        serde_json::to_string_pretty(&doc).expect("json") + "\n",
    )
    .unwrap_or_else(|e| panic!("cannot write {}: {e}", cfg.json_out.display()));
    eprintln!("httpload: wrote {}", cfg.json_out.display());
}

/// Sets a workload's cost metrics: the proxy's and the server's CPU per unit (`scale` turns
/// seconds into the metric's unit: 1e6 for µs, 1e3 for ms) and the proxy's peak RSS in MB.
/// `keys` names them (proxy CPU, server CPU or "" for none, proxy peak RSS).
fn costs(
    set: &mut dyn FnMut(&'static str, f64),
    f: &Finish,
    units: f64,
    scale: f64,
    keys: [&'static str; 3],
) {
    let [proxy_cpu, server_cpu, proxy_hwm] = keys;
    set(proxy_cpu, f.proxy_cpu_s * scale / units);
    if !server_cpu.is_empty() {
        set(server_cpu, f.server_cpu_s * scale / units);
    }
    set(
        proxy_hwm,
        f.proxy_hwm_kb.map_or(f64::NAN, |k| k as f64 / 1024.0),
    );
}

/// A finished path, unless it is mcp-proxy and its log holds no audit record (then its
/// figures would not be those of a gateway with its audit log on).
fn audited(f: Finish) -> Result<Finish, String> {
    match f.audit_records {
        Some(0) => Err("mcp-proxy wrote no audit record to its log".into()),
        Some(n) => {
            eprintln!("  (mcp-proxy wrote {n} audit records)");
            Ok(f)
        }
        None => Ok(f),
    }
}

/// One workload through one path in fresh processes; adds its numbers to `rep`.
fn run_one(
    cfg: &Config,
    rts: &Runtimes,
    workload: &str,
    kind: PathKind,
    large_message: &str,
    rep: &mut Rep,
) -> Result<(), String> {
    let i = kind as usize;
    let mut set = |key: &'static str, v: f64| rep.entry(key).or_insert([f64::NAN; 5])[i] = v;
    let mut run = Running::start(kind, &cfg.bins);
    let ep = run.endpoint.clone();
    let name = kind.name();
    let (seq, per_session, warmup) = if kind.is_stdio() {
        (
            cfg.seq.min(cfg.stdio_seq),
            cfg.per_session.min(cfg.stdio_per_session),
            cfg.warmup.min(STDIO_WARMUP),
        )
    } else {
        (cfg.seq, cfg.per_session, cfg.warmup)
    };
    match workload {
        "seq" => {
            let lat = workloads::sequential(&rts.one, &ep, seq, warmup, SMALL_MESSAGE, &mut || {
                run.mark()
            });
            let f = audited(run.finish())?;
            let lat = lat?;
            let l = latency(&lat);
            set("seq_p50_us", l.p50);
            set("seq_p99_us", l.p99);
            set("seq_mean_us", l.mean);
            costs(
                &mut set,
                &f,
                seq as f64,
                1e6,
                ["proxy_cpu_us_seq", "server_cpu_us_seq", "proxy_hwm_mb_seq"],
            );
            eprintln!(
                "  seq   {name:<12} p50 {:>8.1} µs  p99 {:>8.1} µs  proxy cpu {:.2} s  server cpu {:.2} s",
                l.p50, l.p99, f.proxy_cpu_s, f.server_cpu_s
            );
        }
        "tput" => {
            let r = workloads::throughput(
                &rts.many,
                &ep,
                cfg.sessions,
                per_session,
                warmup,
                SMALL_MESSAGE,
                &mut || run.mark(),
            );
            let f = audited(run.finish())?;
            let calls = cfg.sessions as f64 * per_session as f64;
            let rate = calls / r?.as_secs_f64();
            set("tput_calls_per_s", rate);
            costs(
                &mut set,
                &f,
                calls,
                1e6,
                [
                    "proxy_cpu_us_tput",
                    "server_cpu_us_tput",
                    "proxy_hwm_mb_tput",
                ],
            );
            set(
                "store_mb_tput",
                f.store_bytes.map_or(f64::NAN, |b| b as f64 / 1e6),
            );
            eprintln!(
                "  tput  {name:<12} {rate:>10.0} calls/s  proxy cpu {:.2} s  server cpu {:.2} s",
                f.proxy_cpu_s, f.server_cpu_s
            );
        }
        "inflight1" | "inflight8" => {
            let (inflight, keys) = if workload == "inflight1" {
                (
                    1,
                    [
                        "inflight1_calls_per_s",
                        "proxy_cpu_us_inflight1",
                        "server_cpu_us_inflight1",
                        "proxy_hwm_mb_inflight1",
                    ],
                )
            } else {
                (
                    8,
                    [
                        "inflight8_calls_per_s",
                        "proxy_cpu_us_inflight8",
                        "server_cpu_us_inflight8",
                        "proxy_hwm_mb_inflight8",
                    ],
                )
            };
            let n = cfg.inflight_calls;
            let r = workloads::in_flight(
                &rts.many,
                &ep,
                n,
                inflight,
                warmup,
                SMALL_MESSAGE,
                &mut || run.mark(),
            );
            let f = audited(run.finish())?;
            let rate = n as f64 / r?.as_secs_f64();
            set(keys[0], rate);
            costs(&mut set, &f, n as f64, 1e6, [keys[1], keys[2], keys[3]]);
            eprintln!(
                "  {workload} {name:<12} {rate:>10.0} calls/s  proxy cpu {:.2} s ({:.1} µs/call)  server cpu {:.2} s",
                f.proxy_cpu_s,
                f.proxy_cpu_s * 1e6 / n as f64,
                f.server_cpu_s
            );
        }
        "large" => {
            let r = workloads::large(&rts.one, &ep, cfg.large, large_message, &mut || run.mark());
            let f = audited(run.finish())?;
            let mb = cfg.large as f64 * large_message.len() as f64 / 1e6;
            let rate = mb / r?.as_secs_f64();
            set("large_mb_per_s", rate);
            costs(
                &mut set,
                &f,
                cfg.large as f64,
                1e3,
                ["proxy_cpu_ms_large", "", "proxy_hwm_mb_large"],
            );
            eprintln!(
                "  large {name:<12} {rate:>10.1} MB/s  proxy cpu {:.2} s  server cpu {:.2} s",
                f.proxy_cpu_s, f.server_cpu_s
            );
        }
        "many" => {
            let m = workloads::many_sessions(
                &rts.many,
                &ep,
                cfg.many,
                cfg.many_calls,
                SMALL_MESSAGE,
                &mut || run.mark(),
            );
            let f = audited(run.finish())?;
            let mut ms: Vec<f64> = m
                .session_times
                .iter()
                .map(|d| d.as_secs_f64() * 1e3)
                .collect();
            ms.sort_by(f64::total_cmp);
            set("many_errors", m.errors.len() as f64);
            set("many_wall_s", m.wall.as_secs_f64());
            set("many_session_p50_ms", percentile(&ms, 0.50));
            set("many_session_p99_ms", percentile(&ms, 0.99));
            costs(
                &mut set,
                &f,
                cfg.many as f64,
                1e3,
                ["proxy_cpu_ms_many", "", "proxy_hwm_mb_many"],
            );
            set(
                "server_hwm_mb_many",
                f.server_hwm_kb.map_or(f64::NAN, |k| k as f64 / 1024.0),
            );
            eprintln!(
                "  many  {name:<12} {} sessions in {:.2} s, {} failed  proxy cpu {:.2} s  peak RSS {:.1} MB",
                cfg.many,
                m.wall.as_secs_f64(),
                m.errors.len(),
                f.proxy_cpu_s,
                f.proxy_hwm_kb.unwrap_or(0) as f64 / 1024.0
            );
            if let Some(first) = m.errors.first() {
                eprintln!("        first error: {first}");
                let distinct: std::collections::BTreeSet<&String> = m.errors.iter().collect();
                eprintln!("        {} distinct error message(s)", distinct.len());
            }
        }
        other => return Err(format!("unknown workload {other}")),
    }
    Ok(())
}

fn parse_args() -> Config {
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from))
        .unwrap_or_default();
    let default_warden = std::env::var_os("WARDEN_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/warden")
        });
    let mut cfg = Config {
        reps: 3,
        seq: 10_000,
        sessions: 32,
        per_session: 1_000,
        large: 50,
        large_bytes: 1_000_000,
        many: 1_000,
        many_calls: 3,
        warmup: 200,
        inflight_calls: 5_000,
        stdio_seq: 500,
        stdio_per_session: 100,
        client_threads: 2,
        paths: PathKind::ALL.to_vec(),
        workloads: ["seq", "tput", "large", "many"].map(String::from).to_vec(),
        bins: Bins {
            http_server: exe_dir.join("mcp-http-echo-server"),
            http_relay: exe_dir.join("http-relay"),
            stdio_server: exe_dir.join("mcp-echo-server"),
            warden: default_warden,
            warden_args: Vec::new(),
            mcp_proxy: std::env::var_os("MCP_PROXY_BIN").map(PathBuf::from),
        },
        json_out: PathBuf::from("httpload-results.json"),
        timeout: Duration::from_secs(3600),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        let int = |s: String| -> u64 {
            s.parse()
                .unwrap_or_else(|_| usage(&format!("not a number: {s}")))
        };
        match a.as_str() {
            "--quick" => {
                cfg.reps = 1;
                cfg.seq = 1_000;
                cfg.per_session = 100;
                cfg.large = 5;
                cfg.many = 200;
                cfg.warmup = 50;
                cfg.inflight_calls = 1_000;
            }
            "--reps" => cfg.reps = int(val()) as usize,
            "--seq" => cfg.seq = int(val()),
            "--sessions" => cfg.sessions = int(val()).max(1) as usize,
            "--per-session" => cfg.per_session = int(val()),
            "--large" => cfg.large = int(val()),
            "--large-kb" => cfg.large_bytes = (int(val()) * 1_000) as usize,
            "--many" => cfg.many = int(val()) as usize,
            "--many-calls" => cfg.many_calls = int(val()),
            "--inflight-calls" => cfg.inflight_calls = int(val()).max(1),
            "--warmup" => cfg.warmup = int(val()).max(1),
            "--stdio-seq" => cfg.stdio_seq = int(val()),
            "--stdio-per-session" => cfg.stdio_per_session = int(val()),
            "--client-threads" => cfg.client_threads = int(val()).max(1) as usize,
            "--paths" => {
                cfg.paths = val()
                    .split(',')
                    .map(|p| {
                        PathKind::parse(p).unwrap_or_else(|| usage(&format!("unknown path {p}")))
                    })
                    .collect()
            }
            "--workloads" => cfg.workloads = val().split(',').map(String::from).collect(),
            "--http-server" => cfg.bins.http_server = val().into(),
            "--http-relay" => cfg.bins.http_relay = val().into(),
            "--stdio-server" => cfg.bins.stdio_server = val().into(),
            "--warden" => cfg.bins.warden = val().into(),
            "--warden-arg" => cfg.bins.warden_args.push(val()),
            "--mcp-proxy" => cfg.bins.mcp_proxy = Some(val().into()),
            "--json" => cfg.json_out = val().into(),
            "--timeout-s" => cfg.timeout = Duration::from_secs(int(val())),
            "-h" | "--help" => usage(""),
            _ => usage(&format!("unknown argument {a}")),
        }
    }
    for w in &cfg.workloads {
        if !["seq", "tput", "large", "many", "inflight1", "inflight8"].contains(&w.as_str()) {
            usage(&format!("unknown workload {w}"));
        }
    }
    cfg
}

fn usage(err: &str) -> ! {
    if !err.is_empty() {
        eprintln!("httpload: {err}");
    }
    eprintln!(
        "usage: httpload [--quick] [--reps R] [--seq N] [--sessions C] [--per-session N] [--large N] [--large-kb KB]\n\
         \x20               [--many N] [--many-calls N] [--warmup N] [--client-threads T]\n\
         \x20               [--stdio-seq N] [--stdio-per-session N]\n\
         \x20               [--inflight-calls N] [--paths direct,relay,warden,warden-stdio,mcp-proxy]\n\
         \x20               [--workloads seq,tput,large,many,inflight1,inflight8]\n\
         \x20               [--http-server PATH] [--http-relay PATH] [--stdio-server PATH] [--warden PATH] [--warden-arg ARG]...\n\
         \x20               [--mcp-proxy PATH]\n\
         \x20               [--json FILE] [--timeout-s S]\n\
         defaults: --reps 3 --seq 10000 --sessions 32 --per-session 1000 --large 50 --large-kb 1000 --many 1000\n\
         --many-calls 3 --warmup 200 --client-threads 2 --stdio-seq 500 --stdio-per-session 100\n\
         --inflight-calls 5000 (inflight1/inflight8: one session, 1 or 8 calls in flight; not run by default)\n\
         (warden-stdio runs at most that many sequential calls / calls per session, and 20 warm-up calls); --quick: 1 rep, 1000 seq, 100 per session, 5 large, 200 sessions.\n\
         The echo servers and the relay are found beside this binary; warden at $WARDEN_BIN or ../target/release/warden.\n\
         --warden-arg passes one argument through to `warden serve` (repeat it).\n\
         mcp-proxy (0.6.0, audit log on, in front of the stdio echo server; the same counts as warden-stdio) runs\n\
         when --mcp-proxy PATH or $MCP_PROXY_BIN names it, and is skipped with a message otherwise."
    );
    std::process::exit(2)
}
