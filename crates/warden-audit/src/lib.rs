//! warden-audit: the tamper-evident audit log.
//!
//! # Layout
//! - [`approvals`]: calls waiting for a human: pending, decided, used (`ApprovalStore`).
//! - [`archive`]: a log's oldest records moved to sealed segment files, the tree edge kept.
//! - [`catalog`]: the tool catalog: pinned definitions, quarantine of changes (`CatalogStore`).
//! - [`record`]: `AuditEvent` (what the proxy hands over) and the sealed leaf (what is hashed and stored).
//! - [`content`]: the content store: payloads a v2 leaf commits to, which can expire or be erased.
//! - [`keyed`]: keyed hashes of arguments and results.
//! - [`tree`]: the RFC 6962 Merkle tree's right edge (`Frontier`), O(log n) memory.
//! - [`keys`]: checkpoint signing key, verifier key, hash key.
//! - [`checkpoint`]: C2SP signed-note checkpoints.
//! - [`store`]: SQLite schema, append, scans and queries.
//! - `wal`: the WAL checkpointer thread, which keeps the WAL from growing under steady writes.
//! - [`columns`]: the query columns copied out of each leaf, and the check that they still agree.
//! - [`writer`]: the single writer thread and the `AuditHandle` everyone else holds.
//! - [`verify`]: per-log verification naming the first problem.
//! - [`export`]: JSONL export, and verification of a store or an export.
//! - [`proof`]: inclusion and consistency proofs, and their offline check.
//! - [`tlog_proof`]: inclusion proofs as `c2sp.org/tlog-proof@v1` text, and their check.
//! - [`tiles`]: C2SP `tlog-tiles` paths and entry bundles; [`tiler`]: a log's tiles built in
//!   one pass; [`tile_export`]: the static tile tree of each log (`audit export-tiles`);
//!   [`tile_read`]: one tile read from the store on request (the admin plane).
//! - [`removal`]: erasure and expiry of content, each recorded in the log it leaves verifiable.
//! - [`witness`]: C2SP witnessing: the witness, cosignatures, quorum policies, submission.
//! - [`anchor`]: copies of checkpoints kept outside the store, and the check against them.
//! - [`status`]: success and failure, the statuses every reader shares.
//! - `private`: the store's files are mode 0600.
//! - [`query`]: the admin plane's queries: filtered pages with cursors, sessions, statistics.
//! - [`daily`]: the daily security report (`warden report daily`), read-only SQL.
//!
//! Hash what you store, store what you hash: a leaf's bytes are written once and never
//! re-serialized; verification reads leaves, stored hashes and checkpoints, and checks the
//! query columns against the leaves.

pub mod anchor;
pub mod approvals;
pub mod archive;
pub mod catalog;
pub mod checkpoint;
pub mod columns;
pub mod content;
pub mod daily;
pub mod export;
pub mod keyed;
pub mod keys;
mod private;
pub mod proof;
pub mod query;
pub mod record;
pub mod removal;
pub mod status;
pub mod store;
pub mod tile_export;
pub mod tile_read;
pub mod tiler;
pub mod tiles;
pub mod tlog_proof;
pub mod tree;
pub mod verify;
mod wal;
pub mod witness;
pub mod writer;

pub use keys::Keys;
pub use record::{AuditEvent, Outcome, PayloadLevel, SessionContext, now_us};
pub use store::{RecordRow, Store, StoreError};
pub use writer::{AuditHandle, AuditWriter, Durability, WriterConfig};
