//! Leaf helpers that several concerns share and none owns: calendar math
//! and clocks, durable file writes, reading a request body the gateway no
//! longer needs, returning freed memory. Nothing here imports another module of the crate.

pub mod drain;
pub mod fs;
pub mod headers;
pub mod memory;
pub mod time;

/// A boxed error source, for errors that only travel to a log line.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
