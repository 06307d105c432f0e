//! Redaction of secrets and personal data from the audit copy of MCP messages (key rules,
//! built-in value detectors, custom patterns). Pure: no I/O, and it never logs or returns a
//! secret: reports carry only rule ids, RFC 6901 JSON pointers and counts.
//!
//! # Layout
//! `config` (settings, validation, building a [`Redactor`]), `keys` (key rules),
//! `text` (the string engine: find, merge, replace, re-scan), `detect::{patterns, digits,
//! iban, phone}` (the value detector families), `walk` (the tree walker), `fast` (the byte-level
//! fast path), `unique` (the strict parse: no duplicate member), `tolerant` (the scan of text
//! that is not one JSON tree), `copy` (the audit copy as the proxy stores it, and single
//! fields) and `spans` (that copy with the spans a record needs in it).
//!
//! # What is redacted
//! The redactor walks a parsed [`serde_json::Value`], so JSON escapes (`\u0041KIA…`) cannot hide
//! a secret: detectors see the decoded text. [`Redactor::audit_copy`] fails closed: a message
//! that is not one JSON value by a strict reading (invalid UTF-8, a lone surrogate escape such
//! as half an emoji, nesting deeper than serde_json's limit, a **duplicate member** anywhere,
//! since `Value` keeps only the last copy) is scanned as text instead: every string decoded
//! leniently and scanned by every detector, key rules applied to quoted keys with the value
//! masked in place (every copy of a duplicated member), then the whole text once more. Such a
//! copy is labelled `redacted` or `scanned`, never `clean`; for text cut short the last word
//! goes too (`[REDACTED:truncated]`).
//!
//! - **Key rules** ([`RedactConfig::keys`]): the whole value of an object member whose key
//!   names a sensitive field is replaced, whatever its JSON type (`null` and objects too), by
//!   the string `"[REDACTED:key]"`. Matching is by *whole words*: the key is split into words
//!   at every ASCII character that is not a letter or digit (`_`, `-`, `.`, space, …), at
//!   camelCase humps (`apiKey`, `APIKey`) and between letters and digits (`password2`),
//!   case-folded, and a rule matches when its letters and digits equal one or more
//!   *consecutive* words (so `api_key` and `apikey` are the same rule). `auth_token`,
//!   `X-Api-Key`, `apiKey`, `client_secret`, `db_password`, `Set-Cookie`, `token_count` and
//!   MCP's `progressToken` are redacted; `tokens_used`, `max_tokens`, `tokenizer`, `cookies`
//!   and `passwords` are not (a plural is another word; detectors still scan those values).
//! - **Detectors** ([`BUILTIN_DETECTORS`] plus [`RedactConfig::custom`]): each match inside a
//!   string is replaced by `[REDACTED:<rule id>]`, keeping the surrounding text; overlapping
//!   matches merge into one marker named by the earlier rule in priority order (PEM, JWT,
//!   AWS access key, AWS secret key, GitHub, Slack, Anthropic, OpenAI, Google API key, IBAN,
//!   card, URI password, e-mail, HTTP Basic, bearer, phone, then custom rules), so
//!   `Bearer <jwt>` becomes `Bearer [REDACTED:jwt]`. Object *keys* are scanned too (a map
//!   keyed by e-mail address would otherwise leak it): a key with a match is renamed to its
//!   redacted text (with ` #2`, ` #3`, … appended if that name is taken). A JSON *number* that
//!   is a valid card number (see below) becomes the string `"[REDACTED:card_number]"`.
//! - Not covered: key rules inside JSON text carried in a string (a tool result's `text` that
//!   is itself JSON gets the detectors, not the key rules), and encoded (base64,
//!   percent-encoded) secrets.
//! - Key rules also apply to URI query parameters inside strings (`?access_token=…&pin=…`):
//!   after a `?`, a name following `?`, `&` or `;`; the value (to whitespace, a quote, `&`,
//!   `;`, `,`, `#`, `<` or `>`) becomes `[REDACTED:key]`, reported as rule `key`. Not to
//!   `NAME=value` lines (env files, libpq keyword DSNs): those get the detectors only, so a
//!   string with many `=` and no `?` (logs) costs no more than before.
//!
//! # False-positive decisions
//! - `card_number`: 13–19 digits, either one unbroken run or groups of 3–6 digits separated
//!   by single spaces or dashes; not glued to a letter or digit (so hex hashes and long digit
//!   runs are not split into candidates) nor preceded by `<digit>.` (decimals); **Luhn**-valid;
//!   and in an issuer range: first digit 2–6 (a leading 2 must be the 2221–2720 Mastercard
//!   range), 13 digits only for a leading 4. So millisecond and nanosecond timestamps (leading
//!   1), UUIDs, dates and 9 in 10 random 16-digit ids are left alone. Known misses: RuPay
//!   cards starting with 8, UATP cards starting with 1.
//! - `iban`: uppercase, starting a word, `CC` + check digits 02–98 + BBAN of capitals and
//!   digits (a single space allowed after every fourth character); the country must be in the
//!   IBAN registry and the length exactly the registry's, and the whole must pass
//!   **ISO 7064 mod-97**. Lowercase IBANs are not detected.
//! - `email`: ASCII `local@domain.tld` with an alphabetic TLD, so `pkg@1.2.3` and `@scope/x`
//!   are not matched; `icon@2x.png` is (a file-name false positive we accept: over-redaction
//!   is the safe side).
//! - `phone`: numbers written the way phone numbers are written, never a bare digit run: `+`
//!   and a country code (1–3 digits) then 7–15 digits in all, unbroken or in groups joined by
//!   single spaces, dots or hyphens, one group maybe parenthesised (`+1 (555) 010-0199`,
//!   `+44 (0)20 7946 0958`); or a national form with separators, 9–12 digits: a parenthesised
//!   area code (`(555) 010-0199`), North American 3-3-4 with one kind of separator and the
//!   area code starting 2–9 (`555-010-0199`, `555.010.0199`, `1-800-555-0199`), or a trunk
//!   `0` first group (`020 7946 0958`, `03-1234-5678`, `06 12 34 56 78`). Not glued to a
//!   letter, digit, `_`, `.`, `-`, `/` or `+` (a run glued on its left is skipped whole), nor
//!   followed by one of `.,:/-+` and a digit. So ISO dates and times, IPv4 addresses,
//!   versions, UUIDs, integers, decimals, hex, unix timestamps, thousands-grouped amounts and
//!   card numbers are left alone. Known misses: extensions glued on (`…0199x12`), 7-digit
//!   local numbers (`555-0199`), vanity letters. Rules in `detect/phone.rs`.
//! - `bearer`: `Bearer`, `bearer` or `BEARER` starting a word, then spaces (or `%20`) and at
//!   least 16 token68 characters; only the token is replaced (the scheme word survives), so
//!   prose ("the bearer of…") is not touched.
//! - `openai_key`: `sk-` must start a word and be followed by 32+ letters/digits (legacy keys)
//!   or by `proj-`/`svcacct-`/`admin-` and 20+ characters; kebab-case words like
//!   `sk-learn-pipeline` are not keys.
//! - `aws_secret_key`: exactly 40 base64 characters, only right after an AWS secret key's
//!   name (`aws_secret_access_key = `, `"SecretAccessKey": "`) or an access key id
//!   (`AKIA…,<secret>`); alone, such strings (hashes) are too common.
//! - `uri_password`: `scheme://user:password@`; only the password goes. The user part stops
//!   at `/` (so `http://host:8080/a@b` is left alone); when the host looks like an e-mail
//!   domain the e-mail match merges in and the host goes too.
//! - `basic_auth`: `Basic` then a base64 token that decodes to printable text with a `:`;
//!   `Basic usage` is prose. `anthropic_key`: `sk-ant-` and 20+ characters, starting a word.
//!   `google_api_key`: `AIza` and exactly 35 characters.
//! - `aws_access_key`, `github_token`, `slack_token`, `jwt` need no word boundary: their
//!   prefixes (`AKIA`/`ASIA`, `ghp_`…/`github_pat_`, `xoxb-`…, `eyJ`) are rare enough, and
//!   `token_ghp_…` must still be caught.
//!
//! # Idempotence
//! Text inside an existing `[REDACTED:<id>]` marker is never matched again, each string is
//! re-scanned after replacement until nothing matches (so a replacement can never expose a new
//! match, e.g. a card number that was glued to an e-mail address), and a value that already is
//! `"[REDACTED:key]"` is not reported again: redacting twice changes nothing more and the
//! second call returns no redactions. [`Redactor::scan`] reports exactly what
//! [`Redactor::redact`] would do, in the same order, without changing the value.
//!
//! # Cost
//! Strings shorter than 6 bytes skip the built-in detectors. Otherwise a clean string pays
//! for a literal prefilter (up to 64 bytes a byte loop; longer, memchr for `@` and one
//! SIMD-accelerated literal-set regex of the detectors' fixed prefixes, e.g. `eyJ`, `AKIA`,
//! `-----BEGIN`, `://`), one hand-written pass from digit run to digit run (card numbers and
//! IBANs) and another for phone numbers (a bounded number of candidate windows per run of digit
//! groups); a detector's own regex runs only when the prefilter finds one of its own literals. Object keys pay the same
//! plus a word split without allocation (keys under 128 bytes). Recursion depth is that of the
//! value (serde_json's parser limits it to 128).

