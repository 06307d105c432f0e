//! Phone numbers written the way people write them: `+` and a country code, or a national form
//! with separators (`(555) 010-0199`, `555-010-0199`, `020 7946 0958`). A hand scanner: one
//! pass from digit run to digit run, a bounded number of windows per run, never a panic.
//!
//! A *run* is digit groups joined by single separators (space, `-`, `.`), with at most one
//! parenthesised group (an area code or a trunk `(0)`), optionally led by `+`. A run glued to
//! a letter, digit, `_`, `.`, `-`, `/`, `+` or `@` on its left is skipped whole (`ORD-2024-…`,
//! `v1.2.3`, UUIDs, IBAN tails). Inside a run, phones start at the run's start or after a
//! space, and end at the run's end (not followed by a letter, a digit, or `.,:/-+` and a
//! digit) or before a space, longest first. A candidate is a phone when it has one of these
//! shapes:
//! - **international**: `+`, a country code of 1–3 digits not starting with 0, then groups
//!   (one may be parenthesised: `+1 (555) 010-0199`, `+44 (0)20 …`); 7–15 digits in all;
//!   at most one 1-digit group after the country code and the last group 2+ digits; or `+`
//!   and 7–15 digits unbroken (`+14155552671`);
//! - **parenthesised area code**: `(` 2–3 digits, or 4–5 starting with `0`, `)`, then groups
//!   of 2–8 digits, 9–12 digits in all (`(555) 010-0199`, `(02) 9876 5432`, `(0161) 496
//!   0000`), optionally after a `1`;
//! - **North American**: 3-3-4 digits with one kind of separator, the area code starting 2–9,
//!   optionally after a `1` (`555-010-0199`, `555.010.0199`, `1-800-555-0199`);
//! - **trunk prefix 0**: a first group of 2–5 digits starting with `0`, then 1–4 groups of
//!   2–8 digits, one kind of separator, 9–12 digits in all (`020 7946 0958`, `030 12345678`,
//!   `03-1234-5678`); groups all of 2 digits only as five of them (`06 12 34 56 78`); not a
//!   first group of zeros only (`000-000-0000`).
//!
//! Dots separate only the North American 3.3.4 and the five pairs of 2, never mixed with other
//! separators. So ISO dates and times, IPv4 addresses, versions, UUIDs, plain integers and
//! decimals, hex, unix timestamps, thousands-grouped amounts (`1 234 567`) and card numbers
//! (13+ digits without `+`) are not phones. Known misses: extensions glued to the number
//! (`555-010-0199x12` is skipped whole), a phone in the same run as a glued group before it
//! (`12:30 555-010-0199`: the run starting at `30` is skipped whole), 7-digit local numbers
//! (`555-0199`), the `00` international prefix beyond 12 digits, and vanity letters.

use super::digits::first_digit;
use crate::redact::text::Hit;

/// Most groups one candidate may have (`+33 (0)1 23 45 67 89` has 7).
const MAX_WINDOW: usize = 8;

/// One digit group of a run.
#[derive(Clone, Copy)]
struct Group {
    /// Start of the group (at `(` when parenthesised).
    start: usize,
    /// End of the group (after `)` when parenthesised).
    end: usize,
    /// Digits in it.
    len: usize,
    paren: bool,
    /// The separator before it (`0` for the first group or none after a `)`).
    sep: u8,
}

/// Finds phone numbers in `b` (see the module documentation for the rules).
pub(in crate::redact) fn find_phones(b: &[u8], rule: usize, hits: &mut Vec<Hit>) {
    let mut groups: Vec<Group> = Vec::new();
    let mut i = 0;
    while let Some(k) = first_digit(&b[i..]) {
        let p = i + k;
        let intl = p >= 1 && b[p - 1] == b'+';
        let start = if intl { p - 1 } else { p };
        groups.clear();
        let mut end = parse_run(b, p, intl, &mut groups);
        // A `(` before the first digits makes them an area code when it closes.
        if !intl && p >= 1 && b[p - 1] == b'(' {
            let mut paren = Vec::new();
            let e = parse_run(b, p - 1, false, &mut paren);
            if paren.first().is_some_and(|g| g.paren) {
                groups = paren;
                end = e;
            }
        }
        let run_start = groups.first().map_or(start, |g| g.start.min(start));
        if left_ok(b, run_start) {
            find_in_run(b, run_start, intl, &groups, end, rule, hits);
        }
        i = end.max(p + 1);
    }
}

/// Parses the run whose first group starts at `at` (a digit, or a `(` then digits): its
/// groups into `groups`; returns the end of the run.
fn parse_run(b: &[u8], at: usize, intl: bool, groups: &mut Vec<Group>) -> usize {
    let n = b.len();
    let mut j = at;
    let mut sep = 0u8;
    loop {
        // Parentheses: first group (national), after a leading `1` (national) or after the
        // country code (international); only once.
        let paren_here = j < n
            && b[j] == b'('
            && !groups.iter().any(|g| g.paren)
            && match groups.len() {
                0 => !intl,
                1 => intl || (groups[0].len == 1 && b[groups[0].start] == b'1'),
                _ => false,
            };
        let (g, digits_from) = if paren_here { (j, j + 1) } else { (j, j) };
        let mut k = digits_from;
        while k < n && b[k].is_ascii_digit() {
            k += 1;
        }
        let len = k - digits_from;
        if len == 0 || (paren_here && b.get(k) != Some(&b')')) {
            // Not a group: the run ends before it (`j` is past a separator, or at `at`).
            return groups.last().map_or(at, |g| g.end);
        }
        let end = if paren_here { k + 1 } else { k };
        groups.push(Group {
            start: g,
            end,
            len,
            paren: paren_here,
            sep,
        });
        // What may follow: a single separator then a digit (or a `(` after a space), or, after
        // a `)` or the country code, a digit or `(` directly.
        let next = b.get(end).copied();
        let after = b.get(end + 1).copied();
        let opens = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_digit() || c == b'(');
        match next {
            Some(c @ (b' ' | b'-' | b'.')) if opens(after) => {
                sep = c;
                j = end + 1;
            }
            Some(c) if paren_here && c.is_ascii_digit() => {
                sep = 0;
                j = end;
            }
            Some(b'(') if intl && groups.len() == 1 => {
                sep = 0;
                j = end;
            }
            _ => return end,
        }
    }
}

