//! Observability: the access log and the Prometheus metrics (traces join
//! here).

mod access_log;
pub mod metrics;

pub use access_log::{AccessLog, AccessLogEntry, ClientCertEntry};
pub use metrics::Metrics;
