//! One JSON line per request, named after Amazon API Gateway's `$context`
//! variables, written by a background thread so that request tasks never
//! block on the log's file or pipe.

use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::sync::{Mutex, mpsc};
use std::thread::JoinHandle;

use serde::Serialize;

use crate::config::AccessLogTarget;

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
    /// Milliseconds the authorizer plugin took, if invoked.
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

/// Handle to the access-log writer.
pub struct AccessLog {
    sender: Option<mpsc::Sender<Vec<u8>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl AccessLog {
    /// Opens the access log for `target`.
    pub fn open(target: &AccessLogTarget) -> std::io::Result<AccessLog> {
        let sink: Box<dyn Write + Send> = match target {
            AccessLogTarget::Off => {
                return Ok(AccessLog {
                    sender: None,
                    writer: Mutex::new(None),
                });
            }
            AccessLogTarget::Stdout => Box::new(std::io::stdout()),
            AccessLogTarget::Stderr => Box::new(std::io::stderr()),
            AccessLogTarget::File(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
        };
        let (sender, receiver) = mpsc::channel::<Vec<u8>>();
        let writer = std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write_lines(receiver, sink))?;
        Ok(AccessLog {
            sender: Some(sender),
            writer: Mutex::new(Some(writer)),
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
        if serde_json::to_writer(&mut line, entry).is_ok() && !line.is_empty() {
            line.push(b'\n');
            // The writer only goes away at shutdown; a record lost then is acceptable.
            let _ = sender.send(line);
        }
    }

    /// Writes out everything queued so far and stops the writer; records
    /// queued afterwards are dropped.
    pub fn close(&self) {
        let Some(sender) = &self.sender else { return };
        // An empty line is the writer's signal to flush and stop.
        let _ = sender.send(Vec::new());
        let writer = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(writer) = writer {
            let _ = writer.join();
        }
    }
}

/// Batches lines: flushes only when the queue is momentarily empty, so a busy
/// gateway makes one write for many requests.
fn write_lines(receiver: mpsc::Receiver<Vec<u8>>, sink: Box<dyn Write + Send>) {
    let mut out = BufWriter::with_capacity(64 * 1024, sink);
    while let Ok(line) = receiver.recv() {
        if line.is_empty() || out.write_all(&line).is_err() {
            break;
        }
        while let Ok(line) = receiver.try_recv() {
            if line.is_empty() {
                let _ = out.flush();
                return;
            }
            if out.write_all(&line).is_err() {
                return;
            }
        }
        if out.flush().is_err() {
            return;
        }
    }
    let _ = out.flush();
}
