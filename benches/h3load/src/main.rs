//! `h3load`: requests per second over HTTP/3 (quinn + h3) and over HTTP/2 on
//! TLS (hyper), with one client design for both, to compare the two protocols
//! on the Turnpike gateway.
//!
//! Why it exists: Debian's `h2load` is built without ngtcp2, so it cannot speak
//! HTTP/3, and measuring HTTP/3 with one tool and HTTP/2 with another would
//! compare the tools as much as the protocols. This client uses the gateway's
//! own stacks (quinn, h3, hyper, rustls with ring) on both sides.
//!
//! What it measures: it opens `--connections` connections (QUIC with TLS 1.3
//! and ALPN `h3`, or TCP with TLS and ALPN `h2`), all before the clock starts,
//! then keeps `--streams` GET requests in flight on each, back to back, for
//! `--warmup` plus `--duration` seconds. Response bodies are read to the end
//! and dropped. Only requests that end inside the measured window (after the
//! warm-up) count: `requests` and `req/s` are 2xx responses, `non2xx` other
//! statuses, `errors` failed requests; those still in flight when it closes
//! are not counted. A failed connection is not reopened. Each HTTP/3
//! connection has its own UDP socket (quinn endpoint), so packet I/O spreads
//! over the `--threads`.
//!
//! ```text
//! h3load --protocol h3 --url https://127.0.0.1:8443/ping --connections 8 \
//!     --streams 16 --duration 5 --warmup 1 --insecure
//! protocol=h3 connections=8 streams=16 duration=5.0s requests=123456 req/s=24691 non2xx=0 errors=0
//! ```
//!
//! Turnpike allows 100 concurrent streams per connection on HTTP/2 and
//! HTTP/3; with `--streams` above that the extra requests wait in the client.

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clap::{Parser, ValueEnum};
use h3::error::StreamError;
use http::uri::PathAndQuery;
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use quinn::crypto::rustls::QuicClientConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, ring};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout, timeout_at};

type Error = Box<dyn StdError + Send + Sync>;
type H3Send = h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>;
type H2Send = hyper::client::conn::http2::SendRequest<Empty<Bytes>>;

/// Requests per second over HTTP/3 or HTTP/2 on TLS.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Protocol to speak.
    #[arg(long, value_enum)]
    protocol: Protocol,
    /// Target, e.g. https://127.0.0.1:8443/ping; its host is the SNI name and :authority.
    #[arg(long)]
    url: Uri,
    /// Connections to open.
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// Requests kept in flight on each connection.
    #[arg(long, default_value_t = 1)]
    streams: usize,
    /// Seconds measured.
    #[arg(long, default_value = "5", value_parser = seconds)]
    duration: Duration,
    /// Seconds of load before measuring starts.
    #[arg(long, default_value = "0", value_parser = seconds)]
    warmup: Duration,
    /// Runtime worker threads (default: one per CPU).
    #[arg(long)]
    threads: Option<usize>,
    /// Skip certificate verification (self-signed bench certificates).
    #[arg(long, conflicts_with = "ca")]
    insecure: bool,
    /// PEM file of the CA certificates to trust.
    #[arg(long, required_unless_present = "insecure")]
    ca: Option<PathBuf>,
}

fn seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text.parse().map_err(|e| format!("{e}"))?;
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{e}"))
}

#[derive(Clone, Copy, ValueEnum)]
enum Protocol {
    H3,
    H2,
}

impl Protocol {
    /// The ALPN token, also the name printed.
    fn alpn(self) -> &'static str {
        match self {
            Protocol::H3 => "h3",
            Protocol::H2 => "h2",
        }
    }
}

/// Outcomes counted by one worker, then summed.
#[derive(Default)]
struct Tally {
    ok: u64,
    non2xx: u64,
    errors: u64,
}

/// The measured interval.
#[derive(Clone, Copy)]
struct Window {
    start: Instant,
    end: Instant,
}

