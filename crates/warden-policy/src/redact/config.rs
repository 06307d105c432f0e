//! The redaction settings as written (`RedactConfig`, custom rules), their validation errors,
//! and how a [`Redactor`] is built from them.

use std::collections::HashSet;

use regex::{Regex, RegexBuilder, RegexSetBuilder};
use serde::Deserialize;

use super::detect::patterns::BUILTINS;
use super::keys::{KeyMatcher, normalize_rule_key};
use super::text::{Matcher, Rule, marker};
use super::{KEY_RULE, Redactor};

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
    "pwd",
    "pass",
    "passphrase",
    "credential",
    "credentials",
    "auth",
    "pin",
    "session_key",
];

/// Ids of the built-in value detectors, all enabled by default (`phone` included: see the
/// module documentation for what it matches).
pub const BUILTIN_DETECTORS: &[&str] = &[
    "aws_access_key",
    "aws_secret_key",
    "github_token",
    "slack_token",
    "anthropic_key",
    "openai_key",
    "google_api_key",
    "jwt",
    "pem_private_key",
    "bearer",
    "basic_auth",
    "uri_password",
    "card_number",
    "email",
    "iban",
    "phone",
];

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
    /// What to mask on the wire. Every entry is a key word: values under keys it names are
    /// masked whole (`phone` masks `phone`, `mobilePhone`, `phone_number`). An entry that is
    /// also a detector id (`email`, `phone`, `card_number`, …) masks what that detector finds
    /// in any string as well, so `phone` masks phone numbers in free text and in JSON carried
    /// as text.
    pub mask_fields: Vec<String>,
}

impl RedactConfig {
    /// The rules for masking results on the wire (`scan_response` with `mask_fields`), if any:
    /// every entry as a key rule, and the entries that name a built-in detector as detectors.
    pub fn wire(&self) -> Option<RedactConfig> {
        if !self.scan_response || self.mask_fields.is_empty() {
            return None;
        }
        let detectors = self
            .mask_fields
            .iter()
            .filter(|f| BUILTIN_DETECTORS.contains(&f.as_str()))
            .cloned()
            .collect();
        Some(RedactConfig {
            keys: self.mask_fields.clone(),
            detectors,
            ..RedactConfig::empty()
        })
    }

    /// No rules at all.
    pub(crate) fn empty() -> RedactConfig {
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

impl Redactor {
    /// Builds a redactor, validating the configuration.
    ///
    /// # Errors
    /// Unknown detector or `disabled` names, malformed or duplicate custom rule ids, key rules
    /// without letters or digits, and custom patterns that do not compile.
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
        // Each prefilter literal, with the bits of the detectors it stands for.
        let mut literals: Vec<(&str, u32)> = Vec::new();
        let mut anchored = Vec::new();
        let mut card = None;
        let mut iban = None;
        let mut phone = None;
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
                "phone" => {
                    phone = Some(index);
                    Matcher::Phone
                }
                _ => {
                    anchored.push((index, b.bit));
                    // `@` is found with memchr, much faster than in a literal set.
                    for a in b.anchors.iter().filter(|a| **a != "@") {
                        match literals.iter_mut().find(|(l, _)| l == a) {
                            Some((_, bits)) => *bits |= b.bit,
                            None => literals.push((a, b.bit)),
                        }
                    }
                    Matcher::Regex {
                        re: builtin_regex(b.pattern),
                        group: b.group.then_some(1),
                        check: b.check,
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
                matcher: Matcher::Regex {
                    re,
                    group,
                    check: None,
                },
            });
        }

        if let Some(unknown) = config
            .disabled
            .iter()
            .find(|d| unmatched.contains(d.as_str()))
        {
            return Err(RedactError::UnknownDisabled(unknown.clone()));
        }

        // Key rules on `name=value` pairs inside strings: a rule of its own, named `key`, last.
        let pairs = (!key_words.is_empty()).then(|| {
            rules.push(Rule {
                id: KEY_RULE.to_owned(),
                marker: marker(KEY_RULE),
                matcher: Matcher::Pairs,
            });
            rules.len() - 1
        });
        let anchor = if literals.is_empty() {
            None
        } else {
            let alternatives: Vec<String> =
                literals.iter().map(|(l, _)| regex::escape(l)).collect();
            Some(builtin_regex(&alternatives.join("|")))
        };
        let literals = literals
            .into_iter()
            .map(|(l, bits)| (l.to_owned(), bits))
            .collect();
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
            literals,
            anchored,
            card,
            iban,
            phone,
            custom_set,
            custom,
            pairs,
        })
    }
}

pub(super) fn builtin_regex(pattern: &str) -> Regex {
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
