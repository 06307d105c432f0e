//! The tolerant scan of text that is not one JSON tree (invalid UTF-8, lone surrogate escapes,
//! nesting deeper than the parser's limit, duplicate members, truncated or non-JSON lines).
//!
//! The text (invalid UTF-8 replaced by U+FFFD) is read token by token without failing:
//! - every quoted string is decoded leniently (a lone surrogate becomes U+FFFD) and scanned by
//!   every detector; a string with a finding is written back, re-escaped, in place;
//! - a string followed by `:` is a key: detectors rename it as in a tree, and when a key rule
//!   names it, the value after it (string, number, literal, or a whole object or array up to
//!   its matching bracket, or to the end of the text) becomes `"[REDACTED:key]"`. Every copy
//!   of a duplicated member is a separate token, so every copy is redacted;
//! - a bare number that is a card number becomes `"[REDACTED:card_number]"`;
//! - then the whole output is scanned once more as one string, for secrets between or across
//!   tokens (a non-JSON line such as `Authorization: Bearer …`).
//!
//! Findings carry the JSON pointer the scan tracked (the first 64 levels); once the structure
//! stops making sense, or for the last whole-text pass, the pointer is `""` (unknown), which
//! [`Redactor::blocking`](super::Redactor::blocking) counts as inside every scope.
//!
//! For text cut short (`truncated`), the last word is also replaced by `[REDACTED:truncated]`
//! (with any digit groups before it, so no part of a cut card number or token survives).

use std::borrow::Cow;

use serde_json::Number;

use super::walk::{push_index, push_key};
use super::{KEY_MARKER, KEY_RULE, Redaction, Redactor};

/// Levels of nesting the pointer follows; deeper findings point at their level-64 ancestor.
const MAX_TRACKED: usize = 64;

/// The marker, and rule id, for the last word of text cut short.
pub(super) const TRUNCATED_RULE: &str = "truncated";

enum Frame {
    /// The member being read (its key, once seen) and whether a key comes next.
    Object {
        key: Option<String>,
        expect_key: bool,
    },
    Array {
        index: usize,
    },
}

struct Path {
    frames: Vec<Frame>,
    /// Levels deeper than `MAX_TRACKED`, counted only.
    deeper: usize,
    /// The structure stopped making sense: pointers are unknown from here on.
    lost: bool,
}

impl Path {
    fn pointer(&self) -> String {
        let mut p = String::new();
        if self.lost {
            return p;
        }
        for f in &self.frames {
            match f {
                Frame::Object { key: Some(k), .. } => push_key(&mut p, k),
                Frame::Object { key: None, .. } => break,
                Frame::Array { index } => push_index(&mut p, *index),
            }
        }
        p
    }

    fn open(&mut self, object: bool) {
        if self.frames.len() >= MAX_TRACKED || self.deeper > 0 {
            self.deeper += 1;
        } else if object {
            self.frames.push(Frame::Object {
                key: None,
                expect_key: true,
            });
        } else {
            self.frames.push(Frame::Array { index: 0 });
        }
    }

    fn close(&mut self, object: bool) {
        if self.deeper > 0 {
            self.deeper -= 1;
            return;
        }
        match self.frames.pop() {
            Some(Frame::Object { .. }) if object => {}
            Some(Frame::Array { .. }) if !object => {}
            _ => self.lost = true,
        }
    }

    fn comma(&mut self) {
        if self.deeper > 0 {
            return;
        }
        match self.frames.last_mut() {
            Some(Frame::Object { expect_key, .. }) => *expect_key = true,
            Some(Frame::Array { index }) => *index += 1,
            None => self.lost = true,
        }
    }

    fn set_key(&mut self, name: &str) {
        if self.deeper > 0 {
            return;
        }
        match self.frames.last_mut() {
            Some(Frame::Object { key, expect_key }) => {
                *key = Some(name.to_owned());
                *expect_key = false;
            }
            _ => self.lost = true,
        }
    }
}

