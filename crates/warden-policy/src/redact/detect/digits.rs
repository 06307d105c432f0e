//! Card numbers (digit groups, Luhn, issuer ranges) and the digit-run scan that also finds
//! IBAN candidates: one pass from digit run to digit run.

use super::iban::parse_iban;
use crate::redact::text::Hit;

/// Finds card numbers and IBANs (see the module documentation for the rules).
pub(in crate::redact) fn find_digit_secrets(
    b: &[u8],
    card: Option<usize>,
    iban: Option<usize>,
    hits: &mut Vec<Hit>,
) {
    let n = b.len();
    let mut i = 0;
    while let Some(k) = first_digit(&b[i..]) {
        let p = i + k;
        let mut j = p;
        while j < n && b[j].is_ascii_digit() {
            j += 1;
        }
        // IBAN: word start, two capitals, then the two check digits at `p`.
        if let Some(rule) = iban
            && j - p >= 2
            && p >= 2
            && b[p - 1].is_ascii_uppercase()
            && b[p - 2].is_ascii_uppercase()
            && (p == 2 || !b[p - 3].is_ascii_alphanumeric())
            && let Some(end) = parse_iban(b, p - 2)
        {
            hits.push(Hit {
                start: p - 2,
                end,
                rule,
            });
            i = end;
            continue;
        }
        // Extend over single spaces or dashes between digit groups.
        let mut total = j - p;
        while j + 1 < n && (b[j] == b' ' || b[j] == b'-') && b[j + 1].is_ascii_digit() {
            let g = j + 1;
            j = g;
            while j < n && b[j].is_ascii_digit() {
                j += 1;
            }
            total += j - g;
        }
        if let Some(rule) = card
            && total >= 13
        {
            find_cards_in_run(b, p, j, rule, hits);
        }
        i = j;
    }
}

/// The position of the first ASCII digit in `b`. Text is mostly not digits: it is tested 32
/// bytes at a time with a branch-free test the compiler turns into SIMD compares, and only the
/// block holding a digit is searched byte by byte.
pub(in crate::redact) fn first_digit(b: &[u8]) -> Option<usize> {
    const BLOCK: usize = 32;
    let mut blocks = b.chunks_exact(BLOCK);
    let mut at = 0;
    for block in blocks.by_ref() {
        if let Ok(block) = <&[u8; BLOCK]>::try_from(block)
            && block
                .iter()
                .fold(false, |any, c| any | (c.wrapping_sub(b'0') < 10))
        {
            return block.iter().position(u8::is_ascii_digit).map(|p| at + p);
        }
        at += BLOCK;
    }
    let rest = blocks.remainder();
    rest.iter().position(u8::is_ascii_digit).map(|p| at + p)
}

/// Card numbers in the run `b[start..end]` of digit groups joined by single separators.
fn find_cards_in_run(b: &[u8], start: usize, end: usize, rule: usize, hits: &mut Vec<Hit>) {
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut j = start;
    while j < end {
        let g = j;
        while j < end && b[j].is_ascii_digit() {
            j += 1;
        }
        groups.push((g, j));
        j += 1; // the separator
    }
    let left_ok = start == 0
        || !(b[start - 1].is_ascii_alphanumeric()
            || (b[start - 1] == b'.' && start >= 2 && b[start - 2].is_ascii_digit()));
    let right_ok = end == b.len() || !b[end].is_ascii_alphanumeric();
    let mut g = usize::from(!left_ok);
    while g < groups.len() {
        let mut best = None;
        let mut digits = [0u8; 19];
        let mut len = 0;
        for e in g..groups.len() {
            let (gs, ge) = groups[e];
            let glen = ge - gs;
            // Several groups: each of 3-6 digits (4-4-4-4, 4-6-5, 4-6-4, ...).
            if e > g && !((3..=6).contains(&glen) && (3..=6).contains(&(groups[g].1 - groups[g].0)))
            {
                break;
            }
            if len + glen > digits.len() {
                break;
            }
            for (k, &c) in b[gs..ge].iter().enumerate() {
                digits[len + k] = c - b'0';
            }
            len += glen;
            if e + 1 == groups.len() && !right_ok {
                break;
            }
            if len >= 13 && valid_card(&digits[..len]) {
                best = Some(e);
            }
        }
        match best {
            Some(e) => {
                hits.push(Hit {
                    start: groups[g].0,
                    end: groups[e].1,
                    rule,
                });
                g = e + 1;
            }
            None => g += 1,
        }
    }
}

/// Issuer range and Luhn check of 13–19 digits (values 0–9).
pub(in crate::redact) fn valid_card(d: &[u8]) -> bool {
    if !(13..=19).contains(&d.len()) {
        return false;
    }
    let issuer_ok = match d[0] {
        2 => {
            let prefix = u32::from(d[0]) * 1000
                + u32::from(d[1]) * 100
                + u32::from(d[2]) * 10
                + u32::from(d[3]);
            (2221..=2720).contains(&prefix)
        }
        3 | 5 | 6 => d.len() >= 14,
        4 => true,
        _ => false,
    };
    issuer_ok && luhn(d)
}

pub(in crate::redact) fn luhn(d: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &x) in d.iter().rev().enumerate() {
        let x = u32::from(x);
        sum += if i % 2 == 1 {
            let y = x * 2;
            if y > 9 { y - 9 } else { y }
        } else {
            x
        };
    }
    sum.is_multiple_of(10)
}
