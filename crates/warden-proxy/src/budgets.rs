//! Budgets: units per fixed window (a `1d` budget resets at midnight UTC), per principal,
//! session or globally. Charged for calls that are forwarded, and seeded at start from the
//! audit store (each charged call's record says what it cost), so a restart keeps counting.

use std::collections::HashMap;
use std::sync::Mutex;

/// One budget a call would be charged against.
#[derive(Debug, Clone)]
pub struct Charge {
    /// `rule|scope`.
    pub key: String,
    pub units: u64,
    pub limit: u64,
    pub window_start_ms: u64,
    pub window_ms: u64,
}

/// A budget the call does not fit in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Over {
    pub index: usize,
    pub used: u64,
    pub resets_at_ms: u64,
}

/// Units used per budget key and window.
#[derive(Default)]
pub struct BudgetBook {
    used: Mutex<HashMap<(String, u64), u64>>,
}

/// The start of the fixed window of `window_ms` that holds `now_ms`.
pub fn window_start(now_ms: u64, window_ms: u64) -> u64 {
    now_ms - now_ms % window_ms.max(1)
}

impl BudgetBook {
    fn book(&self) -> std::sync::MutexGuard<'_, HashMap<(String, u64), u64>> {
        self.used
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds usage found in the audit store.
    pub fn seed(&self, key: &str, window_start_ms: u64, units: u64) {
        *self
            .book()
            .entry((key.to_owned(), window_start_ms))
            .or_default() += units;
    }

    /// Whether the call fits in every budget (nothing is charged).
    pub fn fits(&self, charges: &[Charge]) -> Result<(), Over> {
        let book = self.book();
        for (index, c) in charges.iter().enumerate() {
            let used = book
                .get(&(c.key.clone(), c.window_start_ms))
                .copied()
                .unwrap_or(0);
            if used + c.units > c.limit {
                return Err(Over {
                    index,
                    used,
                    resets_at_ms: c.window_start_ms + c.window_ms,
                });
            }
        }
        Ok(())
    }

    /// Charges the call; returns the units used after it, per budget.
    pub fn charge(&self, charges: &[Charge]) -> Vec<u64> {
        let mut book = self.book();
        charges
            .iter()
            .map(|c| {
                let used = book.entry((c.key.clone(), c.window_start_ms)).or_default();
                *used += c.units;
                *used
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn charge(key: &str, units: u64, limit: u64, start: u64) -> Charge {
        Charge {
            key: key.into(),
            units,
            limit,
            window_start_ms: start,
            window_ms: 86_400_000,
        }
    }

    #[test]
    fn fits_until_the_budget_is_spent_and_windows_are_separate() {
        let b = BudgetBook::default();
        b.seed("r|alice", 0, 8);
        assert!(b.fits(&[charge("r|alice", 2, 10, 0)]).is_ok());
        assert_eq!(b.charge(&[charge("r|alice", 2, 10, 0)]), [10]);
        let over = b.fits(&[charge("r|alice", 1, 10, 0)]).unwrap_err();
        assert_eq!((over.used, over.resets_at_ms), (10, 86_400_000));
        assert!(
            b.fits(&[charge("r|alice", 1, 10, 86_400_000)]).is_ok(),
            "the next day starts afresh"
        );
        assert!(b.fits(&[charge("r|bob", 10, 10, 0)]).is_ok());
        assert_eq!(window_start(90_000_000, 86_400_000), 86_400_000);
    }
}