mod config;
mod copy;
mod detect;
mod fast;
mod keys;
mod spans;
#[cfg(test)]
mod tests;
mod text;
mod tolerant;
mod unique;
mod walk;

use regex::{Regex, RegexSet};
use serde::Serialize;
use serde_json::Value;

pub use config::{BUILTIN_DETECTORS, CustomRule, DEFAULT_KEYS, RedactConfig, RedactError};
pub use copy::AuditCopy;
use keys::KeyMatcher;
pub use spans::{CopySpans, SpannedCopy};
use text::Rule;

/// The rule id reported, and written into the marker `[REDACTED:key]`, for key rules.
pub const KEY_RULE: &str = "key";

/// The value that replaces the value of a member whose key matches a key rule.
pub const KEY_MARKER: &str = "[REDACTED:key]";

pub(super) const MARKER_OPEN: &str = "[REDACTED:";

/// One redaction (or, from [`Redactor::scan`], one detection). Holds no secret material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Redaction {
    /// Rule id: [`KEY_RULE`], a built-in detector id, or a custom rule id.
    pub rule: String,
    /// RFC 6901 JSON pointer of the redacted value in the redacted document (`""` is the
    /// root). For a renamed object key it points at the member under its new name.
    pub pointer: String,
    /// Matches of this rule replaced in that value (1 for a key rule).
    pub count: u32,
}

