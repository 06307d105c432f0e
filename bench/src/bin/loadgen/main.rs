//! `loadgen`: drives the echo server through three paths (direct, `relay`, `warden run`) and
//! reports latency, throughput, the proxy's CPU time and memory. It owns the run plan: for
//! each repetition, for each workload, the three paths back to back (each in a fresh
//! process; warden with a fresh --db and --key-dir), ratios paired within the repetition;
//! then one long soak through warden for RSS. Markdown on stdout, JSON to --json.
//!
//! Usage: loadgen [--quick] [--reps R] [--seq N] [--pipe N] [--window W] [--large N]
//!                [--large-mb MB] [--soak N | --no-soak] [--paths direct,relay,warden]
//!                [--workloads seq,pipe,large] [--server P] [--relay P] [--warden P]
//!                [--warden-arg ARG]...
//!                [--json FILE] [--timeout-s S]

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
    window: usize,
    large: u64,
    large_bytes: usize,
    soak: u64,
    paths: Vec<PathKind>,
    workloads: Vec<String>,
    bins: Bins,
    json_out: PathBuf,
    timeout: Duration,
    warmup: u64,
}

/// The ~100-byte message of the small calls (plain ASCII, needs no escaping).
const SMALL_MESSAGE: &str = "The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. 0123456789";

