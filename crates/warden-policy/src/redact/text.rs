//! The string engine: finding every value rule's matches in one string (prefilter, regexes,
//! digit scanners, custom patterns), merging overlaps, replacing them with markers and
//! re-scanning until nothing matches; markers already present are never matched again.

use regex::Regex;

use super::detect::digits::find_digit_secrets;
use super::detect::patterns::{EMAIL, QUERY, quick_anchor};
use super::detect::phone::find_phones;
use super::{MARKER_OPEN, Redactor};

/// Shortest string any built-in detector can match (`a@b.co`).
pub(super) const MIN_BUILTIN_LEN: usize = 6;
/// Strings up to this length use [`quick_anchor`] instead of the literal-set regex.
const SHORT: usize = 64;
/// Re-scans of one string after replacement before falling back to replacing all of it.
const MAX_PASSES: usize = 8;
#[derive(Debug, Clone)]
pub(super) enum Matcher {
    Regex {
        re: Regex,
        /// A check each match (or group) must pass.
        check: Option<fn(&str) -> bool>,
        /// Capture group holding the secret, if only part of the match is secret.
        group: Option<usize>,
    },
    /// Hand-written scanner (groups of digits, Luhn, issuer ranges).
    Card,
    /// Hand-written scanner (registry length, mod-97).
    Iban,
    /// Hand-written scanner (phone numbers as written: `+` or separators, shapes).
    Phone,
    /// Key rules on `name=value` pairs inside strings (URI query parameters, env lines).
    Pairs,
}

#[derive(Debug, Clone)]
pub(super) struct Rule {
    pub(super) id: String,
    /// `[REDACTED:<id>]`.
    pub(super) marker: String,
    pub(super) matcher: Matcher,
}

impl Redactor {
    /// The redacted form of `text` and the matches per rule, or `None` if nothing matches.
    pub(super) fn redact_text(&self, text: &str) -> Option<Redacted> {
        let mut hits = Vec::new();
        self.find_hits(text, &mut hits);
        if hits.is_empty() {
            return None;
        }
        drop_hits_in_markers(text, &mut hits);
        if hits.is_empty() {
            return None;
        }
        let mut counts = Vec::new();
        let mut current = self.apply(text, &mut hits, &mut counts);
        for _ in 1..MAX_PASSES {
            hits.clear();
            self.find_hits(&current, &mut hits);
            drop_hits_in_markers(&current, &mut hits);
            if hits.is_empty() {
                return Some(Redacted {
                    text: current,
                    counts,
                });
            }
            current = self.apply(&current, &mut hits, &mut counts);
        }
        hits.clear();
        self.find_hits(&current, &mut hits);
        drop_hits_in_markers(&current, &mut hits);
        if let Some(h) = hits.iter().min_by_key(|h| h.rule) {
            // Pathological custom patterns only: give up on keeping the surrounding text.
            bump(&mut counts, h.rule);
            current = self.rules[h.rule].marker.clone();
        }
        Some(Redacted {
            text: current,
            counts,
        })
    }

    /// Replaces the (merged) hits in `text`, adding to `counts`.
    fn apply(&self, text: &str, hits: &mut [Hit], counts: &mut Vec<(usize, u32)>) -> String {
        hits.sort_unstable_by_key(|h| (h.start, h.rule));
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        let mut i = 0;
        while i < hits.len() {
            let Hit {
                start,
                mut end,
                rule,
            } = hits[i];
            i += 1;
            while i < hits.len() && hits[i].start < end {
                end = end.max(hits[i].end);
                i += 1;
            }
            out.push_str(&text[last..start]);
            out.push_str(&self.rules[rule].marker);
            bump(counts, rule);
            last = end;
        }
        out.push_str(&text[last..]);
        out
    }

    pub(super) fn find_hits(&self, s: &str, hits: &mut Vec<Hit>) {
        let bytes = s.as_bytes();
        // A key-rule query parameter (`?pin=1`) is at least as long as the shortest match.
        let mut query = false;
        if bytes.len() >= MIN_BUILTIN_LEN {
            let bits = if bytes.len() <= SHORT {
                quick_anchor(bytes)
            } else {
                let query = self.pairs.is_some() && memchr::memchr(b'?', bytes).is_some();
                self.literal_bits(s) | if query { QUERY } else { 0 }
            };
            query = bits & QUERY != 0;
            if bits & !QUERY != 0 {
                for &(rule, bit) in &self.anchored {
                    if bits & bit != 0 {
                        self.find_rule(rule, s, hits);
                    }
                }
            }
            if self.card.is_some() || self.iban.is_some() {
                find_digit_secrets(bytes, self.card, self.iban, hits);
            }
            if let Some(rule) = self.phone {
                find_phones(bytes, rule, hits);
            }
        }
        // Query parameters: only after a `?` (seen by the prefilter's pass).
        if query
            && let Some(rule) = self.pairs
            && let Some(q) = s.find('?')
            && s[q..].contains('=')
        {
            self.find_pairs(s, q, rule, hits);
        }
        if let Some(set) = &self.custom_set {
            for i in set.matches(s).iter() {
                self.find_rule(self.custom[i], s, hits);
            }
        }
    }

