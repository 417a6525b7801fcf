//! Distributed tracing: the W3C Trace Context (level 1) of every request,
//! passed on upstream, and the spans of sampled requests exported to an
//! OpenTelemetry collector over OTLP/HTTP (protobuf).
//!
//! The gateway knows when each phase of a request started and ended only
//! once the request is over, so it does not use the SDK's `Tracer` (which
//! stamps times and picks ids itself, and allocates a span per phase while
//! the request runs). [`Tracer::finish`] builds the SDK's `SpanData` with
//! the request's own ids and times and hands it to the SDK's
//! `BatchSpanProcessor`: a bounded queue (dropping when full, never
//! blocking a worker) drained by one thread that batches the spans and
//! sends them with `opentelemetry-otlp`'s exporter.
//!
//! A request that is not recorded costs a few random numbers and the
//! [`RequestTrace`] on the stack: no allocation, no SDK call.

use std::borrow::Cow;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue};
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SpanData, SpanEvents, SpanExporter, SpanLinks,
    SpanProcessor,
};

use crate::config::{TRACE_QUEUE_SIZE, TracingConfig};

/// The W3C header that carries the trace id, the parent span and the flags.
pub const TRACEPARENT: &str = "traceparent";
/// The W3C header with vendors' own trace state, passed on unchanged.
pub const TRACESTATE: &str = "tracestate";

tokio::task_local! {
    /// The trace of the request whose plugin runs on this task: what the
    /// plugin's own outbound HTTP calls carry.
    static CURRENT: RequestTrace;
}

/// Runs `work` — a plugin's invocation — as part of `trace`, so that the
/// HTTP calls the plugin makes carry it ([`propagate`]). The plugin runs on
/// the request's own task (wasmtime polls its fiber there), so a task-local
/// value reaches the host functions without being passed through every
/// plugin interface.
pub async fn within<F: std::future::Future>(trace: &RequestTrace, work: F) -> F::Output {
    CURRENT.scope(trace.clone(), work).await
}

/// Sets `traceparent` and `tracestate` on an outbound request a plugin
/// makes, when it runs within a request's trace (else leaves them alone).
pub fn propagate(headers: &mut HeaderMap) {
    let _ = CURRENT.try_with(|trace| {
        set_context(headers, trace.traceparent(), trace.tracestate());
    });
}

/// Puts a trace context on an outgoing request, replacing whatever the
/// client sent: `tracestate` goes with the `traceparent` it belongs to, or
/// not at all.
pub fn set_context(
    headers: &mut HeaderMap,
    traceparent: HeaderValue,
    tracestate: Option<&HeaderValue>,
) {
    headers.insert(TRACEPARENT, traceparent);
    match tracestate {
        Some(state) => headers.insert(TRACESTATE, state.clone()),
        None => headers.remove(TRACESTATE),
    };
}

/// Longest wait for one export (all its retries included): a slow collector
/// delays the export thread, never a request.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait at shutdown for the spans still queued to be sent.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// Length of a version-00 `traceparent`: `00-` 32 hex `-` 16 hex `-` 2 hex.
const TRACEPARENT_LEN: usize = 55;

/// Exports spans; built once at start from the `[tracing]` table.
///
/// Without `[tracing]` it only propagates the trace context: every request
/// still gets a trace id (for the access log) and upstreams still receive a
/// `traceparent`, but nothing is sampled here and nothing is exported.
#[derive(Debug)]
pub struct Tracer {
    export: Option<Export>,
}

#[derive(Debug)]
struct Export {
    processor: BatchSpanProcessor,
    sample_ratio: f64,
    scope: InstrumentationScope,
}