fn main() {
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
    let large_message: String = (0..cfg.large_bytes)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();

    let mut reps: Vec<Rep> = Vec::new();
    for r in 1..=cfg.reps {
        eprintln!("loadgen: repetition {r}/{}", cfg.reps);
        let mut rep = Rep::new();
        for workload in &cfg.workloads {
            for &kind in &cfg.paths {
                run_one(&cfg, workload, kind, &large_message, &mut rep);
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
    let table = report::markdown(&reps);
    println!("{table}");
    if !soak.is_null() {
        println!("{}", soak_markdown(&soak));
    }
    let config = json!({
        "reps": cfg.reps, "seq_calls": cfg.seq, "pipe_calls": cfg.pipe, "window": cfg.window,
        "large_calls": cfg.large, "large_bytes": cfg.large_bytes, "soak_calls": cfg.soak,
        "warmup_calls": cfg.warmup, "small_message_bytes": SMALL_MESSAGE.len(),
        "paths": cfg.paths.iter().map(|p| p.name()).collect::<Vec<_>>(),
        "workloads": cfg.workloads,
        "warden": cfg.bins.warden, "warden_args": cfg.bins.warden_args, "relay": cfg.bins.relay, "server": cfg.bins.server,
        "mb": "10^6 bytes of echoed message payload, counted once per call",
        "loadavg_before": load_before, "loadavg_after": load_after,
    });
    let doc = report::json(&reps, config, soak);
    std::fs::write(
        &cfg.json_out,
        serde_json::to_string_pretty(&doc).expect("json") + "\n",
    )
    .unwrap_or_else(|e| panic!("cannot write {}: {e}", cfg.json_out.display()));
    eprintln!("loadgen: wrote {}", cfg.json_out.display());
}

/// One workload through one path in a fresh process; adds its numbers to `rep`.
fn run_one(cfg: &Config, workload: &str, kind: PathKind, large_message: &str, rep: &mut Rep) {
    let i = kind as usize;
    let mut set = |key: &'static str, v: f64| rep.entry(key).or_insert([f64::NAN; 3])[i] = v;
    let mut t = Target::start(kind, &cfg.bins);
    match workload {
        "seq" => {
            workloads::warm_up(&mut t, SMALL_MESSAGE, cfg.warmup);
            t.mark();
            let lat = workloads::sequential(&mut t, cfg.seq, SMALL_MESSAGE, 1_000_000);
            let f = t.finish();
            let l = report::latency(&lat);
            set("seq_p50_us", l.p50);
            set("seq_p99_us", l.p99);
            set("seq_mean_us", l.mean);
            if kind != PathKind::Direct {
                set("seq_cpu_us_per_call", f.proxy_cpu_s * 1e6 / cfg.seq as f64);
                set(
                    "seq_hwm_mb",
                    f.proxy_mem.map_or(f64::NAN, |m| m.hwm_kb as f64 / 1024.0),
                );
            }
            eprintln!(
                "  seq   {:<6} p50 {:>8.1} µs  p99 {:>8.1} µs  mean {:>8.1} µs  cpu {:.2} s",
                kind.name(),
                l.p50,
                l.p99,
                l.mean,
                f.proxy_cpu_s
            );
        }
        "pipe" => {
            workloads::warm_up(&mut t, SMALL_MESSAGE, cfg.warmup);
            t.mark();
            let elapsed =
                workloads::pipelined(&mut t, cfg.pipe, cfg.window, SMALL_MESSAGE, 1_000_000);
            let f = t.finish();
            let rate = cfg.pipe as f64 / elapsed.as_secs_f64();
            set("pipe_calls_per_s", rate);
            if kind != PathKind::Direct {
                set(
                    "pipe_cpu_us_per_call",
                    f.proxy_cpu_s * 1e6 / cfg.pipe as f64,
                );
                set(
                    "pipe_hwm_mb",
                    f.proxy_mem.map_or(f64::NAN, |m| m.hwm_kb as f64 / 1024.0),
                );
            }
            eprintln!(
                "  pipe  {:<6} {:>10.0} calls/s  cpu {:.2} s",
                kind.name(),
                rate,
                f.proxy_cpu_s
            );
        }
        "large" => {
            // One large call first, unmeasured, so the first timed call does not pay for
            // growing buffers.
            t.checked_call(1, large_message);
            t.mark();
            let elapsed = workloads::large(&mut t, cfg.large, large_message, 1_000_000);
            let f = t.finish();
            let mb = (cfg.large as f64 * large_message.len() as f64) / 1e6;
            let rate = mb / elapsed.as_secs_f64();
            set("large_mb_per_s", rate);
            if kind != PathKind::Direct {
                set(
                    "large_cpu_ms_per_call",
                    f.proxy_cpu_s * 1e3 / cfg.large as f64,
                );
                set(
                    "large_hwm_mb",
                    f.proxy_mem.map_or(f64::NAN, |m| m.hwm_kb as f64 / 1024.0),
                );
            }
            eprintln!(
                "  large {:<6} {:>10.1} MB/s  cpu {:.2} s",
                kind.name(),
                rate,
                f.proxy_cpu_s
            );
        }
        other => panic!("unknown workload {other}"),
    }
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
        window: 32,
        large: 16,
        large_bytes: 8_000_000,
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
                cfg.large = 2;
                cfg.soak = 10_000;
                cfg.warmup = 100;
            }
            "--reps" => cfg.reps = int(val()) as usize,
            "--seq" => cfg.seq = int(val()),
            "--pipe" => cfg.pipe = int(val()),
            "--window" => cfg.window = int(val()).max(1) as usize,
            "--large" => cfg.large = int(val()),
            "--large-mb" => cfg.large_bytes = (int(val()) * 1_000_000) as usize,
            "--soak" => cfg.soak = int(val()),
            "--no-soak" => cfg.soak = 0,
            "--warmup" => cfg.warmup = int(val()).max(1),
            "--paths" => {
                cfg.paths = val()
                    .split(',')
                    .map(|p| match p {
                        "direct" => PathKind::Direct,
                        "relay" => PathKind::Relay,
                        "warden" => PathKind::Warden,
                        _ => usage(&format!("unknown path {p}")),
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
        "usage: loadgen [--quick] [--reps R] [--seq N] [--pipe N] [--window W] [--large N] [--large-mb MB]\n\
         \x20              [--soak N | --no-soak] [--warmup N] [--paths direct,relay,warden] [--workloads seq,pipe,large]\n\
         \x20              [--server PATH] [--relay PATH] [--warden PATH] [--warden-arg ARG]... [--json FILE] [--timeout-s S]\n\
         defaults: --reps 5 --seq 20000 --pipe 100000 --window 32 --large 16 --large-mb 8 --soak 100000;\n\
         server and relay beside this binary; warden from $WARDEN_BIN or ../target/release/warden."
    );
    std::process::exit(2)
}
