//! HTTP/3 over QUIC (quinn + h3) beside a TLS listener with `http3 = true`:
//! a UDP socket on the listener's own port, the same certificates chosen
//! by SNI, and every request through the same request path as TCP.
//!
//! - One QUIC endpoint per listener, driven by a runtime of its own with
//!   as many threads as the workers.
//! - Each new connection takes the TLS configuration of the snapshot
//!   current when it arrives, so reloaded certificates serve the next
//!   handshake, as on TCP. TLS 1.3 only (QUIC has nothing older), ALPN
//!   `h3`, no 0-RTT (early data can be replayed), no client certificates: a
//!   domain that requires one answers 403 over HTTP/3 and is not
//!   advertised in `Alt-Svc`.
//! - Limits as on TCP: 100 concurrent request streams per connection, the
//!   header size limit (as the QPACK field section size), the body limit
//!   and body read timeout (in the request path), `idle_timeout` as the
//!   QUIC idle timeout, and the listener's `max_connections` shared with
//!   its TCP side.
//! - Shutdown sends GOAWAY on every connection, lets their requests finish
//!   within the grace period, then closes the endpoint.

use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use tokio::sync::watch;

use super::connection::ConnectionCounts;
use super::listeners::{HANDSHAKE_TIMEOUT, MAX_CONCURRENT_STREAMS};
use super::{ConnectionInfo, TlsInfo, handle};
use crate::body::{ClientBody, RequestBody, ResponseBody};
use crate::control::Gateway;

/// A listener's UDP socket, bound with its TCP socket.
pub struct Http3Socket {
    /// Index of the listener.
    pub listener: usize,
    /// Its name, for logs.
    pub name: String,
    /// The socket.
    pub socket: std::net::UdpSocket,
}

/// Binds the UDP socket for HTTP/3 on `address` (the TCP listener's).
pub fn bind(address: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(address),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    Ok(socket.into())
}

/// Starts serving HTTP/3 on `sockets` on a thread of its own, until `stop`
/// turns true and the connections have finished (or `grace` passed).
pub fn spawn(
    gateway: Arc<Gateway>,
    sockets: Vec<Http3Socket>,
    counts: Arc<ConnectionCounts>,
    workers: usize,
    grace: Duration,
    stop: watch::Receiver<bool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .thread_name("turnpike-http3")
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("turnpike-http3".into())
        .spawn(move || runtime.block_on(serve(gateway, sockets, counts, grace, stop)))
}

async fn serve(
    gateway: Arc<Gateway>,
    sockets: Vec<Http3Socket>,
    counts: Arc<ConnectionCounts>,
    grace: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let (closing, connections) = watch::channel(());
    let mut endpoints = Vec::with_capacity(sockets.len());
    for socket in sockets {
        let Some(config) = server_config(&gateway, socket.listener) else {
            tracing::error!(listener = %socket.name, "no TLS configuration for HTTP/3");
            continue;
        };
        let runtime = Arc::new(quinn::TokioRuntime);
        match quinn::Endpoint::new(
            quinn::EndpointConfig::default(),
            Some(config),
            socket.socket,
            runtime,
        ) {
            Ok(endpoint) => endpoints.push((socket.listener, socket.name, endpoint)),
            Err(error) => {
                tracing::error!(listener = %socket.name, %error, "cannot serve HTTP/3");
            }
        }
    }
    let accepting =
        futures_util::future::join_all(endpoints.iter().map(|(listener, name, endpoint)| {
            accept_loop(*listener, name, endpoint, &gateway, &counts, &connections)
        }));
    tokio::select! {
        _ = accepting => {}
        _ = stop.wait_for(|stopped| *stopped) => {}
    }
    for (_, _, endpoint) in &endpoints {
        // New connections are refused from here on.
        endpoint.set_server_config(None);
    }
    drop(connections);
    closing.send_replace(());
    if tokio::time::timeout(grace, closing.closed()).await.is_err() {
        tracing::warn!(grace = ?grace, "grace period over; closing the remaining HTTP/3 connections");
    }
    for (_, _, endpoint) in &endpoints {
        endpoint.close(quinn::VarInt::from_u32(0), b"shutting down");
        let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
    }
}

/// The QUIC server configuration of listener `listener` in the current
/// snapshot: its certificates, and the limits.
fn server_config(gateway: &Gateway, listener: usize) -> Option<quinn::ServerConfig> {
    let snapshot = gateway.snapshot();
    let tls = snapshot.tls.get(listener)?.as_ref()?;
    let crypto = match quinn::crypto::rustls::QuicServerConfig::try_from(tls.http3()) {
        Ok(crypto) => crypto,
        Err(error) => {
            tracing::error!(%error, "the TLS configuration cannot serve QUIC");
            return None;
        }
    };
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(quinn::VarInt::from_u32(MAX_CONCURRENT_STREAMS))
        .max_idle_timeout(quinn::IdleTimeout::try_from(snapshot.limits.idle_timeout).ok());
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(Arc::new(transport));
    Some(config)
}

