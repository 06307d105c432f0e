//! Evaluating a request against a `PolicySet`: pure, synchronous, deny-overrides
//! (deny > approve > allow > default), every matching rule named in the decision.

use serde_json::Value;

use crate::compile::{Action, Mode, PolicySet, Rule};
use crate::condition::{ArgPath, Condition};
use crate::path_cond::{PathCtx, Resolve, candidates};

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
    /// The client's name (from `initialize` or per-request metadata).
    pub client: Option<&'a str>,
    /// When the request arrived (the caller reads the clock; this crate does not).
    pub at: Option<Moment>,
    /// What is known about the tool (tier, classification, class, catalog state, other
    /// names), when the policy asks ([`PolicySet::needs_facts`]).
    pub tool: Option<&'a crate::catalog::ToolFacts>,
}

/// A moment in the week, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moment {
    /// 0 = Monday … 6 = Sunday.
    pub weekday: u8,
    /// Minutes since midnight.
    pub minute: u16,
}

impl Moment {
    /// The moment `unix_seconds` after the epoch (1970-01-01 was a Thursday).
    pub fn from_unix(unix_seconds: i64) -> Moment {
        let days = unix_seconds.div_euclid(86_400);
        let secs = unix_seconds.rem_euclid(86_400);
        Moment {
            weekday: u8::try_from((days + 3).rem_euclid(7)).unwrap_or(0),
            minute: u16::try_from(secs / 60).unwrap_or(0),
        }
    }
}

/// The outcome of evaluating one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    /// False in monitor mode: the decision is recorded, the call forwarded anyway.
    pub enforced: bool,
    /// The rule that decided (none when the default did).
    pub rule: Option<String>,
    /// The deciding rule's message, followed by what its conditions found (for an `sql`
    /// condition, the constraint the query breaks: "blocked table users.credentials
    /// referenced"), so the client's JSON-RPC error says why.
    pub message: Option<String>,
    /// Every rule that matched, in file order.
    pub matched: Vec<String>,
    pub policy: String,
    /// The rate limits that apply to this call (the caller counts them; this crate keeps no state).
    pub limits: Vec<Limit>,
    /// The budgets that apply to this call (the caller charges them).
    pub budgets: Vec<BudgetRef>,
}

/// A budget that applies to a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetRef {
    pub rule: String,
    pub budget: crate::compile::Budget,
    /// False in monitor mode: a call over the budget is recorded, not refused.
    pub enforced: bool,
}

