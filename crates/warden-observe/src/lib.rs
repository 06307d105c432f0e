//! warden-observe: what operators see of a running warden.
//!
//! # Layout
//! - [`observe`]: `Observability`, the pipeline's observer: metrics, spans, events, anomalies.
//! - [`metrics`]: the Prometheus registry (the guide's `mcp_*` names and `warden_*` health).
//! - [`catalog`]: catalogued tools by state, caught definition changes.
//! - [`witness`]: witness submissions and anchor writes (read from the submitter).
//! - [`approvals`]: approval decisions, waits, pending approvals and their next expiry.
//! - [`labels`]: bounded label values (tool names, principals, methods).
//! - [`trace`]: OTLP/HTTP export on a thread of its own; W3C `traceparent` parsing.
//! - [`span`]: the span of one exchange (`Span`) and the W3C ids, made without a tracing SDK.
//! - [`otlp`]: the OTLP protobuf encoding of a batch of spans (`Encoder`).
//! - [`events`]: the JSON security event stream.
//! - [`anomaly`]: rolling baselines, spikes, denial bursts, error-rate jumps.
//! - [`http`]: `/metrics`, `/healthz`, `/readyz` (`routes`, `serve_on_thread`).

pub mod anomaly;
pub mod approvals;
pub mod catalog;
pub mod events;
pub mod http;
pub mod labels;
pub mod metrics;
pub mod observe;
pub mod otlp;
pub mod span;
pub mod trace;
pub mod witness;

pub use http::{Admin, Check, routes, serve_on_thread};
pub use observe::{Observability, ObserveConfig};
