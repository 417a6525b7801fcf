//! A real HTTP/1.1 origin server for the tests, on a port-0 loopback socket.
//!
//! Every request is answered with a JSON description of what arrived
//! (method, path, query, headers, body length and hash), except:
//! `/slow/{ms}` answers after `ms` milliseconds; `/status/{code}` answers
//! with that status; `/doc/{name}` answers a document the test published
//! ([`Upstream::publish`]), or 404.
//!
//! [`Upstream::start_with`] serves HTTPS (HTTP/1.1 or HTTP/2 by ALPN,
//! optionally asking for a client certificate) or cleartext HTTP/2 as well;
//! the description then tells the protocol and whether a client
//! certificate came.

use std::collections::hash_map::DefaultHasher;
use std::convert::Infallible;
use std::hash::Hasher;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};

/// Counters the tests read.
#[derive(Default)]
pub struct Stats {
    /// TCP connections accepted.
    pub connections: AtomicUsize,
    /// Requests whose handling has started.
    pub started: AtomicUsize,
    /// Requests for published documents.
    pub document_fetches: AtomicUsize,
}

/// Documents served under `/doc/`.
type Documents = Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>;

/// A running origin; stops with the test process.
pub struct Upstream {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Counters.
    pub stats: Arc<Stats>,
    documents: Documents,
}

/// How an origin serves.
#[derive(Default)]
pub struct Serving {
    /// TLS with this certificate and key (PEM files).
    pub tls: Option<(String, String)>,
    /// Client certificates required, trusted if issued by this CA (PEM).
    pub client_ca: Option<String>,
    /// HTTP/1.1 and HTTP/2 (by ALPN over TLS, by preface without); HTTP/1.1
    /// only otherwise.
    pub http2: bool,
}

impl Upstream {
    /// Starts a plain HTTP/1.1 origin on its own thread and runtime.
    pub fn start() -> Upstream {
        Upstream::start_with(Serving::default())
    }

    /// Starts an origin serving as `serving` says.
    pub fn start_with(serving: Serving) -> Upstream {
        let acceptor = serving.tls.as_ref().map(|(cert, key)| {
            tls_acceptor(cert, key, serving.client_ca.as_deref(), serving.http2)
        });
        let http2 = serving.http2;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind upstream");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local addr");
        let stats = Arc::new(Stats::default());
        let documents = Documents::default();
        let thread_documents = documents.clone();
        let thread_stats = stats.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    thread_stats.connections.fetch_add(1, Ordering::SeqCst);
                    let stats = thread_stats.clone();
                    let documents = thread_documents.clone();
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        let Some(acceptor) = acceptor else {
                            serve(stream, stats, documents, false, http2).await;
                            return;
                        };
                        // A failed handshake (an untrusted client) just ends here.
                        if let Ok(stream) = acceptor.accept(stream).await {
                            let client_cert = stream.get_ref().1.peer_certificates().is_some();
                            serve(stream, stats, documents, client_cert, http2).await;
                        }
                    });
                }
            });
        });
        Upstream {
            addr,
            stats,
            documents,
        }
    }

    /// Serves `body` as JSON at `/doc/{name}` from now on.
    pub fn publish(&self, name: &str, body: &str) {
        self.documents
            .lock()
            .expect("documents")
            .insert(name.to_owned(), body.to_owned());
    }

    /// `http://ADDR`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// A TLS acceptor for `cert`/`key`, asking for a client certificate
/// issued by `client_ca` if given.
fn tls_acceptor(
    cert: &str,
    key: &str,
    client_ca: Option<&str>,
    http2: bool,
) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .expect("read cert")
        .collect::<Result<_, _>>()
        .expect("parse cert");
    let key = PrivateKeyDer::from_pem_file(key).expect("read key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions");
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca).expect("read ca") {
                roots.add(c.expect("parse ca")).expect("add ca");
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .expect("verifier");
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, key).expect("cert and key");
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// Serves one connection: HTTP/1.1, or either protocol with `http2`.
async fn serve<S>(
    stream: S,
    stats: Arc<Stats>,
    documents: Documents,
    client_cert: bool,
    http2: bool,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let stats = stats.clone();
        let documents = documents.clone();
        async move { Ok::<_, Infallible>(answer(req, &stats, &documents, client_cert).await) }
    });
    let io = TokioIo::new(stream);
    if http2 {
        let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
            .serve_connection(io, service)
            .await;
    } else {
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(io, service)
            .await;
    }
}

/// The hash the origin reports for a body, for comparing with what was sent.
pub fn body_hash(body: &[u8]) -> String {
    let mut h = DefaultHasher::new();
    h.write(body);
    format!("{:016x}", h.finish())
}

async fn answer(
    req: Request<Incoming>,
    stats: &Stats,
    documents: &Documents,
    client_cert: bool,
) -> Response<Full<Bytes>> {
    stats.started.fetch_add(1, Ordering::SeqCst);
    let path = req.uri().path().to_owned();
    if let Some(name) = path.strip_prefix("/doc/") {
        stats.document_fetches.fetch_add(1, Ordering::SeqCst);
        let document = documents.lock().expect("documents").get(name).cloned();
        let mut r = Response::new(Full::new(Bytes::from(document.clone().unwrap_or_default())));
        if document.is_none() {
            *r.status_mut() = hyper::StatusCode::NOT_FOUND;
        }
        r.headers_mut()
            .insert("content-type", "application/json".parse().expect("valid"));
        return r;
    }
    if let Some(ms) = path
        .strip_prefix("/slow/")
        .and_then(|v| v.parse::<u64>().ok())
    {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        return Response::new(Full::new(Bytes::from(format!("slept {ms} ms"))));
    }
    if let Some(code) = path
        .strip_prefix("/status/")
        .and_then(|v| v.parse::<u16>().ok())
    {
        let mut r = Response::new(Full::new(Bytes::from_static(b"custom status")));
        *r.status_mut() = hyper::StatusCode::from_u16(code).expect("valid status");
        return r;
    }
    let method = req.method().to_string();
    let query = req.uri().query().map(str::to_owned);
    let version = format!("{:?}", req.version());
    let mut headers = Map::new();
    for (name, value) in req.headers() {
        let entry = headers
            .entry(name.as_str().to_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(values) = entry {
            values.push(Value::String(
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            ));
        }
    }
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let description = json!({
        "method": method,
        "path": path,
        "query": query,
        "version": version,
        "headers": headers,
        "body_len": body.len(),
        "body_hash": body_hash(&body),
        "client_cert": client_cert,
    });
    let mut response = Response::new(Full::new(Bytes::from(description.to_string())));
    let h = response.headers_mut();
    h.insert("content-type", "application/json".parse().expect("valid"));
    h.insert("x-upstream", "yes".parse().expect("valid"));
    // A hop-by-hop header named by Connection: the gateway must not pass it on.
    h.insert("connection", "x-hop".parse().expect("valid"));
    h.insert("x-hop", "secret".parse().expect("valid"));
    response
}
