//! Stage 3, audit copy: what of a frame may be stored, with secrets and personal data
//! replaced before anything is hashed, stored or exported (and what redaction found, which
//! the decision reads: a secret in a call's arguments can refuse it).

use bytes::Bytes;
use warden_audit::AuditEvent;
use warden_policy::redact::{AuditCopy, CopySpans, Redaction, SpannedCopy};

use super::Pipeline;
use super::parse::Parsed;

/// The audit copy of one frame.
pub(super) enum Copied {
    /// No redactor, or the frame did not parse: the record keeps the frame (unparsed frames are
    /// redacted as text when their record is made).
    Unredacted,
    /// Nothing to redact: the original bytes are stored, labelled `clean`.
    Clean,
    /// The copy to store instead, what was replaced, its `dlp` label, each message's argument
    /// and body spans in the copy (none when the copy no longer reads as a message: then
    /// nothing of the original frame is stored), and whether the copy reads strictly.
    Redacted {
        bytes: Bytes,
        found: Vec<Redaction>,
        label: &'static str,
        spans: Vec<CopySpans>,
        strict: bool,
    },
}

impl Pipeline {
    /// Stage 3 (pure). The redactor hands back the spans of its copy: nothing is parsed or
    /// classified again, and a clean message is neither copied nor walked twice.
    pub(super) fn audit_copy(&self, parsed: &Parsed<'_>) -> Copied {
        let (Ok(env), Some(r)) = (parsed.env(), &self.redactor) else {
            return Copied::Unredacted;
        };
        let SpannedCopy {
            copy,
            spans,
            strict,
        } = r.audit_copy_spanned(env.body);
        if copy == AuditCopy::Clean {
            return Copied::Clean;
        }
        let label = copy.label();
        let bytes = Bytes::copy_from_slice(copy.text().unwrap_or(env.body));
        let found = match copy {
            AuditCopy::Clean => Vec::new(),
            AuditCopy::Redacted { found, .. } | AuditCopy::Scanned { found, .. } => found,
        };
        Copied::Redacted {
            bytes,
            found,
            label,
            spans,
            strict,
        }
    }

    /// Redacts an event whose frame could not be parsed: the tolerant text scan (every
    /// detector and the key rules); never labelled `clean`.
    pub(super) fn redact_text(&self, ev: &mut AuditEvent) {
        self.redact_unparsed(ev, false);
    }

    /// `redact_text`, for a frame that is `truncated` (its last word is masked as well).
    pub(super) fn redact_unparsed(&self, ev: &mut AuditEvent, truncated: bool) {
        let Some(r) = &self.redactor else { return };
        let copy = r.audit_copy_unparsed(&ev.frame, truncated);
        ev.dlp = Some(copy.label());
        if let Some(text) = copy.text() {
            ev.frame = Bytes::copy_from_slice(text);
        }
        if !copy.found().is_empty() {
            ev.redactions = serde_json::to_value(copy.found()).ok();
        }
    }
}
