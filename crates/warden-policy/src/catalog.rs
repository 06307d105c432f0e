//! Catalog metadata as code: the `catalog:` section of a policy file (owner, purpose, data
//! classification, risk tier, review dates, other names per tool or tool pattern), merged per
//! tool, and the facts about a tool (tier, classification, class, catalog state) that rules
//! match. Pure: dates are days since the epoch, and the caller says what today is.
//!
//! ```yaml
//! catalog:
//!   overdue: report            # or quarantine: a tool past its review is held until reviewed
//!   tools:
//!     - tool: "*"              # a pattern, as a rule's tool_pattern (server:tool or tool)
//!       data_classification: internal
//!     - tool: "filesystem:write_file"
//!       owner: platform-team
//!       purpose: Writes build artifacts
//!       data_classification: confidential
//!       risk_tier: 3
//!       next_review: "2027-03-01"
//!       review_every: 90d
//!       notes: Reviewed with the storage team
//!       aka: [files.write]     # other names rules may use for this tool
//! ```
//!
//! Every entry whose pattern matches a tool applies in order; a later entry's field wins over
//! an earlier one's, so a catch-all entry first gives defaults.

use std::fmt;

use globset::{Glob, GlobMatcher};
use serde_json::Value;

/// How sensitive the data a tool reaches is, least to most.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DataClass {
    Public,
    Internal,
    Confidential,
    Restricted,
}

impl DataClass {
    pub const ALL: [DataClass; 4] = [
        DataClass::Public,
        DataClass::Internal,
        DataClass::Confidential,
        DataClass::Restricted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DataClass::Public => "public",
            DataClass::Internal => "internal",
            DataClass::Confidential => "confidential",
            DataClass::Restricted => "restricted",
        }
    }

    pub fn parse(s: &str) -> Option<DataClass> {
        DataClass::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// A calendar day: days since 1970-01-01 (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub i64);

impl Day {
    /// Reads `YYYY-MM-DD` (a real date of the Gregorian calendar).
    pub fn parse(s: &str) -> Option<Day> {
        let b = s.trim().as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            let part = b.get(r)?;
            part.iter()
                .all(u8::is_ascii_digit)
                .then(|| std::str::from_utf8(part).ok()?.parse().ok())?
        };
        let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
            return None;
        }
        Some(Day(days_from_civil(y, m, d)))
    }

    /// The day `unix_seconds` falls on.
    pub fn from_unix(unix_seconds: i64) -> Day {
        Day(unix_seconds.div_euclid(86_400))
    }

    /// Midnight UTC at the start of the day, in seconds since the epoch.
    pub fn unix_seconds(self) -> i64 {
        self.0 * 86_400
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = civil_from_days(self.0);
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

fn leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Howard Hinnant's `days_from_civil`.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// What happens to a tool whose review is overdue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Overdue {
    /// Listed by `warden catalog review` and counted in metrics only.
    #[default]
    Report,
    /// Also hidden and its calls refused until a review is recorded.
    Quarantine,
}

impl Overdue {
    pub fn as_str(self) -> &'static str {
        match self {
            Overdue::Report => "report",
            Overdue::Quarantine => "quarantine",
        }
    }
}

/// What the catalog metadata says about one tool (every matching entry merged).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolMeta {
    pub owner: Option<String>,
    pub purpose: Option<String>,
    pub data_classification: Option<DataClass>,
    pub risk_tier: Option<u8>,
    pub next_review: Option<Day>,
    /// After a review, the next is due this many days later.
    pub review_every_days: Option<u32>,
    pub notes: Option<String>,
    /// Other names rules may use for the tool (the governance guide's `database.query`).
    pub aka: Vec<String>,
    /// Where the entries that matched are written (`file:line`, or `line N`).
    pub sources: Vec<String>,
}

impl ToolMeta {
    /// The day the next review is due, given the last review recorded (if any): the written
    /// `next_review` until a review on or after it, then that review plus `review_every`
    /// (without `review_every`, a review on or after the date clears it until the date is
    /// moved).
    pub fn review_due(&self, last_review: Option<Day>) -> Option<Day> {
        let every = self.review_every_days.map(i64::from);
        match (self.next_review, last_review, every) {
            (Some(due), Some(done), _) if done < due => Some(due),
            (Some(_), Some(done), Some(every)) => Some(Day(done.0 + every)),
            (Some(_), Some(_), None) => None,
            (Some(due), None, _) => Some(due),
            (None, Some(done), Some(every)) => Some(Day(done.0 + every)),
            (None, _, _) => None,
        }
    }

