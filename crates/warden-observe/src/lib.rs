//! warden-observe: what operators see of a running warden.
//!
//! # Layout
//! - [`observe`]: `Observability`, the pipeline's observer: metrics, spans, events, anomalies.
//! - [`metrics`]: the Prometheus registry (the guide's `mcp_*` names and `warden_*` health).
//! - [`labels`]: bounded label values (tool names, principals, methods).
//! - [`trace`]: OTLP/HTTP export on a thread of its own; W3C `traceparent` parsing.
//! - [`events`]: the JSON security event stream.
//! - [`anomaly`]: rolling baselines, spikes, denial bursts, error-rate jumps.
//! - [`http`]: `/metrics`, `/healthz`, `/readyz` (`routes`, `serve_on_thread`).

pub mod anomaly;
pub mod events;
pub mod http;
pub mod labels;
pub mod metrics;
pub mod observe;
pub mod trace;

pub use http::{Admin, Check, routes, serve_on_thread};
pub use observe::{Observability, ObserveConfig};
