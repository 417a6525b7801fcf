//! One line per request, named after Amazon API Gateway's `$context`
//! variables — a JSON object, or the operator's `$context` template —
//! written by a background thread so that request tasks never block on the
//! log's file or pipe. A file is reopened on request (SIGUSR1), so that
//! `logrotate` can move it away.

use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::sync::{Mutex, mpsc};
use std::thread::JoinHandle;

use serde::Serialize;

use crate::config::{AccessLogFormat, AccessLogTarget, ContextVar, LogPart, LogTemplate};

/// One access-log record.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessLogEntry<'a> {
    /// The id also sent in the response's request-id header.
    pub request_id: &'a str,
    /// When the request arrived, RFC 3339 in UTC.
    pub request_time: String,
    /// The client's address.
    pub ip: IpAddr,
    /// Request method.
    pub http_method: &'a str,
    /// Request path as received, without query.
    pub path: &'a str,
    /// `HTTP/1.1`, `HTTP/2.0`, ...
    pub protocol: &'a str,
    /// Status sent downstream.
    pub status: u16,
    /// Matched API, if any.
    pub api: Option<&'a str>,
    /// Matched stage, if any.
    pub stage: Option<&'a str>,
    /// The deployment that served the request (none: the configuration file's definition).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<&'a str>,
    /// Whether the stage's canary served the request (known once a stage matched).
    pub is_canary_request: Option<bool>,
    /// Matched route key, if any.
    pub route_key: Option<&'a str>,
    /// Milliseconds from request arrival until response headers were ready.
    pub response_latency: f64,
    /// Milliseconds the integration took, if one was called.
    pub integration_latency: Option<f64>,
    /// Status the integration returned, if any.
    pub integration_status: Option<u16>,
    /// The upstream target (`host:port`) that answered, or was tried last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_address: Option<&'a str>,
    /// Attempts made on the upstream, retries included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_attempts: Option<u32>,
    /// Why the request failed, if it did.
    pub error_message: Option<String>,
    /// Who caused the failure, if any.
    pub error_blame: Option<&'static str>,
    /// The principal an authorizer allowed, if any.
    pub principal_id: Option<&'a str>,
    /// Whether the authorizer's decision came from its cache.
    pub authorizer_cache_hit: Option<bool>,
    /// Milliseconds the authorizer took: its plugin, if invoked, or the
    /// built-in JWT or SigV4 check.
    pub authorizer_latency: Option<f64>,
    /// The custom domain that mapped the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain_name: Option<&'a str>,
    /// `TLSv1.3` or `TLSv1.2` on a TLS connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_version: Option<&'a str>,
    /// The verified client certificate, as API Gateway's
    /// `$context.identity.clientCert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<ClientCertEntry<'a>>,
    /// A WebSocket connection's id (connect, message and disconnect lines).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<&'a str>,
    /// `CONNECT`, `MESSAGE` or `DISCONNECT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_type: Option<&'static str>,
    /// The W3C trace id of the request (received in `traceparent`, or
    /// created here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<&'a str>,
    /// What the stage cache did: `hit`, `miss`, `bypass` or `invalidated`
    /// (absent when the route does not use a cache).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_status: Option<&'static str>,
}

/// `clientCert` of an access-log record.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientCertEntry<'a> {
    /// The subject's distinguished name.
    #[serde(rename = "subjectDN")]
    pub subject_dn: &'a str,
    /// The issuer's distinguished name.
    #[serde(rename = "issuerDN")]
    pub issuer_dn: &'a str,
    /// Serial number, hex.
    pub serial_number: &'a str,
    /// Start of the validity period, RFC 3339.
    pub not_before: &'a str,
    /// End of the validity period, RFC 3339.
    pub not_after: &'a str,
    /// SHA-256 fingerprint, hex.
    pub fingerprint: &'a str,
}

/// What the writer thread is asked to do.
enum Command {
    /// Write a line.
    Line(Vec<u8>),
    /// Close and reopen the file (after log rotation moved it).
    Reopen,
    /// Flush and stop.
    Stop,
}

/// Handle to the access-log writer.
pub struct AccessLog {
    sender: Option<mpsc::Sender<Command>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    format: AccessLogFormat,
}

impl AccessLog {
    /// Opens the access log for `target`, its lines written as `format`.
    pub fn open(target: &AccessLogTarget, format: &AccessLogFormat) -> std::io::Result<AccessLog> {
        let sink = match target {
            AccessLogTarget::Off => {
                return Ok(AccessLog {
                    sender: None,
                    writer: Mutex::new(None),
                    format: format.clone(),
                });
            }
            other => Sink::open(other)?,
        };
        let (sender, receiver) = mpsc::channel::<Command>();
        let writer = std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write_lines(receiver, sink))?;
        Ok(AccessLog {
            sender: Some(sender),
            writer: Mutex::new(Some(writer)),
            format: format.clone(),
        })
    }

    /// Whether records are written at all, so callers can skip building them.
    pub fn enabled(&self) -> bool {
        self.sender.is_some()
    }

    /// Queues one record.
    pub fn record(&self, entry: &AccessLogEntry<'_>) {
        let Some(sender) = &self.sender else { return };
        let mut line = Vec::with_capacity(384);
        match &self.format {
            AccessLogFormat::Json => {
                if serde_json::to_writer(&mut line, entry).is_err() {
                    return;
                }
            }
            AccessLogFormat::Template(template) => render(template, entry, &mut line),
        }
        line.push(b'\n');
        // The writer only goes away at shutdown; a record lost then is acceptable.
        let _ = sender.send(Command::Line(line));
    }

    /// Asks the writer to reopen a file log (SIGUSR1): lines queued before
    /// go to the old file, later ones to the new.
    pub fn reopen(&self) {
        if let Some(sender) = &self.sender {
            let _ = sender.send(Command::Reopen);
        }
    }

    /// Writes out everything queued so far and stops the writer; records
    /// queued afterwards are dropped.
    pub fn close(&self) {
        let Some(sender) = &self.sender else { return };
        let _ = sender.send(Command::Stop);
        let writer = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(writer) = writer {
            let _ = writer.join();
        }
    }
}

