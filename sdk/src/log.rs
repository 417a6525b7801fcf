//! Logging into the gateway's log, tagged with the plugin and request.
//! Outside the gateway (unit tests) records go to standard error.

use crate::authorizer_bindings::turnpike::gateway::log as host;

pub use host::Level;

/// Writes one record at `level`.
pub fn log(level: Level, message: &str) {
    #[cfg(target_family = "wasm")]
    host::log(level, message);
    #[cfg(not(target_family = "wasm"))]
    eprintln!("[{level:?}] {message}");
}

/// Writes a debug record.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Writes an info record.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Writes a warning.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Writes an error record.
pub fn error(message: &str) {
    log(Level::Error, message);
}
