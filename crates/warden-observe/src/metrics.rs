//! The Prometheus registry: the monitoring guide's `mcp_*` metrics (so its PromQL and alert
//! rules work unchanged) and warden's own health (`warden_*`). Every label value is bounded
//! (see `labels`); counter names are registered without `_total`, which the OpenMetrics
//! encoder adds.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use warden_audit::writer::{BATCH_BUCKETS, WriterStats};

use crate::approvals::{OUTCOMES, OutcomeLabels, PendingApprovals, PendingCollector, WAIT_BUCKETS};

/// The content type of `/metrics`.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Buckets of `mcp_tool_call_duration_seconds`.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub tool_name: String,
    pub server_id: String,
    pub status: String,
    pub user_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ToolServer {
    pub tool_name: String,
    pub server_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub tool_name: String,
    pub server_id: String,
    pub error_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ToolUser {
    pub tool_name: String,
    pub server_id: String,
    pub user_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UserLabels {
    pub user_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServerLabels {
    pub server_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MessageLabels {
    pub direction: &'static str,
    pub method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    pub event: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LabelLabels {
    pub label: &'static str,
}

type HistogramFamily<S> = Family<S, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

fn wait_histogram() -> Histogram {
    Histogram::new(WAIT_BUCKETS)
}

/// Every metric warden exports, and the registry that encodes them.
pub struct Metrics {
    registry: Registry,
    pub tool_calls: Family<CallLabels, Counter>,
    pub tool_call_duration: HistogramFamily<ToolServer>,
    pub tool_call_errors: Family<ErrorLabels, Counter>,
    pub access_denied: Family<ToolUser, Counter>,
    pub rate_limit_hits: Family<ToolUser, Counter>,
    pub budget_exceeded: Family<UserLabels, Counter>,
    pub active_connections: Family<ServerLabels, Gauge>,
    pub sessions: Counter,
    pub messages: Family<MessageLabels, Counter>,
    pub policy_reloads: Family<ResultLabels, Counter>,
    pub anomalies: Family<KindLabels, Counter>,
    pub security_events: Family<EventLabels, Counter>,
    pub security_events_dropped: Counter,
    pub spans: Family<ResultLabels, Counter>,
    pub label_overflow: Family<LabelLabels, Counter>,
    pub approvals: Family<OutcomeLabels, Counter>,
    pub approval_wait: HistogramFamily<OutcomeLabels>,
    /// Read when scraped (`mcp_approvals_pending`, `mcp_approval_next_expiry_seconds`).
    pub approvals_pending: Arc<PendingApprovals>,
    /// Definition changes the catalog caught, by class.
    pub catalog_changes: Family<crate::catalog::ClassLabels, Counter>,
    /// Where `mcp_catalog_tools` is read from when scraped (set once the catalog is open).
    pub catalog_tools: Arc<crate::catalog::CatalogGauge>,
    /// Catalog records this warden wrote or saw, by event.
    pub catalog_events: Family<crate::catalog::EventLabels, Counter>,
    /// Where the witness submitter's counters are read from (set when one runs).
    pub witness: Arc<crate::witness::WitnessGauge>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Reads the audit writer's health on each scrape.
pub type WriterSource = Arc<dyn Fn() -> Option<WriterStats> + Send + Sync>;

impl Metrics {
    /// A registry with every metric; `writer` (when given) is read on each scrape.
    pub fn new(writer: Option<WriterSource>) -> Metrics {
        let mut r = Registry::default();
        let m = Metrics {
            tool_calls: Family::default(),
            tool_call_duration: Family::new_with_constructor(duration_histogram),
            tool_call_errors: Family::default(),
            access_denied: Family::default(),
            rate_limit_hits: Family::default(),
            budget_exceeded: Family::default(),
            active_connections: Family::default(),
            sessions: Counter::default(),
            messages: Family::default(),
            policy_reloads: Family::default(),
            anomalies: Family::default(),
            security_events: Family::default(),
            security_events_dropped: Counter::default(),
            spans: Family::default(),
            label_overflow: Family::default(),
            approvals: Family::default(),
            approval_wait: Family::new_with_constructor(wait_histogram),
            approvals_pending: Arc::default(),
            catalog_changes: Family::default(),
            catalog_tools: Arc::default(),
            catalog_events: Family::default(),
            witness: Arc::default(),
            registry: Registry::default(),
        };
        r.register(
            "mcp_tool_calls",
            "MCP tool calls by tool, server, status (ok, rpc_error, denied, rate_limited, budget_exceeded, ...) and user",
            m.tool_calls.clone(),
        );
        r.register(
            "mcp_tool_call_duration_seconds",
            "Time from a tools/call request to its response, as seen by warden",
            m.tool_call_duration.clone(),
        );
        r.register(
            "mcp_tool_call_errors",
            "MCP tool calls that failed (JSON-RPC error, gateway error, abandoned), by error type",
            m.tool_call_errors.clone(),
        );
        r.register(
            "mcp_access_denied",
            "Tool calls policy denied",
            m.access_denied.clone(),
        );
        r.register(
            "mcp_rate_limit_hits",
            "Tool calls refused because a rate limit was full",
            m.rate_limit_hits.clone(),
        );
        r.register(
            "mcp_budget_exceeded",
            "Tool calls refused because a budget was spent",
            m.budget_exceeded.clone(),
        );
        r.register(
            "mcp_active_connections",
            "MCP sessions open, by server",
            m.active_connections.clone(),
        );
        r.register(
            "warden_sessions",
            "MCP sessions started",
            m.sessions.clone(),
        );
        r.register(
            "warden_messages",
            "JSON-RPC messages seen, by direction (c2s, s2c) and method",
            m.messages.clone(),
        );
        r.register(
            "warden_policy_reloads",
            "Policy reloads, by result (ok, failed)",
            m.policy_reloads.clone(),
        );
        r.register(
            "warden_anomalies",
            "Anomalies detected, by kind (call_rate_spike, denial_burst, error_rate_jump)",
            m.anomalies.clone(),
        );
        r.register(
            "warden_security_events",
            "Security events written to the event stream, by event",
            m.security_events.clone(),
        );
        r.register(
            "warden_security_events_dropped",
            "Security events dropped because the event stream's queue was full",
            m.security_events_dropped.clone(),
        );
        r.register(
            "warden_trace_spans",
            "Trace spans by result (exported, failed, dropped: the queue was full)",
            m.spans.clone(),
        );
        r.register(
            "warden_label_overflow",
            "Label values reported as `other` because their set was full or they were unfit",
            m.label_overflow.clone(),
        );
        r.register(
            "mcp_approvals",
            "Approvals decided, by outcome (approved, denied, expired, cancelled)",
            m.approvals.clone(),
        );
        r.register(
            "mcp_approval_wait_seconds",
            "Time from an approval's request to its decision, by outcome",
            m.approval_wait.clone(),
        );
        r.register_collector(Box::new(PendingCollector(m.approvals_pending.clone())));
        r.register(
            "mcp_catalog_changes",
            "Tool definition changes the catalog caught, by the class of their diff",
            m.catalog_changes.clone(),
        );
        r.register_collector(Box::new(crate::catalog::CatalogCollector(
            m.catalog_tools.clone(),
        )));
        r.register(
            "mcp_catalog_events",
            "Tool catalog records (first_seen, changed, restored, decided, reviewed) this warden wrote",
            m.catalog_events.clone(),
        );
        r.register_collector(Box::new(crate::witness::WitnessCollector(
            m.witness.clone(),
        )));
        if let Some(w) = writer {
            r.register_collector(Box::new(WriterCollector(w)));
        }
        // Series that alerts compare are there from the start, at 0.
        for result in ["ok", "failed"] {
            m.policy_reloads
                .get_or_create_owned(&ResultLabels { result });
        }
        for result in ["exported", "failed", "dropped"] {
            m.spans.get_or_create_owned(&ResultLabels { result });
        }
        for kind in crate::anomaly::KINDS {
            m.anomalies.get_or_create_owned(&KindLabels { kind });
        }
        for class in crate::catalog::CLASSES {
            m.catalog_changes
                .get_or_create_owned(&crate::catalog::ClassLabels { class });
        }
        for (_, event) in crate::catalog::EVENTS {
            m.catalog_events
                .get_or_create_owned(&crate::catalog::EventLabels { event });
        }
        for outcome in OUTCOMES {
            m.approvals.get_or_create_owned(&OutcomeLabels { outcome });
            m.approval_wait
                .get_or_create_owned(&OutcomeLabels { outcome });
        }
        Metrics { registry: r, ..m }
    }

    /// The registry in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ok = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The audit writer's counters, read when scraped.
struct WriterCollector(WriterSource);

impl std::fmt::Debug for WriterCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriterCollector")
    }
}

impl Collector for WriterCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(s) = (self.0)() else { return Ok(()) };
        let counters = [
            (
                "warden_audit_records_enqueued",
                "Audit records queued for the writer",
                s.enqueued,
            ),
            (
                "warden_audit_records_committed",
                "Audit records committed to the store",
                s.committed,
            ),
            (
                "warden_audit_store_errors",
                "Audit store commits that failed (records are held and retried)",
                s.store_errors,
            ),
            (
                "warden_audit_checkpoints",
                "Signed checkpoints written",
                s.checkpoints,
            ),
        ];
        for (name, help, v) in counters {
            let c = ConstCounter::new(v);
            c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)?;
        }
        let gauges = [
            (
                "warden_audit_writer_lag_records",
                "Audit records queued but not yet committed",
                i64::try_from(s.enqueued.saturating_sub(s.committed)).unwrap_or(i64::MAX),
            ),
            (
                "warden_audit_store_failing",
                "1 while the audit store is failing",
                i64::from(s.failing),
            ),
        ];
        for (name, help, v) in gauges {
            let g = ConstGauge::new(v);
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        let mut e = encoder.encode_descriptor(
            "warden_audit_batch_duration_seconds",
            "Time to commit one batch of audit records",
            None,
            prometheus_client::metrics::MetricType::Histogram,
        )?;
        let buckets: Vec<(f64, u64)> = BATCH_BUCKETS
            .iter()
            .copied()
            .chain([f64::MAX])
            .zip(s.batch_buckets.iter().copied())
            .collect();
        e.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            s.batch_seconds,
            s.batches,
            &buckets,
            None,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guide_names_are_exported() {
        let m = Metrics::new(Some(Arc::new(|| Some(WriterStats::default()))));
        m.tool_calls
            .get_or_create(&CallLabels {
                tool_name: "echo".into(),
                server_id: "s".into(),
                status: "ok".into(),
                user_id: String::new(),
            })
            .inc();
        m.tool_call_duration
            .get_or_create(&ToolServer {
                tool_name: "echo".into(),
                server_id: "s".into(),
            })
            .observe(0.01);
        let text = m.encode();
        for name in [
            "mcp_tool_calls_total{",
            "mcp_tool_call_duration_seconds_bucket{",
            "warden_audit_records_enqueued_total 0",
            "warden_audit_batch_duration_seconds_count 0",
            "warden_audit_writer_lag_records 0",
            // Approvals: the outcomes at 0, waits too (dashboards name them before any
            // approval), nothing pending and no next expiry.
            "mcp_approvals_total{outcome=\"expired\"} 0",
            "mcp_approval_wait_seconds_count{outcome=\"approved\"} 0",
            "mcp_approvals_pending 0",
        ] {
            assert!(text.contains(name), "{name} missing in\n{text}");
        }
        assert!(!text.contains("mcp_approval_next_expiry_seconds"));
        assert!(text.ends_with("# EOF\n"));
    }
}
