//! The conditions of a rule: what each kind reads in a policy file (both the `{kind: {...}}`
//! form and the seed form with `type:`), compiled once into [`Condition`].

use regex::Regex;
use serde_json::Value;

use crate::path::{NormalPath, normalize};

/// Which arguments a condition looks at: names or JSON pointers.
#[derive(Debug, Clone)]
pub(crate) struct Args(pub(crate) Vec<ArgPath>);

/// One argument: a top-level name, or a JSON pointer split into its unescaped tokens once,
/// when the policy is compiled.
#[derive(Debug, Clone)]
pub(crate) enum ArgPath {
    Key(String),
    Pointer(Vec<String>),
}

impl ArgPath {
    pub(crate) fn parse(s: &str) -> ArgPath {
        match s.strip_prefix('/') {
            Some(rest) => ArgPath::Pointer(
                rest.split('/')
                    .map(|t| t.replace("~1", "/").replace("~0", "~"))
                    .collect(),
            ),
            None => ArgPath::Key(s.to_owned()),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Cond {
    pub(crate) kind: Condition,
    /// `not: true` inverts the condition.
    pub(crate) not: bool,
}

#[derive(Debug)]
pub(crate) enum Condition {
    /// True when every path lies inside an allowed directory (`negate`: when any lies outside).
    PathIn {
        /// The named arguments, or `None` (no `arg` written): every value of the call that
        /// could be a path (see [`crate::path_cond`]).
        args: Option<Args>,
        allowed: Vec<NormalPath>,
        negate: bool,
        /// Also judge the real paths (symlinks followed) the caller's resolver finds.
        resolve_symlinks: bool,
    },
    ArgMatches {
        args: Args,
        regex: Regex,
    },
    ArgEquals {
        args: Args,
        value: Value,
    },
    ArgIn {
        args: Args,
        values: Vec<Value>,
    },
    ArgRange {
        args: Args,
        min: Option<f64>,
        max: Option<f64>,
    },
    ArgMaxLength {
        args: Args,
        max: usize,
    },
    /// The server's configured name is one of these.
    Server(Vec<String>),
    /// The client's name (from `initialize` or per-request metadata) is one of these.
    Client(Vec<String>),
    /// The principal is one of these.
    Principal(Vec<String>),
    /// The principal has one of these roles.
    Role(Vec<String>),
    /// The request arrives inside a weekly time window.
    Time(Window),
    /// The SQL in an argument breaks one of the constraints (see [`crate::sql`]).
    Sql(Box<crate::sql::SqlRules>),
    /// A fact about the tool (its tier, data classification, class or catalog state) is one
    /// of these (see [`crate::catalog::ToolFacts`]).
    Fact(Fact),
}

/// A condition on what is known about the tool a call names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fact {
    /// The risk tier is one of these (1–3).
    Tier(Vec<u8>),
    Classification(Vec<crate::catalog::DataClass>),
    /// `read`, `write`, `sensitive`.
    Class(Vec<String>),
    /// `approved`, `new`, `changed`, `rejected`.
    State(Vec<String>),
}

impl Fact {
    /// Whether the fact holds for `facts`; `None` when the fact is unknown.
    pub(crate) fn holds(&self, facts: &crate::catalog::ToolFacts) -> Option<bool> {
        Some(match self {
            Fact::Tier(list) => list.contains(&facts.risk_tier?),
            Fact::Classification(list) => list.contains(&facts.data_classification?),
            Fact::Class(list) => list.contains(facts.class.as_ref()?),
            Fact::State(list) => list.contains(facts.state.as_ref()?),
        })
    }
}

/// Reads an ordered fact: `3`, `[2, 3]`, `{in: [2, 3]}`, `{min: 2}`, `{max: 1}` or both;
/// `read` turns one written value into its rank (`None` if it is not one).
fn ordered<T: Copy + PartialEq>(
    body: &Value,
    all: &[T],
    read: impl Fn(&Value) -> Option<T>,
    what: &str,
) -> Result<Vec<T>, String> {
    let bad = |v: &Value| format!("{v} is not a {what}");
    let one = |v: &Value| read(v).ok_or_else(|| bad(v));
    let rank = |t: T| all.iter().position(|x| *x == t).unwrap_or(0);
    match body {
        Value::Array(a) if !a.is_empty() => a.iter().map(one).collect(),
        Value::Object(o) if o.contains_key("in") => ordered(&o["in"], all, read, what),
        Value::Object(o)
            if o.keys().any(|k| k == "min" || k == "max")
                && o.keys()
                    .all(|k| ["min", "max", "not"].contains(&k.as_str())) =>
        {
            let lo = o.get("min").map(one).transpose()?.map_or(0, rank);
            let hi = o
                .get("max")
                .map(one)
                .transpose()?
                .map_or(all.len().saturating_sub(1), rank);
            let picked: Vec<T> = all
                .iter()
                .copied()
                .filter(|t| (lo..=hi).contains(&rank(*t)))
                .collect();
            if picked.is_empty() {
                return Err(format!("no {what} is between min and max"));
            }
            Ok(picked)
        }
        Value::Object(_) | Value::Array(_) => Err(format!(
            "expected a {what}, a list of them, {{in: [...]}}, or {{min, max}}"
        )),
        v => Ok(vec![one(v)?]),
    }
}

/// Reads `risk_tier`, `data_classification`, `tool_class` or `catalog_state`.
fn fact(kind: &str, body: &Value) -> Result<Fact, String> {
    use crate::catalog::DataClass;
    let text = |v: &Value| v.as_str().map(|s| s.trim().to_ascii_lowercase());
    let from = |list: &[&str], v: &Value| text(v).filter(|s| list.contains(&s.as_str()));
    match kind {
        "risk_tier" => ordered(
            body,
            &[1u8, 2, 3],
            |v| v.as_u64().filter(|n| (1..=3).contains(n)).map(|n| n as u8),
            "risk tier (1, 2 or 3)",
        )
        .map(Fact::Tier),
        "data_classification" => ordered(
            body,
            &DataClass::ALL,
            |v| v.as_str().and_then(DataClass::parse),
            "data classification (public, internal, confidential, restricted)",
        )
        .map(Fact::Classification),
        "tool_class" => {
            const CLASSES: &[&str] = &["read", "write", "sensitive"];
            let pick = |v: &Value| {
                let t = text(v)?;
                CLASSES.iter().copied().find(|c| *c == t)
            };
            ordered(body, CLASSES, pick, "tool class (read, write, sensitive)")
                .map(|l| Fact::Class(l.into_iter().map(str::to_owned).collect()))
        }
        _ => {
            const STATES: &[&str] = &["approved", "new", "changed", "rejected"];
            let list = body.get("in").unwrap_or(body);
            let vals: Vec<&Value> = match list {
                Value::Array(a) if !a.is_empty() => a.iter().collect(),
                Value::Array(_) | Value::Object(_) => {
                    return Err("catalog_state is a state or a list of states".into());
                }
                v => vec![v],
            };
            vals.into_iter()
                .map(|v| {
                    from(STATES, v).ok_or(format!(
                        "{v} is not a catalog state (approved, new, changed, rejected)"
                    ))
                })
                .collect::<Result<_, _>>()
                .map(Fact::State)
        }
    }
}

/// A weekly time window: days of the week, and minutes of the day at a fixed UTC offset.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    /// Bit 0 = Monday … bit 6 = Sunday.
    pub(crate) days: u8,
    pub(crate) from: u16,
    pub(crate) to: u16,
    pub(crate) offset_minutes: i32,
}

/// Reads a list of names: `[a, b]`, `a`, or `{in: [a, b]}`.
fn names(body: &Value) -> Result<Vec<String>, String> {
    let list = body.get("in").unwrap_or(body);
    match list {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| "names are strings".to_owned())
            })
            .collect(),
        _ => Err("expected a name, a list of names, or {in: [...]}".into()),
    }
}

