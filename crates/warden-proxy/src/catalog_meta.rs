//! A catalogued tool with what the policy's catalog metadata says about it: owner, purpose,
//! data classification, risk tier, class, and when its review is due (the view `warden
//! catalog`, the admin API and the metrics share), and the catalog in numbers.

use serde::Serialize;
use serde_json::Value;
use warden_audit::catalog::Tool;
use warden_policy::{CatalogMeta, DataClass, Day, ToolMeta};

/// Today (UTC), the day review dates are compared with.
pub fn today() -> Day {
    Day::from_unix(warden_audit::now_us().div_euclid(1_000_000))
}

/// A catalogued tool's review: what the metadata says, when the next review is due, and
/// whether that day has passed.
#[derive(Clone, Debug)]
pub struct Review {
    pub meta: ToolMeta,
    pub due: Option<Day>,
    pub overdue: bool,
}

/// A catalogued tool's tier and class as its definition and the metadata give them (a running
/// warden also knows the configured tool lists, which can make a tool `sensitive`).
pub fn tier_and_class(t: &Tool, meta: &ToolMeta) -> (u8, &'static str) {
    let hint = |k: &str| {
        t.definition
            .get("annotations")
            .and_then(|a| a.get(k))
            .and_then(Value::as_bool)
    };
    let class = if hint("readOnlyHint") == Some(true) {
        "read"
    } else {
        "write"
    };
    let tier = meta
        .risk_tier
        .unwrap_or_else(|| warden_policy::catalog::default_tier(class, hint("destructiveHint")));
    (tier, class)
}

impl Review {
    /// The review of `t` under `meta` on `today`.
    pub fn of(t: &Tool, meta: &CatalogMeta, today: Day) -> Review {
        let label = t.label.as_deref().unwrap_or(&t.server);
        Review::with(meta.lookup(label, &t.name), t.reviewed_us, today)
    }

    pub(crate) fn with(meta: ToolMeta, reviewed_us: Option<i64>, today: Day) -> Review {
        let last = reviewed_us.map(|us| Day::from_unix(us.div_euclid(1_000_000)));
        let due = meta.review_due(last);
        Review {
            overdue: due.is_some_and(|d| d < today),
            meta,
            due,
        }
    }
}

/// What the metadata and the definition say about a catalogued tool, for a reviewer.
#[derive(Clone, Debug, Serialize)]
pub struct Profile {
    pub owner: Option<String>,
    pub purpose: Option<String>,
    pub data_classification: Option<DataClass>,
    pub risk_tier: u8,
    /// `catalog` (the metadata gives it) or `default` (from the class and annotations).
    pub risk_tier_source: &'static str,
    /// `read` or `write`, from the annotations (a running warden's tool lists can add `sensitive`).
    pub tool_class: &'static str,
    pub notes: Option<String>,
    /// The day the next review is due (none: no review date in the metadata).
    pub review_due: Option<String>,
    pub review_overdue: bool,
    pub reviewed_us: Option<i64>,
    pub reviewed_by: Option<String>,
    pub aka: Vec<String>,
    /// Where the metadata entries that apply are written.
    pub metadata: Vec<String>,
}

impl Profile {
    /// The profile of `t` under `meta` (none: no metadata) on `today`.
    pub fn of(t: &Tool, meta: Option<&CatalogMeta>, today: Day) -> Profile {
        let empty = CatalogMeta::default();
        let r = Review::of(t, meta.unwrap_or(&empty), today);
        let (tier, class) = tier_and_class(t, &r.meta);
        Profile {
            risk_tier: tier,
            risk_tier_source: if r.meta.risk_tier.is_some() {
                "catalog"
            } else {
                "default"
            },
            tool_class: class,
            review_due: r.due.map(|d| d.to_string()),
            review_overdue: r.overdue,
            reviewed_us: t.reviewed_us,
            reviewed_by: t.reviewed_by.clone(),
            owner: r.meta.owner,
            purpose: r.meta.purpose,
            data_classification: r.meta.data_classification,
            notes: r.meta.notes,
            aka: r.meta.aka,
            metadata: r.meta.sources,
        }
    }
}

/// The catalog in numbers: tools per state, and tools past their review.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub states: Vec<(String, u64)>,
    pub review_overdue: u64,
}

/// Counts `tools` by state, and those past their review under `meta` on `today`.
pub fn counts(tools: &[Tool], meta: Option<&CatalogMeta>, today: Day) -> Counts {
    let mut out = Counts::default();
    for t in tools {
        let state = t.state.as_str();
        match out.states.iter_mut().find(|(s, _)| s == state) {
            Some((_, n)) => *n += 1,
            None => out.states.push((state.to_owned(), 1)),
        }
        if meta.is_some_and(|m| Review::of(t, m, today).overdue) {
            out.review_overdue += 1;
        }
    }
    out
}