impl Redactor {
    /// Redacts `raw` as text (see the module documentation). Returns the redacted text, or
    /// `None` if nothing changed, and the findings.
    pub(super) fn scan_tolerant(
        &self,
        raw: &[u8],
        truncated: bool,
    ) -> (Option<String>, Vec<Redaction>) {
        let text = String::from_utf8_lossy(raw);
        let b = text.as_bytes();
        let mut out = String::new();
        let mut last = 0;
        let mut found = Vec::new();
        let mut path = Path {
            frames: Vec::new(),
            deeper: 0,
            lost: false,
        };
        // A key rule named the key just read: the next value goes whole.
        let mut mask_next = false;
        let replace = |out: &mut String, last: &mut usize, start: usize, end: usize, with: &str| {
            out.push_str(&text[*last..start]);
            out.push_str(with);
            *last = end;
        };
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            match c {
                b'"' => {
                    let end = string_end(b, i + 1);
                    let closed = end < b.len();
                    let after = if closed { end + 1 } else { end };
                    let decoded = decode(&text[i + 1..end]);
                    let is_key =
                        b[after..].iter().find(|c| !c.is_ascii_whitespace()) == Some(&b':');
                    if is_key {
                        let mut name = decoded.clone();
                        if let Some(r) = self.redact_text(&decoded) {
                            name = Cow::Owned(r.text);
                            replace(&mut out, &mut last, i, after, &quote(&name, closed));
                            path.set_key(&name);
                            self.report(&path.pointer(), &r.counts, &mut found);
                        } else {
                            path.set_key(&name);
                        }
                        mask_next = self.key_rule(&name);
                    } else if mask_next {
                        mask_next = false;
                        if decoded != KEY_MARKER {
                            replace(&mut out, &mut last, i, after, &quote(KEY_MARKER, true));
                            found.push(key_finding(&path));
                        }
                    } else if let Some(r) = self.redact_text(&decoded) {
                        replace(&mut out, &mut last, i, after, &quote(&r.text, closed));
                        self.report(&path.pointer(), &r.counts, &mut found);
                    }
                    i = after;
                }
                b'{' | b'[' if mask_next => {
                    mask_next = false;
                    let end = container_end(b, i);
                    replace(&mut out, &mut last, i, end, &quote(KEY_MARKER, true));
                    found.push(key_finding(&path));
                    i = end;
                }
                b'{' | b'[' => {
                    path.open(c == b'{');
                    i += 1;
                }
                b'}' | b']' => {
                    mask_next = false;
                    path.close(c == b'}');
                    i += 1;
                }
                b',' => {
                    mask_next = false;
                    path.comma();
                    i += 1;
                }
                b':' => i += 1,
                c if c.is_ascii_whitespace() => i += 1,
                _ => {
                    let end = b[i..]
                        .iter()
                        .position(|c| c.is_ascii_whitespace() || b",:{}[]\"".contains(c))
                        .map_or(b.len(), |p| p + i);
                    let token = &text[i..end];
                    if mask_next {
                        mask_next = false;
                        replace(&mut out, &mut last, i, end, &quote(KEY_MARKER, true));
                        found.push(key_finding(&path));
                    } else if let Some(rule) = token
                        .parse::<u64>()
                        .ok()
                        .and_then(|n| self.card_number_value(&Number::from(n)))
                    {
                        let marker = &self.rules[rule].marker;
                        replace(&mut out, &mut last, i, end, &quote(marker, true));
                        self.report(&path.pointer(), &[(rule, 1)], &mut found);
                    } else if !matches!(token, "true" | "false" | "null")
                        && token.parse::<f64>().is_err()
                    {
                        // Not JSON: from here on, pointers are unknown.
                        path.lost = true;
                    }
                    i = end;
                }
            }
        }
        let mut changed = last > 0;
        out.push_str(&text[last..]);
        // Secrets between or across tokens.
        if let Some(r) = self.redact_text(&out) {
            self.report("", &r.counts, &mut found);
            out = r.text;
            changed = true;
        }
        if truncated {
            let cut = cut_point(&out);
            if cut < out.len() {
                out.truncate(cut);
                out.push_str("[REDACTED:");
                out.push_str(TRUNCATED_RULE);
                out.push(']');
                found.push(Redaction {
                    rule: TRUNCATED_RULE.to_owned(),
                    pointer: String::new(),
                    count: 1,
                });
                changed = true;
            }
        }
        (changed.then_some(out), found)
    }
}

