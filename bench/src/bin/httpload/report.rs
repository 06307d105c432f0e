//! The metrics, their targets, the per-repetition paired ratios (warden/direct, warden/relay,
//! relay/direct, and warden-stdio/mcp-proxy when mcp-proxy ran) and their medians, the
//! markdown table on stdout and the JSON document.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use warden_bench::stats::{median, ratio};

/// What the issue asks of a metric.
#[derive(Clone, Copy)]
pub enum Goal {
    /// Median over repetitions of warden/direct at most this.
    RatioAtMost(f64),
    /// Median over repetitions of warden/direct at least this.
    RatioAtLeast(f64),
    /// warden's value is 0 in every repetition.
    Zero,
    /// Median over repetitions of warden-stdio/relay at least this.
    StdioOverRelayAtLeast(f64),
    /// Median over repetitions of warden-stdio/relay at most this.
    StdioOverRelayAtMost(f64),
}

/// A bound on the median over repetitions of warden-stdio/mcp-proxy (issue 12's targets).
#[derive(Clone, Copy)]
pub enum VsMcpProxy {
    AtMost(f64),
    AtLeast(f64),
}

pub struct Metric {
    pub key: &'static str,
    pub label: &'static str,
    pub goal: Option<Goal>,
    pub vs_mcp_proxy: Option<VsMcpProxy>,
}

const fn m(key: &'static str, label: &'static str, goal: Option<Goal>) -> Metric {
    Metric {
        key,
        label,
        goal,
        vs_mcp_proxy: None,
    }
}

impl Metric {
    /// The same metric with a target against mcp-proxy.
    const fn vs(self, bound: VsMcpProxy) -> Metric {
        Metric {
            vs_mcp_proxy: Some(bound),
            ..self
        }
    }
}

pub const METRICS: &[Metric] = &[
    m(
        "seq_p50_us",
        "sequential small call p50 latency (µs)",
        Some(Goal::RatioAtMost(1.10)),
    )
    .vs(VsMcpProxy::AtMost(0.8)),
    m("seq_p99_us", "sequential small call p99 latency (µs)", None),
    m(
        "seq_mean_us",
        "sequential small call mean latency (µs)",
        None,
    ),
    m(
        "tput_calls_per_s",
        "throughput, concurrent sessions (calls/s)",
        Some(Goal::RatioAtLeast(0.9)),
    ),
    m(
        "large_mb_per_s",
        "1 MB echo MB/s",
        Some(Goal::RatioAtLeast(0.9)),
    ),
    m(
        "many_errors",
        "many sessions at once: failed sessions",
        Some(Goal::Zero),
    ),
    m("many_wall_s", "many sessions at once: wall time (s)", None),
    m(
        "many_session_p50_ms",
        "many sessions at once: session p50 (ms)",
        None,
    ),
    m(
        "many_session_p99_ms",
        "many sessions at once: session p99 (ms)",
        None,
    ),
    m(
        "proxy_cpu_us_seq",
        "proxy CPU per call, sequential (µs)",
        None,
    ),
    m(
        "proxy_cpu_us_tput",
        "proxy CPU per call, throughput (µs)",
        None,
    ),
    m("proxy_cpu_ms_large", "proxy CPU per 1 MB call (ms)", None),
    m(
        "proxy_cpu_ms_many",
        "proxy CPU per session, many sessions (ms)",
        None,
    ),
    m(
        "server_cpu_us_seq",
        "server CPU per call, sequential (µs)",
        None,
    ),
    m(
        "server_cpu_us_tput",
        "server CPU per call, throughput (µs)",
        None,
    ),
    m("proxy_hwm_mb_seq", "proxy peak RSS, sequential (MB)", None),
    m("proxy_hwm_mb_tput", "proxy peak RSS, throughput (MB)", None),
    m(
        "proxy_hwm_mb_large",
        "proxy peak RSS, 1 MB echoes (MB)",
        None,
    ),
    m(
        "proxy_hwm_mb_many",
        "proxy peak RSS, many sessions (MB)",
        None,
    ),
    m(
        "server_hwm_mb_many",
        "HTTP server peak RSS, many sessions (MB)",
        None,
    ),
    m("store_mb_tput", "audit store after throughput (MB)", None),
    m(
        "inflight1_calls_per_s",
        "one session, 1 call in flight (calls/s)",
        None,
    ),
    m(
        "inflight8_calls_per_s",
        "one session, 8 calls in flight (calls/s)",
        Some(Goal::StdioOverRelayAtLeast(0.6)),
    )
    .vs(VsMcpProxy::AtLeast(1.5)),
    m(
        "proxy_cpu_us_inflight1",
        "proxy CPU per call, 1 in flight (µs)",
        None,
    ),
    m(
        "proxy_cpu_us_inflight8",
        "proxy CPU per call, 8 in flight (µs)",
        Some(Goal::StdioOverRelayAtMost(2.5)),
    )
    .vs(VsMcpProxy::AtMost(1.0)),
    m(
        "server_cpu_us_inflight8",
        "server CPU per call, 8 in flight (µs)",
        None,
    ),
    m(
        "proxy_hwm_mb_inflight8",
        "proxy peak RSS, 8 in flight (MB)",
        None,
    ),
];

