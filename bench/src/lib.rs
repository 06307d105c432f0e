//! Shared pieces of the load-benchmark binaries: reading a process's CPU time and memory from
//! /proc, the statistics (percentiles, medians) the reports are made of, and the HTTP servers'
//! listening socket.

pub mod net;
pub mod procfs;
pub mod stats;