impl Window {
    /// Counts a request that ended now if inside the window; false once it has closed.
    fn record(&self, tally: &mut Tally, outcome: &Result<StatusCode, Error>) -> bool {
        let now = Instant::now();
        if now >= self.end {
            return false;
        }
        if now >= self.start {
            match outcome {
                Ok(status) if status.is_success() => tally.ok += 1,
                Ok(_) => tally.non2xx += 1,
                Err(_) => tally.errors += 1,
            }
        }
        true
    }
}

/// A handle that sends requests on one connection; cloned for each stream.
#[derive(Clone)]
enum Client {
    H3(H3Send, quinn::Connection),
    H2(H2Send),
}

impl Client {
    /// One GET; the status once the body has been read to the end.
    async fn get(&mut self, uri: &Uri) -> Result<StatusCode, Error> {
        match self {
            Client::H3(send, _) => {
                let mut stream = send.send_request(Request::get(uri).body(())?).await?;
                stream.finish().await?;
                let status = stream.recv_response().await?.status();
                while stream.recv_data().await?.is_some() {}
                Ok(status)
            }
            Client::H2(send) => {
                send.ready().await?;
                let response = send
                    .send_request(Request::get(uri).body(Empty::new())?)
                    .await?;
                let status = response.status();
                let mut body = response.into_body();
                while let Some(frame) = body.frame().await {
                    frame?;
                }
                Ok(status)
            }
        }
    }

    /// Whether `error` means the connection is gone or going (GOAWAY
    /// received): its workers then stop rather than spin on instant errors.
    fn gone(&self, error: &Error) -> bool {
        match self {
            Client::H3(_, quic) => {
                let closing = matches!(
                    error.downcast_ref(),
                    Some(StreamError::ConnectionError { .. } | StreamError::RemoteClosing { .. })
                );
                closing || quic.close_reason().is_some()
            }
            Client::H2(send) => send.is_closed(),
        }
    }
}

/// One open connection: its request handle, the task driving it, and for
/// HTTP/3 its own endpoint (UDP socket).
struct Conn {
    client: Client,
    driver: JoinHandle<()>,
    endpoint: Option<quinn::Endpoint>,
}

impl Conn {
    async fn h3(target: &Target, config: &quinn::ClientConfig) -> Result<Conn, Error> {
        let local = if target.addr.is_ipv6() {
            "[::]:0"
        } else {
            "0.0.0.0:0"
        };
        let endpoint = quinn::Endpoint::client(local.parse()?)?;
        let quic = endpoint
            .connect_with(config.clone(), target.addr, &target.host)?
            .await?;
        let (mut driver, send) = h3::client::new(h3_quinn::Connection::new(quic.clone())).await?;
        let driver = tokio::spawn(async move {
            let _closed = driver.wait_idle().await;
        });
        Ok(Conn {
            client: Client::H3(send, quic),
            driver,
            endpoint: Some(endpoint),
        })
    }

    async fn h2(target: &Target, connector: &tokio_rustls::TlsConnector) -> Result<Conn, Error> {
        let tcp = tokio::net::TcpStream::connect(target.addr).await?;
        tcp.set_nodelay(true)?;
        let tls = connector.connect(target.name.clone(), tcp).await?;
        if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
            return Err("the server did not agree to ALPN h2".into());
        }
        let io = TokioIo::new(tls);
        let (send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
        let driver = tokio::spawn(async move {
            let _closed = conn.await;
        });
        Ok(Conn {
            client: Client::H2(send),
            driver,
            endpoint: None,
        })
    }

    /// Closes the connection, waiting briefly for the close to go out.
    async fn close(self) {
        if let Client::H3(_, quic) = &self.client {
            quic.close(quinn::VarInt::from_u32(0x100), b""); // H3_NO_ERROR
        }
        drop(self.client);
        let _ = timeout(Duration::from_secs(1), self.driver).await;
        if let Some(endpoint) = self.endpoint {
            let _ = timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
        }
    }
}

/// Keeps one request in flight until the window closes.
async fn worker(mut client: Client, uri: Uri, window: Window) -> Tally {
    let mut tally = Tally::default();
    while let Ok(outcome) = timeout_at(window.end, client.get(&uri)).await {
        let gone = outcome.as_ref().is_err_and(|error| client.gone(error));
        if !window.record(&mut tally, &outcome) || gone {
            break;
        }
    }
    tally
}