    fn merge(&mut self, later: &ToolMeta) {
        macro_rules! take {
            ($($f:ident),*) => { $( if later.$f.is_some() { self.$f = later.$f.clone(); } )* };
        }
        take!(
            owner,
            purpose,
            data_classification,
            risk_tier,
            next_review,
            review_every_days,
            notes
        );
        for a in &later.aka {
            if !self.aka.contains(a) {
                self.aka.push(a.clone());
            }
        }
        self.sources.extend(later.sources.iter().cloned());
    }
}

/// One entry of a `catalog:` section.
#[derive(Debug, Clone)]
struct Entry {
    pattern: String,
    qualified: bool,
    matcher: GlobMatcher,
    meta: ToolMeta,
}

/// The catalog metadata of a policy (every file's `catalog:` section, in file order).
#[derive(Debug, Clone, Default)]
pub struct CatalogMeta {
    entries: Vec<Entry>,
    pub overdue: Overdue,
}

/// The keys an entry may have.
const ENTRY_KEYS: &[&str] = &[
    "tool",
    "owner",
    "purpose",
    "data_classification",
    "risk_tier",
    "next_review",
    "review_every",
    "notes",
    "aka",
];

impl CatalogMeta {
    /// True if no entry is written.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// What the entries matching `server:tool` (or `tool`) say, merged in order. An entry
    /// written for one of the tool's other names (`aka`, as rule patterns match them: a
    /// guide file's `review:` for `database.query`) applies too.
    pub fn lookup(&self, server: &str, tool: &str) -> ToolMeta {
        let names = |tool: &str| -> [String; 2] { [format!("{server}:{tool}"), tool.to_owned()] };
        let hits = |e: &Entry, n: &[String; 2]| {
            e.matcher.is_match(if e.qualified { &n[0] } else { &n[1] })
        };
        let own = names(tool);
        let mut aka: Vec<[String; 2]> = Vec::new();
        for e in self.entries.iter().filter(|e| hits(e, &own)) {
            for a in &e.meta.aka {
                aka.push(names(a));
                // The guide's `system.action` form also names server `system`'s `action`.
                if let Some((s, t)) = a.split_once('.') {
                    aka.push([format!("{s}:{t}"), a.clone()]);
                }
            }
        }
        let mut out = ToolMeta::default();
        for e in &self.entries {
            if hits(e, &own) || aka.iter().any(|n| hits(e, n)) {
                out.merge(&e.meta);
            }
        }
        out
    }

    /// Adds the entries of another file's section after these.
    pub(crate) fn extend(&mut self, other: CatalogMeta) {
        self.entries.extend(other.entries);
    }

    /// Every entry: its pattern and what it says, in order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &ToolMeta)> {
        self.entries.iter().map(|e| (e.pattern.as_str(), &e.meta))
    }

    /// Adds one entry after the others (a pattern as a rule's `tool_pattern`).
    pub fn push(&mut self, pattern: &str, meta: ToolMeta) -> Result<(), String> {
        self.entries.push(entry(pattern, meta)?);
        Ok(())
    }
}

fn entry(pattern: &str, meta: ToolMeta) -> Result<Entry, String> {
    let matcher = Glob::new(pattern)
        .map_err(|e| format!("tool {pattern:?} is not a valid glob: {e}"))?
        .compile_matcher();
    Ok(Entry {
        pattern: pattern.to_owned(),
        qualified: pattern.contains(':'),
        matcher,
        meta,
    })
}

/// Reads a `catalog:` section; `source` names where it is (`file` or empty) for `sources`.
/// Every problem is returned, each with the entry it is in.
pub(crate) fn section(v: &Value, source: &str, line: u64) -> Result<CatalogMeta, Vec<String>> {
    let mut problems = Vec::new();
    let Some(obj) = v.as_object() else {
        return Err(vec![
            "`catalog` is a mapping with `tools` (and `overdue`)".into(),
        ]);
    };
    if let Some(k) = obj
        .keys()
        .find(|k| !["tools", "overdue"].contains(&k.as_str()))
    {
        problems.push(format!(
            "catalog has an unknown key {k:?} (known: tools, overdue)"
        ));
    }
    let overdue = match obj.get("overdue").map(|o| o.as_str()) {
        None => Overdue::Report,
        Some(Some("report")) => Overdue::Report,
        Some(Some("quarantine")) => Overdue::Quarantine,
        Some(_) => {
            problems.push("catalog `overdue` is report or quarantine".into());
            Overdue::Report
        }
    };
    let mut entries = Vec::new();
    let tools = match obj.get("tools") {
        None => &Vec::new(),
        Some(Value::Array(a)) => a,
        Some(_) => {
            problems.push("catalog `tools` is a list of entries".into());
            &Vec::new()
        }
    };
    for (i, t) in tools.iter().enumerate() {
        let at = format!("catalog entry {}", i + 1);
        match tool_entry(t, &format!("{source}line {line}, {at}")) {
            Ok(e) => entries.push(e),
            Err(errs) => problems.extend(errs.into_iter().map(|m| format!("{at}: {m}"))),
        }
    }
    if problems.is_empty() {
        Ok(CatalogMeta { entries, overdue })
    } else {
        Err(problems)
    }
}

