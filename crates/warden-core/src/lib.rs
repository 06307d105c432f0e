//! warden-core: the vocabulary of the gateway and the pure steps of its pipeline (parse, classify).
//!
//! # Layout
//! - [`canonical`]: canonical JSON (RFC 8785 ordering and escapes), what warden hashes.
//! - [`envelope`]: the lazy JSON-RPC envelope parsed from one frame's bytes (raw values, no tree).
//! - [`classify`]: what a message is about (method, target, progress token, initialize info).
//! - [`strict`]: the strict reading a client frame must pass to be forwarded (fail closed).
//! - [`read`]: that reading and the envelope in one walk of the bytes ([`strict::read`]).
//! - [`ids`]: request ids as correlation keys, in the two id spaces of a session.
//! - [`token`]: bearer tokens: the `Bearer` scheme, the constant-time check of the admin and
//!   metrics listeners, the minimum strength of a configured token.
//! - [`tooldef`]: tool definitions for the catalog: the definition pin, classified diffs, renames.
//! - [`host`]: DNS-rebinding protection: the `Host` and `Origin` every listener accepts.
//!
//! This crate does no I/O and never panics on wire input.

pub mod canonical;
pub mod classify;
pub mod envelope;
pub mod host;
pub mod ids;
pub mod read;
pub mod strict;
pub mod token;
pub mod tooldef;

pub use classify::{Classification, Implementation, classify};
pub use envelope::{Envelope, Kind, Message, ParseError, parse_frame};
pub use ids::{Direction, RequestId, Side};
pub use strict::Violation;
