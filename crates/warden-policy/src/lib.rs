//! warden-policy: policy as code and redaction. Pure and synchronous: no I/O, no clock reads
//! (the caller passes what it knows), so every decision can be tested and explained.
//!
//! # Layout
//! - [`model`](crate::model): the policy file as written (YAML), with source locations.
//! - [`catalog`]: catalog metadata as code (owner, tier, classification, reviews) and the
//!   facts about a tool that rules match.
//! - [`approval`]: an `approve` rule's approval block (timeout, hold, grant, channels).
//! - [`compile`]: `PolicySet::compile`: globs, regexes and paths built; every problem reported.
//! - `many`: `PolicySet::compile_many`: a directory's files combined by deny-overrides.
//! - [`guide`]: the governance guide's one-tool file (`tool:`, `roles:`, `constraints:`, `dlp:`,
//!   `audit:`, `review:`) translated into rules, catalog metadata and result handling.
//! - `condition`: each condition kind as written, compiled.
//! - [`eval`]: `PolicySet::evaluate`: deny-overrides decisions, and `explain` traces.
//! - [`path`]: lexical path normalization and containment (no traversal bypass).
//! - [`path_cond`]: which values of a call are paths, judged lexically and, optionally, against
//!   the real paths a caller-supplied resolver finds (symlinks).
//! - `sql`: `sql` conditions: SQL constraints judged on the parsed query (read only, blocked
//!   tables, WHERE on UPDATE and DELETE, row limits).
//! - [`redact`]: secret and personal-data detectors and the redacted audit copy.

pub mod approval;
pub mod catalog;
pub mod compile;
mod condition;
pub mod eval;
pub mod guide;
mod many;
mod model;
pub mod path;
pub mod path_cond;
pub mod redact;
mod sql;

pub use approval::{ApprovalSpec, Channel, Grant, Webhook};
pub use catalog::{CatalogMeta, DataClass, Day, Overdue, ToolFacts, ToolMeta};
pub use compile::{Action, Budget, Mode, Per, PolicyErrors, PolicySet, Problem, RateLimit};
pub use eval::{BudgetRef, Decision, GOVERNED_METHODS, Limit, Moment, Request, Trace};