async fn accept_loop(
    listener: usize,
    name: &str,
    endpoint: &quinn::Endpoint,
    gateway: &Arc<Gateway>,
    counts: &Arc<ConnectionCounts>,
    closing: &watch::Receiver<()>,
) {
    let metrics = crate::observe::Metrics::global().connections(name, "h3");
    while let Some(incoming) = endpoint.accept().await {
        let max = gateway
            .snapshot()
            .max_connections
            .get(listener)
            .copied()
            .flatten();
        let Some(open) = counts.open(listener, max) else {
            if counts.should_warn(listener) {
                tracing::warn!(listener = %name, max_connections = max, "connection limit reached; refusing new HTTP/3 connections");
            }
            incoming.refuse();
            continue;
        };
        let Some(config) = server_config(gateway, listener) else {
            incoming.refuse();
            continue;
        };
        let connecting = match incoming.accept_with(Arc::new(config)) {
            Ok(connecting) => connecting,
            Err(error) => {
                tracing::debug!(%error, "QUIC connection refused");
                continue;
            }
        };
        let (gateway, closing) = (gateway.clone(), closing.clone());
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let connection = match tokio::time::timeout(HANDSHAKE_TIMEOUT, connecting).await {
                Ok(Ok(connection)) => connection,
                Ok(Err(error)) => {
                    tracing::debug!(%error, "QUIC handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!("QUIC handshake timed out");
                    return;
                }
            };
            let counted = metrics.open();
            serve_connection(connection, listener, gateway, closing).await;
            drop(counted);
            drop(open);
        });
    }
}

/// Serves one QUIC connection's requests until it ends, or until asked to
/// close (GOAWAY, then the requests in flight finish).
async fn serve_connection(
    connection: quinn::Connection,
    listener: usize,
    gateway: Arc<Gateway>,
    mut closing: watch::Receiver<()>,
) {
    let client = connection.remote_address();
    let sni = connection
        .handshake_data()
        .and_then(|data| data.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
        .and_then(|data| data.server_name)
        .map(|name| name.to_ascii_lowercase());
    let snapshot = gateway.snapshot();
    let domain = snapshot
        .tls
        .get(listener)
        .and_then(Option::as_ref)
        .zip(sni.as_deref())
        .and_then(|(tls, name)| tls.domain_of(name));
    let header_limit = u64::try_from(snapshot.limits.max_header_bytes)
        .unwrap_or(u64::MAX)
        .saturating_mul(2)
        .max(16 * 1024);
    drop(snapshot);
    let info = TlsInfo {
        sni,
        domain,
        client_cert: None,
        version: "TLSv1.3",
    };
    let conn = Arc::new(ConnectionInfo::new(listener, client, "https").with_tls(info));
    let built = h3::server::builder()
        .max_field_section_size(header_limit)
        .build::<_, Bytes>(h3_quinn::Connection::new(connection))
        .await;
    let mut h3 = match built {
        Ok(h3) => h3,
        Err(error) => {
            tracing::debug!(%client, %error, "HTTP/3 connection setup failed");
            return;
        }
    };
    let mut shutting_down = false;
    loop {
        tokio::select! {
            accepted = h3.accept() => match accepted {
                Ok(Some(resolver)) => {
                    let (gateway, conn) = (gateway.clone(), conn.clone());
                    tokio::spawn(async move {
                        match resolver.resolve_request().await {
                            Ok((request, stream)) => serve_request(request, stream, &gateway, &conn).await,
                            Err(error) => tracing::debug!(%error, "HTTP/3 request refused"),
                        }
                    });
                }
                Ok(None) => return,
                Err(error) => {
                    tracing::debug!(%client, %error, "HTTP/3 connection ended");
                    return;
                }
            },
            _ = closing.changed(), if !shutting_down => {
                shutting_down = true;
                if let Err(error) = h3.shutdown(0).await {
                    tracing::debug!(%client, %error, "HTTP/3 GOAWAY failed");
                    return;
                }
            }
        }
    }
}

type Stream = h3::server::RequestStream<h3_quinn::BidiStream<Bytes>, Bytes>;

/// One request: its body streamed into the request path, the response
/// streamed back.
async fn serve_request(
    request: Request<()>,
    stream: Stream,
    gateway: &Gateway,
    conn: &ConnectionInfo,
) {
    let (mut send, receive) = stream.split();
    let declared = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let timeout = gateway.body_read_timeout();
    let request =
        request.map(|()| RequestBody::Streaming(ClientBody::http3(receive, declared, timeout)));
    let response = handle(gateway, request, conn).await;
    if let Err(error) = send_response(&mut send, response).await {
        tracing::debug!(%error, "sending the HTTP/3 response failed");
    }
}

async fn send_response(
    send: &mut h3::server::RequestStream<h3_quinn::SendStream<Bytes>, Bytes>,
    response: Response<ResponseBody>,
) -> Result<(), crate::util::BoxError> {
    let (mut parts, body) = response.into_parts();
    parts.version = http::Version::HTTP_3;
    // Connection-specific fields do not exist in HTTP/3 (RFC 9114 §4.2).
    for name in [
        http::header::CONNECTION,
        http::header::TRANSFER_ENCODING,
        http::header::UPGRADE,
    ] {
        parts.headers.remove(name);
    }
    parts.headers.remove("keep-alive");
    send.send_response(Response::from_parts(parts, ())).await?;
    let mut body = pin!(body);
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(error) => {
                send.stop_stream(h3::error::Code::H3_INTERNAL_ERROR);
                return Err(error);
            }
        };
        match frame.into_data() {
            Ok(data) => send.send_data(data).await?,
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    send.send_trailers(trailers).await?;
                    return Ok(());
                }
            }
        }
    }
    send.finish().await?;
    Ok(())
}
