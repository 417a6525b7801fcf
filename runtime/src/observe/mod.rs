//! Observability: the access log (metrics and traces join here later).

mod access_log;

pub use access_log::{AccessLog, AccessLogEntry, ClientCertEntry};
