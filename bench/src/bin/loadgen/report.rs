//! Statistics and output: percentiles, the per-repetition paired ratios (warden/relay,
//! warden-sync/relay, relay/direct) and their medians, the derived per-repetition figures
//! (the `fdatasync` floor, fsyncs per sync exchange, the sync pipelining gain, records per
//! CPU-second), the markdown tables on stdout, and the JSON file.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use warden_bench::stats::ratio;
pub use warden_bench::stats::{latency, median};

use crate::target::PathKind;

/// Columns of a repetition's values, in `PathKind` order.
pub const PATHS: usize = 4;
const RELAY: usize = PathKind::Relay as usize;
const WARDEN: usize = PathKind::Warden as usize;
const SYNC: usize = PathKind::WardenSync as usize;

/// One metric's definition: key, label for the table, and its target if any.
pub struct Metric {
    pub key: String,
    pub label: String,
    /// Target on the median ratio of warden (batch) to the relay: (≤ or ≥, bound).
    pub target: Option<(Cmp, f64)>,
    /// Target on warden's absolute value (≤ bound), if any.
    pub abs_max: Option<f64>,
}

#[derive(Clone, Copy)]
pub enum Cmp {
    AtMost,
    AtLeast,
}

fn metric(key: String, label: String, target: Option<(Cmp, f64)>, abs_max: Option<f64>) -> Metric {
    Metric {
        key,
        label,
        target,
        abs_max,
    }
}

/// The metrics of a run with `inflight` calls in flight and these large-echo sizes (MB).
///
/// Targets (warden/relay) are issue 12's where it sets one, the stricter where the task that
/// added these workloads named another (pipelined: issue ≥ 0.70×, task ≥ 0.80×); CPU per call
/// ≤ 2× and RSS ≤ 30 MB are issue 4's.
pub fn metrics(inflight: usize, large_mb: &[u64]) -> Vec<Metric> {
    use Cmp::*;
    let mut m = vec![
        metric(
            "seq_p50_us".into(),
            "sequential small call p50 latency (µs)".into(),
            Some((AtMost, 1.10)),
            None,
        ),
        metric(
            "seq_p99_us".into(),
            "sequential small call p99 latency (µs)".into(),
            Some((AtMost, 1.5)),
            None,
        ),
        metric(
            "seq_mean_us".into(),
            "sequential small call mean latency (µs)".into(),
            None,
            None,
        ),
        metric(
            "pipe_calls_per_s".into(),
            format!("pipelined calls/s ({inflight} in flight)"),
            Some((AtLeast, 0.80)),
            None,
        ),
    ];
    for &mb in large_mb {
        m.push(metric(
            format!("large{mb}_mb_per_s"),
            format!("{mb} MB echo payload MB/s"),
            Some((AtLeast, 0.90)),
            None,
        ));
    }
    m.extend([
        metric(
            "seq_cpu_us_per_call".into(),
            "proxy CPU per call, sequential (µs)".into(),
            Some((AtMost, 2.0)),
            None,
        ),
        metric(
            "pipe_cpu_us_per_call".into(),
            "proxy CPU per call, pipelined (µs)".into(),
            Some((AtMost, 2.0)),
            None,
        ),
    ]);
    for &mb in large_mb {
        m.push(metric(
            format!("large{mb}_cpu_ms_per_call"),
            format!("proxy CPU per {mb} MB call (ms)"),
            None,
            None,
        ));
    }
    m.extend([
        metric(
            "seq_hwm_mb".into(),
            "proxy peak RSS, sequential (MB)".into(),
            None,
            Some(30.0),
        ),
        metric(
            "pipe_hwm_mb".into(),
            "proxy peak RSS, pipelined (MB)".into(),
            None,
            Some(30.0),
        ),
    ]);
    for &mb in large_mb {
        m.push(metric(
            format!("large{mb}_hwm_mb"),
            format!("proxy peak RSS, {mb} MB echoes (MB)"),
            None,
            None,
        ));
    }
    m
}

/// Values of one repetition: metric key → one value per path (NaN where not applicable), and
/// the machine's own figures (the `fdatasync` floor).
#[derive(Default)]
pub struct Rep {
    pub values: BTreeMap<String, [f64; PATHS]>,
    pub machine: BTreeMap<String, f64>,
}

impl Rep {
    pub fn set(&mut self, key: &str, kind: PathKind, v: f64) {
        self.values
            .entry(key.to_string())
            .or_insert([f64::NAN; PATHS])[kind as usize] = v;
    }

    fn get(&self, key: &str, i: usize) -> f64 {
        self.values.get(key).map_or(f64::NAN, |v| v[i])
    }
}

