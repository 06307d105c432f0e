//! The audit copy of a message's text, as the proxy stores it: decided on the bytes when
//! nothing can match, redacted as a tree when the text is one JSON value with no duplicate
//! member, and otherwise scanned as text: never stored unscanned, never called clean. Also the
//! redaction of single fields that reach records (a URI, a method, an id, a client's name).

use std::borrow::Cow;

use super::unique::parse_unique;
use super::{KEY_MARKER, Redaction, Redactor};

/// What to store for one message's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditCopy {
    /// Nothing in it can be redacted: store it as received.
    Clean,
    /// One JSON value, redacted as a tree: store `text` (re-serialized; keys may be
    /// reordered).
    Redacted {
        /// The redacted copy.
        text: Vec<u8>,
        /// What was redacted.
        found: Vec<Redaction>,
    },
    /// Not one JSON value by a strict reading (invalid UTF-8, a lone surrogate escape, nesting
    /// deeper than the parser's limit, a duplicate member, cut short, not JSON): scanned as
    /// text with every detector and the key rules. `text` is the redacted text, or `None`
    /// when the scan changed nothing (store as received, with invalid UTF-8 replaced).
    Scanned {
        /// The redacted text, if anything was replaced.
        text: Option<Vec<u8>>,
        /// What was redacted.
        found: Vec<Redaction>,
    },
}

impl AuditCopy {
    /// The record's `dlp` label: `clean`, `redacted` (something was replaced), or `scanned`
    /// (not readable as one JSON tree; the text scan found nothing). Never `clean` for text
    /// that was not parsed.
    pub fn label(&self) -> &'static str {
        match self {
            AuditCopy::Clean => "clean",
            AuditCopy::Redacted { .. } => "redacted",
            AuditCopy::Scanned { found, .. } if !found.is_empty() => "redacted",
            AuditCopy::Scanned { .. } => "scanned",
        }
    }

    /// What was redacted.
    pub fn found(&self) -> &[Redaction] {
        match self {
            AuditCopy::Clean => &[],
            AuditCopy::Redacted { found, .. } | AuditCopy::Scanned { found, .. } => found,
        }
    }

    /// The text to store instead of the original, if it differs.
    pub fn text(&self) -> Option<&[u8]> {
        match self {
            AuditCopy::Clean | AuditCopy::Scanned { text: None, .. } => None,
            AuditCopy::Redacted { text, .. }
            | AuditCopy::Scanned {
                text: Some(text), ..
            } => Some(text),
        }
    }
}

impl Redactor {
    /// The audit copy of `raw`, the text of one JSON-RPC message or batch. Most messages are
    /// decided on the bytes ([`Redactor::may_redact`]); the rest are parsed strictly and
    /// redacted as a tree, or, when that parse fails, scanned as text.
    pub fn audit_copy(&self, raw: &[u8]) -> AuditCopy {
        if !self.may_redact(raw) {
            return AuditCopy::Clean;
        }
        let Some(mut v) = parse_unique(raw) else {
            return self.audit_copy_unparsed(raw, false);
        };
        let found = self.redact(&mut v);
        if found.is_empty() {
            return AuditCopy::Clean;
        }
        // Serializing a `Value` cannot fail (string keys, finite numbers).
        let text = serde_json::to_vec(&v).unwrap_or_else(|_| KEY_MARKER.as_bytes().to_vec());
        AuditCopy::Redacted { text, found }
    }

    /// The audit copy of text that could not be parsed, or that was cut short (`truncated`:
    /// its last word is replaced too, so no part of a cut secret is kept). Always
    /// [`AuditCopy::Scanned`].
    pub fn audit_copy_unparsed(&self, raw: &[u8], truncated: bool) -> AuditCopy {
        let (text, found) = self.scan_tolerant(raw, truncated);
        AuditCopy::Scanned {
            text: text.map(String::into_bytes),
            found,
        }
    }

    /// Redacts one field copied into records on its own (a resource URI, a method name, a
    /// client's name or version) with every detector, as a string in a message is redacted.
    /// Findings point at `""`.
    pub fn redact_str<'a>(&self, s: &'a str) -> (Cow<'a, str>, Vec<Redaction>) {
        let mut found = Vec::new();
        match self.redact_text(s) {
            Some(r) => {
                self.report("", &r.counts, &mut found);
                (Cow::Owned(r.text), found)
            }
            None => (Cow::Borrowed(s), found),
        }
    }

    /// Redacts the JSON text of one value kept on its own (a request id): as a message is.
    pub fn redact_json_text<'a>(&self, raw: &'a str) -> Cow<'a, str> {
        match self.audit_copy(raw.as_bytes()).text() {
            Some(t) => Cow::Owned(String::from_utf8_lossy(t).into_owned()),
            None => Cow::Borrowed(raw),
        }
    }
}