fn minutes(hhmm: &str) -> Result<u16, String> {
    let bad = || format!("{hhmm:?} is not HH:MM");
    let (h, m) = hhmm.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 24 || m > 59 || (h == 24 && m != 0) {
        return Err(format!("{hhmm:?} is not a time of day"));
    }
    Ok(h * 60 + m)
}

/// Reads `time: {between: "09:00-17:00", days: [mon, …], utc_offset: "+02:00"}`.
fn window(body: &Value) -> Result<Window, String> {
    let between = body
        .get("between")
        .and_then(Value::as_str)
        .ok_or("time needs `between: \"HH:MM-HH:MM\"`")?;
    let (from, to) = between
        .split_once('-')
        .ok_or("`between` is \"HH:MM-HH:MM\"")?;
    let days = match body.get("days") {
        None => 0x7f,
        Some(Value::Array(list)) => {
            let mut bits = 0u8;
            for d in list {
                let d = d
                    .as_str()
                    .ok_or("`days` holds day names")?
                    .to_ascii_lowercase();
                let i = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
                    .iter()
                    .position(|n| d.starts_with(n))
                    .ok_or(format!("{d:?} is not a day of the week"))?;
                bits |= 1 << i;
            }
            bits
        }
        Some(_) => return Err("`days` is a list like [mon, tue]".into()),
    };
    let offset_minutes = match body.get("utc_offset").and_then(Value::as_str) {
        None => 0,
        Some(o) => {
            let (sign, rest) = match o.as_bytes().first() {
                Some(b'-') => (-1, &o[1..]),
                Some(b'+') => (1, &o[1..]),
                _ => return Err(format!("utc_offset {o:?} is like \"+02:00\"")),
            };
            sign * i32::from(minutes(rest)?)
        }
    };
    Ok(Window {
        days,
        from: minutes(from)?,
        to: minutes(to)?,
        offset_minutes,
    })
}