/// Whether a run may start at `start`: not glued to a word, a number or a path on its left.
fn left_ok(b: &[u8], start: usize) -> bool {
    let Some(&c) = start.checked_sub(1).and_then(|i| b.get(i)) else {
        return true;
    };
    let before_digit = start >= 2 && b[start - 2].is_ascii_digit();
    match c {
        b',' | b':' => !before_digit,
        b'"' | b'\'' | b'(' | b'[' | b'{' | b'<' | b'>' | b'=' | b';' | b'|' | b'*' => true,
        c if c.is_ascii_whitespace() => true,
        c => !c.is_ascii(),
    }
}

/// Whether a candidate may end at `end`: not glued to a word or a number on its right.
fn right_ok(b: &[u8], end: usize) -> bool {
    let Some(&c) = b.get(end) else {
        return true;
    };
    if c.is_ascii_alphanumeric() || c == b'_' || c == b'@' {
        return false;
    }
    let digit_after = b.get(end + 1).is_some_and(u8::is_ascii_digit);
    !(matches!(c, b'.' | b',' | b':' | b'/' | b'-' | b'+') && digit_after)
}

/// Phones among the windows of one run, left to right, longest first.
fn find_in_run(
    b: &[u8],
    run_start: usize,
    intl: bool,
    groups: &[Group],
    end: usize,
    rule: usize,
    hits: &mut Vec<Hit>,
) {
    let m = groups.len();
    let run_end_ok = right_ok(b, end);
    let mut s = 0;
    while s < m {
        if s > 0 && groups[s].sep != b' ' {
            s += 1;
            continue;
        }
        let last = (s + MAX_WINDOW).min(m) - 1;
        let found = (s..=last).rev().find(|&e| {
            let cut_ok = if e + 1 == m {
                run_end_ok
            } else {
                groups[e + 1].sep == b' '
            };
            cut_ok && is_phone(b, &groups[s..=e], intl && s == 0)
        });
        match found {
            Some(e) => {
                let start = if s == 0 { run_start } else { groups[s].start };
                hits.push(Hit {
                    start,
                    end: groups[e].end,
                    rule,
                });
                s = e + 1;
            }
            None => s += 1,
        }
    }
}

/// Whether the groups `w` (a window of a run) have one of the shapes of a phone number.
fn is_phone(b: &[u8], w: &[Group], intl: bool) -> bool {
    let total: usize = w.iter().map(|g| g.len).sum();
    let seps = || w.iter().skip(1).map(|g| g.sep).filter(|&c| c != 0);
    // Dots never mix with other separators.
    let dotted = seps().any(|c| c == b'.');
    if dotted && seps().any(|c| c != b'.') {
        return false;
    }
    let first_digit = |g: &Group| b[if g.paren { g.start + 1 } else { g.start }];
    if intl {
        if !(7..=15).contains(&total) || first_digit(&w[0]) == b'0' {
            return false;
        }
        if w.len() == 1 {
            return true;
        }
        let rest = &w[1..];
        let ones = rest.iter().filter(|g| g.len == 1 && !g.paren).count();
        return (1..=3).contains(&w[0].len)
            && rest.iter().all(|g| g.len <= 8)
            && ones <= 1
            && rest.last().is_some_and(|g| g.len >= 2)
            && (!dotted || w.len() >= 3);
    }
    if w.len() < 2 || !(9..=12).contains(&total) {
        return false;
    }
    // A leading `1` (North American long distance) before the area code.
    let lead_one = w[0].len == 1 && first_digit(&w[0]) == b'1' && !w[0].paren;
    let body = if lead_one { &w[1..] } else { w };
    let lens = || body.iter().map(|g| g.len);
    let one_sep = || {
        let mut s = seps();
        let first = s.next();
        s.all(|c| Some(c) == first)
    };
    // Parenthesised area code.
    if body[0].paren {
        // Area codes of 4–5 digits carry the trunk 0 (`(0161)`), so `(2019) 2020-2021` is no
        // phone.
        let area_ok = match body[0].len {
            2 | 3 => true,
            4 | 5 => first_digit(&body[0]) == b'0',
            _ => false,
        };
        return area_ok
            && body.len() >= 2
            && body[1..].iter().all(|g| (2..=8).contains(&g.len))
            && !dotted;
    }
    if body.iter().any(|g| g.paren) {
        return false;
    }
    // North American 3-3-4.
    if lens().eq([3, 3, 4]) && (b'2'..=b'9').contains(&first_digit(&body[0])) && one_sep() {
        return true;
    }
    if lead_one {
        return false;
    }
    // Trunk prefix 0.
    let pairs = lens().all(|l| l == 2);
    first_digit(&body[0]) == b'0'
        && b[body[0].start..body[0].end].iter().any(|&c| c != b'0')
        && (2..=5).contains(&body[0].len)
        && (2..=5).contains(&body.len())
        && body[1..].iter().all(|g| (2..=8).contains(&g.len))
        && one_sep()
        && (!pairs || body.len() == 5)
        && (!dotted || pairs)
}
