//! warden-proxy: transports, sessions and the message pipeline.
//!
//! # Layout
//! - [`pipeline`]: `Pipeline::on_frame`, the fixed step order every frame goes through.
//! - [`correlate`]: requests matched to responses in both id spaces; cancellation, progress.
//! - [`stdio`]: the `warden run` transport: child process, frame pumps, shutdown.
//! - [`errors`]: the JSON-RPC errors warden answers with itself.
//! - [`limits`]: exact sliding-window rate limits.
//! - [`budgets`]: per-window budgets, seeded from the audit store.
//! - [`tools`]: read / write / sensitive classification of tools.

pub mod budgets;
pub mod correlate;
pub mod errors;
pub mod limits;
pub mod pipeline;
pub mod stdio;
pub mod tools;

pub use pipeline::{Governance, OnStoreError, Pipeline};
pub use stdio::{StdioConfig, run};