impl Tracer {
    /// A tracer for `config`; `None` propagates only. With a collector this
    /// starts the export thread (`OpenTelemetry.Traces.BatchProcessor`);
    /// the HTTP client it uses runs one more thread of its own. Nothing is
    /// sent until there are spans, so an unreachable collector is not an
    /// error here: failed exports are logged as a warning when they start
    /// failing and once more when they recover.
    pub fn new(config: Option<&TracingConfig>) -> Result<Tracer, String> {
        let Some(config) = config else {
            return Ok(Tracer { export: None });
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(config.endpoint.clone())
            .with_timeout(EXPORT_TIMEOUT)
            .with_headers(config.headers.iter().cloned().collect())
            .build()
            .map_err(|e| {
                format!(
                    "tracing: cannot build the OTLP exporter for {}: {e}",
                    config.endpoint
                )
            })?;
        let mut exporter = Reporting {
            inner: exporter,
            endpoint: config.endpoint.clone(),
            failing: AtomicBool::new(false),
        };
        // Built from nothing rather than `Resource::builder()`, which would
        // read OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES: the file says
        // what the gateway is called.
        let resource = Resource::builder_empty()
            .with_service_name(config.service_name.clone())
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build();
        exporter.set_resource(&resource);
        let batches = BatchConfigBuilder::default()
            .with_max_queue_size(TRACE_QUEUE_SIZE)
            .with_max_export_batch_size(config.batch_size)
            .with_scheduled_delay(config.export_interval)
            .build();
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(batches)
            .build();
        let scope = InstrumentationScope::builder("turnpike")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();
        Ok(Tracer {
            export: Some(Export {
                processor,
                sample_ratio: config.sample_ratio,
                scope,
            }),
        })
    }

    /// Whether spans are exported at all (`[tracing]` is configured).
    pub fn exporting(&self) -> bool {
        self.export.is_some()
    }

    /// The trace context of a request that just arrived. A valid
    /// `traceparent` (W3C Trace Context level 1) continues its trace and
    /// decides sampling (parent-based); without one, or with an invalid one,
    /// a new trace starts and is sampled with `sample_ratio` (never when
    /// tracing is off). The gateway's server span always gets a new id.
    pub fn start(&self, headers: &HeaderMap) -> RequestTrace {
        let span_id = new_span_id();
        match single(headers, TRACEPARENT).and_then(|v| parse_traceparent(v.as_bytes())) {
            Some(parent) => RequestTrace::new(
                parent.trace_id,
                span_id,
                Some(parent.span_id),
                parent.sampled,
                self.export.is_some(),
                tracestate(headers),
            ),
            None => {
                // `f64()` is in [0, 1): a ratio of 0 never samples, 1 always.
                let sampled = self
                    .export
                    .as_ref()
                    .is_some_and(|e| fastrand::f64() < e.sample_ratio);
                RequestTrace::new(
                    new_trace_id(),
                    span_id,
                    None,
                    sampled,
                    self.export.is_some(),
                    None,
                )
            }
        }
    }

    /// Records a finished request as spans, if it is recorded at all
    /// ([`RequestTrace::recording`]): one SERVER span for the request (its
    /// parent the incoming `traceparent`'s span) and one child span per
    /// phase, CLIENT for `"integration"`, INTERNAL for the others. Never
    /// blocks: the spans go to a bounded queue, dropped when it is full.
    pub fn finish(&self, trace: &RequestTrace, record: &RequestRecord<'_>) {
        let Some(export) = &self.export else { return };
        if !trace.recording {
            return;
        }
        let trace_id = TraceId::from_bytes(trace.trace_id);
        let server_id = SpanId::from_bytes(trace.span_id);
        // The spans carry the caller's trace state, as a span started from
        // that context would; one that does not parse is left out.
        let state = trace
            .tracestate
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .and_then(|s| TraceState::from_str(s).ok())
            .unwrap_or(TraceState::NONE);
        let context = |span_id: SpanId| {
            SpanContext::new(trace_id, span_id, TraceFlags::SAMPLED, false, state.clone())
        };
        let span =
            |span_id: SpanId, parent: SpanId, kind: SpanKind, name: Cow<'static, str>| SpanData {
                span_context: context(span_id),
                parent_span_id: parent,
                parent_span_is_remote: false,
                span_kind: kind,
                name,
                start_time: record.start,
                end_time: record.end,
                attributes: Vec::new(),
                dropped_attributes_count: 0,
                events: SpanEvents::default(),
                links: SpanLinks::default(),
                status: Status::Unset,
                instrumentation_scope: export.scope.clone(),
            };
        let (route, name) = route_and_name(record.method, record.route_key);
        let mut server = span(
            server_id,
            trace
                .parent_span_id
                .map_or(SpanId::INVALID, SpanId::from_bytes),
            SpanKind::Server,
            Cow::Owned(name),
        );
        server.parent_span_is_remote = trace.parent_span_id.is_some();
        server.attributes = server_attributes(record, route);
        if record.status >= 500 {
            server.status = Status::error(record.error.unwrap_or_default().to_owned());
        }
        export.processor.on_end(server);
        for phase in record.phases {
            let kind = if phase.name == "integration" {
                SpanKind::Client
            } else {
                SpanKind::Internal
            };
            let id = SpanId::from_bytes(new_span_id());
            let mut child = span(id, server_id, kind, Cow::Borrowed(phase.name));
            child.start_time = phase.start;
            child.end_time = phase.end;
            child.attributes = phase
                .attributes
                .iter()
                .map(|(k, v)| KeyValue::new(*k, v.clone()))
                .collect();
            export.processor.on_end(child);
        }
    }

