//! Evaluating a request against a `PolicySet`: pure, synchronous, deny-overrides
//! (deny > approve > allow > default), every matching rule named in the decision.

use serde_json::Value;

use crate::compile::{Action, Condition, Mode, PolicySet, Rule};
use crate::path::{possibly_within_any, within_any};

/// The methods policy governs: calls that act or read data. Lifecycle, listing and
/// notifications always pass.
pub const GOVERNED_METHODS: &[&str] = &[
    "tools/call",
    "resources/read",
    "resources/subscribe",
    "prompts/get",
];

/// What is being asked, by whom.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The server's configured name.
    pub server: &'a str,
    pub method: &'a str,
    /// Tool name, resource URI or prompt name.
    pub target: Option<&'a str>,
    pub arguments: Option<&'a Value>,
    pub principal: Option<&'a str>,
    pub roles: &'a [String],
}

/// The outcome of evaluating one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    /// False in monitor mode: the decision is recorded, the call forwarded anyway.
    pub enforced: bool,
    /// The rule that decided (none when the default did).
    pub rule: Option<String>,
    pub message: Option<String>,
    /// Every rule that matched, in file order.
    pub matched: Vec<String>,
    pub policy: String,
}

impl Decision {
    /// True if the call must not be forwarded.
    pub fn blocks(&self) -> bool {
        self.enforced && self.action != Action::Allow
    }
}

/// Why a rule did or did not apply (for `warden policy explain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    pub rule: String,
    pub applied: bool,
    pub why: String,
}

impl PolicySet {
    /// Decides `req`. Requests whose method is not governed are allowed without a rule.
    pub fn evaluate(&self, req: &Request<'_>) -> Decision {
        self.decide(req, None)
    }

    /// Decides `req` and says, for every rule, whether it applied and why.
    pub fn explain(&self, req: &Request<'_>) -> (Decision, Vec<Trace>) {
        let mut traces = Vec::new();
        let d = self.decide(req, Some(&mut traces));
        (d, traces)
    }

    fn decide(&self, req: &Request<'_>, mut trace: Option<&mut Vec<Trace>>) -> Decision {
        let mut decision = Decision {
            action: Action::Allow,
            enforced: self.mode == Mode::Enforce,
            rule: None,
            message: None,
            matched: Vec::new(),
            policy: self.hash.clone(),
        };
        if !GOVERNED_METHODS.contains(&req.method) {
            return decision;
        }
        let mut best: Option<&Rule> = None;
        for rule in &self.rules {
            let why = rule.why_not(req);
            if let Some(t) = trace.as_deref_mut() {
                t.push(Trace {
                    rule: rule.name.clone(),
                    applied: why.is_none(),
                    why: why
                        .clone()
                        .unwrap_or_else(|| format!("applies: {}", rule.action.as_str())),
                });
            }
            if why.is_some() {
                continue;
            }
            decision.matched.push(rule.name.clone());
            let better = match best {
                None => true,
                Some(b) => {
                    rule.action > b.action
                        || (rule.action == b.action
                            && b.mode == Mode::Monitor
                            && rule.mode == Mode::Enforce)
                }
            };
            if better {
                best = Some(rule);
            }
        }
        match best {
            Some(r) => {
                decision.action = r.action;
                decision.enforced = r.mode == Mode::Enforce;
                decision.rule = Some(r.name.clone());
                decision.message = r.message.clone();
            }
            None => decision.action = self.default,
        }
        decision
    }
}