/// Redacts secrets and personal data from JSON values. Cheap to share across threads.
#[derive(Debug, Clone)]
pub struct Redactor {
    /// Rule ids that refuse a client request instead of only redacting it.
    block: Vec<String>,
    /// Exact keys key rules never redact.
    allow_keys: Vec<String>,
    keys: KeyMatcher,
    /// All value rules in priority order (built-ins, then custom rules).
    rules: Vec<Rule>,
    /// Literal prefilter for the regex built-ins (except `@`, found with memchr).
    anchor: Option<Regex>,
    /// The literals of `anchor`, with the bits of the detectors each stands for.
    literals: Vec<(String, u32)>,
    /// The regex built-ins (rule index and bit), each run when the prefilter finds its bit.
    anchored: Vec<(usize, u32)>,
    card: Option<usize>,
    iban: Option<usize>,
    phone: Option<usize>,
    custom_set: Option<RegexSet>,
    /// Rule index of each pattern of `custom_set`.
    custom: Vec<usize>,
    /// The rule (id `key`, last) applying key rules to `name=value` pairs inside strings.
    pairs: Option<usize>,
}

impl Default for Redactor {
    /// The built-in rules ([`RedactConfig::default`]).
    fn default() -> Self {
        // The built-in patterns are constants covered by the unit tests.
        #[allow(clippy::expect_used)]
        Self::new(&RedactConfig::default()).expect("built-in redaction rules compile")
    }
}

impl Redactor {
    /// Ids of the enabled value detectors (built-in, then custom), in priority order.
    pub fn detector_ids(&self) -> impl Iterator<Item = &str> {
        self.rules
            .iter()
            .filter(|r| !matches!(r.matcher, text::Matcher::Pairs))
            .map(|r| r.id.as_str())
    }

    /// Redacts `value` in place and reports what was replaced, in document order.
    pub fn redact(&self, value: &mut Value) -> Vec<Redaction> {
        let mut out = Vec::new();
        let mut pointer = String::new();
        self.walk_mut(value, &mut pointer, &mut out);
        out
    }

    /// The `block_on_detect` rules among `found` (the findings in one message), for findings
    /// under `within` (a JSON pointer prefix such as `/params`). A finding at `""` is inside
    /// every scope: in a message, that is a finding of the text scan whose place is unknown
    /// (a message is never a bare string), so it fails closed.
    pub fn blocking(&self, found: &[Redaction], within: &str) -> Vec<String> {
        let mut rules: Vec<String> = found
            .iter()
            .filter(|r| {
                (r.pointer.is_empty() || r.pointer.starts_with(within))
                    && self.block.contains(&r.rule)
            })
            .map(|r| r.rule.clone())
            .collect();
        rules.dedup();
        rules
    }

    /// Reports what [`Redactor::redact`] would replace, without changing anything: it redacts
    /// a copy, so the two can never disagree.
    pub fn scan(&self, value: &Value) -> Vec<Redaction> {
        self.redact(&mut value.clone())
    }

    /// Whether a key rule redacts the value under `key`.
    pub(super) fn key_rule(&self, key: &str) -> bool {
        !self.allow_keys.iter().any(|k| k == key) && self.keys.matches(key)
    }
}