/// The keys a path condition's body may have (with `type` in the seed form).
const PATH_KEYS: &[&str] = &[
    "type",
    "arg",
    "args",
    "argument",
    "allowed",
    "allowed_paths",
    "paths",
    "in",
    "not",
    "resolve_symlinks",
];

/// Reads one condition in either form: `{path_not_in: {arg, allowed}}` or
/// `{type: path_not_in, allowed_paths: [...], arg: ...}`.
pub(crate) fn condition(v: &Value) -> Result<Cond, String> {
    let kind = condition_kind(v)?;
    let not = v
        .as_object()
        .and_then(|o| {
            o.get("not")
                .or_else(|| o.values().next().and_then(|b| b.get("not")))
        })
        .map(|n| n.as_bool().ok_or("`not` is true or false"))
        .transpose()?
        .unwrap_or(false);
    Ok(Cond { kind, not })
}

fn condition_kind(v: &Value) -> Result<Condition, String> {
    let obj = v.as_object().ok_or("a condition is a mapping")?;
    let (kind, body) = match obj.get("type") {
        Some(t) => (
            t.as_str().ok_or("`type` must be a string")?.to_owned(),
            v.clone(),
        ),
        None if obj.len() == 1 => {
            let (k, b) = obj.iter().next().ok_or("empty condition")?;
            (k.clone(), b.clone())
        }
        None => return Err("a condition is `{kind: {...}}` or has a `type`".into()),
    };
    let field = |names: &[&str]| names.iter().find_map(|n| body.get(*n)).cloned();
    let args = || -> Result<Args, String> {
        match field(&["arg", "args", "argument"]) {
            None => Err(format!(
                "{kind} needs `arg` (an argument name or a JSON pointer)"
            )),
            Some(Value::String(s)) => Ok(Args(vec![ArgPath::parse(&s)])),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(ArgPath::parse)
                        .ok_or_else(|| "`arg` list holds strings".to_owned())
                })
                .collect::<Result<_, _>>()
                .map(Args),
            Some(_) => Err("`arg` is a string or a list of strings".into()),
        }
    };
    match kind.as_str() {
        "path_in" | "path_not_in" => {
            // A misspelled key here (`resolve_symlink`, `allowed_path`) would silently weaken
            // the fence: every key must be known.
            if let Some(o) = body.as_object()
                && let Some(k) = o.keys().find(|k| !PATH_KEYS.contains(&k.as_str()))
            {
                return Err(format!(
                    "{kind} has an unknown key {k:?} (known: {})",
                    PATH_KEYS.join(", ")
                ));
            }
            let list = field(&["allowed", "allowed_paths", "paths", "in"])
                .ok_or(format!("{kind} needs `allowed` (a list of directories)"))?;
            let dirs = list
                .as_array()
                .ok_or("`allowed` is a list of directories")?;
            let allowed = dirs
                .iter()
                .map(|d| {
                    let s = d.as_str().ok_or("`allowed` holds strings")?;
                    normalize(s).map_err(|e| format!("allowed directory {s:?}: {e}"))
                })
                .collect::<Result<Vec<_>, String>>()?;
            let resolve_symlinks = field(&["resolve_symlinks"])
                .map(|v| v.as_bool().ok_or("`resolve_symlinks` is true or false"))
                .transpose()?
                .unwrap_or(false);
            let named = field(&["arg", "args", "argument"]).is_some();
            Ok(Condition::PathIn {
                args: if named { Some(args()?) } else { None },
                allowed,
                negate: kind == "path_not_in",
                resolve_symlinks,
            })
        }
        "arg_matches" => {
            let pat = field(&["pattern", "regex"])
                .and_then(|p| p.as_str().map(str::to_owned))
                .ok_or("arg_matches needs `pattern` (a regex)")?;
            let regex = Regex::new(&pat)
                .map_err(|e| format!("pattern {pat:?} is not a valid regex: {e}"))?;
            Ok(Condition::ArgMatches {
                args: args()?,
                regex,
            })
        }
        "arg_equals" => {
            let value = field(&["value", "equals"]).ok_or("arg_equals needs `value`")?;
            Ok(Condition::ArgEquals {
                args: args()?,
                value,
            })
        }
        "arg_in" => {
            let values = field(&["values", "in"])
                .and_then(|v| v.as_array().cloned())
                .ok_or("arg_in needs `values` (a list)")?;
            Ok(Condition::ArgIn {
                args: args()?,
                values,
            })
        }
        "arg_range" => {
            let num = |n: &str| {
                field(&[n])
                    .map(|v| v.as_f64().ok_or(format!("`{n}` is a number")))
                    .transpose()
            };
            let (min, max) = (num("min")?, num("max")?);
            if min.is_none() && max.is_none() {
                return Err("arg_range needs `min`, `max` or both".into());
            }
            Ok(Condition::ArgRange {
                args: args()?,
                min,
                max,
            })
        }
        "arg_max_length" => {
            let max = field(&["max", "max_length"])
                .and_then(|v| v.as_u64())
                .ok_or("arg_max_length needs `max` (a whole number)")?;
            Ok(Condition::ArgMaxLength {
                args: args()?,
                max: usize::try_from(max).unwrap_or(usize::MAX),
            })
        }
        "server" => Ok(Condition::Server(names(&body)?)),
        "client" => Ok(Condition::Client(names(&body)?)),
        "principal" => Ok(Condition::Principal(names(&body)?)),
        "role" => Ok(Condition::Role(names(&body)?)),
        "time" => Ok(Condition::Time(window(&body)?)),
        "sql" => Ok(Condition::Sql(Box::new(crate::sql::rules(&body)?))),
        "risk_tier" | "data_classification" | "tool_class" | "catalog_state" => {
            // The seed form's body carries `type` itself.
            let body = match body.as_object() {
                Some(o) if o.contains_key("type") => {
                    let v = ["value", "values", "in", "min", "max"]
                        .iter()
                        .filter_map(|k| o.get(*k).map(|v| (*k, v.clone())))
                        .collect::<Vec<_>>();
                    match v.as_slice() {
                        [("value" | "values", v)] => v.clone(),
                        _ => Value::Object(v.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()),
                    }
                }
                _ => body,
            };
            Ok(Condition::Fact(fact(&kind, &body)?))
        }
        "rate_exceeded" => Err("a rate limit is `rate_limit: {limit, window, per}` on the policy (or `type: rate_exceeded` among its conditions)".into()),
        other => Err(format!(
            "unknown condition {other:?} (path_in, path_not_in, arg_matches, arg_equals, arg_in, arg_range, arg_max_length, server, client, principal, role, time, sql, risk_tier, data_classification, tool_class, catalog_state)"
        )),
    }
}
