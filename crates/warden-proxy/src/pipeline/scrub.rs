//! Fields copied into records on their own (method, target, request id, peer names), redacted
//! like the payload they come from.

use super::Pipeline;

impl Pipeline {
    /// A field copied into records on its own (method, target, client name, the server's
    /// command), redacted.
    pub fn scrub(&self, s: &str) -> String {
        match &self.redactor {
            Some(r) => r.redact_str(s).0.into_owned(),
            None => s.to_owned(),
        }
    }

    /// A request id (its JSON text) as records keep it, redacted.
    pub(super) fn scrub_id(&self, raw: &str) -> String {
        match &self.redactor {
            Some(r) => r.redact_json_text(raw).into_owned(),
            None => raw.to_owned(),
        }
    }

    /// A peer's `clientInfo` / `serverInfo`, which every record and security event copies.
    pub(super) fn scrub_implementation(
        &self,
        i: warden_core::Implementation,
    ) -> warden_core::Implementation {
        warden_core::Implementation {
            name: self.scrub(&i.name),
            version: self.scrub(&i.version),
        }
    }
}
