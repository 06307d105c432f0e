//! Redaction of secrets and personal data from the audit copy of MCP messages (key rules,
//! built-in value detectors, custom patterns). Pure: no I/O, and it never logs or returns a
//! secret: reports carry only rule ids, RFC 6901 JSON pointers and counts.
//!
//! # What is redacted
//! The redactor walks a parsed [`serde_json::Value`], so JSON escapes (`\u0041KIA…`) cannot hide
//! a secret: detectors see the decoded text.
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
//!   AWS, GitHub, Slack, OpenAI, IBAN, card, e-mail, bearer, then custom rules), so
//!   `Bearer <jwt>` becomes `Bearer [REDACTED:jwt]`. Object *keys* are scanned too (a map
//!   keyed by e-mail address would otherwise leak it): a key with a match is renamed to its
//!   redacted text (with ` #2`, ` #3`, … appended if that name is taken). A JSON *number* that
//!   is a valid card number (see below) becomes the string `"[REDACTED:card_number]"`.
//! - Not covered: key rules inside JSON text carried in a string (a tool result's `text` that
//!   is itself JSON gets the detectors, not the key rules), and encoded (base64,
//!   percent-encoded) secrets.
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
//! - `bearer`: `Bearer`, `bearer` or `BEARER` starting a word, then spaces (or `%20`) and at
//!   least 16 token68 characters; only the token is replaced (the scheme word survives), so
//!   prose ("the bearer of…") is not touched.
//! - `openai_key`: `sk-` must start a word and be followed by 32+ letters/digits (legacy keys)
//!   or by `proj-`/`svcacct-`/`admin-` and 20+ characters; kebab-case words like
//!   `sk-learn-pipeline` are not keys.
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
//! `-----BEGIN`) and one hand-written pass from digit run to digit run (card numbers and
//! IBANs); a detector's own regex runs only when the prefilter hits. Object keys pay the same
//! plus a word split without allocation (keys under 128 bytes). Recursion depth is that of the
//! value (serde_json's parser limits it to 128).

use std::collections::HashSet;

use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

/// The rule id reported, and written into the marker `[REDACTED:key]`, for key rules.
pub const KEY_RULE: &str = "key";

/// The value that replaces the value of a member whose key matches a key rule.
pub const KEY_MARKER: &str = "[REDACTED:key]";

const MARKER_OPEN: &str = "[REDACTED:";

/// The default key rules (see the module documentation for how keys are matched).
pub const DEFAULT_KEYS: &[&str] = &[
    "password",
    "passwd",
    "token",
    "secret",
    "api_key",
    "apikey",
    "authorization",
    "cookie",
    "set-cookie",
    "private_key",
    "ssn",
    "credit_card",
    "access_token",
    "refresh_token",
    "client_secret",
];

/// Ids of the built-in value detectors, all enabled by default.
pub const BUILTIN_DETECTORS: &[&str] = &[
    "aws_access_key",
    "github_token",
    "slack_token",
    "openai_key",
    "jwt",
    "pem_private_key",
    "bearer",
    "card_number",
    "email",
    "iban",
];

/// Shortest string any built-in detector can match (`a@b.co`).
const MIN_BUILTIN_LEN: usize = 6;
/// Strings up to this length use [`quick_anchor`] instead of the literal-set regex.
const SHORT: usize = 64;
/// Re-scans of one string after replacement before falling back to replacing all of it.
const MAX_PASSES: usize = 8;
/// Longest id accepted for a custom rule.
const MAX_ID_LEN: usize = 64;

/// Redaction settings, as written in the policy file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedactConfig {
    /// Object keys whose values are always redacted, matched by whole words, ignoring case
    /// and separators. Replaces the defaults ([`DEFAULT_KEYS`]) when given.
    pub keys: Vec<String>,
    /// Built-in detectors to enable (ids from [`BUILTIN_DETECTORS`]; default: all).
    pub detectors: Vec<String>,
    /// Extra detectors.
    pub custom: Vec<CustomRule>,
    /// Rules to turn off: detector ids, custom rule ids, or entries of `keys`.
    pub disabled: Vec<String>,
    /// Rule ids (detectors, custom rules, or `key`) whose finding in a client request's
    /// arguments refuses the call instead of only redacting the record.
    pub block_on_detect: Vec<String>,
    /// Exact object keys never redacted by key rules, because they are protocol fields
    /// rather than secrets (default: MCP's `progressToken`). Value detectors still apply.
    pub allow_keys: Vec<String>,
    /// Mask values in the results sent to the client too (not only in the audit copy).
    pub scan_response: bool,
    /// What to mask on the wire: detector ids (`email`) or key words (`phone`).
    pub mask_fields: Vec<String>,
}

impl RedactConfig {
    /// The rules for masking results on the wire (`scan_response` with `mask_fields`), if any.
    pub fn wire(&self) -> Option<RedactConfig> {
        if !self.scan_response || self.mask_fields.is_empty() {
            return None;
        }
        let (detectors, keys): (Vec<String>, Vec<String>) = self
            .mask_fields
            .iter()
            .cloned()
            .partition(|f| BUILTIN_DETECTORS.contains(&f.as_str()));
        Some(RedactConfig {
            keys,
            detectors,
            ..RedactConfig::empty()
        })
    }

    /// No rules at all.
    fn empty() -> RedactConfig {
        RedactConfig {
            keys: Vec::new(),
            detectors: Vec::new(),
            custom: Vec::new(),
            disabled: Vec::new(),
            block_on_detect: Vec::new(),
            allow_keys: Vec::new(),
            scan_response: false,
            mask_fields: Vec::new(),
        }
    }
}

impl Default for RedactConfig {
    fn default() -> Self {
        Self {
            keys: DEFAULT_KEYS.iter().map(|k| (*k).to_owned()).collect(),
            detectors: BUILTIN_DETECTORS.iter().map(|d| (*d).to_owned()).collect(),
            custom: Vec::new(),
            disabled: Vec::new(),
            block_on_detect: Vec::new(),
            allow_keys: vec!["progressToken".to_owned()],
            scan_response: false,
            mask_fields: Vec::new(),
        }
    }
}

/// A user-defined detector: every match of `pattern` (Rust `regex` syntax) inside a string is
/// replaced by `[REDACTED:<id>]`. If the pattern has a capture group named `secret`, only that
/// group is replaced (e.g. `api_key=(?P<secret>\w+)` keeps `api_key=`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomRule {
    /// Rule id: 1–64 of `a-z`, `0-9`, `_`, starting with a letter; not a built-in id or `key`.
    pub id: String,
    /// The regular expression.
    pub pattern: String,
}

/// A configuration error. Never contains message content, only configuration text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedactError {
    /// `detectors` names something that is not a built-in detector.
    #[error("unknown detector `{0}`; built-in detectors are: {list}", list = BUILTIN_DETECTORS.join(", "))]
    UnknownDetector(String),
    /// `block_on_detect` names no enabled detector, custom rule or `key`.
    #[error("`block_on_detect` entry `{0}` is not an enabled detector, a custom rule id or `key`")]
    UnknownBlock(String),
    /// `disabled` names no configured key, detector or custom rule.
    #[error("`disabled` entry `{0}` is not a configured key, a detector or a custom rule id")]
    UnknownDisabled(String),
    /// A custom rule id is malformed.
    #[error("invalid rule id `{0}`: use 1-64 of a-z, 0-9 and `_`, starting with a letter")]
    InvalidRuleId(String),
    /// A custom rule id is used twice, or is a built-in id or `key`.
    #[error(
        "rule id `{0}` is already taken (by a built-in detector, `key`, or another custom rule)"
    )]
    DuplicateRule(String),
    /// A key rule has no letters or digits.
    #[error("key rule `{0}` has no letters or digits")]
    EmptyKey(String),
    /// A custom pattern does not compile.
    #[error("custom rule `{id}`: invalid pattern: {source}")]
    InvalidPattern {
        /// The rule's id.
        id: String,
        /// The regex crate's error.
        #[source]
        source: Box<regex::Error>,
    },
}

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

#[derive(Debug, Clone)]
enum Matcher {
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
struct Rule {
    id: String,
    /// `[REDACTED:<id>]`.
    marker: String,
    matcher: Matcher,
}

struct Builtin {
    id: &'static str,
    pattern: &'static str,
    /// Literals one of which every match contains, for the prefilter; `&[]` for the
    /// hand-written digit scanners (card, IBAN).
    anchors: &'static [&'static str],
    group: bool,
}

