//! The counting part of the decision: the budgets a call is charged against and the rate limits
//! it is counted in (shared by every session of a gateway, so per-principal limits hold across
//! a principal's sessions).

use warden_audit::now_us;
use warden_core::Classification;
use warden_policy::{Decision as Verdict, Per};

use super::{Governance, Pipeline};
use crate::budgets::{Charge, window_start};
use crate::limits::Check;

/// A rate limit that was full for a call.
#[derive(Debug, Clone)]
pub(super) struct LimitHit {
    pub rule: String,
    pub limit: u32,
    pub window_ms: u64,
    pub retry_after_ms: u64,
    /// False for a monitor-mode limit: recorded, the call forwarded anyway.
    pub enforced: bool,
}

/// A budget a call would be charged against.
#[derive(Debug, Clone)]
pub(super) struct BudgetCharge {
    pub rule: String,
    pub enforced: bool,
    pub charge: Charge,
}

/// A budget that was spent for a call.
#[derive(Debug, Clone)]
pub(super) struct BudgetHit {
    pub rule: String,
    pub limit: u64,
    pub used: u64,
    pub resets_at_ms: u64,
    /// False for a monitor-mode budget: recorded, the call forwarded anyway.
    pub enforced: bool,
}

impl Pipeline {
    /// The budget charges an allowed call would make.
    pub(super) fn budget_charges(
        &self,
        g: &Governance,
        v: &Verdict,
        c: &Classification,
    ) -> Vec<BudgetCharge> {
        let now_ms = u64::try_from(now_us() / 1000).unwrap_or(0);
        let tool = c.target.as_deref().unwrap_or("");
        v.budgets
            .iter()
            .map(|b| {
                let scope = match b.budget.per {
                    Per::Session => self.session.to_string(),
                    Per::Global => String::new(),
                    _ => g.principal.clone().unwrap_or_default(),
                };
                BudgetCharge {
                    rule: b.rule.clone(),
                    enforced: b.enforced,
                    charge: Charge {
                        key: format!("{}|{scope}", b.rule),
                        units: b.budget.cost(tool),
                        limit: b.budget.units,
                        window_start_ms: window_start(now_ms, b.budget.window_ms),
                        window_ms: b.budget.window_ms,
                    },
                }
            })
            .collect()
    }

    /// The first budget (enforced ones first) a call does not fit in.
    pub(super) fn over_budget(&self, cs: &[BudgetCharge]) -> Option<BudgetHit> {
        for enforced in [true, false] {
            let mine: Vec<&BudgetCharge> = cs.iter().filter(|b| b.enforced == enforced).collect();
            let list: Vec<Charge> = mine.iter().map(|b| b.charge.clone()).collect();
            if let Err(over) = self.budgets.fits(&list) {
                let b = mine[over.index];
                return Some(BudgetHit {
                    rule: b.rule.clone(),
                    limit: b.charge.limit,
                    used: over.used,
                    resets_at_ms: over.resets_at_ms,
                    enforced,
                });
            }
        }
        None
    }

    /// Charges each message's calls to their budgets; what each budget was at after.
    pub(super) fn charge(&self, charges: &[Vec<BudgetCharge>]) -> Vec<Vec<u64>> {
        charges
            .iter()
            .map(|cs| {
                self.budgets
                    .charge(&cs.iter().map(|b| b.charge.clone()).collect::<Vec<_>>())
            })
            .collect()
    }

    /// Counts an allowed call against the rate limits that apply to it. `Some` when one is full
    /// (then nothing was counted against it).
    pub(super) fn count_limits(
        &self,
        g: &Governance,
        v: &Verdict,
        c: &Classification,
    ) -> Option<LimitHit> {
        if v.limits.is_empty() {
            return None;
        }
        let principal = g.principal.as_deref().unwrap_or("");
        let tool = format!("{}:{}", self.server, c.target.as_deref().unwrap_or(""));
        let key = |l: &warden_policy::Limit| {
            let scope = match l.limit.per {
                Per::Principal => principal.to_owned(),
                Per::Tool => tool.clone(),
                Per::PrincipalTool => format!("{principal}|{tool}"),
                Per::Session => self.session.to_string(),
                Per::Global => String::new(),
            };
            format!("{}|{scope}", l.rule)
        };
        let now = std::time::Instant::now();
        // Enforced limits are counted together (all or none); monitor-mode ones on their own.
        let mut hit = None;
        for enforced in [true, false] {
            let limits: Vec<&warden_policy::Limit> =
                v.limits.iter().filter(|l| l.enforced == enforced).collect();
            let checks: Vec<Check> = limits
                .iter()
                .map(|l| Check {
                    key: key(l),
                    limit: l.limit.limit,
                    window: std::time::Duration::from_millis(l.limit.window_ms),
                })
                .collect();
            if let Err(full) = self.limiter.admit(&checks, now) {
                let l = limits[full.index];
                hit = hit.or(Some(LimitHit {
                    rule: l.rule.clone(),
                    limit: l.limit.limit,
                    window_ms: l.limit.window_ms,
                    retry_after_ms: u64::try_from(full.retry_after.as_millis()).unwrap_or(u64::MAX),
                    enforced,
                }));
            }
        }
        hit
    }
}
