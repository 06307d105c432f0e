//! The audit copy with what a record needs of it: per message, where its arguments and payload
//! sit in the stored bytes, and whether those bytes read strictly, so the proxy never parses
//! or classifies the copy again. A redacted tree is written out member by member, noting the
//! spans as it goes (the same bytes `serde_json::to_vec` writes).

use std::ops::Range;

use serde_json::{Map, Value};
use warden_core::strict::{MAX_DEPTH, MAX_SAFE_INTEGER};

use super::unique::parse_unique;
use super::{AuditCopy, KEY_MARKER, Redactor};

/// Where a message's parts sit in the stored copy, as `warden_core::classify` of the copy
/// would report them (`args` and `body`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopySpans {
    /// `params.arguments` of `tools/call` and `prompts/get`, else the whole `params`.
    pub args: Option<Range<usize>>,
    /// `params`, `result` or `error`.
    pub body: Option<Range<usize>>,
}

/// [`AuditCopy`] with the spans of its messages in the stored bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpannedCopy {
    /// The copy and its label, as [`Redactor::audit_copy`] returns it.
    pub copy: AuditCopy,
    /// When the copy is not [`AuditCopy::Clean`]: per message (batch index, or 0 for a single
    /// message) the spans inside the stored bytes (`copy.text()`, or the input when that is
    /// `None`); a message missing here (or a copy that is no message) has none. Empty when
    /// clean: the caller's spans of the input apply.
    pub spans: Vec<CopySpans>,
    /// Whether the stored bytes pass `warden_core::strict::check` (known without checking:
    /// the redactor wrote them from a tree within the strict limits). The audit record's
    /// `read_strictly`. Always `false` for [`AuditCopy::Scanned`] and `Clean` (the caller
    /// knows how it read its own bytes).
    pub strict: bool,
}

impl SpannedCopy {
    /// The spans of message `index` in the stored copy (none past the end).
    pub fn spans_of(&self, index: usize) -> CopySpans {
        self.spans.get(index).cloned().unwrap_or_default()
    }
}

impl Redactor {
    /// [`Redactor::audit_copy`] with the spans a record needs in the stored bytes. A clean
    /// message costs what `audit_copy` costs (the detectors' pass over every string, see
    /// [`Redactor::may_redact`]) and is neither copied nor walked again. A redacted tree gets
    /// its spans while it is written. Text that is not one JSON tree ([`AuditCopy::Scanned`],
    /// rare: a server's malformed frame) gets them from `parse_frame` and `classify` of the
    /// stored text, here, as the proxy did.
    pub fn audit_copy_spanned(&self, raw: &[u8]) -> SpannedCopy {
        let clean = || SpannedCopy {
            copy: AuditCopy::Clean,
            spans: Vec::new(),
            strict: false,
        };
        if !self.may_redact(raw) {
            return clean();
        }
        let Some(mut v) = parse_unique(raw) else {
            let copy = self.audit_copy_unparsed(raw, false);
            let spans = spans_by_parsing(copy.text().unwrap_or(raw));
            return SpannedCopy {
                copy,
                spans,
                strict: false,
            };
        };
        let found = self.redact(&mut v);
        if found.is_empty() {
            return clean();
        }
        let mut w = Writer {
            out: Vec::with_capacity(raw.len()),
            strict: true,
        };
        let spans = w.top(&v);
        let (text, strict) = match w.out.is_empty() {
            // Writing a `Value` cannot fail (string keys, finite numbers); as `audit_copy`.
            true => (KEY_MARKER.as_bytes().to_vec(), false),
            false => (w.out, w.strict),
        };
        SpannedCopy {
            copy: AuditCopy::Redacted { text, found },
            spans,
            strict,
        }
    }
}

/// The spans of `text` by the lenient reading and classification (the proxy's former way).
fn spans_by_parsing(text: &[u8]) -> Vec<CopySpans> {
    let Ok(env) = warden_core::parse_frame(text) else {
        return Vec::new();
    };
    env.messages
        .iter()
        .map(|m| {
            let c = warden_core::classify(text, m, None);
            CopySpans {
                args: c.args,
                body: c.body,
            }
        })
        .collect()
}

/// Writes a redacted tree as `serde_json::to_vec` does, noting spans and whether the text
/// stays within the strict reading's limits (depth, number magnitude; a `Value` has no
/// duplicate member and no lone surrogate, and compact output no carriage return).
struct Writer {
    out: Vec<u8>,
    strict: bool,
}

