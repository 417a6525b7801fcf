//! Observability: the access log, the Prometheus metrics ([`metrics`]) and
//! traces ([`trace`]: W3C Trace Context propagation and OpenTelemetry spans
//! over OTLP/HTTP).

mod access_log;
pub mod metrics;
pub mod trace;

pub use access_log::{AccessLog, AccessLogEntry, ClientCertEntry};
pub use metrics::Metrics;
