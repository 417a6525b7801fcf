//! Observability: the access log, and traces ([`trace`]: W3C Trace Context
//! propagation and OpenTelemetry spans over OTLP/HTTP). Metrics join here later.

mod access_log;
pub mod trace;

pub use access_log::{AccessLog, AccessLogEntry, ClientCertEntry};
