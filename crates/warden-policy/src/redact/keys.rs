//! Key rules: whole-word matching of object keys (`db_password`, `apiKey`, `X-Api-Key`) against
//! the configured sensitive words, without allocating for keys under 128 bytes.

/// Whole-word matching of object keys against the key rules.
#[derive(Debug, Clone)]
pub(super) struct KeyMatcher {
    /// Normalized rules (lowercase letters and digits only), sorted.
    rules: Vec<Vec<u8>>,
    /// `rules[lo..hi]` start with byte `b`, for `(lo, hi) = first[b]`.
    first: Vec<(usize, usize)>,
    /// Length of the shortest rule.
    min_len: usize,
}

impl KeyMatcher {
    pub(super) fn new(mut rules: Vec<Vec<u8>>) -> Self {
        rules.sort();
        rules.dedup();
        let mut first = vec![(0, 0); 256];
        for (i, r) in rules.iter().enumerate() {
            let slot = &mut first[usize::from(r[0])];
            if slot.1 == 0 {
                *slot = (i, i + 1);
            } else {
                slot.1 = i + 1;
            }
        }
        let min_len = rules.iter().map(Vec::len).min().unwrap_or(usize::MAX);
        Self {
            rules,
            first,
            min_len,
        }
    }

    pub(super) fn matches(&self, key: &str) -> bool {
        let key = key.as_bytes();
        if key.len() < self.min_len {
            return false;
        }
        if key.len() < 128 {
            let mut buf = [0u8; 128];
            let mut bounds: u128 = 0;
            let n = split_words(key, &mut buf, |i| bounds |= 1 << i);
            let mut starts = bounds & !(1 << n);
            while starts != 0 {
                let a = starts.trailing_zeros() as usize;
                starts &= starts - 1;
                if self.match_at(&buf[..n], a, |e| bounds >> e & 1 == 1) {
                    return true;
                }
            }
            false
        } else {
            let mut buf = vec![0u8; key.len()];
            let mut bounds = vec![false; key.len() + 1];
            let n = split_words(key, &mut buf, |i| bounds[i] = true);
            (0..n).any(|a| bounds[a] && self.match_at(&buf[..n], a, |e| bounds[e]))
        }
    }

    /// Whether a rule spans `words[a..e]` for some word boundary `e`.
    fn match_at(&self, words: &[u8], a: usize, is_bound: impl Fn(usize) -> bool) -> bool {
        let (lo, hi) = self.first[usize::from(words[a])];
        self.rules[lo..hi].iter().any(|rule| {
            let e = a + rule.len();
            e <= words.len() && is_bound(e) && words[a..e] == rule[..]
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CharClass {
    Sep,
    Lower,
    Upper,
    Digit,
    /// Non-ASCII bytes: part of a word, caseless.
    Other,
}

fn class(c: u8) -> CharClass {
    match c {
        b'a'..=b'z' => CharClass::Lower,
        b'A'..=b'Z' => CharClass::Upper,
        b'0'..=b'9' => CharClass::Digit,
        0x80..=0xff => CharClass::Other,
        _ => CharClass::Sep,
    }
}

/// Writes the key's word characters, lowercased, to `buf` (at least `key.len()` long) and
/// calls `mark` with every word boundary as an offset into `buf`, including 0 and the end;
/// returns the length written.
fn split_words(key: &[u8], buf: &mut [u8], mut mark: impl FnMut(usize)) -> usize {
    use CharClass::{Digit, Lower, Other, Sep, Upper};
    let mut n = 0;
    let mut prev = Sep;
    for (i, &c) in key.iter().enumerate() {
        let cls = class(c);
        let boundary = match (prev, cls) {
            (_, Sep) => {
                prev = Sep;
                continue;
            }
            (Sep, _) | (Lower | Other, Upper) => true,
            (Digit, Lower | Upper | Other) | (Lower | Upper | Other, Digit) => true,
            // `APIKey`: a capital followed by a lowercase letter starts a word.
            (Upper, Upper) => key.get(i + 1).is_some_and(u8::is_ascii_lowercase),
            _ => false,
        };
        if boundary {
            mark(n);
        }
        buf[n] = c.to_ascii_lowercase();
        n += 1;
        prev = cls;
    }
    mark(0);
    mark(n);
    n
}

/// A key rule's letters and digits, lowercased (`X-Api-Key` → `xapikey`).
pub(super) fn normalize_rule_key(rule: &str) -> Vec<u8> {
    rule.bytes()
        .filter(|c| class(*c) != CharClass::Sep)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}
