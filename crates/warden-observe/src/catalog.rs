//! The tool catalog in metrics: `mcp_catalog_tools{state}` (how many catalogued tools are in
//! each state, read from the catalog when scraped, so a decision made by the CLI in another
//! process shows at once), `mcp_catalog_review_overdue` (tools past their review date) and `mcp_catalog_changes_total{class}` (definition changes this
//! warden caught, by the class of their diff), and the `mcp_tool_definition_changed`
//! security event.

use std::sync::Arc;

use parking_lot::Mutex;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use serde_json::Value;
use warden_audit::AuditEvent;

/// The states a catalogued tool can be in.
pub const STATES: [&str; 4] = ["approved", "new", "changed", "rejected"];
/// The classes of a definition change.
pub const CLASSES: [&str; 3] = ["cosmetic", "semantic", "risk-raising"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClassLabels {
    pub class: &'static str,
}

/// The catalog's records, by the name `mcp_catalog_events_total{event}` gives them.
pub const EVENTS: [(&str, &str); 5] = [
    ("catalog_tool_first_seen", "first_seen"),
    ("catalog_tool_changed", "changed"),
    ("catalog_tool_restored", "restored"),
    ("catalog_tool_decided", "decided"),
    ("catalog_tool_reviewed", "reviewed"),
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    pub event: &'static str,
}

/// The label of a catalog record, if `ev` is one.
pub(crate) fn event_label(ev: &AuditEvent) -> Option<&'static str> {
    let name = ev.event?;
    EVENTS.iter().find(|(n, _)| *n == name).map(|(_, l)| *l)
}

/// The security event of a catalog record other than a changed definition (which has its own,
/// [`security_event`]): a tool first seen (its state), restored, decided (by whom, to what)
/// or reviewed. Names and states only, never a definition's text.
pub(crate) fn lifecycle_event(ev: &AuditEvent) -> Option<(&'static str, Value)> {
    let label = event_label(ev).filter(|l| *l != "changed")?;
    let d = ev.detail.as_ref()?;
    Some((
        crate::events::CATALOG_EVENT,
        serde_json::json!({
            "event": crate::events::CATALOG_EVENT,
            "catalog_event": label,
            "timestamp": crate::events::timestamp(ev.ts_us),
            "record_id": ev.id.to_string(),
            "server": d.get("server"),
            "tool": d.get("tool"),
            "state": d.get("state"),
            "pin": d.get("pin"),
            "by": d.get("by"),
            "via": d.get("via"),
            "renamed_from": d.get("renamed_from"),
            "next_review": d.get("next_review"),
        }),
    ))
}

/// Counts the catalog's tools by state and those past their review (`None` when the catalog
/// cannot be read).
pub type CatalogSource = Arc<dyn Fn() -> Option<warden_proxy::catalog_meta::Counts> + Send + Sync>;

/// Where `mcp_catalog_tools` is read from, set once the catalog is open.
#[derive(Default)]
pub struct CatalogGauge(Mutex<Option<CatalogSource>>);

impl std::fmt::Debug for CatalogGauge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CatalogGauge")
    }
}

impl CatalogGauge {
    pub fn set(&self, source: CatalogSource) {
        *self.0.lock() = Some(source);
    }
}

#[derive(Debug)]
pub(crate) struct CatalogCollector(pub(crate) Arc<CatalogGauge>);

impl Collector for CatalogCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let source = self.0.0.lock().clone();
        let Some(counts) = source.and_then(|s| s()) else {
            return Ok(());
        };
        let mut family = encoder.encode_descriptor(
            "mcp_catalog_tools",
            "Catalogued tools by state (approved; new, changed and rejected ones are hidden and refused)",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for state in STATES {
            let n = counts
                .states
                .iter()
                .find(|(s, _)| s == state)
                .map_or(0, |(_, n)| *n);
            let g = ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX));
            g.encode(family.encode_family(&[("state", state)])?)?;
        }
        let overdue = encoder.encode_descriptor(
            "mcp_catalog_review_overdue",
            "Catalogued tools past their review date (catalog metadata's next_review / review_every)",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        ConstGauge::new(i64::try_from(counts.review_overdue).unwrap_or(i64::MAX))
            .encode(overdue)?;
        Ok(())
    }
}

/// The class of a `catalog_tool_changed` record, if `ev` is one.
pub(crate) fn changed_class(ev: &AuditEvent) -> Option<&'static str> {
    if ev.event != Some("catalog_tool_changed") {
        return None;
    }
    let class = ev.detail.as_ref()?.get("class")?.as_str()?;
    CLASSES.iter().copied().find(|c| *c == class)
}

/// The security event of a changed definition: which tool of which server, the class of the
/// change and what changed, in words (never a definition's text).
pub(crate) fn security_event(ev: &AuditEvent) -> Option<(&'static str, Value)> {
    let d = ev.detail.as_ref()?;
    changed_class(ev)?;
    Some((
        crate::events::TOOL_DEFINITION_CHANGED,
        serde_json::json!({
            "event": crate::events::TOOL_DEFINITION_CHANGED,
            "timestamp": crate::events::timestamp(ev.ts_us),
            "record_id": ev.id.to_string(),
            "server": d.get("server"),
            "tool": d.get("tool"),
            "class": d.get("class"),
            "annotation_only": d.get("annotation_only"),
            "pin": d.get("pin"),
            "approved_pin": d.get("approved_pin"),
            "changes": d.get("changes").and_then(Value::as_array).map(|c| {
                c.iter().map(|x| x.get("what").cloned().unwrap_or(Value::Null)).collect::<Vec<_>>()
            }),
        }),
    ))
}