/// Where to connect and what to ask for.
struct Target {
    uri: Uri,
    addr: SocketAddr,
    host: String,
    name: ServerName<'static>,
}

impl Target {
    async fn resolve(url: &Uri) -> Result<Target, Error> {
        if url.scheme_str() != Some("https") {
            return Err("--url must be https://".into());
        }
        let host = url.host().ok_or("--url has no host")?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = url.port_u16().unwrap_or(443);
        let addr = tokio::net::lookup_host((host.as_str(), port)).await?;
        let addr = addr.into_iter().next().ok_or("--url host has no address")?;
        let mut parts = url.clone().into_parts();
        if parts.path_and_query.is_none() {
            parts.path_and_query = Some(PathAndQuery::from_static("/"));
        }
        let name = ServerName::try_from(host.clone())?;
        Ok(Target {
            uri: Uri::from_parts(parts)?,
            addr,
            host,
            name,
        })
    }
}

/// TLS for either protocol: TLS 1.3 only for QUIC, the protocol's ALPN token,
/// and either the `--ca` roots or no verification at all.
fn tls_config(args: &Args) -> Result<rustls::ClientConfig, Error> {
    let provider = Arc::new(ring::default_provider());
    let versions = match args.protocol {
        Protocol::H3 => &[&rustls::version::TLS13][..],
        Protocol::H2 => rustls::DEFAULT_VERSIONS,
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)?;
    let mut config = match &args.ca {
        _ if args.insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
            .with_no_client_auth(),
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(path)? {
                roots.add(cert?)?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => return Err("give --ca FILE or --insecure".into()),
    };
    config.alpn_protocols = vec![args.protocol.alpn().as_bytes().to_vec()];
    Ok(config)
}

/// `--insecure`: any certificate is accepted; handshake signatures are still
/// checked, so the TLS work done matches a verified connection's.
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

async fn run(args: Args) -> Result<(), Error> {
    if args.connections == 0 || args.streams == 0 || args.duration.is_zero() {
        return Err("--connections, --streams and --duration must be above 0".into());
    }
    let target = Target::resolve(&args.url).await?;
    let tls = tls_config(&args)?;
    let mut conns = Vec::with_capacity(args.connections);
    match args.protocol {
        Protocol::H3 => {
            let quic = quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(tls)?));
            for _ in 0..args.connections {
                conns.push(Conn::h3(&target, &quic).await?);
            }
        }
        Protocol::H2 => {
            let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
            for _ in 0..args.connections {
                conns.push(Conn::h2(&target, &connector).await?);
            }
        }
    }

    let start = Instant::now() + args.warmup;
    let window = Window {
        start,
        end: start + args.duration,
    };
    let mut workers = Vec::with_capacity(args.connections * args.streams);
    for conn in &conns {
        for _ in 0..args.streams {
            let client = conn.client.clone();
            workers.push(tokio::spawn(worker(client, target.uri.clone(), window)));
        }
    }
    let mut total = Tally::default();
    for handle in workers {
        let tally = handle.await?;
        total.ok += tally.ok;
        total.non2xx += tally.non2xx;
        total.errors += tally.errors;
    }
    for conn in conns {
        conn.close().await;
    }

    let secs = args.duration.as_secs_f64();
    println!(
        "protocol={} connections={} streams={} duration={secs:.1}s requests={} req/s={:.0} non2xx={} errors={}",
        args.protocol.alpn(),
        args.connections,
        args.streams,
        total.ok,
        total.ok as f64 / secs,
        total.non2xx,
        total.errors,
    );
    Ok(())
}

fn main() {
    let args = Args::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        runtime.worker_threads(threads);
    }
    let result = runtime
        .enable_all()
        .build()
        .map_err(Error::from)
        .and_then(|rt| rt.block_on(run(args)));
    if let Err(error) = result {
        eprintln!("h3load: {error}");
        std::process::exit(1);
    }
}