/// Per-metric summary over the repetitions.
pub struct Summary {
    pub abs: [f64; PATHS],
    pub warden_over_relay: Vec<f64>,
    pub sync_over_relay: Vec<f64>,
    pub relay_over_direct: Vec<f64>,
}

pub fn summarize(reps: &[Rep], key: &str) -> Summary {
    let over = |a: usize, b: usize| -> Vec<f64> {
        reps.iter()
            .map(|r| ratio(r.get(key, a), r.get(key, b)))
            .collect()
    };
    Summary {
        abs: std::array::from_fn(|i| median(reps.iter().map(|r| r.get(key, i)))),
        warden_over_relay: over(WARDEN, RELAY),
        sync_over_relay: over(SYNC, RELAY),
        relay_over_direct: over(RELAY, 0),
    }
}

/// Met / not met for a metric, if it has a target.
pub fn verdict(m: &Metric, s: &Summary) -> Option<(String, bool)> {
    if let Some((cmp, bound)) = m.target {
        let r = median(s.warden_over_relay.iter().copied());
        if !r.is_finite() {
            return None; // not measured in this run
        }
        return Some(judge("warden/relay", cmp, bound, r, "×"));
    }
    m.abs_max
        .filter(|_| s.abs[WARDEN].is_finite())
        .map(|bound| (format!("warden ≤ {bound:.0} MB"), s.abs[WARDEN] <= bound))
}

fn judge(what: &str, cmp: Cmp, bound: f64, value: f64, unit: &str) -> (String, bool) {
    let (sym, ok) = match cmp {
        Cmp::AtMost => ("≤", value <= bound),
        Cmp::AtLeast => ("≥", value >= bound),
    };
    (format!("{what} {sym} {}{unit}", fmt(bound)), ok)
}

/// A figure derived within each repetition from several measurements.
pub struct Derived {
    pub key: &'static str,
    pub label: &'static str,
    pub per_rep: Vec<f64>,
    pub target: Option<(Cmp, f64)>,
}

/// The derived figures: the `fdatasync` floor; k, the fsyncs a sync exchange costs over the
/// relay ((sync p50 − relay p50) / fdatasync p50; target: sync p50 ≤ relay p50 + 1.5 ×
/// fdatasync p50, i.e. k ≤ 1.5); the sync pipelining gain (sync calls/s in flight over the
/// sequential sync rate, 1 / mean latency; target ≥ 5×, issue 12); and records per CPU-second
/// of the whole warden process in the pipelined run (2 records per call: request, response).
pub fn derived(reps: &[Rep]) -> Vec<Derived> {
    let per = |f: &dyn Fn(&Rep) -> f64| reps.iter().map(f).collect::<Vec<f64>>();
    let fsync = |r: &Rep| {
        r.machine
            .get("fdatasync_p50_us")
            .copied()
            .unwrap_or(f64::NAN)
    };
    vec![
        Derived {
            key: "fdatasync_p50_us",
            label: "fdatasync p50 of a 4 KiB write beside the stores (µs)",
            per_rep: per(&fsync),
            target: None,
        },
        Derived {
            key: "fdatasync_p99_us",
            label: "fdatasync p99 (µs)",
            per_rep: per(&|r| {
                r.machine
                    .get("fdatasync_p99_us")
                    .copied()
                    .unwrap_or(f64::NAN)
            }),
            target: None,
        },
        Derived {
            key: "sync_fsyncs_per_exchange",
            label: "sync: (warden-sync p50 − relay p50) / fdatasync p50",
            per_rep: per(&|r| {
                ratio(
                    r.get("seq_p50_us", SYNC) - r.get("seq_p50_us", RELAY),
                    fsync(r),
                )
            }),
            target: Some((Cmp::AtMost, 1.5)),
        },
        Derived {
            key: "sync_pipe_gain",
            label: "sync: pipelined calls/s over sequential calls/s (1/mean)",
            per_rep: per(&|r| {
                ratio(
                    r.get("pipe_calls_per_s", SYNC),
                    ratio(1e6, r.get("seq_mean_us", SYNC)),
                )
            }),
            target: Some((Cmp::AtLeast, 5.0)),
        },
        Derived {
            key: "records_per_cpu_s",
            label: "warden (batch) records per CPU-second, whole process, pipelined",
            per_rep: per(&|r| ratio(2e6, r.get("pipe_cpu_us_per_call", WARDEN))),
            target: Some((Cmp::AtLeast, 200_000.0)),
        },
        Derived {
            key: "sync_records_per_cpu_s",
            label: "warden-sync records per CPU-second, whole process, pipelined",
            per_rep: per(&|r| ratio(2e6, r.get("pipe_cpu_us_per_call", SYNC))),
            target: None,
        },
    ]
}

