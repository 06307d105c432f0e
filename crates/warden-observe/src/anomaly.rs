//! Anomaly detection on the call stream: per principal and per tool, calls are counted in
//! fixed windows and compared with a rolling baseline (an exponentially weighted mean of past
//! windows). A window far above its baseline is a `call_rate_spike`; denials piling up for a
//! principal within one window are a `denial_burst`; a tool whose error rate jumps well above
//! its baseline is an `error_rate_jump`. Each fires at most once per key and window. Keys are
//! bounded label values, so the state is bounded too.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The kinds of anomaly.
pub const KINDS: [&str; 3] = ["call_rate_spike", "denial_burst", "error_rate_jump"];

/// Thresholds (all configurable).
#[derive(Clone, Debug)]
pub struct AnomalyConfig {
    /// Length of one counting window.
    pub window: Duration,
    /// Windows of history needed before spikes and jumps are judged.
    pub warmup: u32,
    /// A window with more than `spike_factor` × baseline calls (and at least `min_calls`) is a spike.
    pub spike_factor: f64,
    pub min_calls: u64,
    /// This many denials for one principal within one window is a burst.
    pub denial_burst: u64,
    /// An error rate this much (absolute, 0..1) above the baseline's is a jump…
    pub error_jump: f64,
    /// …once the window has at least this many calls.
    pub min_error_calls: u64,
    /// Weight of the newest window in the baseline.
    pub alpha: f64,
}

impl Default for AnomalyConfig {
    fn default() -> AnomalyConfig {
        AnomalyConfig {
            window: Duration::from_secs(60),
            warmup: 3,
            spike_factor: 4.0,
            min_calls: 20,
            denial_burst: 10,
            error_jump: 0.3,
            min_error_calls: 10,
            alpha: 0.3,
        }
    }
}

/// One detected anomaly.
#[derive(Clone, Debug, PartialEq)]
pub struct Anomaly {
    /// `call_rate_spike`, `denial_burst` or `error_rate_jump`.
    pub kind: &'static str,
    /// `principal` or `tool`.
    pub scope: &'static str,
    pub key: String,
    /// What the window holds (calls, denials, or an error rate)…
    pub observed: f64,
    /// …what the baseline expected…
    pub baseline: f64,
    /// …and the threshold it crossed.
    pub threshold: f64,
    pub window_secs: u64,
}

impl Anomaly {
    pub fn detail(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": self.kind,
            "scope": self.scope,
            "key": self.key,
            "observed": round(self.observed),
            "baseline": round(self.baseline),
            "threshold": round(self.threshold),
            "window_secs": self.window_secs,
        })
    }
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[derive(Debug)]
struct Rolling {
    start: Instant,
    calls: u64,
    errors: u64,
    denials: u64,
    base_calls: f64,
    base_error_rate: f64,
    windows: u32,
    fired_spike: bool,
    fired_errors: bool,
    fired_denials: bool,
}

impl Rolling {
    fn new(now: Instant) -> Rolling {
        Rolling {
            start: now,
            calls: 0,
            errors: 0,
            denials: 0,
            base_calls: 0.0,
            base_error_rate: 0.0,
            windows: 0,
            fired_spike: false,
            fired_errors: false,
            fired_denials: false,
        }
    }

    /// Folds finished windows (empty ones too, up to a few) into the baseline.
    fn roll(&mut self, now: Instant, cfg: &AnomalyConfig) {
        let w = cfg.window.max(Duration::from_millis(1));
        let mut folded = 0;
        while now.duration_since(self.start) >= w {
            let calls = self.calls as f64;
            let rate = if self.calls > 0 {
                self.errors as f64 / calls
            } else {
                self.base_error_rate
            };
            if self.windows == 0 {
                self.base_calls = calls;
                self.base_error_rate = rate;
            } else {
                self.base_calls = cfg.alpha * calls + (1.0 - cfg.alpha) * self.base_calls;
                self.base_error_rate = cfg.alpha * rate + (1.0 - cfg.alpha) * self.base_error_rate;
            }
            self.windows = self.windows.saturating_add(1);
            self.calls = 0;
            self.errors = 0;
            self.denials = 0;
            self.fired_spike = false;
            self.fired_errors = false;
            self.fired_denials = false;
            self.start += w;
            folded += 1;
            if folded >= 16 {
                // Long idle: the baseline has decayed enough; start afresh from now.
                self.start = now;
            }
        }
    }
}

/// Most keys tracked (bounded label values keep it far below this).
const MAX_KEYS: usize = 4096;

/// The detector's state.
#[derive(Debug, Default)]
pub struct Detector {
    cfg: AnomalyConfig,
    principals: HashMap<String, Rolling>,
    tools: HashMap<String, Rolling>,
}

impl Detector {
    pub fn new(cfg: AnomalyConfig) -> Detector {
        Detector {
            cfg,
            principals: HashMap::new(),
            tools: HashMap::new(),
        }
    }

