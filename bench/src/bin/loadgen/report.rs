//! Statistics and output: percentiles, the per-repetition paired ratios (warden/relay,
//! relay/direct) and their medians, the markdown table on stdout, and the JSON file.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use warden_bench::stats::ratio;
pub use warden_bench::stats::{latency, median};

/// One metric's definition: key, label for the table, and the target on warden/relay if any.
pub struct Metric {
    pub key: &'static str,
    pub label: &'static str,
    /// Target on the median warden/relay ratio: (≤ or ≥, bound).
    pub target: Option<(Cmp, f64)>,
    /// Target on warden's absolute value (≤ bound), if any.
    pub abs_max: Option<f64>,
}

#[derive(Clone, Copy)]
pub enum Cmp {
    AtMost,
    AtLeast,
}

pub const METRICS: &[Metric] = &[
    Metric {
        key: "seq_p50_us",
        label: "sequential small call p50 latency (µs)",
        target: Some((Cmp::AtMost, 1.10)),
        abs_max: None,
    },
    Metric {
        key: "seq_p99_us",
        label: "sequential small call p99 latency (µs)",
        target: None,
        abs_max: None,
    },
    Metric {
        key: "seq_mean_us",
        label: "sequential small call mean latency (µs)",
        target: None,
        abs_max: None,
    },
    Metric {
        key: "pipe_calls_per_s",
        label: "pipelined calls/s (32 in flight)",
        target: Some((Cmp::AtLeast, 0.85)),
        abs_max: None,
    },
    Metric {
        key: "large_mb_per_s",
        label: "8 MB echo payload MB/s",
        target: Some((Cmp::AtLeast, 0.95)),
        abs_max: None,
    },
    Metric {
        key: "seq_cpu_us_per_call",
        label: "proxy CPU per call, sequential (µs)",
        target: Some((Cmp::AtMost, 2.0)),
        abs_max: None,
    },
    Metric {
        key: "pipe_cpu_us_per_call",
        label: "proxy CPU per call, pipelined (µs)",
        target: Some((Cmp::AtMost, 2.0)),
        abs_max: None,
    },
    Metric {
        key: "large_cpu_ms_per_call",
        label: "proxy CPU per 8 MB call (ms)",
        target: None,
        abs_max: None,
    },
    Metric {
        key: "seq_hwm_mb",
        label: "proxy peak RSS, sequential (MB)",
        target: None,
        abs_max: Some(30.0),
    },
    Metric {
        key: "pipe_hwm_mb",
        label: "proxy peak RSS, pipelined (MB)",
        target: None,
        abs_max: Some(30.0),
    },
    Metric {
        key: "large_hwm_mb",
        label: "proxy peak RSS, 8 MB echoes (MB)",
        target: None,
        abs_max: None,
    },
];

/// Values of one repetition: metric key → [direct, relay, warden] (NaN where not applicable).
pub type Rep = BTreeMap<&'static str, [f64; 3]>;

/// Per-metric summary over the repetitions.
pub struct Summary {
    pub abs: [f64; 3],
    pub warden_over_relay: Vec<f64>,
    pub relay_over_direct: Vec<f64>,
}

pub fn summarize(reps: &[Rep], key: &str) -> Summary {
    let get = |r: &Rep, i: usize| r.get(key).map_or(f64::NAN, |v| v[i]);
    Summary {
        abs: [0, 1, 2].map(|i| median(reps.iter().map(|r| get(r, i)))),
        warden_over_relay: reps.iter().map(|r| ratio(get(r, 2), get(r, 1))).collect(),
        relay_over_direct: reps.iter().map(|r| ratio(get(r, 1), get(r, 0))).collect(),
    }
}

/// Met / not met for a metric, if it has a target.
pub fn verdict(m: &Metric, s: &Summary) -> Option<(String, bool)> {
    if let Some((cmp, bound)) = m.target {
        let r = median(s.warden_over_relay.iter().copied());
        if !r.is_finite() {
            return None; // not measured in this run
        }
        let (sym, ok) = match cmp {
            Cmp::AtMost => ("≤", r <= bound),
            Cmp::AtLeast => ("≥", r >= bound),
        };
        return Some((format!("warden/relay {sym} {bound:.2}×"), ok));
    }
    m.abs_max
        .filter(|_| s.abs[2].is_finite())
        .map(|bound| (format!("warden ≤ {bound:.0} MB"), s.abs[2] <= bound))
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

fn fmt_ratio(values: &[f64]) -> String {
    let finite: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if finite.is_empty() {
        return "–".into();
    }
    let med = median(finite.iter().copied());
    if finite.len() == 1 {
        return format!("{med:.3}×");
    }
    let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{med:.3}× ({lo:.3}–{hi:.3})")
}

/// The results table in markdown.
pub fn markdown(reps: &[Rep]) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "Medians over {} repetition(s); ratios are computed within each repetition, then the median is taken (min–max in parentheses).\n\n",
        reps.len()
    ));
    out.push_str(
        "| metric | direct | relay | warden | warden/relay | relay/direct | target | met? |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|---:|---|---|\n");
    for m in METRICS {
        let s = summarize(reps, m.key);
        let (target, met) = match verdict(m, &s) {
            Some((t, ok)) => (t, if ok { "met" } else { "**not met**" }.to_string()),
            None => (String::new(), String::new()),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            m.label,
            fmt(s.abs[0]),
            fmt(s.abs[1]),
            fmt(s.abs[2]),
            fmt_ratio(&s.warden_over_relay),
            fmt_ratio(&s.relay_over_direct),
            target,
            met
        ));
    }
    out
}

/// Everything, for the JSON file.
pub fn json(reps: &[Rep], config: Value, soak: Value) -> Value {
    let mut metrics = serde_json::Map::new();
    for m in METRICS {
        let s = summarize(reps, m.key);
        let per_rep: Vec<Value> = reps
            .iter()
            .map(|r| {
                let v = r.get(m.key).copied().unwrap_or([f64::NAN; 3]);
                json!({"direct": num(v[0]), "relay": num(v[1]), "warden": num(v[2])})
            })
            .collect();
        let verdict = verdict(m, &s);
        metrics.insert(
            m.key.into(),
            json!({
                "label": m.label,
                "median": {"direct": num(s.abs[0]), "relay": num(s.abs[1]), "warden": num(s.abs[2])},
                "warden_over_relay": {"median": num(median(s.warden_over_relay.iter().copied())), "per_rep": s.warden_over_relay.iter().map(|x| num(*x)).collect::<Vec<_>>()},
                "relay_over_direct": {"median": num(median(s.relay_over_direct.iter().copied())), "per_rep": s.relay_over_direct.iter().map(|x| num(*x)).collect::<Vec<_>>()},
                "per_rep": per_rep,
                "target": verdict.as_ref().map(|(t, _)| t.clone()),
                "met": verdict.map(|(_, ok)| ok),
            }),
        );
    }
    json!({"config": config, "metrics": metrics, "soak": soak})
}

/// JSON number, or null for NaN.
pub fn num(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { Value::Null }
}
