//! Percentiles and medians over measured values.

use std::time::Duration;

/// Latency summary in microseconds.
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
    pub mean: f64,
}

pub fn latency(samples: &[Duration]) -> Latency {
    let mut us: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e6).collect();
    us.sort_by(f64::total_cmp);
    Latency {
        p50: percentile(&us, 0.50),
        p99: percentile(&us, 0.99),
        mean: us.iter().sum::<f64>() / us.len().max(1) as f64,
    }
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Median, ignoring NaN; NaN if nothing is left.
pub fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// a / b, or NaN when either is missing or b is not positive.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 && a.is_finite() && b.is_finite() {
        a / b
    } else {
        f64::NAN
    }
}
