//! The diff between two definitions of one tool, in the form a reviewer reads: the description
//! as a word diff, the input schema as structural changes (a parameter added, removed,
//! retyped, made required or optional, its constraints loosened), annotation flips, and every
//! other member that changed. Each change is classified:
//! - **cosmetic**: nothing a model or a person would act on differently (case, punctuation or
//!   spacing of a text, the title);
//! - **semantic**: what the tool says or takes changed;
//! - **risk-raising**: the change makes the tool more dangerous or is a known sign of tool
//!   poisoning: `destructiveHint` or `openWorldHint` turning true, `readOnlyHint` turning false,
//!   a new free-form string parameter, a constraint removed (`enum`, `pattern`, `maxLength`,
//!   `additionalProperties: false`), or instructions aimed at the model appearing in a
//!   description (a fixed, documented list of markers: a heuristic, never the only check).

use serde::Serialize;
use serde_json::{Map, Value};

use super::text;

/// How much a change matters, least first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    Cosmetic,
    Semantic,
    RiskRaising,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Cosmetic => "cosmetic",
            Class::Semantic => "semantic",
            Class::RiskRaising => "risk-raising",
        }
    }
}

/// One change between two definitions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    /// `description`, `title`, `parameter_added`, `parameter_removed`, `parameter_retyped`,
    /// `parameter_required`, `parameter_optional`, `parameter_description`,
    /// `constraint_removed`, `constraint_changed`, `annotation`, `output_schema`, `member`.
    pub kind: &'static str,
    pub class: Class,
    /// What changed, in words (names the parameter or annotation and both values).
    pub what: String,
}

/// What changed between two definitions of a tool.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Diff {
    pub changes: Vec<Change>,
    /// The description as a word diff (`[-old-]{+new+}`), when it changed.
    pub description: Option<String>,
}

impl Diff {
    /// The class of the whole diff: its most serious change (`None`: no change).
    pub fn class(&self) -> Option<Class> {
        self.changes.iter().map(|c| c.class).max()
    }

    /// Only annotations changed.
    pub fn annotation_only(&self) -> bool {
        !self.changes.is_empty() && self.changes.iter().all(|c| c.kind == "annotation")
    }

    fn push(&mut self, kind: &'static str, class: Class, what: String) {
        self.changes.push(Change { kind, class, what });
    }
}

/// Phrases that address the model rather than describe the tool: their appearance in a
/// description is risk-raising. Matched case-insensitively.
pub const INJECTION_MARKERS: &[&str] = &[
    "<important>",
    "<instructions>",
    "<system>",
    "ignore previous",
    "ignore all previous",
    "ignore the above",
    "disregard previous",
    "do not tell the user",
    "don't tell the user",
    "do not mention",
    "without telling",
    "system prompt",
    "before using this tool",
    "before calling any",
    "~/.ssh",
    "id_rsa",
    "/etc/passwd",
    ".env",
    "api key",
    "private key",
];

fn markers(s: &str) -> Vec<&'static str> {
    let lower = s.to_lowercase();
    INJECTION_MARKERS
        .iter()
        .copied()
        .filter(|m| lower.contains(m))
        .collect()
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The diff from the definition `old` to `new` of one tool.
pub fn diff(old: &Value, new: &Value) -> Diff {
    let mut d = Diff::default();
    texts(
        &mut d,
        "description",
        str_of(old, "description"),
        str_of(new, "description"),
    );
    if old.get("title") != new.get("title") {
        d.push(
            "title",
            Class::Cosmetic,
            format!(
                "title {} → {}",
                show(old.get("title")),
                show(new.get("title"))
            ),
        );
    }
    schema(&mut d, old.get("inputSchema"), new.get("inputSchema"));
    annotations(&mut d, old.get("annotations"), new.get("annotations"));
    if old.get("outputSchema") != new.get("outputSchema") {
        d.push(
            "output_schema",
            Class::Semantic,
            "the output schema changed".into(),
        );
    }
    let known = [
        "name",
        "description",
        "title",
        "inputSchema",
        "outputSchema",
        "annotations",
        "_meta",
    ];
    let empty = Map::new();
    let (o, n) = (
        old.as_object().unwrap_or(&empty),
        new.as_object().unwrap_or(&empty),
    );
    let mut others: Vec<&String> = o.keys().chain(n.keys()).collect();
    others.sort();
    others.dedup();
    for k in others {
        if !known.contains(&k.as_str()) && o.get(k) != n.get(k) {
            d.push("member", Class::Semantic, format!("`{k}` changed"));
        }
    }
    d
}

fn show(v: Option<&Value>) -> String {
    v.map_or_else(|| "(none)".into(), ToString::to_string)
}

/// A text member (`description`): cosmetic if only case, punctuation or spacing changed.
fn texts(d: &mut Diff, kind: &'static str, old: &str, new: &str) {
    if old == new {
        return;
    }
    let added: Vec<&str> = markers(new)
        .into_iter()
        .filter(|m| !markers(old).contains(m))
        .collect();
    let class = if !added.is_empty() {
        Class::RiskRaising
    } else if text::normalized(old) == text::normalized(new) {
        Class::Cosmetic
    } else {
        Class::Semantic
    };
    let what = if added.is_empty() {
        "the description changed".to_owned()
    } else {
        format!(
            "the description now addresses the model ({})",
            added.join(", ")
        )
    };
    d.push(kind, class, what);
    if kind == "description" {
        d.description = Some(text::word_diff(old, new));
    }
}