/// Values of one repetition: metric key → [direct, relay, warden, warden-stdio, mcp-proxy]
/// (NaN where absent), indexed by `PathKind as usize`.
pub type Rep = BTreeMap<&'static str, [f64; 5]>;

const DIRECT: usize = 0;
const RELAY: usize = 1;
const WARDEN: usize = 2;
const STDIO: usize = 3;
const MCP_PROXY: usize = 4;

struct Summary {
    /// Medians over the repetitions, per path.
    abs: [f64; 5],
    /// warden/direct per repetition.
    ratios: Vec<f64>,
    /// warden/relay per repetition.
    over_relay: Vec<f64>,
    /// relay/direct per repetition.
    relay_over_direct: Vec<f64>,
    /// warden-stdio/relay per repetition.
    stdio_over_relay: Vec<f64>,
    /// warden-stdio/mcp-proxy per repetition.
    stdio_over_mcp_proxy: Vec<f64>,
}

fn summarize(reps: &[Rep], key: &str) -> Summary {
    let get = |r: &Rep, i: usize| r.get(key).map_or(f64::NAN, |v| v[i]);
    let pair = |a: usize, b: usize| reps.iter().map(|r| ratio(get(r, a), get(r, b))).collect();
    Summary {
        abs: [DIRECT, RELAY, WARDEN, STDIO, MCP_PROXY]
            .map(|i| median(reps.iter().map(|r| get(r, i)))),
        ratios: pair(WARDEN, DIRECT),
        over_relay: pair(WARDEN, RELAY),
        relay_over_direct: pair(RELAY, DIRECT),
        stdio_over_relay: pair(STDIO, RELAY),
        stdio_over_mcp_proxy: pair(STDIO, MCP_PROXY),
    }
}

/// Whether mcp-proxy was measured in any repetition (its columns are shown only then).
fn has_mcp_proxy(reps: &[Rep]) -> bool {
    reps.iter()
        .any(|r| r.values().any(|v| v[MCP_PROXY].is_finite()))
}

/// (target text, met) for a metric with a target against mcp-proxy that was measured.
fn verdict_vs_mcp_proxy(m: &Metric, s: &Summary) -> Option<(String, bool)> {
    let r = median(s.stdio_over_mcp_proxy.iter().copied());
    if !r.is_finite() {
        return None;
    }
    let (sym, b, ok) = match m.vs_mcp_proxy? {
        VsMcpProxy::AtMost(b) => ("≤", b, r <= b),
        VsMcpProxy::AtLeast(b) => ("≥", b, r >= b),
    };
    Some((format!("warden-stdio/mcp-proxy {sym} {b:.2}×"), ok))
}

/// The met? column's text.
fn met_text(ok: bool) -> String {
    if ok { "met" } else { "**not met**" }.to_string()
}

/// (target text, met) for a metric with a goal that was measured.
fn verdict(m: &Metric, reps: &[Rep], s: &Summary) -> Option<(String, bool)> {
    match m.goal? {
        Goal::RatioAtMost(b) | Goal::RatioAtLeast(b) => {
            let r = median(s.ratios.iter().copied());
            if !r.is_finite() {
                return None;
            }
            let (sym, ok) = match m.goal? {
                Goal::RatioAtMost(_) => ("≤", r <= b),
                _ => ("≥", r >= b),
            };
            Some((format!("warden/direct {sym} {b:.2}×"), ok))
        }
        Goal::StdioOverRelayAtLeast(b) | Goal::StdioOverRelayAtMost(b) => {
            let r = median(s.stdio_over_relay.iter().copied());
            if !r.is_finite() {
                return None;
            }
            let (sym, ok) = match m.goal? {
                Goal::StdioOverRelayAtMost(_) => ("≤", r <= b),
                _ => ("≥", r >= b),
            };
            Some((format!("warden-stdio/relay {sym} {b:.2}×"), ok))
        }
        Goal::Zero => {
            let vals: Vec<f64> = reps
                .iter()
                .filter_map(|r| r.get(m.key).map(|v| v[WARDEN]))
                .filter(|v| v.is_finite())
                .collect();
            (!vals.is_empty()).then(|| {
                (
                    "0 in every repetition (warden)".into(),
                    vals.iter().all(|&v| v == 0.0),
                )
            })
        }
    }
}