    /// Sends the spans still queued and stops the export thread: call once
    /// at shutdown, after the last request has finished, from a thread that
    /// may block (it waits up to 5 s for the collector). Spans finished
    /// after this are dropped.
    pub fn shutdown(&self) {
        let Some(export) = &self.export else { return };
        match export.processor.shutdown_with_timeout(SHUTDOWN_TIMEOUT) {
            Ok(()) | Err(OTelSdkError::AlreadyShutdown) => {}
            Err(error) => {
                tracing::warn!(%error, "tracing: spans still queued at shutdown may be lost");
            }
        }
    }
}

/// The server span's attributes: the OpenTelemetry HTTP semantic
/// conventions, and `turnpike.*` for what API Gateway adds (X-Ray's
/// annotations): the API, the stage, the route key, the request id.
fn server_attributes(record: &RequestRecord<'_>, route: Option<&str>) -> Vec<KeyValue> {
    let mut attributes = Vec::with_capacity(12);
    let mut text = |key: &'static str, value: &str| {
        attributes.push(KeyValue::new(key, value.to_owned()));
    };
    text("http.request.method", record.method);
    text("url.path", record.path);
    if let Some(route) = route {
        text("http.route", route);
    }
    attributes.push(KeyValue::new(
        "client.address",
        record.client_ip.to_string(),
    ));
    let mut text = |key: &'static str, value: &str| {
        attributes.push(KeyValue::new(key, value.to_owned()));
    };
    let version = record
        .protocol
        .strip_prefix("HTTP/")
        .unwrap_or(record.protocol);
    text("network.protocol.version", version);
    text("turnpike.request_id", record.request_id);
    for (key, value) in [
        ("turnpike.api", record.api),
        ("turnpike.stage", record.stage),
        ("turnpike.route_key", record.route_key),
        ("turnpike.error", record.error),
    ] {
        if let Some(value) = value {
            text(key, value);
        }
    }
    if record.status >= 500 {
        // The conventions' `error.type` for a server error: the status code.
        attributes.push(KeyValue::new("error.type", record.status.to_string()));
    }
    attributes.push(KeyValue::new(
        "http.response.status_code",
        i64::from(record.status),
    ));
    attributes
}

/// `http.route` and the span name from a route key: `GET /pets/{id}` gives
/// `/pets/{id}` and `"{METHOD} /pets/{id}"` (the request's method, which an
/// `ANY` route does not name); `$default` or a WebSocket route key gives no
/// `http.route` (it is not a path) and `"{METHOD} $default"`; no route,
/// just `"{METHOD}"`.
fn route_and_name<'a>(method: &str, route_key: Option<&'a str>) -> (Option<&'a str>, String) {
    match route_key {
        None => (None, method.to_owned()),
        Some(key) => match key.split_once(' ') {
            Some((_, path)) if path.starts_with('/') => (Some(path), format!("{method} {path}")),
            _ => (None, format!("{method} {key}")),
        },
    }
}