/// Built-in detectors in priority order: when matches overlap, the earlier rule names the
/// merged span.
const BUILTINS: &[Builtin] = &[
    Builtin {
        id: "pem_private_key",
        // Up to the END line, or to the end of the text if the key is truncated.
        pattern: r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?s:.*?)(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\z)",
        anchors: &["-----BEGIN"],
        group: false,
    },
    Builtin {
        id: "jwt",
        // JWS header.payload.signature (signature may be empty), or a 5-part JWE.
        pattern: r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)?",
        anchors: &["eyJ"],
        group: false,
    },
    Builtin {
        id: "aws_access_key",
        pattern: r"(?:AKIA|ASIA)[A-Z0-9]{16}",
        anchors: &["AKIA", "ASIA"],
        group: false,
    },
    Builtin {
        id: "github_token",
        pattern: r"gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}",
        anchors: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"],
        group: false,
    },
    Builtin {
        id: "slack_token",
        pattern: r"xox[baprs]-[A-Za-z0-9-]{10,}",
        anchors: &["xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-"],
        group: false,
    },
    Builtin {
        id: "openai_key",
        pattern: r"(?-u:\b)sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}|[A-Za-z0-9]{32,})",
        anchors: &["sk-"],
        group: false,
    },
    Builtin {
        id: "iban",
        pattern: "",
        anchors: &[],
        group: false,
    },
    Builtin {
        id: "card_number",
        pattern: "",
        anchors: &[],
        group: false,
    },
    Builtin {
        id: "email",
        pattern: r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,63}",
        anchors: &["@"],
        group: false,
    },
    Builtin {
        id: "bearer",
        // `Bearer`, `bearer` or `BEARER` (what the prefilter's literals cover).
        pattern: r"(?-u:\b)(?:[Bb]earer|BEARER)(?:[ \t]+|%20)([A-Za-z0-9._~+/-]{16,}=*)",
        anchors: &["earer", "EARER"],
        group: true,
    },
];

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
    /// The regex built-ins, run when the prefilter hits.
    anchored: Vec<usize>,
    card: Option<usize>,
    iban: Option<usize>,
    custom_set: Option<RegexSet>,
    /// Rule index of each pattern of `custom_set`.
    custom: Vec<usize>,
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
    /// Builds a redactor, validating the configuration.
    ///
    /// # Errors
    /// Unknown detector or `disabled` names, malformed or duplicate custom rule ids, key rules
    /// without letters or digits, and custom patterns that do not compile.
    pub fn new(config: &RedactConfig) -> Result<Self, RedactError> {
        let is_off = |id: &str| config.disabled.iter().any(|d| d == id);
        // `disabled` entries not (yet) matched to a rule: an error if any is left.
        let mut unmatched: HashSet<&str> = config.disabled.iter().map(String::as_str).collect();

        // Key rules, minus disabled ones (a `disabled` entry matches a key by its words).
        let mut key_words = Vec::with_capacity(config.keys.len());
        for key in &config.keys {
            let norm = normalize_rule_key(key);
            if norm.is_empty() {
                return Err(RedactError::EmptyKey(key.clone()));
            }
            let mut off = false;
            for d in &config.disabled {
                if normalize_rule_key(d) == norm {
                    unmatched.remove(d.as_str());
                    off = true;
                }
            }
            if !off {
                key_words.push(norm);
            }
        }

        // Built-in detectors.
        for d in &config.detectors {
            if !BUILTIN_DETECTORS.contains(&d.as_str()) {
                return Err(RedactError::UnknownDetector(d.clone()));
            }
        }
        let mut rules = Vec::new();
        let mut anchors: Vec<String> = Vec::new();
        let mut anchored = Vec::new();
        let mut card = None;
        let mut iban = None;
        for b in BUILTINS {
            unmatched.remove(b.id);
            if is_off(b.id) || !config.detectors.iter().any(|d| d == b.id) {
                continue;
            }
            let index = rules.len();
            let matcher = match b.id {
                "card_number" => {
                    card = Some(index);
                    Matcher::Card
                }
                "iban" => {
                    iban = Some(index);
                    Matcher::Iban
                }
                _ => {
                    anchored.push(index);
                    // `@` is found with memchr, much faster than in a literal set.
                    anchors.extend(
                        b.anchors
                            .iter()
                            .filter(|a| **a != "@")
                            .map(|a| regex::escape(a)),
                    );
                    Matcher::Regex {
                        re: builtin_regex(b.pattern),
                        group: b.group.then_some(1),
                    }
                }
            };
            rules.push(Rule {
                id: b.id.to_owned(),
                marker: marker(b.id),
                matcher,
            });
        }
        // Custom rules.
        let mut custom = Vec::new();
        let mut custom_patterns = Vec::new();
        let mut ids: HashSet<&str> = BUILTIN_DETECTORS.iter().copied().collect();
        ids.insert(KEY_RULE);
        for c in &config.custom {
            if !valid_rule_id(&c.id) {
                return Err(RedactError::InvalidRuleId(c.id.clone()));
            }
            if !ids.insert(c.id.as_str()) {
                return Err(RedactError::DuplicateRule(c.id.clone()));
            }
            let re = RegexBuilder::new(&c.pattern).build().map_err(|source| {
                RedactError::InvalidPattern {
                    id: c.id.clone(),
                    source: Box::new(source),
                }
            })?;
            unmatched.remove(c.id.as_str());
            if is_off(&c.id) {
                continue;
            }
            let group = re.capture_names().position(|n| n == Some("secret"));
            custom.push(rules.len());
            custom_patterns.push(c.pattern.as_str());
            rules.push(Rule {
                id: c.id.clone(),
                marker: marker(&c.id),
                matcher: Matcher::Regex { re, group },
            });
        }

        if let Some(unknown) = config
            .disabled
            .iter()
            .find(|d| unmatched.contains(d.as_str()))
        {
            return Err(RedactError::UnknownDisabled(unknown.clone()));
        }

        let anchor = if anchors.is_empty() {
            None
        } else {
            Some(builtin_regex(&anchors.join("|")))
        };
        let custom_set = if custom_patterns.is_empty() {
            None
        } else {
            Some(
                RegexSetBuilder::new(&custom_patterns)
                    .build()
                    .map_err(|source| RedactError::InvalidPattern {
                        id: "custom".to_owned(),
                        source: Box::new(source),
                    })?,
            )
        };

        let block = config.block_on_detect.clone();
        if let Some(unknown) = block
            .iter()
            .find(|b| *b != KEY_RULE && !rules.iter().any(|r| r.id == b.as_str()))
        {
            return Err(RedactError::UnknownBlock(unknown.clone()));
        }
        Ok(Self {
            allow_keys: config.allow_keys.clone(),
            block,
            keys: KeyMatcher::new(key_words),
            rules,
            anchor,
            anchored,
            card,
            iban,
            custom_set,
            custom,
        })
    }

    /// Ids of the enabled value detectors (built-in, then custom), in priority order.
    pub fn detector_ids(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.id.as_str())
    }

    /// Redacts `value` in place and reports what was replaced, in document order.
    pub fn redact(&self, value: &mut Value) -> Vec<Redaction> {
        let mut out = Vec::new();
        let mut pointer = String::new();
        self.walk_mut(value, &mut pointer, &mut out);
        out
    }

    /// The `block_on_detect` rules among `found` (the findings in one message), for findings
    /// under `within` (a JSON pointer prefix such as `/params`).
    pub fn blocking(&self, found: &[Redaction], within: &str) -> Vec<String> {
        let mut rules: Vec<String> = found
            .iter()
            .filter(|r| r.pointer.starts_with(within) && self.block.contains(&r.rule))
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
        if raw.contains(&b'\\') {
            return true;
        }
        let long_number = |b: &[u8]| {
            let mut run = 0;
            b.iter().any(|c| {
                run = if c.is_ascii_digit() { run + 1 } else { 0 };
                run >= 12
            })
        };
        let mut hits = Vec::new();
        let mut i = 0;
        while let Some(open) = raw[i..].iter().position(|&b| b == b'"').map(|p| p + i) {
            if self.card.is_some() && long_number(&raw[i..open]) {
                return true;
            }
            let Some(close) = raw[open + 1..]
                .iter()
                .position(|&b| b == b'"')
                .map(|p| p + open + 1)
            else {
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

    /// Whether a key rule redacts the value under `key`.
    fn key_rule(&self, key: &str) -> bool {
        !self.allow_keys.iter().any(|k| k == key) && self.keys.matches(key)
    }

    fn walk_mut(&self, value: &mut Value, pointer: &mut String, out: &mut Vec<Redaction>) {
        if let Value::Number(n) = &*value
            && let Some(rule) = self.card_number_value(n)
        {
            self.report(pointer, &[(rule, 1)], out);
            *value = Value::String(self.rules[rule].marker.clone());
            return;
        }
        match value {
            Value::String(s) => {
                if let Some(r) = self.redact_text(s) {
                    self.report(pointer, &r.counts, out);
                    *s = r.text;
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    let len = pointer.len();
                    push_index(pointer, i);
                    self.walk_mut(item, pointer, out);
                    pointer.truncate(len);
                }
            }
            Value::Object(map) => {
                let renames = self.plan_renames(map);
                self.report_renames(&renames, pointer, out);
                for (key, child) in map.iter_mut() {
                    let name = renamed(&renames, key);
                    let len = pointer.len();
                    push_key(pointer, name);
                    if self.key_rule(name) {
                        if !is_key_marker(child) {
                            out.push(key_redaction(pointer));
                            *child = Value::String(KEY_MARKER.to_owned());
                        }
                    } else {
                        self.walk_mut(child, pointer, out);
                    }
                    pointer.truncate(len);
                }
                let moved: Vec<(String, Value)> = renames
                    .into_iter()
                    .filter_map(|r| map.remove(&r.old).map(|v| (r.new, v)))
                    .collect();
                map.extend(moved);
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    fn plan_renames(&self, map: &Map<String, Value>) -> Vec<Rename> {
        let mut renames: Vec<Rename> = Vec::new();
        for key in map.keys() {
            if let Some(r) = self.redact_text(key) {
                renames.push(Rename {
                    old: key.clone(),
                    new: r.text,
                    counts: r.counts,
                });
            }
        }
        if renames.is_empty() {
            return renames;
        }
        let mut taken: HashSet<String> = map
            .keys()
            .filter(|k| !renames.iter().any(|r| &r.old == *k))
            .cloned()
            .collect();
        for r in &mut renames {
            if taken.contains(&r.new) {
                let mut n: u64 = 2;
                while taken.contains(&format!("{} #{n}", r.new)) {
                    n += 1;
                }
                r.new = format!("{} #{n}", r.new);
            }
            taken.insert(r.new.clone());
        }
        renames
    }

    fn report_renames(&self, renames: &[Rename], pointer: &mut String, out: &mut Vec<Redaction>) {
        for r in renames {
            let len = pointer.len();
            push_key(pointer, &r.new);
            self.report(pointer, &r.counts, out);
            pointer.truncate(len);
        }
    }

    fn report(&self, pointer: &str, counts: &[(usize, u32)], out: &mut Vec<Redaction>) {
        out.extend(counts.iter().map(|&(rule, count)| Redaction {
            rule: self.rules[rule].id.clone(),
            pointer: pointer.to_owned(),
            count,
        }));
    }

    /// The card rule, if `n` is an unsigned integer that is a valid card number.
    fn card_number_value(&self, n: &Number) -> Option<usize> {
        let rule = self.card?;
        let v = n.as_u64()?;
        if v < 1_000_000_000_000 {
            return None;
        }
        let mut digits = [0u8; 20];
        let mut len = 0;
        let mut rest = v;
        while rest > 0 {
            digits[len] = (rest % 10) as u8;
            rest /= 10;
            len += 1;
        }
        digits[..len].reverse();
        valid_card(&digits[..len]).then_some(rule)
    }

    /// The redacted form of `text` and the matches per rule, or `None` if nothing matches.
    fn redact_text(&self, text: &str) -> Option<Redacted> {
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

    fn find_hits(&self, s: &str, hits: &mut Vec<Hit>) {
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

struct Rename {
    old: String,
    new: String,
    counts: Vec<(usize, u32)>,
}

fn renamed<'a>(renames: &'a [Rename], key: &'a str) -> &'a str {
    renames
        .iter()
        .find(|r| r.old == key)
        .map_or(key, |r| r.new.as_str())
}

struct Redacted {
    text: String,
    /// (rule index, matches), in order of first replacement.
    counts: Vec<(usize, u32)>,
}

#[derive(Debug, Clone, Copy)]
struct Hit {
    start: usize,
    end: usize,
    rule: usize,
}

fn bump(counts: &mut Vec<(usize, u32)>, rule: usize) {
    match counts.iter_mut().find(|(r, _)| *r == rule) {
        Some((_, n)) => *n = n.saturating_add(1),
        None => counts.push((rule, 1)),
    }
}

fn marker(id: &str) -> String {
    format!("{MARKER_OPEN}{id}]")
}

fn is_key_marker(v: &Value) -> bool {
    matches!(v, Value::String(s) if s == KEY_MARKER)
}

fn key_redaction(pointer: &str) -> Redaction {
    Redaction {
        rule: KEY_RULE.to_owned(),
        pointer: pointer.to_owned(),
        count: 1,
    }
}

fn builtin_regex(pattern: &str) -> Regex {
    // Constant patterns, compiled by every test that builds a redactor.
    #[allow(clippy::expect_used)]
    Regex::new(pattern).expect("built-in redaction pattern compiles")
}

fn valid_rule_id(id: &str) -> bool {
    let b = id.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_ID_LEN
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
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
fn drop_hits_in_markers(text: &str, hits: &mut Vec<Hit>) {
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

/// JSON pointer escaping (RFC 6901): `~` → `~0`, `/` → `~1`.
fn push_key(pointer: &mut String, key: &str) {
    pointer.push('/');
    if key.contains(['~', '/']) {
        for c in key.chars() {
            match c {
                '~' => pointer.push_str("~0"),
                '/' => pointer.push_str("~1"),
                c => pointer.push(c),
            }
        }
    } else {
        pointer.push_str(key);
    }
}

fn push_index(pointer: &mut String, mut i: usize) {
    pointer.push('/');
    let mut buf = [0u8; 20];
    let mut n = buf.len();
    loop {
        n -= 1;
        buf[n] = b'0' + (i % 10) as u8;
        i /= 10;
        if i == 0 {
            break;
        }
    }
    pointer.extend(buf[n..].iter().map(|&d| char::from(d)));
}

/// A superset of the literal prefilter (`@`, `-----BEGIN`, `eyJ`, `AKIA`, `ASIA`,
/// `gh?_`, `github_pat_`, `xox?-`, `sk-`, `earer`, `EARER`) for short strings, where a
/// byte loop beats a regex call.
fn quick_anchor(b: &[u8]) -> bool {
    (0..b.len()).any(|i| {
        let rest = &b[i..];
        match b[i] {
            b'@' => true,
            b'-' => rest.starts_with(b"-----BEGIN"),
            b'e' => rest.starts_with(b"eyJ") || rest.starts_with(b"earer"),
            b'E' => rest.starts_with(b"EARER"),
            b'A' => rest.starts_with(b"AKIA") || rest.starts_with(b"ASIA"),
            b'g' => {
                (rest.len() >= 4 && rest[1] == b'h' && rest[3] == b'_')
                    || rest.starts_with(b"github_pat_")
            }
            b'x' => rest.starts_with(b"xox"),
            b's' => rest.starts_with(b"sk-"),
            _ => false,
        }
    })
}

// ---------------------------------------------------------------------------------------
// Card numbers and IBANs: one scan from digit run to digit run

/// Finds card numbers and IBANs (see the module documentation for the rules).
fn find_digit_secrets(b: &[u8], card: Option<usize>, iban: Option<usize>, hits: &mut Vec<Hit>) {
    let n = b.len();
    let mut i = 0;
    while let Some(k) = b[i..].iter().position(u8::is_ascii_digit) {
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
fn valid_card(d: &[u8]) -> bool {
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

fn luhn(d: &[u8]) -> bool {
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

// ---------------------------------------------------------------------------------------
// IBAN

/// IBAN lengths by country (SWIFT IBAN registry), sorted by country.
#[rustfmt::skip]
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24), ("AE", 23), ("AL", 28), ("AT", 20), ("AZ", 28), ("BA", 20), ("BE", 16),
    ("BG", 22), ("BH", 22), ("BI", 27), ("BR", 29), ("BY", 28), ("CH", 21), ("CR", 22),
    ("CY", 28), ("CZ", 24), ("DE", 22), ("DJ", 27), ("DK", 18), ("DO", 28), ("EE", 20),
    ("EG", 29), ("ES", 24), ("FI", 18), ("FK", 18), ("FO", 18), ("FR", 27), ("GB", 22),
    ("GE", 22), ("GI", 23), ("GL", 18), ("GR", 27), ("GT", 28), ("HR", 21), ("HU", 28),
    ("IE", 22), ("IL", 23), ("IQ", 23), ("IS", 26), ("IT", 27), ("JO", 30), ("KW", 30),
    ("KZ", 20), ("LB", 28), ("LC", 32), ("LI", 21), ("LT", 20), ("LU", 20), ("LV", 21),
    ("LY", 25), ("MC", 27), ("MD", 24), ("ME", 22), ("MK", 19), ("MN", 20), ("MR", 27),
    ("MT", 31), ("MU", 30), ("NI", 28), ("NL", 18), ("NO", 15), ("OM", 23), ("PK", 24),
    ("PL", 28), ("PS", 29), ("PT", 25), ("QA", 29), ("RO", 24), ("RS", 22), ("RU", 33),
    ("SA", 24), ("SC", 31), ("SD", 18), ("SE", 24), ("SI", 19), ("SK", 24), ("SM", 27),
    ("SO", 23), ("ST", 25), ("SV", 28), ("TL", 23), ("TN", 24), ("TR", 26), ("UA", 29),
    ("VA", 22), ("VG", 24), ("XK", 20), ("YE", 30),
];

/// Parses an IBAN starting at `start` (two capitals and two digits already seen): known
/// country, exact registry length (BBAN of capitals and digits, a single space allowed after
/// every fourth character), check digits 02–98, mod-97. Returns the end of the IBAN.
fn parse_iban(b: &[u8], start: usize) -> Option<usize> {
    let country = b.get(start..start + 2)?;
    let want = IBAN_LENGTHS
        .binary_search_by(|(c, _)| c.as_bytes().cmp(country))
        .ok()
        .map(|i| IBAN_LENGTHS[i].1)?;
    let check = (b[start + 2] - b'0') * 10 + (b[start + 3] - b'0');
    if !(2..=98).contains(&check) {
        return None;
    }
    let alnum = |c: u8| c.is_ascii_uppercase() || c.is_ascii_digit();
    let mut compact = [0u8; 34];
    compact[..4].copy_from_slice(&b[start..start + 4]);
    let mut len = 4;
    let mut i = start + 4;
    while len < want {
        if len % 4 == 0 && b.get(i) == Some(&b' ') && b.get(i + 1).is_some_and(|&c| alnum(c)) {
            i += 1;
        }
        match b.get(i) {
            Some(&c) if alnum(c) => {
                compact[len] = c;
                len += 1;
                i += 1;
            }
            _ => return None,
        }
    }
    // Rearranged: BBAN, then country and check digits; letters count as 10..35.
    let mut rem = 0u32;
    for &c in compact[4..want].iter().chain(&compact[..4]) {
        rem = if c.is_ascii_digit() {
            (rem * 10 + u32::from(c - b'0')) % 97
        } else {
            (rem * 100 + u32::from(c - b'A') + 10) % 97
        };
    }
    (rem == 1).then_some(i)
}

// ---------------------------------------------------------------------------------------
// Keys

/// Whole-word matching of object keys against the key rules.
#[derive(Debug, Clone)]
struct KeyMatcher {
    /// Normalized rules (lowercase letters and digits only), sorted.
    rules: Vec<Vec<u8>>,
    /// `rules[lo..hi]` start with byte `b`, for `(lo, hi) = first[b]`.
    first: Vec<(usize, usize)>,
    /// Length of the shortest rule.
    min_len: usize,
}

impl KeyMatcher {
    fn new(mut rules: Vec<Vec<u8>>) -> Self {
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

    fn matches(&self, key: &str) -> bool {
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
fn normalize_rule_key(rule: &str) -> Vec<u8> {
    rule.bytes()
        .filter(|c| class(*c) != CharClass::Sep)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const AWS: &str = "AKIAIOSFODNN7EXAMPLE";
    const AWS_STS: &str = "ASIAY34FZKBOKMUTVV7A";
    const GH_CLASSIC: &str = "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";
    const GH_PAT: &str = "github_pat_11ABCDEFG0abcdefghijkl_mnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijk";
    const SLACK: &str = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy";
    const OPENAI_LEGACY: &str = "sk-4fVxQ9mZr2LkT3BlbkFJa8WcYd1uEoPn7HsGqRt5Bv0XyZ1a";
    const OPENAI_PROJ: &str = "sk-proj-Ab3dEf_GhIjK-lMnOpQrStUvWxYz0123456789_abcdEFGH";
    const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    const PEM: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nQyNTUxOQAAACDm2yP8Lq0vXw9sZ3eQ1pR7tY5uI3oP0aS2dF4gH6jK8lA==\n-----END OPENSSH PRIVATE KEY-----";
    const BEARER_TOKEN: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a0";
    const CARD_SPACED: &str = "4111 1111 1111 1111";
    const CARD_DASHED: &str = "5555-5555-5555-4444";
    const CARD_AMEX: &str = "378282246310005";
    const EMAIL: &str = "jane.doe+mcp@example.co.uk";
    const IBAN_DE: &str = "DE89 3704 0044 0532 0130 00";
    const IBAN_GB: &str = "GB82WEST12345698765432";
    const IBAN_FR: &str = "FR1420041010050500013M02606";
    const X_API_KEY: &str = "k3y-v4lue-that-is-not-pattern-shaped";
    const COOKIE: &str = "session=s%3AJ1x9ZpQ.opaque";
    const PASSWORD: &str = "correct horse battery staple";

    fn tools_call() -> Value {
        json!({
            "jsonrpc": "2.0",
            "id": 7,
            "method": "tools/call",
            "params": {
                "name": "deploy",
                "arguments": {
                    "aws": { "access_key_id": AWS, "region": "eu-west-1" },
                    "note": format!("clone with {GH_CLASSIC} then ping {EMAIL} when done"),
                    "slack": SLACK,
                    "env": [format!("OPENAI_API_KEY={OPENAI_PROJ}"), format!("LEGACY={OPENAI_LEGACY}")],
                    "payment": { "card": CARD_SPACED, "backup": 4242424242424242u64, "currency": "EUR" },
                    "db_password": PASSWORD,
                    "a/b~c": format!("sts {AWS_STS}"),
                    "fine_grained": GH_PAT,
                    "tokens_used": 1234,
                    "model": "tokenizer",
                },
                "_meta": {
                    "headers": {
                        "Authorization": format!("Bearer {JWT}"),
                        "X-Api-Key": X_API_KEY,
                        "Cookie": COOKIE,
                        "User-Agent": "warden-test/1.0",
                        "Content-Type": "application/json",
                    }
                }
            }
        })
    }

    fn tool_result() -> Value {
        json!({
            "jsonrpc": "2.0",
            "id": 7,
            "result": {
                "content": [
                    { "type": "text", "text": format!("Deployed.\nKey:\n{PEM}\nDone with the key.") },
                    { "type": "text", "text": format!(
                        "Charge {CARD_DASHED} and {CARD_AMEX}; refund to {IBAN_DE} or {IBAN_GB}.\n\
                         log: GET /v1 Authorization: Bearer {BEARER_TOKEN} 200 OK\n\
                         wire {IBAN_FR} (ref 2024-06-01)") },
                ],
                "isError": false,
            }
        })
    }

    fn all_secrets() -> Vec<&'static str> {
        vec![
            AWS,
            AWS_STS,
            GH_CLASSIC,
            GH_PAT,
            SLACK,
            OPENAI_LEGACY,
            OPENAI_PROJ,
            JWT,
            "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ",
            "BEGIN OPENSSH PRIVATE KEY",
            BEARER_TOKEN,
            CARD_SPACED,
            CARD_DASHED,
            CARD_AMEX,
            "4242424242424242",
            EMAIL,
            IBAN_DE,
            IBAN_GB,
            IBAN_FR,
            X_API_KEY,
            COOKIE,
            PASSWORD,
            "jane.doe",
            "example.co.uk",
            "0532 0130",
            "WEST1234",
        ]
    }

    fn count(reps: &[Redaction], pointer: &str, rule: &str) -> u32 {
        reps.iter()
            .filter(|r| r.pointer == pointer && r.rule == rule)
            .map(|r| r.count)
            .sum()
    }

    fn text_at<'v>(v: &'v Value, pointer: &str) -> &'v str {
        v.pointer(pointer).and_then(Value::as_str).unwrap()
    }

    /// Raw detector matches left in a string (the "never increases" property).
    fn raw_matches(r: &Redactor, s: &str) -> usize {
        let mut hits = Vec::new();
        r.find_hits(s, &mut hits);
        drop_hits_in_markers(s, &mut hits);
        hits.len()
    }

    #[test]
    fn every_secret_in_a_tools_call_is_gone() {
        let r = Redactor::default();
        let mut v = tools_call();
        let reps = r.redact(&mut v);
        let out = serde_json::to_string(&v).unwrap();
        for secret in all_secrets() {
            assert!(!out.contains(secret), "{secret} survived in {out}");
        }
        // Surrounding text and unrelated fields survive.
        let args = "/params/arguments";
        assert_eq!(
            text_at(&v, &format!("{args}/note")),
            "clone with [REDACTED:github_token] then ping [REDACTED:email] when done"
        );
        assert_eq!(text_at(&v, &format!("{args}/aws/region")), "eu-west-1");
        assert_eq!(
            text_at(&v, &format!("{args}/env/0")),
            "OPENAI_API_KEY=[REDACTED:openai_key]"
        );
        assert_eq!(
            text_at(&v, &format!("{args}/a~1b~0c")),
            "sts [REDACTED:aws_access_key]"
        );
        assert_eq!(
            v.pointer(&format!("{args}/tokens_used")),
            Some(&json!(1234))
        );
        assert_eq!(text_at(&v, &format!("{args}/model")), "tokenizer");
        assert_eq!(text_at(&v, &format!("{args}/payment/currency")), "EUR");
        assert_eq!(
            text_at(&v, "/params/_meta/headers/Authorization"),
            KEY_MARKER,
            "Authorization is a key rule: the whole value goes"
        );
        assert_eq!(
            text_at(&v, "/params/_meta/headers/User-Agent"),
            "warden-test/1.0"
        );
        assert_eq!(
            text_at(&v, &format!("{args}/payment/backup")),
            "[REDACTED:card_number]"
        );

        // Pointers and counts.
        let expect: &[(&str, &str, u32)] = &[
            ("/params/arguments/a~1b~0c", "aws_access_key", 1),
            ("/params/arguments/aws/access_key_id", "aws_access_key", 1),
            ("/params/arguments/db_password", "key", 1),
            ("/params/arguments/env/0", "openai_key", 1),
            ("/params/arguments/env/1", "openai_key", 1),
            ("/params/arguments/fine_grained", "github_token", 1),
            ("/params/arguments/note", "github_token", 1),
            ("/params/arguments/note", "email", 1),
            ("/params/arguments/payment/backup", "card_number", 1),
            ("/params/arguments/payment/card", "card_number", 1),
            ("/params/arguments/slack", "slack_token", 1),
            ("/params/_meta/headers/Authorization", "key", 1),
            ("/params/_meta/headers/Cookie", "key", 1),
            ("/params/_meta/headers/X-Api-Key", "key", 1),
        ];
        for &(pointer, rule, n) in expect {
            assert_eq!(count(&reps, pointer, rule), n, "{pointer} {rule}: {reps:?}");
        }
        assert_eq!(reps.len(), expect.len(), "{reps:?}");
    }

    #[test]
    fn every_secret_in_a_tool_result_is_gone() {
        let r = Redactor::default();
        let mut v = tool_result();
        let reps = r.redact(&mut v);
        let out = serde_json::to_string(&v).unwrap();
        for secret in all_secrets() {
            assert!(!out.contains(secret), "{secret} survived in {out}");
        }
        assert_eq!(
            text_at(&v, "/result/content/0/text"),
            "Deployed.\nKey:\n[REDACTED:pem_private_key]\nDone with the key."
        );
        assert_eq!(
            text_at(&v, "/result/content/1/text"),
            "Charge [REDACTED:card_number] and [REDACTED:card_number]; refund to \
             [REDACTED:iban] or [REDACTED:iban].\n\
             log: GET /v1 Authorization: Bearer [REDACTED:bearer] 200 OK\n\
             wire [REDACTED:iban] (ref 2024-06-01)"
        );
        assert_eq!(count(&reps, "/result/content/0/text", "pem_private_key"), 1);
        assert_eq!(count(&reps, "/result/content/1/text", "card_number"), 2);
        assert_eq!(count(&reps, "/result/content/1/text", "iban"), 3);
        assert_eq!(count(&reps, "/result/content/1/text", "bearer"), 1);
        assert_eq!(reps.len(), 4, "{reps:?}");
    }

    #[test]
    fn json_escapes_do_not_hide_secrets() {
        let r = Redactor::default();
        // `\u0041KIA…`, an escaped `@` and an escaped newline inside a PEM block.
        let text = r#"{"a":"\u0041KIAIOSFODNN7EXAMPLE","b":"jane\u0040example.com","c":"-----BEGIN PRIVATE KEY-----\nMIIE\u000aabc\n-----END PRIVATE KEY-----"}"#;
        let mut v: Value = serde_json::from_str(text).unwrap();
        let reps = r.redact(&mut v);
        assert_eq!(
            v,
            json!({"a": "[REDACTED:aws_access_key]", "b": "[REDACTED:email]", "c": "[REDACTED:pem_private_key]"})
        );
        assert_eq!(reps.len(), 3);
    }

    #[test]
    fn jwt_inside_bearer_is_named_jwt_and_scheme_survives() {
        let r = Redactor::default();
        let mut v = json!({ "line": format!("curl -H 'authorization: Bearer {JWT}' https://x") });
        let reps = r.redact(&mut v);
        assert_eq!(
            v["line"],
            "curl -H 'authorization: Bearer [REDACTED:jwt]' https://x"
        );
        assert_eq!(
            reps,
            vec![Redaction {
                rule: "jwt".into(),
                pointer: "/line".into(),
                count: 1
            }]
        );
    }

    #[test]
    fn truncated_pem_is_redacted_to_the_end() {
        let r = Redactor::default();
        let mut v = json!("head -c 60 id_rsa:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7");
        r.redact(&mut v);
        assert_eq!(v, json!("head -c 60 id_rsa:\n[REDACTED:pem_private_key]"));
    }

    #[test]
    fn scan_reports_what_redact_does_and_redact_is_idempotent() {
        let r = Redactor::default();
        for original in [
            tools_call(),
            tool_result(),
            json!({"u": {"bob@example.org": 1}}),
        ] {
            let scanned = r.scan(&original);
            let mut v = original.clone();
            let reps = r.redact(&mut v);
            assert!(!reps.is_empty());
            assert_eq!(scanned, reps);
            // Twice: nothing more changes, nothing more is reported.
            let once = v.clone();
            assert!(r.redact(&mut v).is_empty());
            assert_eq!(v, once);
            assert!(r.scan(&v).is_empty());
        }
    }

    #[test]
    fn keys_with_secrets_are_renamed() {
        let r = Redactor::default();
        let mut v = json!({"users": {
            "alice@example.com": {"role": "admin"},
            "[REDACTED:email]": "already there",
            "carol": {"mail": "carol@example.net"},
        }});
        let reps = r.redact(&mut v);
        let out = serde_json::to_string(&v).unwrap();
        assert!(!out.contains("alice") && !out.contains("carol@"), "{out}");
        assert_eq!(v["users"]["[REDACTED:email] #2"], json!({"role": "admin"}));
        assert_eq!(v["users"]["[REDACTED:email]"], "already there");
        assert_eq!(v["users"]["carol"]["mail"], "[REDACTED:email]");
        assert_eq!(count(&reps, "/users/[REDACTED:email] #2", "email"), 1);
        assert_eq!(count(&reps, "/users/carol/mail", "email"), 1);
        assert_eq!(reps.len(), 2);
    }

    #[test]
    fn key_rules_match_whole_words() {
        let r = Redactor::default();
        let redacted = [
            "password",
            "PASSWORD",
            "db_password",
            "dbPassword",
            "password2",
            "user.password",
            "passwd",
            "token",
            "auth_token",
            "authToken",
            "access_token",
            "AccessToken",
            "refresh-token",
            "tokenCount",
            "token_type",
            "nextPageToken",
            "secret",
            "client_secret",
            "clientSecret",
            "aws_secret_access_key",
            "api_key",
            "apiKey",
            "APIKey",
            "x-api-key",
            "X-Api-Key",
            "apikey",
            "APIKEY",
            "Authorization",
            "proxy-authorization",
            "cookie",
            "Cookie",
            "set-cookie",
            "Set-Cookie",
            "private_key",
            "privateKey",
            "ssn",
            "SSN",
            "ssn_last4",
            "credit_card",
            "creditCardNumber",
            "session token",
        ];
        for key in redacted {
            assert!(r.keys.matches(key), "{key} should be redacted");
        }
        let kept = [
            "tokens_used",
            "max_tokens",
            "input_tokens",
            "tokenizer",
            "tokens",
            "passwords",
            "cookies",
            "secretary",
            "keys",
            "key",
            "api",
            "authorized",
            "credit",
            "card",
            "lessn",
            "monkey",
            "private",
            "access",
            "refresh",
            "client",
            "passport",
            "",
            "_",
            "apiKeys",
        ];
        for key in kept {
            assert!(!r.keys.matches(key), "{key} should not be redacted");
        }
        // Long keys take the heap path.
        let long = format!("{}_password", "x".repeat(100));
        assert!(r.keys.matches(&long));
        assert!(!r.keys.matches(&"tokens_".repeat(30)));
    }

    #[test]
    fn key_rule_replaces_any_type() {
        let r = Redactor::default();
        let mut v = json!({
            "secret": {"nested": {"deep": [1, 2, 3]}},
            "set-cookie": ["a=1", "b=2"],
            "ssn": 123456789,
            "password": null,
            "token_count": 5,
            "tokens_used": 5,
        });
        let reps = r.redact(&mut v);
        assert_eq!(
            v,
            json!({
                "secret": KEY_MARKER, "set-cookie": KEY_MARKER, "ssn": KEY_MARKER,
                "password": KEY_MARKER, "token_count": KEY_MARKER, "tokens_used": 5,
            })
        );
        assert_eq!(reps.len(), 5);
        assert!(reps.iter().all(|r| r.rule == "key" && r.count == 1));
    }

    #[test]
    fn false_positives_are_left_alone() {
        let r = Redactor::default();
        let clean = json!({
            "order_id": "ORD-2024-000123456789",
            "order_number": 1234567812345678u64,       // fails Luhn
            "uuid": "123e4567-e89b-12d3-a456-426614174000",
            "trace": "550e8400e29b41d4a716446655440000",
            "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "ts_ms": 1718000000000u64,
            "ts_ns": 1718000000123456789u64,
            "ts_ms_text": "1718000000000",
            "ts_ns_text": "created 1718000000123456789",
            "float": "0.30000000000000004",
            "coords": "37.774929483212345,-122.419415",
            "phone": "+1 415 555 2671",
            "dates": "2024-01-15 2024-02-15 2024-03-15",
            "version": "installed lodash@4.17.21 and @types/node",
            "model": "tokenizer",
            "tokens_used": 4096,
            "prose": "The bearer of this letter is a friend. Risk-free task-management-dashboard-for-everyone.",
            "kebab": "sk-learn-pipeline-configuration-file-for-the-model",
            "bad_iban": "DE88 3704 0044 0532 0130 00",
            "not_iban": "AB12 3456 7890 1234 5678",
            "aws_like": "AKIA-not-a-key",
            "github_like": "ghp_short",
            "jwt_like": "eyJ alone",
            "long_digits": "12345678901234567890123",
            "spaced_digits": "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16",
            "glued": "id4111111111111111x",
        });
        let reps = r.scan(&clean);
        assert!(reps.is_empty(), "{reps:?}");
        let mut v = clean.clone();
        assert!(r.redact(&mut v).is_empty());
        assert_eq!(v, clean);
    }

    #[test]
    fn luhn_failing_sixteen_digit_numbers_are_not_cards() {
        let r = Redactor::default();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut checked = 0;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = 4_000_000_000_000_000 + x % 1_000_000_000_000_000;
            let digits: Vec<u8> = n.to_string().bytes().map(|b| b - b'0').collect();
            if luhn(&digits) {
                assert_eq!(r.scan(&json!(n)).len(), 1, "{n}");
                assert_eq!(r.scan(&json!(format!("card {n}"))).len(), 1, "{n}");
                continue;
            }
            checked += 1;
            assert!(r.scan(&json!(n)).is_empty(), "{n}");
            assert!(r.scan(&json!(format!("card {n}"))).is_empty(), "{n}");
        }
        assert!(checked > 1500);
    }

    #[test]
    fn card_runs_and_groups() {
        let r = Redactor::default();
        let cases = [
            ("4111111111111111 2027", "[REDACTED:card_number] 2027"),
            (
                "exp 12/27 card 4111-1111-1111-1111.",
                "exp 12/27 card [REDACTED:card_number].",
            ),
            ("3782 822463 10005", "[REDACTED:card_number]"),
            (
                "visa13 4222222222222 ok",
                "visa13 [REDACTED:card_number] ok",
            ),
            ("2223003122003222", "[REDACTED:card_number]"),
            ("card_4111111111111111", "card_[REDACTED:card_number]"),
            (
                "a@b.co4111111111111111",
                "[REDACTED:email][REDACTED:card_number]",
            ),
            (
                "4111111111111111,5555555555554444",
                "[REDACTED:card_number],[REDACTED:card_number]",
            ),
        ];
        for (input, want) in cases {
            let mut v = json!(input);
            r.redact(&mut v);
            assert_eq!(v, json!(want), "{input}");
        }
    }

    #[test]
    fn iban_validation() {
        assert!(
            IBAN_LENGTHS.windows(2).all(|w| w[0].0 < w[1].0),
            "sorted for binary search"
        );
        assert!(parse_iban(IBAN_DE.as_bytes(), 0).is_some());
        assert!(parse_iban("NO9386011117947".as_bytes(), 0).is_some());
        assert!(parse_iban("CH9300762011623852957".as_bytes(), 0).is_some());
        assert!(parse_iban("NL91ABNA0417164300".as_bytes(), 0).is_some());
        assert!(parse_iban("NL91ABNA0417164301".as_bytes(), 0).is_none());
        assert!(
            parse_iban("ZZ91ABNA0417164300".as_bytes(), 0).is_none(),
            "unknown country"
        );
        assert!(
            parse_iban("NL91ABNA041716430".as_bytes(), 0).is_none(),
            "too short"
        );
        let r = Redactor::default();
        let mut v = json!(format!("IBAN:{IBAN_GB}XYZ, BIC NWBKGB2L"));
        r.redact(&mut v);
        assert_eq!(v, json!("IBAN:[REDACTED:iban]XYZ, BIC NWBKGB2L"));
    }

    #[test]
    fn config_parsing_and_validation() {
        let cfg: RedactConfig = serde_json::from_value(json!({
            "keys": ["pin", "session-id"],
            "detectors": ["email", "jwt"],
            "custom": [{"id": "internal_ticket", "pattern": "TICKET-[0-9]{6}"},
                       {"id": "kv", "pattern": "pin=(?P<secret>[0-9]+)"}],
            "disabled": ["jwt"],
        }))
        .unwrap();
        let r = Redactor::new(&cfg).unwrap();
        assert_eq!(
            r.detector_ids().collect::<Vec<_>>(),
            ["email", "internal_ticket", "kv"]
        );
        let mut v = json!({
            "PIN": 1234, "sessionId": "abc", "token": "kept: not a key rule here",
            "t": format!("see TICKET-123456, pin=9876, {JWT}, a@b.io, {AWS}"),
        });
        let reps = r.redact(&mut v);
        assert_eq!(v["PIN"], KEY_MARKER);
        assert_eq!(v["sessionId"], KEY_MARKER);
        assert_eq!(v["token"], "kept: not a key rule here");
        assert_eq!(
            v["t"],
            json!(format!(
                "see [REDACTED:internal_ticket], pin=[REDACTED:kv], {JWT}, [REDACTED:email], {AWS}"
            ))
        );
        assert_eq!(reps.len(), 5);

        // Defaults and partial configs.
        let partial: RedactConfig =
            serde_json::from_value(json!({"disabled": ["email", "cookie"]})).unwrap();
        assert_eq!(partial.keys, RedactConfig::default().keys);
        let r = Redactor::new(&partial).unwrap();
        assert!(!r.detector_ids().any(|d| d == "email"));
        assert!(!r.keys.matches("Cookie"));
        assert!(r.keys.matches("Set-Cookie"));
        assert_eq!(
            Redactor::default().detector_ids().count(),
            BUILTIN_DETECTORS.len()
        );

        // Errors.
        let bad = |v: Value| -> RedactError {
            Redactor::new(&serde_json::from_value::<RedactConfig>(v).unwrap()).unwrap_err()
        };
        assert!(serde_json::from_value::<RedactConfig>(json!({"kyes": []})).is_err());
        assert!(matches!(
            bad(json!({"detectors": ["emial"]})),
            RedactError::UnknownDetector(_)
        ));
        assert!(matches!(
            bad(json!({"disabled": ["nope"]})),
            RedactError::UnknownDisabled(_)
        ));
        assert!(matches!(
            bad(json!({"keys": ["--"]})),
            RedactError::EmptyKey(_)
        ));
        for id in ["", "Upper", "9lives", "has space", "key"] {
            let e = bad(json!({"custom": [{"id": id, "pattern": "x"}]}));
            assert!(
                matches!(
                    e,
                    RedactError::InvalidRuleId(_) | RedactError::DuplicateRule(_)
                ),
                "{id}: {e}"
            );
        }
        assert!(matches!(
            bad(json!({"custom": [{"id": "email", "pattern": "x"}]})),
            RedactError::DuplicateRule(_)
        ));
        assert!(matches!(
            bad(json!({"custom": [{"id": "a", "pattern": "x"}, {"id": "a", "pattern": "y"}]})),
            RedactError::DuplicateRule(_)
        ));
        // Two spellings of one key rule; a custom rule and a key rule with one name.
        let r = Redactor::new(&RedactConfig {
            keys: vec!["api_key".into(), "pin".into()],
            custom: vec![CustomRule {
                id: "pin".into(),
                pattern: "PIN-[0-9]{4}".into(),
            }],
            disabled: vec!["apikey".into(), "api-key".into(), "pin".into()],
            ..RedactConfig::default()
        })
        .unwrap();
        assert!(!r.keys.matches("api_key") && !r.keys.matches("pin"));
        assert!(!r.detector_ids().any(|d| d == "pin"));
        let e = bad(json!({"custom": [{"id": "broken", "pattern": "("}]}));
        assert!(matches!(e, RedactError::InvalidPattern { .. }));
        assert!(e.to_string().contains("broken"));
    }

    #[test]
    fn custom_rule_matching_the_marker_stays_idempotent() {
        let cfg = RedactConfig {
            custom: vec![
                CustomRule {
                    id: "redacted_word".into(),
                    pattern: "REDACTED".into(),
                },
                CustomRule {
                    id: "empty".into(),
                    pattern: "x*".into(),
                },
                CustomRule {
                    id: "brackets".into(),
                    pattern: r"\][^\]]*\[".into(),
                },
            ],
            ..RedactConfig::default()
        };
        let r = Redactor::new(&cfg).unwrap();
        let mut v = json!([
            "REDACTED here",
            "[REDACTED:email] and [REDACTED:jwt]",
            "plain"
        ]);
        let first = r.redact(&mut v);
        assert!(!first.is_empty());
        let once = v.clone();
        assert!(r.redact(&mut v).is_empty(), "{v}");
        assert_eq!(v, once);
        assert_eq!(v[2], "plain");
    }

    #[test]
    fn many_matches_in_one_string() {
        // Each card is exposed only once the e-mail glued to it is replaced (second pass).
        let r = Redactor::default();
        let mut v = json!("a@b.co4111111111111111 ".repeat(5_000));
        let reps = r.redact(&mut v);
        assert_eq!(
            v,
            json!("[REDACTED:email][REDACTED:card_number] ".repeat(5_000))
        );
        assert_eq!(count(&reps, "", "email"), 5_000);
        assert_eq!(count(&reps, "", "card_number"), 5_000);
    }

    #[test]
    fn redactor_is_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Redactor>();
    }

    #[test]
    fn redaction_output_never_contains_secrets() {
        let r = Redactor::default();
        let mut v = tools_call();
        let reps = r.redact(&mut v);
        let debug = format!("{reps:?}");
        let json = serde_json::to_string(&reps).unwrap();
        for secret in all_secrets() {
            assert!(!debug.contains(secret) && !json.contains(secret));
        }
    }

    fn fragment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(AWS.to_owned()),
            Just(GH_CLASSIC.to_owned()),
            Just(SLACK.to_owned()),
            Just(OPENAI_LEGACY.to_owned()),
            Just(JWT.to_owned()),
            Just("-----BEGIN PRIVATE KEY-----".to_owned()),
            Just("-----END PRIVATE KEY-----".to_owned()),
            Just("Bearer ".to_owned()),
            Just(CARD_SPACED.to_owned()),
            Just("4111111111111111".to_owned()),
            Just(EMAIL.to_owned()),
            Just(IBAN_DE.to_owned()),
            Just(IBAN_GB.to_owned()),
            Just("[REDACTED:".to_owned()),
            Just("]".to_owned()),
            Just("eyJ".to_owned()),
            Just("@".to_owned()),
            "[0-9 -]{0,24}",
            "[A-Z0-9 ]{0,12}",
            "[a-z0-9._@+-]{0,12}",
            "[A-Za-z0-9_-]{0,40}",
            "\\PC{0,8}",
            any::<String>(),
        ]
    }

    fn jsonish() -> impl Strategy<Value = String> {
        prop::collection::vec(fragment(), 0..10).prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn redaction_is_total_and_never_adds_matches(s in jsonish(), k in jsonish()) {
            let r = Redactor::default();
            let before = raw_matches(&r, &s);
            let mut obj = Map::new();
            obj.insert(k.clone(), json!(s.clone()));
            obj.insert("text".to_owned(), json!(s.clone()));
            let mut v = json!([s.clone(), Value::Object(obj), {"nested": [s.clone()]}]);
            let scanned = r.scan(&v);
            let reps = r.redact(&mut v);
            prop_assert_eq!(&scanned, &reps);
            let redacted = v[0].as_str().unwrap().to_owned();
            let after = raw_matches(&r, &redacted);
            prop_assert!(after <= before);
            prop_assert_eq!(after, 0);
            // Idempotent.
            let once = v.clone();
            prop_assert!(r.redact(&mut v).is_empty());
            prop_assert_eq!(&v, &once);
            // A string with no matches is untouched.
            if before == 0 {
                prop_assert_eq!(redacted, s.as_str());
            }
        }

        #[test]
        fn card_scanner_never_panics_on_digit_soup(s in "[0-9 .a-]{0,80}") {
            let r = Redactor::default();
            let mut v = json!(s);
            r.redact(&mut v);
            prop_assert!(r.scan(&v).is_empty());
        }
    }

    // -----------------------------------------------------------------------------------
    // Throughput smoke: cargo test -p warden-policy --release redact -- --ignored --nocapture

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    const WORDS: &[&str] = &[
        "the",
        "request",
        "server",
        "returned",
        "file",
        "function",
        "value",
        "error",
        "user",
        "configuration",
        "module",
        "handler",
        "response",
        "context",
        "should",
        "because",
        "cache",
        "Deploy",
        "Kubernetes",
        "service",
        "timeout",
        "and",
        "with",
        "from",
        "into",
        "retry",
        "latency",
        "Postgres",
        "index",
        "query",
        "token",
        "schema",
        "The",
        "This",
    ];

    fn text_blob(rng: &mut Rng, target: usize) -> String {
        let mut s = String::with_capacity(target + 200);
        let mut line = 0u64;
        while s.len() < target {
            line += 1;
            match rng.below(5) {
                0 => {
                    for _ in 0..(8 + rng.below(12)) {
                        s.push_str(rng.pick(WORDS));
                        s.push(' ');
                    }
                    s.push_str(".\n");
                }
                1 => s.push_str(&format!(
                    "2024-06-{:02}T12:{:02}:{:02}.{:03}Z INFO request_id={:08x}-e29b-41d4-a716-{:012x} user={} latency_ms={} path=/api/v1/orders/{}\n",
                    1 + rng.below(28), rng.below(60), rng.below(60), rng.below(1000),
                    rng.next() as u32, rng.next() & 0xffff_ffff_ffff, rng.below(100_000),
                    rng.below(900), rng.below(10_000_000)
                )),
                2 => s.push_str(&format!(
                    "    let {} = self.{}(&{}, {})?; // {} {}\n",
                    rng.pick(WORDS), rng.pick(WORDS), rng.pick(WORDS), line, rng.pick(WORDS), rng.pick(WORDS)
                )),
                3 => s.push_str(&format!(
                    "{},{},{}.{:02},\"{} {}\",{},EUR\n",
                    rng.below(1_000_000), rng.next() % 10_000_000_000, rng.below(10_000), rng.below(100),
                    rng.pick(WORDS), rng.pick(WORDS), 1_700_000_000 + rng.below(30_000_000)
                )),
                _ => s.push_str(&format!(
                    "## {} {}\n- see https://docs.example.com/{}/{}#section-{} for details\n",
                    rng.pick(WORDS), rng.pick(WORDS), rng.pick(WORDS), rng.pick(WORDS), line
                )),
            }
        }
        s
    }

    fn realistic_document(target: usize) -> (String, usize) {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut messages = Vec::new();
        let mut size = 0;
        let mut planted = 0;
        let mut id = 0u64;
        while size < target {
            id += 1;
            let mut msg = match rng.below(20) {
                0..=7 => json!({
                    "jsonrpc": "2.0", "id": id, "method": "tools/call",
                    "params": {
                        "name": rng.pick(&["read_file", "search_code", "run_query", "list_issues", "fetch_url"]),
                        "arguments": {
                            "path": format!("/home/dev/project/src/{}/{}.rs", rng.pick(WORDS), rng.pick(WORDS)),
                            "query": "SELECT id, name, created_at FROM orders WHERE customer_id = 4821 AND status = 'shipped' LIMIT 50",
                            "max_results": 20, "include_hidden": false,
                        },
                        "_meta": {"progressToken": id},
                    }
                }),
                8..=15 => {
                    let len = 500 + rng.below(6000);
                    json!({
                        "jsonrpc": "2.0", "id": id,
                        "result": {"content": [{"type": "text", "text": text_blob(&mut rng, len)}], "isError": false}
                    })
                }
                16..=18 => json!({
                    "jsonrpc": "2.0", "id": id,
                    "result": {"tools": (0..8).map(|i| json!({
                        "name": format!("{}_{}", rng.pick(WORDS), i),
                        "description": text_blob(&mut rng, 120),
                        "inputSchema": {"type": "object", "properties": {
                            "path": {"type": "string", "description": "Absolute path of the file"},
                            "limit": {"type": "integer", "minimum": 1, "maximum": 1000}},
                            "required": ["path"]}
                    })).collect::<Vec<_>>()}
                }),
                _ => json!({
                    "jsonrpc": "2.0", "id": id,
                    "result": {"structuredContent": {"rows": (0..20).map(|i| json!({
                        "id": 100_000 + i, "customer": rng.pick(WORDS), "amount": 12.5 * i as f64,
                        "created_at": "2024-06-01T12:00:00Z", "sku": format!("SKU-{:06}", rng.below(1_000_000)),
                    })).collect::<Vec<_>>()}}
                }),
            };
            if id.is_multiple_of(200) {
                planted += 1;
                msg["params"] = json!({"note": format!("ping {EMAIL} with {GH_CLASSIC}")});
            }
            size += serde_json::to_string(&msg).unwrap().len() + 1;
            messages.push(msg);
        }
        (
            serde_json::to_string(&Value::Array(messages)).unwrap(),
            planted,
        )
    }

    #[test]
    #[ignore = "throughput smoke; run in release with --ignored --nocapture"]
    fn throughput_smoke() {
        use std::time::Instant;
        let (text, planted) = realistic_document(10 << 20);
        let mb = text.len() as f64 / 1e6;
        let t = Instant::now();
        let doc: Value = serde_json::from_str(&text).unwrap();
        let parse = t.elapsed().as_secs_f64();
        let r = Redactor::default();
        let (mut whole, mut per_message, mut scan) = (f64::MAX, f64::MAX, f64::MAX);
        for _ in 0..5 {
            // One call for the whole document.
            let mut v = doc.clone();
            let t = Instant::now();
            let reps = r.redact(&mut v);
            whole = whole.min(t.elapsed().as_secs_f64());
            let found = reps.iter().filter(|r| r.rule != KEY_RULE).count();
            assert_eq!(
                found,
                planted * 2,
                "planted secrets only: no false positives"
            );
            // One call per message, as the proxy does.
            let Value::Array(mut messages) = doc.clone() else {
                unreachable!()
            };
            let t = Instant::now();
            let n: usize = messages.iter_mut().map(|m| r.redact(m).len()).sum();
            per_message = per_message.min(t.elapsed().as_secs_f64());
            assert_eq!(n, reps.len());
            let t = Instant::now();
            assert_eq!(r.scan(&doc).len(), reps.len());
            scan = scan.min(t.elapsed().as_secs_f64());
        }
        eprintln!(
            "redact throughput ({mb:.1} MB of MCP JSON, one core): redact {:.0} MB/s as one \
             document, {:.0} MB/s message by message; scan {:.0} MB/s; \
             (serde_json parse alone: {:.0} MB/s)",
            mb / whole,
            mb / per_message,
            mb / scan,
            mb / parse
        );
    }

    #[test]
    fn may_redact_agrees_with_redact_on_the_corpus_and_clean_messages() {
        let r = Redactor::default();
        let clean = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/app/data/q3.csv","max_tokens":12,"encoding":"utf-8"}}}"#;
        assert!(!r.may_redact(clean));
        let mut v: Value = serde_json::from_slice(clean).unwrap();
        assert!(r.redact(&mut v).is_empty());
        for doc in [tools_call(), tool_result()] {
            let raw = serde_json::to_vec(&doc).unwrap();
            let mut v = doc.clone();
            if !r.redact(&mut v).is_empty() {
                assert!(r.may_redact(&raw), "{}", String::from_utf8_lossy(&raw));
            }
        }
        assert!(r.may_redact(br#"{"auth_token":"x"}"#), "a sensitive key");
        assert!(
            r.may_redact(br#"{"X-Api-Key" : 1}"#),
            "a sensitive key, any separators"
        );
        assert!(!r.may_redact(br#"{"tokens_used": 3}"#));
        assert!(
            r.may_redact(br#"{"n": 4111111111111111}"#),
            "a card as a bare number"
        );
        assert!(
            r.may_redact(br#"{"s":"line\nBearer abcdefghijklmnopqrstuvwxyz"}"#),
            "escapes: build the tree"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]
        #[test]
        fn may_redact_never_misses_what_redact_finds(doc in json_doc()) {
            let r = Redactor::default();
            let raw = serde_json::to_vec(&doc).unwrap();
            let mut v = doc.clone();
            let found = r.redact(&mut v);
            if !found.is_empty() {
                prop_assert!(r.may_redact(&raw), "missed {found:?} in {}", String::from_utf8_lossy(&raw));
            }
        }
    }

    fn json_doc() -> impl Strategy<Value = Value> {
        let keys = prop::sample::select(vec![
            "path",
            "query",
            "password",
            "apiKey",
            "X-Auth-Token",
            "tokens_used",
            "note",
            "email",
            "n",
            "headers",
        ]);
        let secrets = prop::sample::select(vec![
            "AKIAIOSFODNN7EXAMPLE",
            "ghp_1234567890abcdefghijABCDEFGHIJklmnop",
            "jane.doe@example.com",
            "4111 1111 1111 1111",
            "DE89370400440532013000",
            "Bearer abcdef0123456789abcdef0123456789",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghijklmnop",
            "plain words",
            "1234",
        ]);
        let leaf = prop_oneof![
            (secrets.clone(), "[a-z \\-]{0,12}")
                .prop_map(|(s, pad)| Value::String(format!("{pad}{s}{pad}"))),
            any::<u64>().prop_map(Value::from),
            Just(Value::from(4_111_111_111_111_111_u64)),
            Just(Value::Null),
        ];
        leaf.prop_recursive(3, 24, 4, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((keys.clone(), inner), 0..4).prop_map(|kv| Value::Object(
                    kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
                )),
            ]
        })
    }

    #[test]
    fn protocol_keys_are_not_secrets() {
        let r = Redactor::default();
        let mut v = json!({"params": {"_meta": {"progressToken": "p-1"}, "arguments": {"auth_token": "x"}}});
        let found = r.redact(&mut v);
        assert_eq!(v["params"]["_meta"]["progressToken"], "p-1");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].pointer, "/params/arguments/auth_token");
        assert!(!r.may_redact(br#"{"params":{"_meta":{"progressToken":7}}}"#));
    }
}