fn fmt(x: f64) -> String {
    if !x.is_finite() {
        "–".into()
    } else if x.abs() >= 1000.0 {
        format!("{x:.0}")
    } else if x.abs() >= 100.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn spread(values: &[f64], unit: &str, f: fn(f64) -> String) -> String {
    let finite: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if finite.is_empty() {
        return "–".into();
    }
    let med = median(finite.iter().copied());
    if finite.len() == 1 {
        return format!("{}{unit}", f(med));
    }
    let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{}{unit} ({}–{})", f(med), f(lo), f(hi))
}

fn fmt_ratio(values: &[f64]) -> String {
    spread(values, "×", |x| format!("{x:.3}"))
}

fn met(v: Option<(String, bool)>) -> (String, String) {
    match v {
        Some((t, ok)) => (t, if ok { "met" } else { "**missed**" }.to_string()),
        None => (String::new(), String::new()),
    }
}

/// The results tables in markdown.
pub fn markdown(reps: &[Rep], metrics: &[Metric]) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "Medians over {} repetition(s); ratios are computed within each repetition, then the median is taken (min–max in parentheses).\n\n",
        reps.len()
    ));
    out.push_str(
        "| metric | direct | relay | warden | warden-sync | warden/relay | warden-sync/relay | relay/direct | target | met? |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---|---|\n");
    for m in metrics {
        let s = summarize(reps, &m.key);
        let (target, ok) = met(verdict(m, &s));
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            m.label,
            fmt(s.abs[0]),
            fmt(s.abs[RELAY]),
            fmt(s.abs[WARDEN]),
            fmt(s.abs[SYNC]),
            fmt_ratio(&s.warden_over_relay),
            fmt_ratio(&s.sync_over_relay),
            fmt_ratio(&s.relay_over_direct),
            target,
            ok
        ));
    }
    out.push_str("\nDerived within each repetition (median, min–max):\n\n| figure | value | target | met? |\n|---|---:|---|---|\n");
    for d in derived(reps) {
        let v = median(d.per_rep.iter().copied());
        let verdict = d
            .target
            .filter(|_| v.is_finite())
            .map(|(c, b)| judge("", c, b, v, ""));
        let (target, ok) = met(verdict);
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            d.label,
            spread(&d.per_rep, "", fmt),
            target.trim(),
            ok
        ));
    }
    out
}

/// Everything, for the JSON file.
pub fn json(reps: &[Rep], metrics_def: &[Metric], config: Value, soak: Value) -> Value {
    let mut metrics = serde_json::Map::new();
    let nums = |v: &[f64]| v.iter().map(|x| num(*x)).collect::<Vec<_>>();
    for m in metrics_def {
        let s = summarize(reps, &m.key);
        let per_rep: Vec<Value> = reps
            .iter()
            .map(|r| {
                let v = r.values.get(&m.key).copied().unwrap_or([f64::NAN; PATHS]);
                json!({"direct": num(v[0]), "relay": num(v[RELAY]), "warden": num(v[WARDEN]), "warden_sync": num(v[SYNC])})
            })
            .collect();
        let verdict = verdict(m, &s);
        metrics.insert(
            m.key.clone(),
            json!({
                "label": m.label,
                "median": {"direct": num(s.abs[0]), "relay": num(s.abs[RELAY]), "warden": num(s.abs[WARDEN]), "warden_sync": num(s.abs[SYNC])},
                "warden_over_relay": {"median": num(median(s.warden_over_relay.iter().copied())), "per_rep": nums(&s.warden_over_relay)},
                "warden_sync_over_relay": {"median": num(median(s.sync_over_relay.iter().copied())), "per_rep": nums(&s.sync_over_relay)},
                "relay_over_direct": {"median": num(median(s.relay_over_direct.iter().copied())), "per_rep": nums(&s.relay_over_direct)},
                "per_rep": per_rep,
                "target": verdict.as_ref().map(|(t, _)| t.clone()),
                "met": verdict.map(|(_, ok)| ok),
            }),
        );
    }
    let mut derived_json = serde_json::Map::new();
    for d in derived(reps) {
        let v = median(d.per_rep.iter().copied());
        let verdict = d
            .target
            .filter(|_| v.is_finite())
            .map(|(c, b)| judge("", c, b, v, ""));
        derived_json.insert(
            d.key.into(),
            json!({
                "label": d.label, "median": num(v), "per_rep": nums(&d.per_rep),
                "target": verdict.as_ref().map(|(t, _)| t.trim().to_string()),
                "met": verdict.map(|(_, ok)| ok),
            }),
        );
    }
    json!({"config": config, "metrics": metrics, "derived": derived_json, "soak": soak})
}

/// JSON number, or null for NaN.
pub fn num(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { Value::Null }
}
