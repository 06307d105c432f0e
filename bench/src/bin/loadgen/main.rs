//! `loadgen`: drives the echo server through four paths (direct, `relay`, `warden run`, and
//! `warden run --durability sync`) and reports latency, throughput, the proxy's CPU time and
//! memory. It owns the run plan: for each repetition, the machine's `fdatasync` floor, then
//! for each workload the paths back to back (each in a fresh process; warden with a fresh
//! --db and --key-dir), ratios paired within the repetition; then one long soak through
//! warden for RSS. Markdown on stdout, JSON to --json. `loadgen drive` (see [`drive`]) only
//! sends calls to a given command, for instruction counts under valgrind.
//!
//! Usage: loadgen [--quick] [--reps R] [--seq N] [--pipe N] [--inflight W] [--large N]
//!                [--large-mb MB[,MB...]] [--sync-seq N] [--sync-pipe N] [--fsyncs N]
//!                [--soak N | --no-soak] [--paths direct,relay,warden,warden-sync]
//!                [--workloads seq,pipe,large] [--server P] [--relay P] [--warden P]
//!                [--warden-arg ARG]... [--json FILE] [--timeout-s S]
//!        loadgen drive --calls N [--message-bytes B] [--json FILE] -- CMD ARGS...

mod drive;
mod report;
mod target;
mod workloads;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use report::{Rep, num};
use target::{Bins, PathKind, Target};

/// The run plan, from the command line.
struct Config {
    reps: usize,
    seq: u64,
    pipe: u64,
    inflight: usize,
    /// Calls per large size; None: 128 MB per size, at least 16 calls.
    large: Option<u64>,
    large_mb: Vec<u64>,
    /// Calls through warden-sync (each waits for an fsync, so fewer).
    sync_seq: u64,
    sync_pipe: u64,
    fsyncs: u64,
    soak: u64,
    paths: Vec<PathKind>,
    workloads: Vec<String>,
    bins: Bins,
    json_out: PathBuf,
    timeout: Duration,
    warmup: u64,
}

/// The ~100-byte message of the small calls (plain ASCII, needs no escaping).
pub(crate) const SMALL_MESSAGE: &str = "The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. 0123456789";

fn main() {
    if std::env::args().nth(1).as_deref() == Some("drive") {
        drive::main(std::env::args().skip(2).collect());
        return;
    }
    let cfg = parse_args();
    // A hung path must not hang the benchmark forever.
    let timeout = cfg.timeout;
    std::thread::spawn(move || {
        std::thread::sleep(timeout);
        eprintln!("loadgen: timed out after {timeout:?}");
        std::process::exit(3);
    });
    for p in [&cfg.bins.server, &cfg.bins.relay, &cfg.bins.warden] {
        assert!(
            p.exists(),
            "missing binary {} (see --server/--relay/--warden)",
            p.display()
        );
    }
    // The machine may be shared: note its load before and after, so a disturbed run shows.
    let load_before = loadavg();
    let large_messages: Vec<(u64, String)> = cfg
        .large_mb
        .iter()
        .map(|&mb| (mb, message_of(mb as usize * 1_000_000)))
        .collect();
    let metrics = report::metrics(cfg.inflight, &cfg.large_mb);

    let mut reps: Vec<Rep> = Vec::new();
    for r in 1..=cfg.reps {
        eprintln!("loadgen: repetition {r}/{}", cfg.reps);
        let mut rep = Rep::default();
        if cfg.fsyncs > 0 {
            let l = report::latency(&workloads::fdatasync(cfg.fsyncs));
            eprintln!("  fdatasync p50 {:.1} µs  p99 {:.1} µs", l.p50, l.p99);
            rep.machine.insert("fdatasync_p50_us".into(), l.p50);
            rep.machine.insert("fdatasync_p99_us".into(), l.p99);
        }
        for workload in &cfg.workloads {
            if workload == "large" {
                for (mb, message) in &large_messages {
                    for &kind in &cfg.paths {
                        run_large(&cfg, kind, *mb, message, &mut rep);
                    }
                }
                continue;
            }
            for &kind in &cfg.paths {
                run_one(&cfg, workload, kind, &mut rep);
            }
        }
        reps.push(rep);
    }

    let soak = if cfg.soak > 0 && cfg.paths.contains(&PathKind::Warden) {
        run_soak(&cfg)
    } else {
        json!(null)
    };

    let load_after = loadavg();
    eprintln!("loadgen: load average before {load_before}, after {load_after}");
    let table = report::markdown(&reps, &metrics);
    println!("{table}");
    if !soak.is_null() {
        println!("{}", soak_markdown(&soak));
    }
    let config = json!({
        "reps": cfg.reps, "seq_calls": cfg.seq, "pipe_calls": cfg.pipe, "inflight": cfg.inflight,
        "large_calls": cfg.large_mb.iter().map(|&mb| json!({"mb": mb, "calls": large_calls(&cfg, mb)})).collect::<Vec<_>>(),
        "sync_seq_calls": cfg.sync_seq, "sync_pipe_calls": cfg.sync_pipe, "fsyncs": cfg.fsyncs,
        "soak_calls": cfg.soak,
        "warmup_calls": cfg.warmup, "small_message_bytes": SMALL_MESSAGE.len(),
        "paths": cfg.paths.iter().map(|p| p.name()).collect::<Vec<_>>(),
        "workloads": cfg.workloads,
        "warden": cfg.bins.warden, "warden_args": cfg.bins.warden_args, "relay": cfg.bins.relay, "server": cfg.bins.server,
        "mb": "10^6 bytes of echoed message payload, counted once per call",
        "loadavg_before": load_before, "loadavg_after": load_after,
    });
    let doc = report::json(&reps, &metrics, config, soak);
    std::fs::write(
        &cfg.json_out,
        serde_json::to_string_pretty(&doc).expect("json") + "\n",
    )
    .unwrap_or_else(|e| panic!("cannot write {}: {e}", cfg.json_out.display()));
    eprintln!("loadgen: wrote {}", cfg.json_out.display());
}

