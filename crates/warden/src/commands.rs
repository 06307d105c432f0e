//! One module per command family.

pub(crate) mod approvals;
pub(crate) mod archive;
pub(crate) mod audit;
pub(crate) mod audit_proof;
pub(crate) mod audit_tiles;
pub(crate) mod catalog;
pub(crate) mod catalog_review;
pub(crate) mod daily;
pub(crate) mod dashboard;
pub(crate) mod demo;
pub(crate) mod demo_server;
pub(crate) mod erase;
pub(crate) mod keys;
pub(crate) mod observe;
pub(crate) mod policy;
pub(crate) mod policy_history;
pub(crate) mod record;
pub(crate) mod report;
pub(crate) mod run;
pub(crate) mod serve;
pub(crate) mod witness;
pub(crate) mod witness_audit;
pub(crate) mod witness_http;