/// A finished request, as [`Tracer::finish`] records it. Build it only when
/// [`RequestTrace::recording`] says so: the phases' attributes allocate.
#[derive(Debug, Clone, Copy)]
pub struct RequestRecord<'a> {
    /// When the request arrived.
    pub start: SystemTime,
    /// When its response was written.
    pub end: SystemTime,
    /// The request's method.
    pub method: &'a str,
    /// The request's path, without the query.
    pub path: &'a str,
    /// The status answered.
    pub status: u16,
    /// The gateway's request id (`$context.requestId`).
    pub request_id: &'a str,
    /// The API that served it, if one did.
    pub api: Option<&'a str>,
    /// The stage that served it.
    pub stage: Option<&'a str>,
    /// The matched route key, `"GET /pets/{id}"` or `"$default"`.
    pub route_key: Option<&'a str>,
    /// The client's address.
    pub client_ip: IpAddr,
    /// `"1.1"`, `"2"` or `"3"` (an `HTTP/` prefix is taken off).
    pub protocol: &'a str,
    /// What went wrong, if something did (the span's status message for a
    /// 5xx, `turnpike.error` always).
    pub error: Option<&'a str>,
    /// The phases that did work, each a child span.
    pub phases: &'a [PhaseSpan<'a>],
}

/// One phase of a request that did work, recorded as a child span.
#[derive(Debug, Clone, Copy)]
pub struct PhaseSpan<'a> {
    /// The span's name: `"authorizer"`, `"plugin"`, `"integration"` (a
    /// CLIENT span), `"cache"`.
    pub name: &'static str,
    /// When the phase started.
    pub start: SystemTime,
    /// When it ended.
    pub end: SystemTime,
    /// The span's attributes.
    pub attributes: &'a [(&'static str, String)],
}

/// A request's trace context, from [`Tracer::start`].
#[derive(Debug, Clone)]
pub struct RequestTrace {
    trace_id: [u8; 16],
    /// The gateway's server span.
    span_id: [u8; 8],
    /// The caller's span, from a valid `traceparent`.
    parent_span_id: Option<[u8; 8]>,
    sampled: bool,
    /// Sampled and exported: the server span will exist at the collector.
    recording: bool,
    tracestate: Option<HeaderValue>,
    /// The `traceparent` sent upstream, written once: the access log reads
    /// the trace id out of it and [`RequestTrace::traceparent`] copies it.
    header: [u8; TRACEPARENT_LEN],
}

impl RequestTrace {
    fn new(
        trace_id: [u8; 16],
        span_id: [u8; 8],
        parent_span_id: Option<[u8; 8]>,
        sampled: bool,
        exporting: bool,
        tracestate: Option<HeaderValue>,
    ) -> RequestTrace {
        let recording = sampled && exporting;
        // Upstream's parent is the gateway's span when that span is
        // exported; otherwise the caller's, passed on as it came, so that a
        // gateway that does not record does not leave a hole between the
        // caller's span and the upstream's in the caller's tracing system.
        let parent_upstream = match parent_span_id {
            Some(parent) if !recording => parent,
            _ => span_id,
        };
        let mut header = [b'0'; TRACEPARENT_LEN];
        header[2] = b'-';
        write_hex(&mut header[3..35], &trace_id);
        header[35] = b'-';
        write_hex(&mut header[36..52], &parent_upstream);
        header[52] = b'-';
        write_hex(&mut header[53..55], &[u8::from(sampled)]);
        RequestTrace {
            trace_id,
            span_id,
            parent_span_id,
            sampled,
            recording,
            tracestate,
            header,
        }
    }

    /// The `traceparent` to send upstream (version 00, flags = sampled).
    /// Its parent id is the gateway's server span when the gateway records
    /// this request ([`RequestTrace::recording`]); otherwise the incoming
    /// parent, unchanged (or, for a new trace nobody records, the server
    /// span's id).
    pub fn traceparent(&self) -> HeaderValue {
        // Lowercase hex and dashes: always a valid header value.
        HeaderValue::from_bytes(&self.header).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// The caller's `tracestate` to pass on unchanged; `None` without one,
    /// or when its `traceparent` was absent or invalid (a new trace starts
    /// without the old one's state).
    pub fn tracestate(&self) -> Option<&HeaderValue> {
        self.tracestate.as_ref()
    }

    /// The trace id, 32 lowercase hex digits, for the access log.
    pub fn trace_id(&self) -> &str {
        // ASCII by construction; the fallback is never taken.
        std::str::from_utf8(&self.header[3..35]).unwrap_or_default()
    }

    /// The gateway's server span id, 16 lowercase hex digits (allocates;
    /// for logs and tests).
    pub fn span_id(&self) -> String {
        let mut text = [0u8; 16];
        write_hex(&mut text, &self.span_id);
        String::from_utf8_lossy(&text).into_owned()
    }

    /// Whether the trace is sampled: the flag sent upstream.
    pub fn sampled(&self) -> bool {
        self.sampled
    }

    /// Whether [`Tracer::finish`] records this request (sampled, and
    /// tracing configured): the request path builds a [`RequestRecord`]
    /// only then.
    pub fn recording(&self) -> bool {
        self.recording
    }
}

/// A valid `traceparent`'s fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parent {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    sampled: bool,
}