fn properties(schema: Option<&Value>) -> Map<String, Value> {
    schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn required(schema: Option<&Value>) -> Vec<String> {
    schema
        .and_then(|s| s.get("required"))
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// A parameter that takes any string: a string type with no enum, const, pattern, format or
/// length limit.
fn free_form_string(p: &Value) -> bool {
    let types: Vec<&str> = match p.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    types.contains(&"string")
        && ["enum", "const", "pattern", "format", "maxLength"]
            .iter()
            .all(|k| p.get(*k).is_none())
}

/// Constraints whose removal widens what a parameter (or the schema) accepts.
const CONSTRAINTS: &[&str] = &[
    "enum",
    "const",
    "pattern",
    "format",
    "maxLength",
    "maximum",
    "minimum",
    "maxItems",
];

fn schema(d: &mut Diff, old: Option<&Value>, new: Option<&Value>) {
    if old == new {
        return;
    }
    let (po, pn) = (properties(old), properties(new));
    let (ro, rn) = (required(old), required(new));
    for (name, p) in &pn {
        let Some(was) = po.get(name) else {
            let (class, why) = if free_form_string(p) {
                (Class::RiskRaising, " (a free-form string)")
            } else if rn.contains(name) {
                (Class::Semantic, " (required)")
            } else {
                (Class::Semantic, "")
            };
            d.push(
                "parameter_added",
                class,
                format!("parameter `{name}` added{why}"),
            );
            continue;
        };
        if was.get("type") != p.get("type") {
            let class = if free_form_string(p) && !free_form_string(was) {
                Class::RiskRaising
            } else {
                Class::Semantic
            };
            d.push(
                "parameter_retyped",
                class,
                format!(
                    "parameter `{name}` retyped {} → {}",
                    show(was.get("type")),
                    show(p.get("type"))
                ),
            );
        }
        for c in CONSTRAINTS {
            match (was.get(*c), p.get(*c)) {
                (Some(a), None) => d.push(
                    "constraint_removed",
                    Class::RiskRaising,
                    format!("parameter `{name}` lost `{c}: {a}`"),
                ),
                (a, Some(b)) if a != Some(b) => d.push(
                    "constraint_changed",
                    Class::Semantic,
                    format!("parameter `{name}` `{c}` {} → {b}", show(a)),
                ),
                _ => {}
            }
        }
        if was.get("description") != p.get("description") {
            let (a, b) = (str_of(was, "description"), str_of(p, "description"));
            let class = if !markers(b).iter().all(|m| markers(a).contains(m)) {
                Class::RiskRaising
            } else if text::normalized(a) == text::normalized(b) {
                Class::Cosmetic
            } else {
                Class::Semantic
            };
            d.push(
                "parameter_description",
                class,
                format!("parameter `{name}` description changed"),
            );
        }
    }
    for name in po.keys().filter(|n| !pn.contains_key(*n)) {
        d.push(
            "parameter_removed",
            Class::Semantic,
            format!("parameter `{name}` removed"),
        );
    }
    for name in rn.iter().filter(|n| !ro.contains(n) && po.contains_key(*n)) {
        d.push(
            "parameter_required",
            Class::Semantic,
            format!("parameter `{name}` made required"),
        );
    }
    for name in ro.iter().filter(|n| !rn.contains(n) && pn.contains_key(*n)) {
        d.push(
            "parameter_optional",
            Class::Semantic,
            format!("parameter `{name}` made optional"),
        );
    }
    let closed = |s: Option<&Value>| {
        s.and_then(|s| s.get("additionalProperties")) == Some(&Value::Bool(false))
    };
    if closed(old) && !closed(new) {
        d.push(
            "constraint_removed",
            Class::RiskRaising,
            "the schema now accepts parameters it does not name (additionalProperties)".into(),
        );
    }
}

/// The annotation hints whose flip raises risk, and the value that raises it.
const RISKY: &[(&str, bool)] = &[
    ("destructiveHint", true),
    ("openWorldHint", true),
    ("readOnlyHint", false),
];

fn annotations(d: &mut Diff, old: Option<&Value>, new: Option<&Value>) {
    if old == new {
        return;
    }
    let empty = Map::new();
    let (o, n) = (
        old.and_then(Value::as_object).unwrap_or(&empty),
        new.and_then(Value::as_object).unwrap_or(&empty),
    );
    let mut keys: Vec<&String> = o.keys().chain(n.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let (a, b) = (o.get(k), n.get(k));
        if a == b {
            continue;
        }
        let class = match RISKY.iter().find(|(h, _)| h == k) {
            Some((_, risky)) if b.and_then(Value::as_bool) == Some(*risky) => Class::RiskRaising,
            // readOnlyHint dropped entirely: no longer declared read-only.
            Some((_, false)) if b.is_none() && a == Some(&Value::Bool(true)) => Class::RiskRaising,
            Some(_) => Class::Semantic,
            None if k == "title" => Class::Cosmetic,
            None => Class::Semantic,
        };
        d.push(
            "annotation",
            class,
            format!("annotation `{k}` {} → {}", show(a), show(b)),
        );
    }
}
