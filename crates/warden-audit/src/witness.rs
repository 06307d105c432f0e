//! Witnessing (C2SP `tlog-witness`, `tlog-cosignature`, `tlog-policy`): what lets a log that
//! only its writer signs show a rollback or a rewrite, even to someone holding the signing key.
//!
//! # Layout
//! - [`cosign`]: Ed25519 cosignature keys and lines (`cosignature/v1`).
//! - [`request`]: the `add-checkpoint` request body, read strictly.
//! - [`state`]: the witness's per-log latest cosigned checkpoint (SQLite, 0600).
//! - [`core`]: the witness's decision on a submission (no HTTP).
//! - [`policy`]: quorum policies (`tlog-policy` files).
//! - [`cosigned`]: the cosignatures a log got, kept in the audit store beside its checkpoints.
//! - [`submit`]: the log side: sends committed checkpoints to witnesses in the background.
//! - [`audit`]: the offline check of a store against a policy.

pub mod audit;
pub mod core;
pub mod cosign;
pub mod cosigned;
pub mod policy;
pub mod request;
pub mod state;
pub mod submit;

#[cfg(test)]
mod submit_tests;
#[cfg(test)]
mod tests;