/// A rate limit that applies to a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    pub rule: String,
    pub limit: crate::compile::RateLimit,
    /// False in monitor mode: a call over the limit is recorded, not refused.
    pub enforced: bool,
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
    /// Without a resolver, a path condition with `resolve_symlinks` cannot know real paths:
    /// it judges them unknown (never inside, always possibly inside).
    pub fn evaluate(&self, req: &Request<'_>) -> Decision {
        self.decide(req, None, None)
    }

    /// Decides `req`, with `resolve` giving the real path of an absolute path on the host
    /// where the governed server runs (for conditions with `resolve_symlinks`; see
    /// [`crate::path_cond`]). This crate does no I/O: the caller's resolver does.
    pub fn evaluate_resolving(&self, req: &Request<'_>, resolve: Resolve<'_>) -> Decision {
        self.decide(req, Some(resolve), None)
    }

    /// True if no call of `tool` by this principal could ever be allowed: a rule denies it
    /// whatever its arguments (or the default does and no rule allows it). A tool that some
    /// arguments or an approval could let through is callable. `req.arguments` is ignored.
    pub fn never_callable(&self, req: &Request<'_>) -> bool {
        // Without arguments, no condition on an argument holds: only unconditional rules apply.
        let d = self.evaluate(&Request {
            method: "tools/call",
            arguments: None,
            ..*req
        });
        if !(d.enforced && d.action == Action::Deny) {
            return false;
        }
        // A rule that denied on doubt about the tool's facts may not apply once they are known.
        if req.tool.is_none()
            && let Some(r) = d
                .rule
                .as_ref()
                .and_then(|n| self.rules.iter().find(|r| &r.name == n))
            && r.conditions
                .iter()
                .any(|c| matches!(c.kind, Condition::Fact(_)))
        {
            return false;
        }
        // Denied by the default: callable if some allow rule could apply with arguments.
        d.rule.is_some()
            || !self
                .rules
                .iter()
                .any(|r| r.action == Action::Allow && !r.limiter_only && !r.conditions.is_empty())
    }

    /// Decides `req` and says, for every rule, whether it applied and why.
    pub fn explain(&self, req: &Request<'_>) -> (Decision, Vec<Trace>) {
        let mut traces = Vec::new();
        let d = self.decide(req, None, Some(&mut traces));
        (d, traces)
    }

    /// [`PolicySet::explain`] with a resolver, as [`PolicySet::evaluate_resolving`].
    pub fn explain_resolving(
        &self,
        req: &Request<'_>,
        resolve: Resolve<'_>,
    ) -> (Decision, Vec<Trace>) {
        let mut traces = Vec::new();
        let d = self.decide(req, Some(resolve), Some(&mut traces));
        (d, traces)
    }

    fn decide(
        &self,
        req: &Request<'_>,
        resolve: Option<Resolve<'_>>,
        mut trace: Option<&mut Vec<Trace>>,
    ) -> Decision {
        let mut decision = Decision {
            action: Action::Allow,
            enforced: self.mode == Mode::Enforce,
            rule: None,
            message: None,
            matched: Vec::new(),
            policy: self.hash.clone(),
            limits: Vec::new(),
            budgets: Vec::new(),
        };
        if !GOVERNED_METHODS.contains(&req.method) {
            return decision;
        }
        // Which rules' patterns match: one set match per name, not one glob match per rule.
        let mut hit = vec![false; self.rules.len()];
        let mut found = Vec::new();
        let mut mark = |set: &crate::compile::Patterns, name: &str| {
            set.set.matches_into(name, &mut found);
            for &i in &found {
                hit[set.rules[i]] = true;
            }
        };
        if !self.plain.rules.is_empty() {
            mark(&self.plain, req.method);
            if let Some(t) = req.target {
                mark(&self.plain, t);
            }
        }
        if !self.qualified.rules.is_empty() {
            mark(&self.qualified, &format!("{}:{}", req.server, req.method));
            if let Some(t) = req.target {
                mark(&self.qualified, &format!("{}:{t}", req.server));
            }
        }
        // The tool's other names (`aka`): `database.query` is also server `database`'s `query`.
        for aka in req.tool.map_or(&[][..], |f| &f.aka[..]) {
            mark(&self.plain, aka);
            mark(&self.qualified, &format!("{}:{aka}", req.server));
            if let Some((server, tool)) = aka.split_once('.') {
                mark(&self.qualified, &format!("{server}:{tool}"));
            }
        }
        let mut best: Option<(&Rule, Option<String>)> = None;
        let mut paths = PathCtx::new(resolve);
        for (i, rule) in self.rules.iter().enumerate() {
            let (miss, found) = if hit[i] {
                match rule.check(req, &mut paths) {
                    Ok(found) => (None, found),
                    Err(m) => (Some(m), None),
                }
            } else {
                (Some(Miss::Pattern), None)
            };
            if let Some(t) = trace.as_deref_mut() {
                t.push(Trace {
                    rule: rule.name.clone(),
                    applied: miss.is_none(),
                    why: match (miss, &found) {
                        (None, None) => format!("applies: {}", rule.action.as_str()),
                        (None, Some(f)) => format!("applies: {}: {f}", rule.action.as_str()),
                        (Some(m), _) => rule.explain(req, m),
                    },
                });
            }
            if miss.is_some() {
                continue;
            }
            decision.matched.push(rule.name.clone());
            if let Some(limit) = rule.rate_limit {
                decision.limits.push(Limit {
                    rule: rule.name.clone(),
                    limit,
                    enforced: rule.mode == Mode::Enforce,
                });
            }
            if let Some(budget) = &rule.budget {
                decision.budgets.push(BudgetRef {
                    rule: rule.name.clone(),
                    budget: budget.clone(),
                    enforced: rule.mode == Mode::Enforce,
                });
            }
            if rule.limiter_only {
                continue;
            }
            let better = match &best {
                None => true,
                Some((b, _)) => {
                    rule.action > b.action
                        || (rule.action == b.action
                            && b.mode == Mode::Monitor
                            && rule.mode == Mode::Enforce)
                }
            };
            if better {
                best = Some((rule, found));
            }
        }
        match best {
            Some((r, found)) => {
                decision.action = r.action;
                decision.enforced = r.mode == Mode::Enforce;
                decision.rule = Some(r.name.clone());
                decision.message = match (r.message.clone(), found) {
                    (Some(m), Some(f)) => Some(format!("{m}: {f}")),
                    (m, f) => m.or(f),
                };
            }
            None => decision.action = self.default,
        }
        decision
    }
}

