//! The fast path: deciding on a message's bytes, without building a tree, that redaction would
//! change nothing in it (most messages).

use super::Redactor;

impl Redactor {
    /// Whether redacting the JSON text `raw` could change anything, decided without building
    /// a value tree. `false` means no key rule and no value rule matches any key, string or
    /// number in it, so the text can be stored as it is.
    ///
    /// Exact, not a guess: when the text has no backslash, each string's bytes between its
    /// quotes are its decoded value, so every key and string is checked with the same matchers
    /// [`Redactor::redact`] uses. Any backslash (an escape could hide or change characters),
    /// invalid UTF-8, an unterminated string, or a bare number long enough to be a card number
    /// answers `true`, and the caller builds the tree.
    pub fn may_redact(&self, raw: &[u8]) -> bool {
        let Ok(text) = std::str::from_utf8(raw) else {
            return true;
        };
        if memchr::memchr(b'\\', raw).is_some() {
            return true;
        }
        let long_number = |b: &[u8]| {
            let mut run = 0;
            b.iter().any(|c| {
                run = if c.is_ascii_digit() { run + 1 } else { 0 };
                run >= 12
            })
        };
        // Quotes are found with SIMD (memchr): a large string costs a few cycles per 32 bytes.
        let quote = |from: usize| memchr::memchr(b'"', &raw[from..]).map(|p| p + from);
        let mut hits = Vec::new();
        let mut i = 0;
        while let Some(open) = quote(i) {
            if self.card.is_some() && long_number(&raw[i..open]) {
                return true;
            }
            let Some(close) = quote(open + 1) else {
                return true;
            };
            // Quotes are ASCII, so these are character boundaries.
            let s = &text[open + 1..close];
            let is_key = raw[close + 1..].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b':');
            if is_key && self.key_rule(s) {
                return true;
            }
            self.find_hits(s, &mut hits);
            if !hits.is_empty() {
                return true;
            }
            i = close + 1;
        }
        self.card.is_some() && long_number(&raw[i..])
    }
}
