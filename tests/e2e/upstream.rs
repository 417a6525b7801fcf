//! A real HTTP/1.1 origin server for the tests, on a port-0 loopback socket.
//!
//! Every request is answered with a JSON description of what arrived
//! (method, path, query, headers, body length and hash), except:
//! `/slow/{ms}` answers after `ms` milliseconds; `/status/{code}` answers
//! with that status; `/doc/{name}` answers a document the test published
//! ([`Upstream::publish`]), or 404.

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

impl Upstream {
    /// Starts the origin on its own thread and runtime.
    pub fn start() -> Upstream {
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
                    tokio::spawn(async move {
                        let service = service_fn(move |req| {
                            let stats = stats.clone();
                            let documents = documents.clone();
                            async move { Ok::<_, Infallible>(answer(req, &stats, &documents).await) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
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
