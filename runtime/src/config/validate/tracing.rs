//! `[tracing]`: the OTLP/HTTP collector, the sample ratio, the batches.

use http::{HeaderName, HeaderValue, Uri};

use super::Validator;
use crate::config::model::*;
use crate::config::raw::{RawTracing, SpannedStr};

/// Headers the exporter writes itself: one from the configuration would
/// make the collector misread the body.
const EXPORTER_HEADERS: &[&str] = &["content-type", "content-encoding", "content-length", "host"];

impl Validator {
    pub(super) fn tracing(&mut self, raw: RawTracing) -> TracingConfig {
        let endpoint = self.trace_endpoint(&raw.endpoint);
        let sample_ratio = match &raw.sample_ratio {
            None => DEFAULT_TRACE_SAMPLE_RATIO,
            Some(value) => {
                let ratio = value.get_ref().as_f64();
                if (0.0..=1.0).contains(&ratio) {
                    ratio
                } else {
                    self.problem(
                        value.span(),
                        "tracing.sample_ratio",
                        format!(
                            "{ratio} is not a ratio: write a number from 0.0 (no trace that starts here is sampled) to 1.0 (all are)"
                        ),
                    );
                    DEFAULT_TRACE_SAMPLE_RATIO
                }
            }
        };
        let service_name = match raw.service_name {
            None => DEFAULT_TRACE_SERVICE_NAME.to_owned(),
            Some(name) if name.get_ref().trim().is_empty() => {
                self.problem(
                    name.span(),
                    "tracing.service_name",
                    "the service name is empty",
                );
                DEFAULT_TRACE_SERVICE_NAME.to_owned()
            }
            Some(name) => name.into_inner(),
        };
        let mut headers = Vec::with_capacity(raw.headers.len());
        for (name, value) in &raw.headers {
            let key = format!("tracing.headers.{name}");
            let Ok(parsed) = HeaderName::from_bytes(name.as_bytes()) else {
                self.problem(value.span(), key, format!("`{name}` is not a header name"));
                continue;
            };
            if EXPORTER_HEADERS.contains(&parsed.as_str()) {
                self.problem(
                    value.span(),
                    key,
                    format!("`{name}` is set by the exporter and cannot be replaced"),
                );
                continue;
            }
            // The exporter takes header values as text: visible ASCII only.
            let text = value.get_ref();
            if !HeaderValue::from_str(text).is_ok_and(|v| v.to_str().is_ok()) {
                self.problem(
                    value.span(),
                    key,
                    "a header value is printable ASCII without line breaks",
                );
                continue;
            }
            headers.push((parsed.as_str().to_owned(), text.clone()));
        }
        let batch_size = match &raw.batch_size {
            None => DEFAULT_TRACE_BATCH_SIZE,
            Some(n) => match usize::try_from(*n.get_ref()) {
                Ok(n) if (1..=TRACE_QUEUE_SIZE).contains(&n) => n,
                _ => {
                    self.problem(
                        n.span(),
                        "tracing.batch_size",
                        format!(
                            "{} is not from 1 to {TRACE_QUEUE_SIZE} (the most spans waiting for export)",
                            n.get_ref()
                        ),
                    );
                    DEFAULT_TRACE_BATCH_SIZE
                }
            },
        };
        let export_interval = self.duration(
            raw.export_interval,
            "tracing.export_interval",
            DEFAULT_TRACE_EXPORT_INTERVAL,
        );
        TracingConfig {
            endpoint,
            sample_ratio,
            service_name,
            headers,
            batch_size,
            export_interval,
        }
    }

    /// The collector's URL: `http://HOST[:PORT][/PATH]`, with `/v1/traces`
    /// when it has no path (as `OTEL_EXPORTER_OTLP_ENDPOINT` is read).
    fn trace_endpoint(&mut self, endpoint: &SpannedStr) -> String {
        let text = endpoint.get_ref().trim();
        let lower = text.to_ascii_lowercase();
        let problem = if lower.starts_with("https://") {
            Some(
                "https:// collectors are not supported (the exporter is built without TLS): use http://, e.g. a collector or agent on this host or in a sidecar"
                    .to_owned(),
            )
        } else if !lower.starts_with("http://") {
            Some(format!(
                "`{text}` is not an http:// URL; write the collector's OTLP/HTTP traces URL, e.g. \"http://127.0.0.1:4318/v1/traces\""
            ))
        } else {
            match text.parse::<Uri>() {
                Ok(uri) if uri.host().is_some_and(|h| !h.is_empty()) => {
                    return if matches!(uri.path(), "" | "/") && uri.query().is_none() {
                        format!("{}/v1/traces", text.trim_end_matches('/'))
                    } else {
                        text.to_owned()
                    };
                }
                Ok(_) => Some(format!("`{text}` has no host")),
                Err(e) => Some(format!("`{text}` is not a URL ({e})")),
            }
        };
        if let Some(message) = problem {
            self.problem(endpoint.span(), "tracing.endpoint", message);
        }
        text.to_owned()
    }
}
