//! One module per command family.

pub(crate) mod audit;
pub(crate) mod demo;
pub(crate) mod demo_server;
pub(crate) mod keys;
pub(crate) mod policy;
pub(crate) mod run;
