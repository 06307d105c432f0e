//! What a rule may know about the tool a call names (its risk tier, data classification,
//! class, catalog state and other names), gathered for the decide stage and for hiding tools:
//! from the policy's catalog metadata, the catalog, and the tool classifier.

use warden_policy::ToolFacts;
use warden_policy::catalog::default_tier;

use super::{Governance, Pipeline};

impl Pipeline {
    /// The facts about `tool`, when the policy can use them (a rule matches facts, or the
    /// catalog metadata gives tools other names); `None` otherwise.
    pub(super) fn tool_facts(&self, g: &Governance, tool: &str) -> Option<ToolFacts> {
        let catalog = g.policy.catalog();
        if !g.policy.needs_facts() && catalog.is_empty() {
            return None;
        }
        let meta = catalog.lookup(&self.server, tool);
        let (class, destructive) = {
            let st = self.state();
            (st.tools.classify(tool).class, st.tools.destructive(tool))
        };
        let state = self
            .catalog
            .as_ref()
            .and_then(|(c, server)| c.state(server, tool))
            .map(|s| s.as_str().to_owned());
        Some(ToolFacts {
            risk_tier: Some(
                meta.risk_tier
                    .unwrap_or_else(|| default_tier(class, destructive)),
            ),
            data_classification: meta.data_classification,
            class: Some(class.to_owned()),
            state,
            aka: meta.aka,
        })
    }
}
