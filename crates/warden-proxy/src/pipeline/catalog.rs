//! The catalog's part in the pipeline: a server's `tools/list` result is entered in the tool
//! catalog (between correlate and rewrite: the rewrite hides what the catalog does not
//! approve), and a client's `tools/call` of a tool the catalog blocks is refused (in decide).

use warden_audit::AuditEvent;
use warden_core::{Classification, Direction, Kind, Message};

use warden_policy::Overdue;

use super::correlate::Link;
use super::parse::Parsed;
use super::{Governance, Pipeline};
use crate::catalog::{Blocked, Listed, Reviews};

impl Pipeline {
    /// Enters a single server result that answers `tools/list` in the catalog.
    pub(super) fn catalog_list(
        &self,
        dir: Direction,
        frame: &[u8],
        parsed: &Parsed<'_>,
        links: &[Link],
    ) -> Option<Listed> {
        let (catalog, server) = self.catalog.as_ref()?;
        let (Some(msg), Some(link), false) =
            (parsed.messages().first(), links.first(), parsed.batch())
        else {
            return None;
        };
        if dir != Direction::S2C
            || msg.kind != Kind::Result
            || link
                .closed
                .as_ref()
                .is_none_or(|c| c.method != "tools/list")
        {
            return None;
        }
        let result: serde_json::Value = msg
            .result
            .and_then(|r| serde_json::from_str(r.get()).ok())
            .or_else(|| {
                serde_json::from_slice::<serde_json::Value>(frame)
                    .ok()
                    .and_then(|v| v.get("result").cloned())
            })?;
        let g = self.governance();
        Some(catalog.list(server, &self.server, &result, self.reviews(g.as_deref())))
    }

    /// The periodic reviews to enforce, when the policy's catalog metadata quarantines tools
    /// past their review.
    fn reviews<'a>(&'a self, g: Option<&'a Governance>) -> Option<Reviews<'a>> {
        let meta = g?.policy.catalog();
        (meta.overdue == Overdue::Quarantine && !meta.is_empty()).then(|| Reviews {
            meta,
            label: &self.server,
            today: crate::catalog_meta::today(),
        })
    }

    /// The catalog's refusal of a client's `tools/call`, if its tool is not approved.
    pub(super) fn catalog_blocks(&self, m: &Message<'_>, c: &Classification) -> Option<Blocked> {
        let (catalog, server) = self.catalog.as_ref()?;
        if m.kind != Kind::Request || m.method.as_deref() != Some("tools/call") {
            return None;
        }
        let g = self.governance();
        catalog.blocks(server, c.target.as_deref()?, self.reviews(g.as_deref()))
    }

    /// The catalog's records of a listing, in the session.
    pub(super) fn catalog_events(&self, listed: &Listed) -> Vec<AuditEvent> {
        let ctx = self.context();
        listed
            .events
            .iter()
            .map(|(name, detail)| {
                let mut ev = AuditEvent::gateway(self.session.clone(), ctx.clone(), name);
                ev.method = Some("tools/list".into());
                ev.target = detail["tool"].as_str().map(|t| self.scrub(t));
                ev.detail = Some(detail.clone());
                ev
            })
            .collect()
    }
}
