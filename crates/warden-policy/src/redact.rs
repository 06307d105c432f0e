//! Secret and personal-data redaction of the audit copy (not yet wired in).
