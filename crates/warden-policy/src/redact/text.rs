//! The string engine: finding every value rule's matches in one string (prefilter, regexes,
//! digit scanners, custom patterns), merging overlaps, replacing them with markers and
//! re-scanning until nothing matches; markers already present are never matched again.

use regex::Regex;

use super::detect::digits::find_digit_secrets;
use super::detect::patterns::quick_anchor;
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
        /// Capture group holding the secret, if only part of the match is secret.
        group: Option<usize>,
    },
    /// Hand-written scanner (groups of digits, Luhn, issuer ranges).
    Card,
    /// Hand-written scanner (registry length, mod-97).
    Iban,
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
        if bytes.len() >= MIN_BUILTIN_LEN {
            if !self.anchored.is_empty() {
                let candidate = if bytes.len() <= SHORT {
                    quick_anchor(bytes)
                } else {
                    bytes.contains(&b'@') || self.anchor.as_ref().is_some_and(|a| a.is_match(s))
                };
                if candidate {
                    for &rule in &self.anchored {
                        self.find_rule(rule, s, hits);
                    }
                }
            }
            if self.card.is_some() || self.iban.is_some() {
                find_digit_secrets(bytes, self.card, self.iban, hits);
            }
        }
        if let Some(set) = &self.custom_set {
            for i in set.matches(s).iter() {
                self.find_rule(self.custom[i], s, hits);
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
            Matcher::Card | Matcher::Iban => {}
            Matcher::Regex { re, group: None } => {
                re.find_iter(s).for_each(|m| push(m.start(), m.end()));
            }
            Matcher::Regex { re, group: Some(g) } => re
                .captures_iter(s)
                .filter_map(|c| c.get(*g))
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