/// Why a rule did not apply.
#[derive(Clone, Copy, Debug)]
enum Miss {
    Pattern,
    Principal,
    Condition(usize),
}

impl Rule {
    /// Whether the principals and conditions of a rule whose pattern matched allow it to apply,
    /// and what its conditions found (the constraints an `sql` condition saw broken).
    fn check(&self, req: &Request<'_>, paths: &mut PathCtx<'_>) -> Result<Option<String>, Miss> {
        if !self.principals.is_empty() {
            let who = self
                .principals
                .iter()
                .any(|p| match p.strip_prefix("role:") {
                    Some(role) => req.roles.iter().any(|r| r == role),
                    None => req.principal == Some(p.as_str()),
                });
            if !who {
                return Err(Miss::Principal);
            }
        }
        let mut found: Option<String> = None;
        for (i, c) in self.conditions.iter().enumerate() {
            // A permissive outcome needs certainty; a restrictive one fires on any doubt.
            let certain = (self.action == Action::Allow) != c.not;
            let h = match &c.kind {
                Condition::Sql(rules) => rules.judge(req.arguments).map(|v| match v {
                    Ok(()) => false,
                    Err(why) if !c.not => {
                        found = Some(match found.take() {
                            Some(f) => format!("{f}; {why}"),
                            None => why,
                        });
                        true
                    }
                    Err(_) => true,
                }),
                kind => holds(kind, req, certain, paths),
            };
            let applies = match h {
                None => false,
                Some(h) => h != c.not,
            };
            if !applies {
                return Err(Miss::Condition(i));
            }
        }
        Ok(found)
    }

    /// The reason a rule did not apply, in words (for `warden policy explain`).
    fn explain(&self, req: &Request<'_>, miss: Miss) -> String {
        match miss {
            Miss::Pattern => {
                let what = req
                    .target
                    .map_or(req.method.to_owned(), |t| format!("{}:{t}", req.server));
                format!("tool_pattern {:?} does not match {what}", self.pattern)
            }
            Miss::Principal => format!(
                "principal {:?} is not one of {:?}",
                req.principal.unwrap_or("(none)"),
                self.principals
            ),
            Miss::Condition(i) => match self.conditions.get(i).map(|c| (&c.kind, c.not)) {
                Some((Condition::Sql(rules), not)) => match rules.judge(req.arguments) {
                    None => format!("condition {} is false: the call has no arguments", i + 1),
                    Some(Ok(())) => {
                        format!("condition {} is false: the SQL breaks no constraint", i + 1)
                    }
                    Some(Err(why)) if not => format!("condition {} is false: {why}", i + 1),
                    Some(Err(_)) => format!("condition {} is false", i + 1),
                },
                _ => format!("condition {} is false", i + 1),
            },
        }
    }
}

/// The values of the named arguments that are present.
fn values<'v>(args: &[ArgPath], arguments: Option<&'v Value>) -> Vec<&'v Value> {
    let Some(arguments) = arguments else {
        return Vec::new();
    };
    args.iter()
        .filter_map(|a| crate::path_cond::lookup(a, arguments))
        .collect()
}

/// The text a value is matched as: a string as it is, anything else as its JSON.
fn text(v: &Value) -> std::borrow::Cow<'_, str> {
    match v {
        Value::String(s) => std::borrow::Cow::Borrowed(s),
        other => std::borrow::Cow::Owned(other.to_string()),
    }
}