impl Rule {
    /// `None` if the rule applies to `req`, else the reason it does not.
    fn why_not(&self, req: &Request<'_>) -> Option<String> {
        let hit = |s: &str| {
            if self.qualified {
                self.matcher.is_match(format!("{}:{s}", req.server))
            } else {
                self.matcher.is_match(s)
            }
        };
        if !(hit(req.method) || req.target.is_some_and(hit)) {
            let what = req
                .target
                .map_or(req.method.to_owned(), |t| format!("{}:{t}", req.server));
            return Some(format!(
                "tool_pattern {:?} does not match {what}",
                self.pattern
            ));
        }
        if !self.principals.is_empty() {
            let who = self
                .principals
                .iter()
                .any(|p| match p.strip_prefix("role:") {
                    Some(role) => req.roles.iter().any(|r| r == role),
                    None => req.principal == Some(p.as_str()),
                });
            if !who {
                return Some(format!(
                    "principal {:?} is not one of {:?}",
                    req.principal.unwrap_or("(none)"),
                    self.principals
                ));
            }
        }
        for (i, c) in self.conditions.iter().enumerate() {
            // A permissive outcome needs certainty; a restrictive one fires on any doubt.
            let certain = (self.action == Action::Allow) != c.not;
            let applies = match holds(&c.kind, req.arguments, certain) {
                None => false,
                Some(h) => h != c.not,
            };
            if !applies {
                return Some(format!("condition {} is false", i + 1));
            }
        }
        None
    }
}

/// The values of the named arguments that are present (array values are flattened for paths).
fn values<'v>(args: &[String], arguments: Option<&'v Value>) -> Vec<&'v Value> {
    let Some(arguments) = arguments else {
        return Vec::new();
    };
    args.iter()
        .filter_map(|a| {
            if a.starts_with('/') {
                arguments.pointer(a)
            } else {
                arguments.get(a)
            }
        })
        .collect()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Whether a condition holds for the call's arguments; `None` when none of its arguments is
/// present (then the condition does not hold, whether or not it is negated).
///
/// `certain`: the condition must be true only when it is certainly true (it would allow a
/// call); otherwise it is true whenever it may be (it would restrict one). For paths this
/// chooses between "every way a server could read the path is inside" and "some way is".
fn holds(c: &Condition, arguments: Option<&Value>, certain: bool) -> Option<bool> {
    let args = match c {
        Condition::PathIn { args, .. }
        | Condition::ArgMatches { args, .. }
        | Condition::ArgEquals { args, .. }
        | Condition::ArgIn { args, .. }
        | Condition::ArgRange { args, .. }
        | Condition::ArgMaxLength { args, .. } => args,
    };
    if values(&args.0, arguments).is_empty() {
        return None;
    }
    Some(match c {
        Condition::PathIn {
            args,
            allowed,
            negate,
        } => {
            let mut paths: Vec<&Value> = Vec::new();
            for v in values(&args.0, arguments) {
                match v {
                    Value::Array(items) => paths.extend(items.iter()),
                    other => paths.push(other),
                }
            }
            if paths.is_empty() {
                // Only empty lists were given: nothing to judge.
                return None;
            }
            // Inside for sure (every reading of the path), or possibly inside (any reading, or
            // a path that cannot be judged at all). Non-strings are never inside.
            let surely_in = |v: &Value| v.as_str().is_some_and(|s| within_any(s, allowed));
            let maybe_in = |v: &Value| v.as_str().is_none_or(|s| possibly_within_any(s, allowed));
            match (*negate, certain) {
                (false, true) => paths.iter().all(|v| surely_in(v)),
                (false, false) => paths.iter().all(|v| maybe_in(v)),
                (true, true) => paths.iter().any(|v| !maybe_in(v)),
                (true, false) => paths.iter().any(|v| !surely_in(v)),
            }
        }
        Condition::ArgMatches { args, regex } => values(&args.0, arguments)
            .iter()
            .any(|v| regex.is_match(&text(v))),
        Condition::ArgEquals { args, value } => values(&args.0, arguments).contains(&value),
        Condition::ArgIn { args, values: list } => values(&args.0, arguments)
            .iter()
            .any(|v| list.iter().any(|x| x == *v)),
        Condition::ArgRange { args, min, max } => {
            values(&args.0, arguments).iter().any(|v| match v.as_f64() {
                Some(n) => min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m),
                None => true,
            })
        }
        Condition::ArgMaxLength { args, max } => values(&args.0, arguments).iter().any(|v| {
            let len = match v {
                Value::String(s) => s.chars().count(),
                Value::Array(a) => a.len(),
                other => other.to_string().len(),
            };
            len > *max
        }),
    })
}