fn fmt(x: f64) -> String {
    if !x.is_finite() {
        "–".into()
    } else if x.abs() >= 1000.0 || x == x.trunc() {
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
    let with_mcp = has_mcp_proxy(reps);
    let mut out = format!(
        "Medians over {} repetition(s); ratios are computed within each repetition, then the median is taken (min–max in parentheses). relay is `http-relay`, a bare HTTP reverse proxy (the floor for any proxy in its own process); proxy CPU and RSS are the relay's or warden's. warden-stdio (stdio upstream) has no direct counterpart: warden-stdio/relay compares it with the bare relay to the HTTP echo server.",
        reps.len()
    );
    if with_mcp {
        out.push_str(" mcp-proxy is mcp-proxy 0.6.0 with its audit log on (JSON lines on its stderr, into a file) in front of the same stdio echo server (one child shared by all sessions), with the same call counts as warden-stdio; warden-stdio/mcp-proxy pairs the two within each repetition, and the last two columns hold issue 12's targets against it. For mcp-proxy, the audit store is its log file and the server CPU is its stdio child's.");
    }
    out.push_str("\n\n");
    out.push_str("| metric | direct | relay | warden | warden/direct | warden/relay | relay/direct | warden-stdio | warden-stdio/relay | target | met? |");
    if with_mcp {
        out.push_str(" mcp-proxy | warden-stdio/mcp-proxy | target vs mcp-proxy | met? |");
    }
    out.push_str("\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|");
    if with_mcp {
        out.push_str("---:|---:|---|---|");
    }
    out.push('\n');
    for m in METRICS {
        let s = summarize(reps, m.key);
        if s.abs.iter().all(|x| !x.is_finite()) {
            continue; // not measured in this run
        }
        let (target, met) = match verdict(m, reps, &s) {
            Some((t, ok)) => (t, met_text(ok)),
            None => (String::new(), String::new()),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            m.label,
            fmt(s.abs[DIRECT]),
            fmt(s.abs[RELAY]),
            fmt(s.abs[WARDEN]),
            fmt_ratio(&s.ratios),
            fmt_ratio(&s.over_relay),
            fmt_ratio(&s.relay_over_direct),
            fmt(s.abs[STDIO]),
            fmt_ratio(&s.stdio_over_relay),
            target,
            met
        ));
        if with_mcp {
            let (target, met) = match verdict_vs_mcp_proxy(m, &s) {
                Some((t, ok)) => (t, met_text(ok)),
                None => (String::new(), String::new()),
            };
            out.push_str(&format!(
                " {} | {} | {} | {} |",
                fmt(s.abs[MCP_PROXY]),
                fmt_ratio(&s.stdio_over_mcp_proxy),
                target,
                met
            ));
        }
        out.push('\n');
    }
    out
}

/// Everything, for the JSON file.
pub fn json(reps: &[Rep], config: Value, errors: Value) -> Value {
    let with_mcp = has_mcp_proxy(reps);
    let mut metrics = serde_json::Map::new();
    for m in METRICS {
        let s = summarize(reps, m.key);
        let per_rep: Vec<Value> = reps
            .iter()
            .map(|r| {
                let v = r.get(m.key).copied().unwrap_or([f64::NAN; 5]);
                let mut o = json!({"direct": num(v[DIRECT]), "relay": num(v[RELAY]), "warden": num(v[WARDEN]), "warden_stdio": num(v[STDIO])});
                if with_mcp {
                    o["mcp_proxy"] = num(v[MCP_PROXY]);
                }
                o
            })
            .collect();
        let verdict = verdict(m, reps, &s);
        let mut entry = json!({
                "label": m.label,
                "median": {"direct": num(s.abs[DIRECT]), "relay": num(s.abs[RELAY]), "warden": num(s.abs[WARDEN]), "warden_stdio": num(s.abs[STDIO])},
                "warden_over_direct": paired(&s.ratios),
                "warden_over_relay": paired(&s.over_relay),
                "relay_over_direct": paired(&s.relay_over_direct),
                "warden_stdio_over_relay": paired(&s.stdio_over_relay),
                "per_rep": per_rep,
                "target": verdict.as_ref().map(|(t, _)| t.clone()),
                "met": verdict.map(|(_, ok)| ok),
        });
        if with_mcp {
            let vs = verdict_vs_mcp_proxy(m, &s);
            entry["median"]["mcp_proxy"] = num(s.abs[MCP_PROXY]);
            entry["warden_stdio_over_mcp_proxy"] = paired(&s.stdio_over_mcp_proxy);
            entry["target_vs_mcp_proxy"] = json!(vs.as_ref().map(|(t, _)| t.clone()));
            entry["met_vs_mcp_proxy"] = json!(vs.map(|(_, ok)| ok));
        }
        metrics.insert(m.key.into(), entry);
    }
    json!({"config": config, "metrics": metrics, "errors": errors})
}

/// A paired ratio in the JSON: its median and per-repetition values.
fn paired(ratios: &[f64]) -> Value {
    json!({
        "median": num(median(ratios.iter().copied())),
        "per_rep": ratios.iter().map(|x| num(*x)).collect::<Vec<_>>()
    })
}

/// JSON number, or null for NaN.
pub fn num(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { Value::Null }
}
