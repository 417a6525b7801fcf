//! Leaf helpers that several concerns share and none owns: calendar math
//! and clocks, durable file writes, reading a request body the gateway no
//! longer needs, returning freed memory. Nothing here imports another module of the crate.

pub mod drain;
pub mod fs;
pub mod headers;
pub mod memory;
pub mod side_listener;
pub mod time;

/// A boxed error source, for errors that only travel to a log line.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The value out of its box, the box freed now: moving out with `*boxed`
/// frees the allocation only when the box's variable goes out of scope,
/// which for a connection's task may be hours later.
#[allow(clippy::boxed_local)] // taking the box is the point
pub fn unbox<T>(boxed: Box<T>) -> T {
    *boxed
}