impl Writer {
    fn top(&mut self, v: &Value) -> Vec<CopySpans> {
        match v {
            Value::Array(items) => {
                self.out.push(b'[');
                let mut spans = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push(b',');
                    }
                    spans.push(match item {
                        Value::Object(m) => self.message(m, 2),
                        other => {
                            self.value(other, 2);
                            CopySpans::default()
                        }
                    });
                }
                self.out.push(b']');
                spans
            }
            Value::Object(m) => vec![self.message(m, 1)],
            other => {
                self.value(other, 1);
                vec![CopySpans::default()]
            }
        }
    }

    /// One message object at `depth`, its spans as `parse_frame` + `classify` find them: `null`
    /// members are absent except `id` and `result`, and a `method` that is not a string makes
    /// the message invalid (no spans).
    fn message(&mut self, m: &Map<String, Value>, depth: usize) -> CopySpans {
        let present = |k: &str| m.get(k).filter(|v| !v.is_null());
        let method = match present("method") {
            None => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => {
                self.value_map(m, depth);
                return CopySpans::default();
            }
        };
        let id_present = present("id").is_some();
        let (payload, args_member) = if let Some(method) = method {
            let args = matches!(method, "tools/call" | "prompts/get");
            ("params", args)
        } else if present("error").is_some() {
            ("error", false)
        } else if m.contains_key("result") && id_present {
            ("result", false)
        } else {
            self.value_map(m, depth);
            return CopySpans::default();
        };
        let mut spans = CopySpans::default();
        self.check_depth(depth);
        self.out.push(b'{');
        for (i, (k, v)) in m.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.key(k);
            let start = self.out.len();
            if k == payload && (payload == "result" || !v.is_null()) {
                match (v, args_member) {
                    (Value::Object(p), true) => spans.args = self.params(p, depth + 1),
                    _ => self.value(v, depth + 1),
                }
                spans.body = Some(start..self.out.len());
                if !args_member {
                    spans.args = match payload {
                        "params" => spans.body.clone(),
                        _ => None,
                    };
                }
            } else {
                self.value(v, depth + 1);
            }
        }
        self.out.push(b'}');
        spans
    }

    /// A `tools/call` or `prompts/get` params object; the span of its non-null `arguments`.
    fn params(&mut self, p: &Map<String, Value>, depth: usize) -> Option<Range<usize>> {
        self.check_depth(depth);
        let mut args = None;
        self.out.push(b'{');
        for (i, (k, v)) in p.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.key(k);
            let start = self.out.len();
            self.value(v, depth + 1);
            if k == "arguments" && !v.is_null() {
                args = Some(start..self.out.len());
            }
        }
        self.out.push(b'}');
        args
    }

    fn key(&mut self, k: &str) {
        if serde_json::to_writer(&mut self.out, k).is_err() {
            self.strict = false;
        }
        self.out.push(b':');
    }

    /// A message object with no spans, at `depth`.
    fn value_map(&mut self, m: &Map<String, Value>, depth: usize) {
        self.check_depth(depth);
        self.limits(m.values(), depth + 1);
        if serde_json::to_writer(&mut self.out, m).is_err() {
            self.strict = false;
        }
    }

    /// Any value at `depth`, written by serde_json, its limits checked.
    fn value(&mut self, v: &Value, depth: usize) {
        self.limits(std::iter::once(v), depth);
        if serde_json::to_writer(&mut self.out, v).is_err() {
            self.strict = false;
        }
    }

    fn check_depth(&mut self, depth: usize) {
        if depth > MAX_DEPTH {
            self.strict = false;
        }
    }

    /// Whether values at `depth` keep within the strict reading's limits (a container at
    /// depth above [`MAX_DEPTH`], a number of magnitude above [`MAX_SAFE_INTEGER`]).
    fn limits<'v>(&mut self, values: impl Iterator<Item = &'v Value>, depth: usize) {
        if !self.strict {
            return;
        }
        for v in values {
            let ok = match v {
                Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                    (Some(u), _, _) => u <= MAX_SAFE_INTEGER,
                    (_, Some(i), _) => i.unsigned_abs() <= MAX_SAFE_INTEGER,
                    (_, _, Some(f)) => f.is_finite() && f.abs() <= MAX_SAFE_INTEGER as f64,
                    _ => false,
                },
                Value::Array(items) => {
                    self.check_depth(depth);
                    self.limits(items.iter(), depth + 1);
                    true
                }
                Value::Object(m) => {
                    self.check_depth(depth);
                    self.limits(m.values(), depth + 1);
                    true
                }
                _ => true,
            };
            if !ok {
                self.strict = false;
            }
            if !self.strict {
                return;
            }
        }
    }
}

#[cfg(test)]
#[path = "spans_tests.rs"]
mod tests;
