//! `[tracing]`: OpenTelemetry spans exported over OTLP/HTTP.

use std::fmt;
use std::time::Duration;

/// Default `tracing.sample_ratio`: every trace that starts here is sampled.
pub const DEFAULT_TRACE_SAMPLE_RATIO: f64 = 1.0;
/// Default `tracing.service_name`.
pub const DEFAULT_TRACE_SERVICE_NAME: &str = "turnpike";
/// Default `tracing.batch_size`: most spans in one export request.
pub const DEFAULT_TRACE_BATCH_SIZE: usize = 512;
/// Spans waiting for export; past this, new spans are dropped rather than
/// letting a slow collector hold memory or requests.
pub const TRACE_QUEUE_SIZE: usize = 2048;
/// Default `tracing.export_interval`.
pub const DEFAULT_TRACE_EXPORT_INTERVAL: Duration = Duration::from_secs(1);

/// A validated `[tracing]` table.
#[derive(Clone, PartialEq)]
pub struct TracingConfig {
    /// The collector's OTLP/HTTP traces URL (`http://`; `/v1/traces` added
    /// when the URL has no path).
    pub endpoint: String,
    /// Share of the traces that start at the gateway that are sampled,
    /// `0.0..=1.0`. A request with a valid `traceparent` follows its flag.
    pub sample_ratio: f64,
    /// The resource's `service.name`.
    pub service_name: String,
    /// Extra headers sent to the collector (names lowercase, checked).
    pub headers: Vec<(String, String)>,
    /// Most spans in one export request, `1..=TRACE_QUEUE_SIZE`.
    pub batch_size: usize,
    /// Time between exports while spans are waiting.
    pub export_interval: Duration,
}

impl fmt::Debug for TracingConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values are usually API keys for a hosted collector.
        let header_names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("TracingConfig")
            .field("endpoint", &self.endpoint)
            .field("sample_ratio", &self.sample_ratio)
            .field("service_name", &self.service_name)
            .field("headers", &header_names)
            .field("batch_size", &self.batch_size)
            .field("export_interval", &self.export_interval)
            .finish()
    }
}