/// Whether a condition holds for the call's arguments; `None` when none of its arguments is
/// present (then the condition does not hold, whether or not it is negated).
///
/// `certain`: the condition must be true only when it is certainly true (it would allow a
/// call); otherwise it is true whenever it may be (it would restrict one). For paths this
/// chooses between "every way a server could read the path is inside" and "some way is".
fn holds(c: &Condition, req: &Request<'_>, certain: bool, ctx: &mut PathCtx<'_>) -> Option<bool> {
    let arguments = req.arguments;
    let one_of =
        |list: &[String], who: Option<&str>| Some(who.is_some_and(|w| list.iter().any(|x| x == w)));
    let args = match c {
        Condition::Server(list) => return one_of(list, Some(req.server)),
        Condition::Client(list) => return one_of(list, req.client),
        Condition::Principal(list) => return one_of(list, req.principal),
        Condition::Role(list) => return Some(req.roles.iter().any(|r| list.contains(r))),
        Condition::Time(w) => return req.at.map(|at| in_window(w, at)),
        // Judged in `Rule::check`, which keeps what it finds.
        Condition::Sql(rules) => return rules.judge(arguments).map(|v| v.is_err()),
        // An unknown fact is doubt: it holds for a rule that restricts, not for one that allows.
        Condition::Fact(f) => return Some(req.tool.and_then(|t| f.holds(t)).unwrap_or(!certain)),
        Condition::PathIn {
            args,
            allowed,
            negate,
            resolve_symlinks,
        } => {
            let paths = candidates(args.as_ref(), arguments, req.method, req.target);
            if paths.is_empty() {
                // No path in the call (or only empty lists): nothing to judge.
                return None;
            }
            // "Surely inside" (every reading of the path) for path_in that would allow and for
            // path_not_in that would restrict; "possibly inside" (any reading, or a path that
            // cannot be judged) for the other two: doubt falls on the strict side.
            let surely = *negate != certain;
            let mut inside = paths
                .into_iter()
                .map(|p| ctx.inside(p, allowed, surely, *resolve_symlinks));
            return Some(if *negate {
                inside.any(|x| !x)
            } else {
                inside.all(|x| x)
            });
        }
        Condition::ArgMatches { args, .. }
        | Condition::ArgEquals { args, .. }
        | Condition::ArgIn { args, .. }
        | Condition::ArgRange { args, .. }
        | Condition::ArgMaxLength { args, .. } => args,
    };
    let vals = values(&args.0, arguments);
    if vals.is_empty() {
        return None;
    }
    Some(match c {
        Condition::ArgMatches { regex, .. } => vals.iter().any(|v| regex.is_match(&text(v))),
        Condition::ArgEquals { value, .. } => vals.contains(&value),
        Condition::ArgIn { values: list, .. } => vals.iter().any(|v| list.iter().any(|x| x == *v)),
        Condition::ArgRange { min, max, .. } => vals.iter().any(|v| match v.as_f64() {
            Some(n) => min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m),
            None => true,
        }),
        Condition::PathIn { .. }
        | Condition::Server(_)
        | Condition::Client(_)
        | Condition::Principal(_)
        | Condition::Role(_)
        | Condition::Time(_)
        | Condition::Sql(_)
        | Condition::Fact(_) => return None,
        Condition::ArgMaxLength { max, .. } => vals.iter().any(|v| {
            let len = match v {
                Value::String(s) => s.chars().count(),
                Value::Array(a) => a.len(),
                other => other.to_string().len(),
            };
            len > *max
        }),
    })
}

/// Whether `at` (UTC) falls in the window, on its days, at its UTC offset. A window whose end
/// is before its start runs past midnight (the start's day counts).
fn in_window(w: &crate::condition::Window, at: Moment) -> bool {
    let local = i32::from(at.weekday) * 1440 + i32::from(at.minute) + w.offset_minutes;
    let local = local.rem_euclid(7 * 1440);
    let (day, minute) = (local / 1440, u16::try_from(local % 1440).unwrap_or(0));
    let on = |d: i32| w.days >> d.rem_euclid(7) & 1 == 1;
    if w.from <= w.to {
        on(day) && minute >= w.from && minute < w.to
    } else {
        (on(day) && minute >= w.from) || (on(day - 1) && minute < w.to)
    }
}