    fn entry(&mut self, scope: &'static str, key: &str, now: Instant) -> Option<&mut Rolling> {
        let keys = if scope == "tool" {
            &mut self.tools
        } else {
            &mut self.principals
        };
        if !keys.contains_key(key) {
            if keys.len() >= MAX_KEYS {
                return None;
            }
            keys.insert(key.to_owned(), Rolling::new(now));
        }
        let r = keys.get_mut(key)?;
        r.roll(now, &self.cfg);
        Some(r)
    }

    /// A finished call by `principal` to `tool` (`error` if it failed).
    pub fn call(&mut self, now: Instant, principal: &str, tool: &str, error: bool) -> Vec<Anomaly> {
        let mut found = Vec::new();
        let cfg = self.cfg.clone();
        let secs = cfg.window.as_secs();
        for (scope, key) in [("principal", principal), ("tool", tool)] {
            let Some(r) = self.entry(scope, key, now) else {
                continue;
            };
            r.calls += 1;
            r.errors += u64::from(error);
            let warm = r.windows >= cfg.warmup;
            let threshold = cfg.spike_factor * r.base_calls.max(1.0);
            if warm && !r.fired_spike && r.calls >= cfg.min_calls && r.calls as f64 > threshold {
                r.fired_spike = true;
                found.push(Anomaly {
                    kind: "call_rate_spike",
                    scope,
                    key: key.to_owned(),
                    observed: r.calls as f64,
                    baseline: r.base_calls,
                    threshold,
                    window_secs: secs,
                });
            }
            if scope == "tool" && warm && !r.fired_errors && r.calls >= cfg.min_error_calls {
                let rate = r.errors as f64 / r.calls as f64;
                let threshold = r.base_error_rate + cfg.error_jump;
                if rate >= threshold {
                    r.fired_errors = true;
                    found.push(Anomaly {
                        kind: "error_rate_jump",
                        scope,
                        key: key.to_owned(),
                        observed: rate,
                        baseline: r.base_error_rate,
                        threshold,
                        window_secs: secs,
                    });
                }
            }
        }
        found
    }

    /// A call by `principal` that policy denied.
    pub fn denial(&mut self, now: Instant, principal: &str) -> Option<Anomaly> {
        let cfg = self.cfg.clone();
        let r = self.entry("principal", principal, now)?;
        r.denials += 1;
        if r.fired_denials || r.denials < cfg.denial_burst {
            return None;
        }
        r.fired_denials = true;
        Some(Anomaly {
            kind: "denial_burst",
            scope: "principal",
            key: principal.to_owned(),
            observed: r.denials as f64,
            baseline: 0.0,
            threshold: cfg.denial_burst as f64,
            window_secs: cfg.window.as_secs(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> AnomalyConfig {
        AnomalyConfig {
            window: Duration::from_secs(10),
            ..AnomalyConfig::default()
        }
    }

    /// `n` calls spread over the window starting at `t`.
    fn window(d: &mut Detector, t: Instant, n: u64, errors: u64) -> Vec<Anomaly> {
        let mut out = Vec::new();
        for i in 0..n {
            let at = t + Duration::from_millis(i * 9000 / n.max(1));
            out.extend(d.call(at, "alice", "read_file", i < errors));
        }
        out
    }

    #[test]
    fn a_steady_rate_is_quiet_and_a_spike_fires_once() {
        let mut d = Detector::new(cfg());
        let t0 = Instant::now();
        for w in 0..5 {
            let t = t0 + Duration::from_secs(10 * w);
            assert!(window(&mut d, t, 10, 0).is_empty(), "window {w}");
        }
        let found = window(&mut d, t0 + Duration::from_secs(50), 100, 0);
        let spikes: Vec<_> = found
            .iter()
            .filter(|a| a.kind == "call_rate_spike")
            .collect();
        assert_eq!(spikes.len(), 2, "{found:?}"); // once for the principal, once for the tool
        assert_eq!(spikes[0].scope, "principal");
        assert!(spikes[0].observed > 40.0 && spikes[0].baseline > 9.0);
    }

    #[test]
    fn no_spike_before_the_baseline_is_warm() {
        let mut d = Detector::new(cfg());
        assert!(window(&mut d, Instant::now(), 500, 0).is_empty());
    }

    #[test]
    fn an_error_rate_jump_fires_for_the_tool() {
        let mut d = Detector::new(cfg());
        let t0 = Instant::now();
        for w in 0..4 {
            window(&mut d, t0 + Duration::from_secs(10 * w), 20, 0);
        }
        let found = window(&mut d, t0 + Duration::from_secs(40), 20, 20);
        let jumps: Vec<_> = found
            .iter()
            .filter(|a| a.kind == "error_rate_jump")
            .collect();
        assert_eq!(jumps.len(), 1, "{found:?}");
        assert_eq!(jumps[0].key, "read_file");
    }

    #[test]
    fn a_denial_burst_fires_once_per_window() {
        let mut d = Detector::new(cfg());
        let t = Instant::now();
        let fired: Vec<_> = (0..25).filter_map(|_| d.denial(t, "mallory")).collect();
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].observed, 10.0);
        assert!(d.denial(t + Duration::from_secs(11), "mallory").is_none());
    }
}
