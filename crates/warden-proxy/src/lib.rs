//! warden-proxy: transports, sessions and the message pipeline.
//!
//! # Layout
//! - [`pipeline`]: `Pipeline::on_frame`, the named stages every frame goes through, in order.
//! - [`catalog`]: the tool catalog on the wire: tool lists entered, unapproved tools hidden and refused.
//! - [`catalog_meta`]: a catalogued tool with its metadata (owner, tier, class, review due).
//! - [`approvals`]: the desk that holds calls for approval and releases them as decided.
//! - [`admit`]: the first stage for client frames: only what warden read strictly goes on.
//! - [`correlate`]: requests matched to responses in both id spaces; cancellation, progress.
//! - [`stdio`]: the `warden run` transport: child process, frame pumps, shutdown.
//! - [`http`]: the `warden serve` front door (Streamable HTTP), stdio and HTTP upstreams.
//! - [`errors`]: the JSON-RPC errors warden answers with itself.
//! - [`policy_source`]: a policy file or directory read and compiled, each file's hash and git facts.
//! - [`policy_git`]: the last commit that touched a policy file, from the `git` binary.
//! - [`policy_watch`]: the policy file or directory watched and recompiled (hot reload).
//! - [`observer`]: the hook metrics, traces and security events see records through.
//! - [`limits`]: exact sliding-window rate limits.
//! - [`budgets`]: per-window budgets, seeded from the audit store.
//! - [`tools`]: read / write / sensitive classification of tools.
//! - [`realpath`]: real paths on this host, for policies that resolve symlinks.
//! - [`webhook`]: the approvals' webhook channel (signed notices, retried in the background).

pub mod admit;
pub mod approvals;
pub mod budgets;
pub mod catalog;
pub mod catalog_meta;
pub mod correlate;
pub mod errors;
pub mod http;
pub mod limits;
pub mod observer;
pub mod pipeline;
pub mod policy_git;
pub mod policy_source;
pub mod policy_watch;
pub mod realpath;
pub mod stdio;
pub mod tools;
pub mod webhook;

pub use observer::{FrameHints, Observer};
pub use pipeline::{Governance, OnStoreError, Pipeline};
pub use stdio::{StdioConfig, run};