/// Parses a `traceparent` as W3C Trace Context level 1 says: version 00 is
/// exactly 55 characters; a later version (but `ff`) is read for its first
/// 55, which must end the value or be followed by `-`; hex is lowercase;
/// an all-zero trace id or parent id is invalid.
fn parse_traceparent(value: &[u8]) -> Option<Parent> {
    let value = value.trim_ascii();
    if value.len() < TRACEPARENT_LEN {
        return None;
    }
    let version = hex_bytes::<1>(&value[0..2])?[0];
    let fits = match version {
        0xff => false,
        0x00 => value.len() == TRACEPARENT_LEN,
        _ => value.len() == TRACEPARENT_LEN || value[TRACEPARENT_LEN] == b'-',
    };
    if !fits || value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
        return None;
    }
    let trace_id = hex_bytes::<16>(&value[3..35])?;
    let span_id = hex_bytes::<8>(&value[36..52])?;
    let flags = hex_bytes::<1>(&value[53..55])?[0];
    if trace_id == [0; 16] || span_id == [0; 8] {
        return None;
    }
    Some(Parent {
        trace_id,
        span_id,
        sampled: flags & 1 == 1,
    })
}

/// The one value of a header; `None` when absent or repeated (two
/// `traceparent`s cannot both be the parent).
fn single<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h HeaderValue> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    values.next().is_none().then_some(first)
}

/// The caller's `tracestate`: one header as it came (a clone shares its
/// bytes), several joined with commas as the W3C says they combine.
fn tracestate(headers: &HeaderMap) -> Option<HeaderValue> {
    let mut values = headers.get_all(TRACESTATE).iter().filter(|v| !v.is_empty());
    let first = values.next()?;
    let Some(second) = values.next() else {
        return Some(first.clone());
    };
    let mut joined = first.as_bytes().to_vec();
    for value in std::iter::once(second).chain(values) {
        joined.push(b',');
        joined.extend_from_slice(value.as_bytes());
    }
    HeaderValue::from_bytes(&joined).ok()
}

fn hex_bytes<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    // Lowercase only: the W3C grammar is HEXDIGLC, and `00-ABC…` is invalid.
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    if text.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *byte = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

fn write_hex(out: &mut [u8], bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
}

fn new_trace_id() -> [u8; 16] {
    // Zero is the invalid id; fastrand (thread-local, no lock) is random
    // enough for ids, which are not secrets.
    fastrand::u128(1..).to_be_bytes()
}

fn new_span_id() -> [u8; 8] {
    fastrand::u64(1..).to_be_bytes()
}

/// The OTLP exporter, saying when exports start failing and when they work
/// again (the SDK's own diagnostics are compiled out).
#[derive(Debug)]
struct Reporting<E> {
    inner: E,
    endpoint: String,
    failing: AtomicBool,
}

impl<E: SpanExporter> SpanExporter for Reporting<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        let result = self.inner.export(batch).await;
        match &result {
            Err(error) if !self.failing.swap(true, Ordering::Relaxed) => {
                tracing::warn!(endpoint = %self.endpoint, %error, spans, "tracing: cannot export spans; they are dropped until the collector answers");
            }
            Ok(()) if self.failing.swap(false, Ordering::Relaxed) => {
                tracing::info!(endpoint = %self.endpoint, "tracing: the collector answers again");
            }
            _ => {}
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn shutdown(&self) -> OTelSdkResult {
        self.inner.shutdown()
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests;