/// A message of `len` ASCII letters (needs no JSON escaping).
pub(crate) fn message_of(len: usize) -> String {
    (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect()
}

/// Calls per large size: `--large`, or 128 MB worth and at least 16.
fn large_calls(cfg: &Config, mb: u64) -> u64 {
    cfg.large.unwrap_or((128 / mb.max(1)).max(16))
}

/// Peak RSS in MB, or NaN.
fn hwm_mb(m: Option<target::Mem>) -> f64 {
    m.map_or(f64::NAN, |m| m.hwm_kb as f64 / 1024.0)
}

/// One small-call workload (seq or pipe) through one path in a fresh process; adds its
/// numbers to `rep`. warden-sync makes `--sync-seq` / `--sync-pipe` calls.
fn run_one(cfg: &Config, workload: &str, kind: PathKind, rep: &mut Rep) {
    let sync = kind == PathKind::WardenSync;
    let mut t = Target::start(kind, &cfg.bins);
    match workload {
        "seq" => {
            let n = if sync { cfg.sync_seq } else { cfg.seq };
            workloads::warm_up(&mut t, SMALL_MESSAGE, cfg.warmup);
            t.mark();
            let lat = workloads::sequential(&mut t, n, SMALL_MESSAGE, 1_000_000);
            let f = t.finish();
            let l = report::latency(&lat);
            rep.set("seq_p50_us", kind, l.p50);
            rep.set("seq_p99_us", kind, l.p99);
            rep.set("seq_mean_us", kind, l.mean);
            if kind != PathKind::Direct {
                rep.set("seq_cpu_us_per_call", kind, f.proxy_cpu_s * 1e6 / n as f64);
                rep.set("seq_hwm_mb", kind, hwm_mb(f.proxy_mem));
            }
            eprintln!(
                "  seq   {:<11} p50 {:>8.1} µs  p99 {:>8.1} µs  mean {:>8.1} µs  cpu {:.2} s",
                kind.name(),
                l.p50,
                l.p99,
                l.mean,
                f.proxy_cpu_s
            );
        }
        "pipe" => {
            let n = if sync { cfg.sync_pipe } else { cfg.pipe };
            workloads::warm_up(&mut t, SMALL_MESSAGE, cfg.warmup);
            t.mark();
            let elapsed = workloads::pipelined(&mut t, n, cfg.inflight, SMALL_MESSAGE, 1_000_000);
            let f = t.finish();
            let rate = n as f64 / elapsed.as_secs_f64();
            rep.set("pipe_calls_per_s", kind, rate);
            if kind != PathKind::Direct {
                rep.set("pipe_cpu_us_per_call", kind, f.proxy_cpu_s * 1e6 / n as f64);
                rep.set("pipe_hwm_mb", kind, hwm_mb(f.proxy_mem));
            }
            eprintln!(
                "  pipe  {:<11} {:>10.0} calls/s  cpu {:.2} s",
                kind.name(),
                rate,
                f.proxy_cpu_s
            );
        }
        other => panic!("unknown workload {other}"),
    }
}

/// Sequential echoes of one large `message` through one path (not warden-sync: the sync
/// path is measured on small calls only).
fn run_large(cfg: &Config, kind: PathKind, mb: u64, message: &str, rep: &mut Rep) {
    if kind == PathKind::WardenSync {
        return;
    }
    let n = large_calls(cfg, mb);
    let mut t = Target::start(kind, &cfg.bins);
    // One large call first, unmeasured, so the first timed call does not pay for growing
    // buffers.
    t.checked_call(1, message);
    t.mark();
    let elapsed = workloads::large(&mut t, n, message, 1_000_000);
    let f = t.finish();
    let rate = (n as f64 * message.len() as f64) / 1e6 / elapsed.as_secs_f64();
    rep.set(&format!("large{mb}_mb_per_s"), kind, rate);
    if kind != PathKind::Direct {
        rep.set(
            &format!("large{mb}_cpu_ms_per_call"),
            kind,
            f.proxy_cpu_s * 1e3 / n as f64,
        );
        rep.set(&format!("large{mb}_hwm_mb"), kind, hwm_mb(f.proxy_mem));
    }
    eprintln!(
        "  large {:<11} {mb} MB {:>10.1} MB/s  cpu {:.2} s",
        kind.name(),
        rate,
        f.proxy_cpu_s
    );
}

/// The RSS soak through warden (and the relay, for reference): `cfg.soak` sequential small
/// calls in one process, memory sampled along the way.
fn run_soak(cfg: &Config) -> serde_json::Value {
    // Samples at 1k, 5k, 10k, then every 10k, and at the end.
    let mut at: Vec<u64> = [1_000, 5_000]
        .into_iter()
        .chain((1..).map(|k| k * 10_000).take_while(|&n| n < cfg.soak))
        .filter(|&n| n < cfg.soak)
        .collect();
    at.push(cfg.soak);
    let mut out = serde_json::Map::new();
    for kind in [PathKind::Relay, PathKind::Warden] {
        eprintln!("loadgen: soak through {} ({} calls)", kind.name(), cfg.soak);
        let mut t = Target::start(kind, &cfg.bins);
        t.checked_call(1, SMALL_MESSAGE);
        let (samples, elapsed) = workloads::soak(&mut t, cfg.soak, &at, SMALL_MESSAGE, 1);
        let f = t.finish();
        out.insert(
            kind.name().into(),
            json!({
                "calls": cfg.soak,
                "elapsed_s": elapsed.as_secs_f64(),
                "samples": samples.iter().map(|(n, m)| json!({
                    "calls": n, "rss_mb": m.rss_kb as f64 / 1024.0, "hwm_mb": m.hwm_kb as f64 / 1024.0,
                    "rss_anon_mb": m.anon_kb as f64 / 1024.0, "rss_file_mb": m.file_kb as f64 / 1024.0
                })).collect::<Vec<_>>(),
                "cpu_us_per_call": num(f.proxy_cpu_s * 1e6 / cfg.soak as f64),
                "store_mb": f.store_bytes.map(|b| b as f64 / 1e6),
            }),
        );
    }
    serde_json::Value::Object(out)
}

/// The soak as a small markdown table: RSS / peak RSS at each sample point.
fn soak_markdown(soak: &serde_json::Value) -> String {
    let mut s = String::from(
        "RSS soak (one process, sequential small calls):\n\n| path | calls | VmRSS (MB) | of which anon (MB) | of which file (MB) | VmHWM (MB) |\n|---|---:|---:|---:|---:|---:|\n",
    );
    for kind in ["relay", "warden"] {
        let Some(samples) = soak[kind]["samples"].as_array() else {
            continue;
        };
        for x in samples {
            s.push_str(&format!(
                "| {kind} | {} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
                x["calls"],
                x["rss_mb"].as_f64().unwrap_or(f64::NAN),
                x["rss_anon_mb"].as_f64().unwrap_or(f64::NAN),
                x["rss_file_mb"].as_f64().unwrap_or(f64::NAN),
                x["hwm_mb"].as_f64().unwrap_or(f64::NAN)
            ));
        }
    }
    // Flat = over the samples from 10k calls on, VmRSS stays within 10% of its value at 10k
    // and the peak (VmHWM) does not grow by more than 10% either.
    let samples = soak["warden"]["samples"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let from_10k: Vec<&serde_json::Value> = samples
        .iter()
        .filter(|x| x["calls"].as_u64().is_some_and(|n| n >= 10_000))
        .collect();
    let f = |x: &serde_json::Value, k: &str| x[k].as_f64().unwrap_or(f64::NAN);
    if from_10k.len() >= 2 {
        let first = from_10k[0];
        let last = from_10k[from_10k.len() - 1];
        let rss0 = f(first, "rss_mb");
        let (lo, hi) = from_10k
            .iter()
            .map(|x| f(x, "rss_mb"))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
        let (hwm0, hwm1) = (f(first, "hwm_mb"), f(last, "hwm_mb"));
        let flat = hi <= rss0 * 1.10 && lo >= rss0 * 0.90 && hwm1 <= hwm0 * 1.10;
        s.push_str(&format!(
            "\nwarden from {} to {} calls: VmRSS {rss0:.1} MB at the start, between {lo:.1} and {hi:.1} MB over the samples; \
             peak (VmHWM) {hwm0:.1} → {hwm1:.1} MB. {} (flat = RSS within ±10% of its 10k value and peak grown ≤ 10%). \
             Under 30 MB throughout: {}. Audit store at the end: {} MB.\n",
            first["calls"],
            last["calls"],
            if flat { "Flat" } else { "**Not flat**" },
            if hwm1 <= 30.0 { "yes" } else { "**no**" },
            soak["warden"]["store_mb"].as_f64().map_or("?".into(), |m| format!("{m:.1}"))
        ));
    }
    s
}

/// The first three fields of /proc/loadavg.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
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
        reps: 5,
        seq: 20_000,
        pipe: 100_000,
        inflight: 8,
        large: None,
        large_mb: vec![1, 8],
        sync_seq: 3_000,
        sync_pipe: 10_000,
        fsyncs: 300,
        soak: 100_000,
        paths: PathKind::ALL.to_vec(),
        workloads: vec!["seq".into(), "pipe".into(), "large".into()],
        bins: Bins {
            server: exe_dir.join("mcp-echo-server"),
            relay: exe_dir.join("relay"),
            warden: default_warden,
            warden_args: Vec::new(),
        },
        json_out: PathBuf::from("loadgen-results.json"),
        timeout: Duration::from_secs(3600),
        warmup: 500,
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
                cfg.pipe = 5_000;
                cfg.large = Some(2);
                cfg.sync_seq = 300;
                cfg.sync_pipe = 1_000;
                cfg.fsyncs = 50;
                cfg.soak = 10_000;
                cfg.warmup = 100;
            }
            "--reps" => cfg.reps = int(val()) as usize,
            "--seq" => cfg.seq = int(val()),
            "--pipe" => cfg.pipe = int(val()),
            "--inflight" | "--window" => cfg.inflight = int(val()).max(1) as usize,
            "--large" => cfg.large = Some(int(val()).max(1)),
            "--large-mb" => cfg.large_mb = val().split(',').map(|s| int(s.into()).max(1)).collect(),
            "--sync-seq" => cfg.sync_seq = int(val()).max(1),
            "--sync-pipe" => cfg.sync_pipe = int(val()).max(1),
            "--fsyncs" => cfg.fsyncs = int(val()),
            "--soak" => cfg.soak = int(val()),
            "--no-soak" => cfg.soak = 0,
            "--warmup" => cfg.warmup = int(val()).max(1),
            "--paths" => {
                cfg.paths = val()
                    .split(',')
                    .map(|p| {
                        PathKind::from_name(p)
                            .unwrap_or_else(|| usage(&format!("unknown path {p}")))
                    })
                    .collect()
            }
            "--workloads" => cfg.workloads = val().split(',').map(String::from).collect(),
            "--server" => cfg.bins.server = val().into(),
            "--relay" => cfg.bins.relay = val().into(),
            "--warden" => cfg.bins.warden = val().into(),
            "--warden-arg" => cfg.bins.warden_args.push(val()),
            "--json" => cfg.json_out = val().into(),
            "--timeout-s" => cfg.timeout = Duration::from_secs(int(val())),
            "-h" | "--help" => usage(""),
            _ => usage(&format!("unknown argument {a}")),
        }
    }
    for w in &cfg.workloads {
        if !["seq", "pipe", "large"].contains(&w.as_str()) {
            usage(&format!("unknown workload {w}"));
        }
    }
    cfg
}