fn tool_entry(v: &Value, source: &str) -> Result<Entry, Vec<String>> {
    let Some(obj) = v.as_object() else {
        return Err(vec!["an entry is a mapping with `tool`".into()]);
    };
    let mut problems: Vec<String> = obj
        .keys()
        .filter(|k| !ENTRY_KEYS.contains(&k.as_str()))
        .map(|k| format!("unknown key {k:?} (known: {})", ENTRY_KEYS.join(", ")))
        .collect();
    let text = |k: &str, problems: &mut Vec<String>| match obj.get(k) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            problems.push(format!("`{k}` is text"));
            None
        }
    };
    let tool = text("tool", &mut problems);
    let meta = ToolMeta {
        owner: text("owner", &mut problems),
        purpose: text("purpose", &mut problems),
        notes: text("notes", &mut problems),
        data_classification: text("data_classification", &mut problems).and_then(|c| {
            DataClass::parse(&c).or_else(|| {
                problems.push(format!(
                    "data_classification {c:?} is not one of public, internal, confidential, restricted"
                ));
                None
            })
        }),
        risk_tier: match obj.get("risk_tier") {
            None => None,
            Some(t) => match t.as_u64() {
                Some(n @ 1..=3) => Some(n as u8),
                _ => {
                    problems.push(format!("risk_tier {t} is not 1, 2 or 3"));
                    None
                }
            },
        },
        next_review: text("next_review", &mut problems).and_then(|d| {
            Day::parse(&d).or_else(|| {
                problems.push(format!("next_review {d:?} is not a date like 2027-03-01"));
                None
            })
        }),
        review_every_days: match obj.get("review_every") {
            None => None,
            Some(v) => match crate::compile::duration_ms(v, "review_every") {
                Ok(ms) if ms % 86_400_000 == 0 => u32::try_from(ms / 86_400_000).ok(),
                Ok(_) => {
                    problems.push("review_every is whole days, like 90d".into());
                    None
                }
                Err(e) => {
                    problems.push(e);
                    None
                }
            },
        },
        aka: match obj.get("aka") {
            None => Vec::new(),
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) if a.iter().all(Value::is_string) => a
                .iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect(),
            Some(_) => {
                problems.push("`aka` is a name or a list of names".into());
                Vec::new()
            }
        },
        sources: vec![source.to_owned()],
    };
    let Some(tool) = tool else {
        problems.push("an entry needs `tool` (a tool name or pattern)".into());
        return Err(problems);
    };
    match entry(&tool, meta) {
        Ok(e) if problems.is_empty() => Ok(e),
        Ok(_) => Err(problems),
        Err(m) => {
            problems.push(m);
            Err(problems)
        }
    }
}

/// What a rule can know about the tool a call names: from the catalog metadata, the catalog
/// (its state, the server's annotations) and warden's tool classification. A fact that is
/// `None` is unknown: a rule that would allow does not apply on it, one that would restrict
/// does (as with every condition warden cannot be sure of).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolFacts {
    pub risk_tier: Option<u8>,
    pub data_classification: Option<DataClass>,
    /// `read`, `write` or `sensitive`.
    pub class: Option<String>,
    /// The catalog state: `approved`, `new`, `changed` or `rejected`.
    pub state: Option<String>,
    /// Other names of the tool (`aka`): rules' patterns match them too.
    pub aka: Vec<String>,
}

/// The risk tier a tool has when the metadata gives none: from its class and its
/// `destructiveHint` — a read is tier 1, a write declared not destructive tier 2, any other
/// write (MCP's default: destructive) and a sensitive tool tier 3.
pub fn default_tier(class: &str, destructive: Option<bool>) -> u8 {
    match (class, destructive) {
        ("read", _) => 1,
        ("write", Some(false)) => 2,
        _ => 3,
    }
}

#[cfg(test)]
#[path = "catalog_tests.rs"]
mod tests;