fn key_finding(path: &Path) -> Redaction {
    Redaction {
        rule: KEY_RULE.to_owned(),
        pointer: path.pointer(),
        count: 1,
    }
}

/// `s` as a JSON string; without its closing quote when the original had none.
fn quote(s: &str, closed: bool) -> String {
    let mut q = serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
    if !closed {
        q.pop();
    }
    q
}

/// The index of the quote closing a string whose content starts at `from`, or the end.
fn string_end(b: &[u8], from: usize) -> usize {
    let mut i = from;
    while i < b.len() {
        match b[i] {
            b'"' => return i,
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    b.len()
}

/// The end (exclusive) of the object or array opening at `start`, brackets counted outside
/// strings; the end of the text if it never closes.
fn container_end(b: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i < b.len() {
        match b[i] {
            b'"' => i = string_end(b, i + 1),
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    b.len()
}

/// A JSON string's content decoded without failing: unknown escapes are kept as written, a
/// lone surrogate becomes U+FFFD.
pub(super) fn decode(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let b = raw.as_bytes();
    let hex = |at: usize| -> Option<u32> {
        let h = raw.get(at..at + 4)?;
        if !h.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(h, 16).ok()
    };
    let mut out = String::with_capacity(raw.len());
    let mut last = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        out.push_str(&raw[last..i]);
        let (text, used): (Option<char>, usize) = match b.get(i + 1) {
            Some(b'"') => (Some('"'), 2),
            Some(b'\\') => (Some('\\'), 2),
            Some(b'/') => (Some('/'), 2),
            Some(b'b') => (Some('\u{8}'), 2),
            Some(b'f') => (Some('\u{c}'), 2),
            Some(b'n') => (Some('\n'), 2),
            Some(b'r') => (Some('\r'), 2),
            Some(b't') => (Some('\t'), 2),
            Some(b'u') => match hex(i + 2) {
                Some(hi @ 0xD800..=0xDBFF) => match (b.get(i + 6..i + 8), hex(i + 8)) {
                    (Some(b"\\u"), Some(lo @ 0xDC00..=0xDFFF)) => (
                        char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)),
                        12,
                    ),
                    _ => (Some('\u{FFFD}'), 6),
                },
                Some(u) => (Some(char::from_u32(u).unwrap_or('\u{FFFD}')), 6),
                None => (None, 1),
            },
            _ => (None, 1),
        };
        match text {
            Some(ch) => out.push(ch),
            None => out.push('\\'),
        }
        i += used;
        last = i;
    }
    out.push_str(raw.get(last..).unwrap_or_default());
    Cow::Owned(out)
}

/// Where the last word of text cut short begins: after the last whitespace, quote or JSON
/// punctuation, moved back over digit groups joined by single spaces or dashes before it.
fn cut_point(s: &str) -> usize {
    let b = s.as_bytes();
    let sep = |c: u8| c.is_ascii_whitespace() || b",:{}[]\"".contains(&c);
    let mut cut = b.iter().rposition(|&c| sep(c)).map_or(0, |p| p + 1);
    loop {
        // `<digits><space or dash>` right before the cut: part of the same number.
        if cut >= 2 && matches!(b[cut - 1], b' ' | b'-') && b[cut - 2].is_ascii_digit() {
            let mut j = cut - 1;
            while j > 0 && b[j - 1].is_ascii_digit() {
                j -= 1;
            }
            cut = j;
        } else {
            return cut;
        }
    }
}