fn usage(err: &str) -> ! {
    if !err.is_empty() {
        eprintln!("loadgen: {err}");
    }
    eprintln!(
        "usage: loadgen [--quick] [--reps R] [--seq N] [--pipe N] [--inflight W] [--large N] [--large-mb MB[,MB...]]\n\
         \x20              [--sync-seq N] [--sync-pipe N] [--fsyncs N] [--soak N | --no-soak] [--warmup N]\n\
         \x20              [--paths direct,relay,warden,warden-sync] [--workloads seq,pipe,large]\n\
         \x20              [--server PATH] [--relay PATH] [--warden PATH] [--warden-arg ARG]... [--json FILE] [--timeout-s S]\n\
         \x20      loadgen drive --calls N [--message-bytes B] [--json FILE] -- CMD ARGS...\n\
         defaults: --reps 5 --seq 20000 --pipe 100000 --inflight 8 --large-mb 1,8 (--large: 128 MB per size, at least 16 calls)\n\
         \x20         --sync-seq 3000 --sync-pipe 10000 --fsyncs 300 --soak 100000;\n\
         server and relay beside this binary; warden from $WARDEN_BIN or ../target/release/warden;\n\
         warden-sync is warden run --durability sync (small calls only)."
    );
    std::process::exit(2)
}