/// Where lines go; a file remembers its path to be reopened.
struct Sink {
    out: BufWriter<Box<dyn Write + Send>>,
    path: Option<std::path::PathBuf>,
}

impl Sink {
    fn open(target: &AccessLogTarget) -> std::io::Result<Sink> {
        let (out, path): (Box<dyn Write + Send>, _) = match target {
            AccessLogTarget::Stderr => (Box::new(std::io::stderr()), None),
            AccessLogTarget::File(path) => (Box::new(append(path)?), Some(path.clone())),
            AccessLogTarget::Stdout | AccessLogTarget::Off => (Box::new(std::io::stdout()), None),
        };
        Ok(Sink {
            out: BufWriter::with_capacity(64 * 1024, out),
            path,
        })
    }

    /// Reopens a file at its path; on failure keeps writing to the old one
    /// (which may have been moved) and says so.
    fn reopen(&mut self) {
        let Some(path) = &self.path else { return };
        let _ = self.out.flush();
        match append(path) {
            Ok(file) => {
                self.out = BufWriter::with_capacity(64 * 1024, Box::new(file));
                tracing::info!(path = %path.display(), "access log reopened");
            }
            Err(error) => tracing::error!(
                path = %path.display(),
                %error,
                "cannot reopen the access log; still writing to the file it had open"
            ),
        }
    }
}

fn append(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// Batches lines: flushes only when the queue is momentarily empty, so a busy
/// gateway makes one write for many requests.
fn write_lines(receiver: mpsc::Receiver<Command>, mut sink: Sink) {
    let mut next = receiver.recv().ok();
    while let Some(command) = next.take() {
        match command {
            Command::Line(line) => {
                if sink.out.write_all(&line).is_err() {
                    break;
                }
            }
            Command::Reopen => sink.reopen(),
            Command::Stop => break,
        }
        next = match receiver.try_recv() {
            Ok(command) => Some(command),
            Err(_) => {
                if sink.out.flush().is_err() {
                    return;
                }
                receiver.recv().ok()
            }
        };
    }
    let _ = sink.out.flush();
}

/// Writes one line of `template` for `entry`: `-` for a value the request
/// does not have; control characters escaped always (a path cannot forge a
/// second line), quotes and backslashes too in a JSON template.
fn render(template: &LogTemplate, entry: &AccessLogEntry<'_>, out: &mut Vec<u8>) {
    use std::io::Write as _;
    for part in &template.parts {
        let var = match part {
            LogPart::Text(text) => {
                out.extend_from_slice(text.as_bytes());
                continue;
            }
            LogPart::Var(var) => *var,
        };
        let number = |out: &mut Vec<u8>, n: Option<f64>| match n {
            Some(n) => {
                let _ = write!(out, "{n}");
            }
            None => out.push(b'-'),
        };
        let text = |out: &mut Vec<u8>, s: Option<&str>| match s {
            Some(s) => escape(s, template.json, out),
            None => out.push(b'-'),
        };
        match var {
            ContextVar::RequestId => text(out, Some(entry.request_id)),
            ContextVar::RequestTime => text(out, Some(&entry.request_time)),
            ContextVar::SourceIp => {
                let _ = write!(out, "{}", entry.ip);
            }
            ContextVar::HttpMethod => text(out, Some(entry.http_method)),
            ContextVar::Path => text(out, Some(entry.path)),
            ContextVar::Protocol => text(out, Some(entry.protocol)),
            ContextVar::Status => number(out, Some(f64::from(entry.status))),
            ContextVar::ApiName => text(out, entry.api),
            ContextVar::Stage => text(out, entry.stage),
            ContextVar::RouteKey => text(out, entry.route_key),
            ContextVar::ResourcePath => text(
                out,
                entry
                    .route_key
                    .map(|k| k.split_once(' ').map_or(k, |(_, path)| path)),
            ),
            ContextVar::ResponseLatency => number(out, Some(entry.response_latency)),
            ContextVar::IntegrationLatency => number(out, entry.integration_latency),
            ContextVar::IntegrationStatus => number(out, entry.integration_status.map(f64::from)),
            ContextVar::ErrorMessage => text(out, entry.error_message.as_deref()),
            ContextVar::ErrorBlame => text(out, entry.error_blame),
            ContextVar::PrincipalId => text(out, entry.principal_id),
            ContextVar::DomainName => text(out, entry.domain_name),
            ContextVar::DeploymentId => text(out, entry.deployment_id),
            ContextVar::IsCanaryRequest => text(
                out,
                entry
                    .is_canary_request
                    .map(|c| if c { "true" } else { "false" }),
            ),
            ContextVar::ConnectionId => text(out, entry.connection_id),
            ContextVar::EventType => text(out, entry.event_type),
            ContextVar::CacheStatus => text(out, entry.cache_status),
            ContextVar::TraceId => text(out, entry.trace_id),
            ContextVar::UpstreamAddress => text(out, entry.upstream_address),
            ContextVar::TlsVersion => text(out, entry.tls_version),
        }
    }
}

fn escape(value: &str, json: bool, out: &mut Vec<u8>) {
    use std::io::Write as _;
    for c in value.chars() {
        match c {
            '"' | '\\' if json => {
                out.push(b'\\');
                out.push(c as u8);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => {
                let mut buffer = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests;