    /// The bits of the detectors whose prefilter literals occur in `s` (memchr for `@`, then
    /// the SIMD literal set, searched again one byte after each match so that no literal is
    /// hidden by an overlapping one).
    pub(super) fn literal_bits(&self, s: &str) -> u32 {
        let mut bits = if memchr::memchr(b'@', s.as_bytes()).is_some() {
            EMAIL
        } else {
            0
        };
        let Some(anchor) = &self.anchor else {
            return bits;
        };
        // Most text holds none of the literals: one pass to say so.
        if !anchor.is_match(s) {
            return bits;
        }
        let all = self.literals.iter().fold(0, |all, (_, b)| all | b);
        let mut at = 0;
        while let Some(m) = anchor.find_at(s, at) {
            if let Some((_, b)) = self.literals.iter().find(|(l, _)| l == m.as_str()) {
                bits |= b;
            }
            if bits & all == all {
                break;
            }
            // Every literal starts with an ASCII character: the next byte is a boundary.
            at = m.start() + 1;
        }
        bits
    }

    /// The values of URI query parameters (`?api_key=…&token=…`) whose name a key rule
    /// matches, from the `?` at `from`: the name follows `?`, `&` or `;`; the value runs to
    /// whitespace, a quote, `&`, `;`, `,`, `#`, `<` or `>`.
    fn find_pairs(&self, s: &str, from: usize, rule: usize, hits: &mut Vec<Hit>) {
        let b = s.as_bytes();
        let name_byte = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-');
        let starts_pair = |c: u8| matches!(c, b'?' | b'&' | b';');
        let ends_value = |c: u8| {
            matches!(
                c,
                b' ' | b'\t'
                    | b'\r'
                    | b'\n'
                    | b'"'
                    | b'\''
                    | b'&'
                    | b';'
                    | b','
                    | b'#'
                    | b'<'
                    | b'>'
            )
        };
        // Names repeat (`user=… user=…`): the last few answers are kept.
        let mut recent: [(&str, bool); 4] = [("", false); 4];
        let mut next = 0;
        let mut from = from;
        while let Some(k) = s[from..].find('=') {
            let eq = from + k;
            from = eq + 1;
            let mut start = eq;
            while start > 0 && name_byte(b[start - 1]) {
                start -= 1;
            }
            if start == eq || start == 0 || !starts_pair(b[start - 1]) {
                continue;
            }
            let name = &s[start..eq];
            let named = match recent.iter().find(|(n, _)| *n == name) {
                Some(&(_, hit)) => hit,
                None => {
                    let hit = self.key_rule(name);
                    recent[next] = (name, hit);
                    next = (next + 1) % recent.len();
                    hit
                }
            };
            if !named {
                continue;
            }
            let end = b[eq + 1..]
                .iter()
                .position(|&c| ends_value(c))
                .map_or(b.len(), |p| p + eq + 1);
            if end > eq + 1 {
                hits.push(Hit {
                    start: eq + 1,
                    end,
                    rule,
                });
            }
        }
    }

    fn find_rule(&self, rule: usize, s: &str, hits: &mut Vec<Hit>) {
        let mut push = |start: usize, end: usize| {
            if start < end {
                hits.push(Hit { start, end, rule });
            }
        };
        match &self.rules[rule].matcher {
            Matcher::Card | Matcher::Iban | Matcher::Phone | Matcher::Pairs => {}
            Matcher::Regex {
                re,
                group: None,
                check,
            } => re
                .find_iter(s)
                .filter(|m| check.is_none_or(|ok| ok(m.as_str())))
                .for_each(|m| push(m.start(), m.end())),
            Matcher::Regex {
                re,
                group: Some(g),
                check,
            } => re
                .captures_iter(s)
                .filter_map(|c| c.get(*g))
                .filter(|m| check.is_none_or(|ok| ok(m.as_str())))
                .for_each(|m| push(m.start(), m.end())),
        }
    }
}

pub(super) struct Redacted {
    pub(super) text: String,
    /// (rule index, matches), in order of first replacement.
    pub(super) counts: Vec<(usize, u32)>,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Hit {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) rule: usize,
}

pub(super) fn bump(counts: &mut Vec<(usize, u32)>, rule: usize) {
    match counts.iter_mut().find(|(r, _)| *r == rule) {
        Some((_, n)) => *n = n.saturating_add(1),
        None => counts.push((rule, 1)),
    }
}

pub(super) fn marker(id: &str) -> String {
    format!("{MARKER_OPEN}{id}]")
}

/// Spans of `[REDACTED:<id>]` markers in `text`.
fn marker_spans(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut spans = Vec::new();
    for (start, _) in text.match_indices(MARKER_OPEN) {
        let mut i = start + MARKER_OPEN.len();
        while i < b.len() && (b[i].is_ascii_lowercase() || b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
        if i > start + MARKER_OPEN.len() && b.get(i) == Some(&b']') {
            spans.push((start, i + 1));
        }
    }
    spans
}

/// Drops hits that lie inside an existing marker (so markers are never re-redacted).
pub(super) fn drop_hits_in_markers(text: &str, hits: &mut Vec<Hit>) {
    if hits.is_empty() || !text.contains(MARKER_OPEN) {
        return;
    }
    // Sorted and disjoint: a hit can only lie in the last marker starting at or before it.
    let spans = marker_spans(text);
    hits.retain(|h| {
        let k = spans.partition_point(|&(s, _)| s <= h.start);
        k == 0 || h.end > spans[k - 1].1
    });
}
