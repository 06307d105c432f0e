//! Rate limits counted exactly: a sliding window of call times per key (rule × principal ×
//! tool, as the rule says). A call is counted only when every limit on it still has room, all
//! under one lock, so concurrent calls never overshoot a limit.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One limit to check for a call.
#[derive(Debug, Clone)]
pub struct Check {
    pub key: String,
    pub limit: u32,
    pub window: Duration,
}

/// A limit that is full: which one, and when a call will fit again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full {
    pub index: usize,
    pub retry_after: Duration,
}

/// The call times of every key, in the current windows.
#[derive(Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimiter {
    /// Counts the call against every limit if all have room; otherwise counts nothing and says
    /// which limit is full.
    pub fn admit(&self, checks: &[Check], now: Instant) -> Result<(), Full> {
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (index, c) in checks.iter().enumerate() {
            if let Some(times) = windows.get_mut(&c.key) {
                while times
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= c.window)
                {
                    times.pop_front();
                }
                if times.len() >= c.limit as usize {
                    let oldest = times.front().copied().unwrap_or(now);
                    let retry_after = c.window.saturating_sub(now.duration_since(oldest));
                    return Err(Full { index, retry_after });
                }
            } else if c.limit == 0 {
                return Err(Full {
                    index,
                    retry_after: c.window,
                });
            }
        }
        for c in checks {
            windows.entry(c.key.clone()).or_default().push_back(now);
        }
        // Keys whose windows emptied are dropped now and then, so idle keys cost nothing.
        if windows.len() > 10_000 {
            windows.retain(|_, times| !times.is_empty());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn check(key: &str, limit: u32, secs: u64) -> Check {
        Check {
            key: key.into(),
            limit,
            window: Duration::from_secs(secs),
        }
    }

    #[test]
    fn exactly_the_limit_passes_then_the_window_slides() {
        let l = RateLimiter::default();
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(
                l.admit(&[check("a", 3, 60)], t0 + Duration::from_secs(i))
                    .is_ok()
            );
        }
        let full = l
            .admit(&[check("a", 3, 60)], t0 + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(full.retry_after, Duration::from_secs(50));
        assert!(
            l.admit(&[check("b", 3, 60)], t0).is_ok(),
            "other keys are separate"
        );
        assert!(
            l.admit(&[check("a", 3, 60)], t0 + Duration::from_secs(60))
                .is_ok(),
            "the first call left the window"
        );
    }

    #[test]
    fn a_full_limit_counts_nothing_against_the_others() {
        let l = RateLimiter::default();
        let t = Instant::now();
        assert!(l.admit(&[check("small", 1, 60)], t).is_ok());
        let both = [check("big", 5, 60), check("small", 1, 60)];
        assert_eq!(l.admit(&both, t).unwrap_err().index, 1);
        for _ in 0..5 {
            assert!(
                l.admit(&[check("big", 5, 60)], t).is_ok(),
                "the refused call was not counted"
            );
        }
    }

    #[test]
    fn concurrent_calls_never_overshoot() {
        let l = Arc::new(RateLimiter::default());
        let t = Instant::now();
        let admitted: usize = (0..8)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .filter(|_| l.admit(&[check("k", 100, 60)], t).is_ok())
                        .count()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(admitted, 100);
    }
}
