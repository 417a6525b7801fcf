//! `wsload`: the WebSocket side of `benches/websocket.sh`. One binary holds
//! the load clients and the small servers the benchmark needs beside the
//! gateway:
//!
//! - `hold`: opens `--connections` WebSocket connections and keeps them
//!   open (answering pings) until its standard input closes; counts the
//!   messages pushed to them. For idle memory and for `@connections`.
//! - `connect`: `--concurrency` loops of connect (TCP, upgrade, the
//!   gateway's `$connect` route) and close (close frames both ways, the
//!   socket closed): completed cycles per second, and the handshake's
//!   latency.
//! - `messages`: `--connections` connections, each sending `--window`
//!   messages at once and then reading as many replies, over and over:
//!   replies per second.
//! - `echo`: a WebSocket echo server (the backend nginx proxies to).
//! - `backend`: an HTTP/1.1 server for a `$connect` `http_proxy`
//!   integration: it answers 200 and records the gateway's
//!   `x-turnpike-connection-id` of each `CONNECT` (dropped again on
//!   `DISCONNECT`); `GET /ids` lists the open ones, one a line.
//!
//! Servers print `listening ADDRESS` once bound (port 0 picks one). The
//! measuring modes open every connection before the clock starts, load for
//! `--warmup` seconds, then count for `--duration` seconds and print one
//! line of `key=value` fields. `--cpu-pid PID` adds `cpu=`, the CPU time
//! of that process (all its threads, from `/proc/PID/task/*/schedstat`)
//! during the counted window divided by its length: `1.00` is one core
//! busy throughout. `client_cpu=` is the same for `wsload` itself.
//!
//! ```text
//! wsload messages --url ws://127.0.0.1:8080/prod --connections 64 --window 16 \
//!     --message '{"action":"echo"}' --expect pong --duration 5 --warmup 1
//! mode=messages connections=64 window=16 duration=5.00s messages=301234 msg/s=60246 errors=0
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Args, Parser, Subcommand};
use futures_util::{FutureExt, SinkExt, StreamExt};
use http_body_util::Full;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Ws = WebSocketStream<TcpStream>;

/// WebSocket load client and test servers for the Turnpike benchmarks.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Runtime worker threads.
    #[arg(long, global = true, default_value_t = 1)]
    threads: usize,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Open connections and keep them until stdin closes.
    Hold {
        #[command(flatten)]
        target: Target,
        /// Connections to open.
        #[arg(long)]
        connections: usize,
        /// Connections being opened at once.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
    /// Connect and close, over and over: cycles per second.
    Connect {
        #[command(flatten)]
        target: Target,
        /// Connect/close loops running at once.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[command(flatten)]
        timing: Timing,
    },
    /// Pipelined messages on open connections: replies per second.
    Messages {
        #[command(flatten)]
        target: Target,
        /// Connections.
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// Messages sent at once on a connection before its replies are read.
        #[arg(long, default_value_t = 16)]
        window: usize,
        /// The message (sent as text).
        #[arg(long, default_value = r#"{"action":"echo"}"#)]
        message: String,
        /// The reply every message must get (default: the message itself).
        #[arg(long)]
        expect: Option<String>,
        #[command(flatten)]
        timing: Timing,
    },
    /// A WebSocket echo server.
    Echo {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
    /// An HTTP server recording the connection ids of `$connect` calls.
    Backend {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
}

#[derive(Args)]
struct Target {
    /// The endpoint, e.g. ws://127.0.0.1:8080/prod.
    #[arg(long)]
    url: String,
    /// A header sent with the upgrade request, `Name: value` (repeatable).
    #[arg(long = "header")]
    headers: Vec<String>,
}

#[derive(Args)]
struct Timing {
    /// Seconds counted.
    #[arg(long, default_value = "5", value_parser = seconds)]
    duration: Duration,
    /// Seconds of load before counting starts.
    #[arg(long, default_value = "1", value_parser = seconds)]
    warmup: Duration,
    /// Report the CPU this process used during the counted window.
    #[arg(long)]
    cpu_pid: Option<u32>,
}

fn seconds(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("`{s}` is not a number of seconds"))
}

fn main() -> Result<(), Error> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Hold {
                target,
                connections,
                concurrency,
            } => hold(target.resolve().await?, connections, concurrency).await,
            Command::Connect {
                target,
                concurrency,
                timing,
            } => connect(target.resolve().await?, concurrency, timing).await,
            Command::Messages {
                target,
                connections,
                window,
                message,
                expect,
                timing,
            } => {
                let expect = expect.unwrap_or_else(|| message.clone());
                messages(
                    target.resolve().await?,
                    connections,
                    window,
                    message,
                    expect,
                    timing,
                )
                .await
            }
            Command::Echo { listen } => echo(listen).await,
            Command::Backend { listen } => backend(listen).await,
        }
    })
}

/// Small buffers: a client holding 10,000 connections should not need
/// gigabytes (tungstenite's default read buffer is 128 KiB, zero-filled).
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4 * 1024)
}

/// A target with its address looked up once.
struct Resolved {
    url: String,
    addr: SocketAddr,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Target {
    async fn resolve(self) -> Result<Arc<Resolved>, Error> {
        let request = self.url.as_str().into_client_request()?;
        let uri = request.uri();
        let host = uri.host().ok_or("the URL has no host")?;
        let port = uri.port_u16().unwrap_or(80);
        let addr = tokio::net::lookup_host((host, port))
            .await?
            .next()
            .ok_or("the URL's host has no address")?;
        let mut headers = Vec::new();
        for h in &self.headers {
            let (name, value) = h
                .split_once(':')
                .ok_or_else(|| format!("header `{h}` is not `Name: value`"))?;
            headers.push((
                HeaderName::try_from(name.trim())?,
                HeaderValue::try_from(value.trim())?,
            ));
        }
        Ok(Arc::new(Resolved {
            url: self.url,
            addr,
            headers,
        }))
    }
}

/// Opens one connection: TCP, then the upgrade.
async fn open(target: &Resolved) -> Result<Ws, Error> {
    let stream = TcpStream::connect(target.addr).await?;
    stream.set_nodelay(true)?;
    let local = stream.local_addr()?;
    let mut request = target.url.as_str().into_client_request()?;
    for (name, value) in &target.headers {
        request.headers_mut().insert(name.clone(), value.clone());
    }
    let (ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(ws_config()))
        .await
        .map_err(|e| format!("{e} (from {local})"))?;
    Ok(ws)
}

/// Sends a close frame and reads until the server's close ends the stream.
async fn close(ws: &mut Ws) -> bool {
    tokio::time::timeout(Duration::from_secs(5), async {
        if ws.close(None).await.is_err() {
            return;
        }
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await
    .is_ok()
}

/// CPU time of `pid`'s threads so far, in nanoseconds.
fn cpu_ns(pid: u32) -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// Counts `counter` over the warm-up and measured window; returns the
/// count, the window's length and the CPU field.
async fn window(
    counter: &AtomicU64,
    timing: &Timing,
    measuring: &AtomicBool,
) -> (u64, f64, String) {
    tokio::time::sleep(timing.warmup).await;
    let me = std::process::id();
    let (cpu0, mine0) = (timing.cpu_pid.and_then(cpu_ns), cpu_ns(me));
    let c0 = counter.load(Ordering::Relaxed);
    measuring.store(true, Ordering::Relaxed);
    let t0 = Instant::now();
    tokio::time::sleep(timing.duration).await;
    let c1 = counter.load(Ordering::Relaxed);
    measuring.store(false, Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    let (cpu1, mine1) = (timing.cpu_pid.and_then(cpu_ns), cpu_ns(me));
    let busy = |a: Option<u64>, b: Option<u64>, name: &str| match (a, b) {
        (Some(a), Some(b)) => format!(" {name}={:.3}", (b - a) as f64 / 1e9 / elapsed),
        _ => String::new(),
    };
    let cpu = busy(cpu0, cpu1, "cpu") + &busy(mine0, mine1, "client_cpu");
    (c1 - c0, elapsed, cpu)
}

async fn hold(target: Arc<Resolved>, connections: usize, concurrency: usize) -> Result<(), Error> {
    let opening = Arc::new(Semaphore::new(concurrency.max(1)));
    let received = Arc::new(AtomicU64::new(0));
    let lost = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (opened_tx, mut opened_rx) = mpsc::unbounded_channel::<Result<(), String>>();
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (target, opening, received, lost) = (
            target.clone(),
            opening.clone(),
            received.clone(),
            lost.clone(),
        );
        let (mut stop, opened) = (stop_rx.clone(), opened_tx.clone());
        tasks.push(tokio::spawn(async move {
            let permit = opening.acquire().await;
            let mut ws = match open(&target).await {
                Ok(ws) => ws,
                Err(e) => {
                    let _ = opened.send(Err(e.to_string()));
                    return;
                }
            };
            drop(permit);
            let _ = opened.send(Ok(()));
            loop {
                tokio::select! {
                    _ = stop.changed() => {
                        close(&mut ws).await;
                        return;
                    }
                    incoming = ws.next() => match incoming {
                        Some(Ok(Message::Text(_) | Message::Binary(_))) => {
                            received.fetch_add(1, Ordering::Relaxed);
                        }
                        Some(Ok(_)) => {}
                        Some(Err(_)) | None => {
                            lost.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    }
                }
            }
        }));
    }
    drop(opened_tx);
    let started = Instant::now();
    for done in 0..connections {
        match opened_rx.recv().await {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                return Err(format!(
                    "a connection failed to open after {done} opened in {:.2} s: {e}",
                    started.elapsed().as_secs_f64()
                )
                .into());
            }
            None => return Err("connections ended before opening".into()),
        }
    }
    println!(
        "ready connections={connections} open_seconds={:.2}",
        started.elapsed().as_secs_f64()
    );
    let mut sink = Vec::new();
    tokio::io::stdin().read_to_end(&mut sink).await?;
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(
        Duration::from_secs(30),
        futures_util::future::join_all(tasks),
    )
    .await;
    println!(
        "closed received={} lost={}",
        received.load(Ordering::Relaxed),
        lost.load(Ordering::Relaxed)
    );
    Ok(())
}

async fn connect(target: Arc<Resolved>, concurrency: usize, timing: Timing) -> Result<(), Error> {
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let first_error: Arc<Mutex<Option<String>>> = Arc::default();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (target, done, errors, measuring, stop, first_error) = (
            target.clone(),
            done.clone(),
            errors.clone(),
            measuring.clone(),
            stop.clone(),
            first_error.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let failure = match open(&target).await {
                    Ok(mut ws) => {
                        let handshake = t.elapsed();
                        if close(&mut ws).await {
                            done.fetch_add(1, Ordering::Relaxed);
                            if measuring.load(Ordering::Relaxed) {
                                latencies.push(handshake);
                            }
                            None
                        } else {
                            Some("the close handshake timed out".to_owned())
                        }
                    }
                    Err(e) => Some(e.to_string()),
                };
                if let Some(e) = failure {
                    errors.fetch_add(1, Ordering::Relaxed);
                    first_error.lock().unwrap().get_or_insert(e);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            latencies
        }));
    }
    let (count, elapsed, cpu) = window(&done, &timing, &measuring).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await?);
    }
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "mode=connect concurrency={concurrency} duration={elapsed:.2}s connects={count} connects/s={:.0} p50_ms={:.2} p99_ms={:.2} errors={}{cpu}",
        count as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        errors.load(Ordering::Relaxed)
    );
    if let Some(e) = first_error.lock().unwrap().take() {
        eprintln!("first error: {e}");
    }
    Ok(())
}

async fn messages(
    target: Arc<Resolved>,
    connections: usize,
    window_size: usize,
    message: String,
    expect: String,
    timing: Timing,
) -> Result<(), Error> {
    let opened = futures_util::future::join_all((0..connections).map(|_| open(&target))).await;
    let mut sockets = Vec::with_capacity(connections);
    for ws in opened {
        sockets.push(ws.map_err(|e| format!("a connection failed to open: {e}"))?);
    }
    let replies = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let first_error: Arc<Mutex<Option<String>>> = Arc::default();
    let message = Utf8Bytes::from(message);
    let expect = Bytes::from(expect);
    let mut tasks = Vec::new();
    for mut ws in sockets {
        let (replies, errors, stop, first_error) = (
            replies.clone(),
            errors.clone(),
            stop.clone(),
            first_error.clone(),
        );
        let (message, expect) = (message.clone(), expect.clone());
        tasks.push(tokio::spawn(async move {
            let fail = |e: String| {
                errors.fetch_add(1, Ordering::Relaxed);
                first_error.lock().unwrap().get_or_insert(e);
            };
            'run: while !stop.load(Ordering::Relaxed) {
                for _ in 0..window_size {
                    if let Err(e) = ws.feed(Message::Text(message.clone())).await {
                        fail(e.to_string());
                        break 'run;
                    }
                }
                if let Err(e) = ws.flush().await {
                    fail(e.to_string());
                    break 'run;
                }
                let mut waiting = window_size;
                while waiting > 0 {
                    let data = match ws.next().await {
                        Some(Ok(Message::Text(t))) => Bytes::from(t),
                        Some(Ok(Message::Binary(b))) => b,
                        Some(Ok(Message::Close(frame))) => {
                            fail(format!("closed by the server: {frame:?}"));
                            break 'run;
                        }
                        Some(Ok(_)) => continue,
                        Some(Err(e)) => {
                            fail(e.to_string());
                            break 'run;
                        }
                        None => {
                            fail("the connection ended".to_owned());
                            break 'run;
                        }
                    };
                    waiting -= 1;
                    if data == expect {
                        replies.fetch_add(1, Ordering::Relaxed);
                    } else {
                        fail(format!(
                            "unexpected reply {:?}",
                            String::from_utf8_lossy(&data)
                        ));
                    }
                }
            }
            close(&mut ws).await;
        }));
    }
    let (count, elapsed, cpu) = window(&replies, &timing, &measuring).await;
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::time::timeout(
        Duration::from_secs(10),
        futures_util::future::join_all(tasks),
    )
    .await;
    println!(
        "mode=messages connections={connections} window={window_size} duration={elapsed:.2}s messages={count} msg/s={:.0} errors={}{cpu}",
        count as f64 / elapsed,
        errors.load(Ordering::Relaxed)
    );
    if let Some(e) = first_error.lock().unwrap().take() {
        eprintln!("first error: {e}");
    }
    Ok(())
}

async fn echo(listen: SocketAddr) -> Result<(), Error> {
    let listener = TcpListener::bind(listen).await?;
    println!("listening {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let Ok(mut ws) =
                tokio_tungstenite::accept_async_with_config(stream, Some(ws_config())).await
            else {
                return;
            };
            // Echo everything already read, then flush once.
            while let Some(Ok(first)) = ws.next().await {
                let mut next = Some(first);
                while let Some(message) = next.take() {
                    if matches!(message, Message::Text(_) | Message::Binary(_))
                        && ws.feed(message).await.is_err()
                    {
                        return;
                    }
                    if let Some(Some(Ok(more))) = ws.next().now_or_never() {
                        next = Some(more);
                    }
                }
                if ws.flush().await.is_err() {
                    return;
                }
            }
        });
    }
}

async fn backend(listen: SocketAddr) -> Result<(), Error> {
    let listener = TcpListener::bind(listen).await?;
    println!("listening {}", listener.local_addr()?);
    let ids: Arc<Mutex<Vec<String>>> = Arc::default();
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let ids = ids.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(
                move |request: hyper::Request<hyper::body::Incoming>| {
                    let ids = ids.clone();
                    async move {
                        let header = |name: &str| {
                            request
                                .headers()
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_owned)
                        };
                        let mut body = Bytes::new();
                        if request.method() == hyper::Method::GET && request.uri().path() == "/ids"
                        {
                            let ids = ids.lock().unwrap();
                            let mut list = ids.join("\n");
                            if !list.is_empty() {
                                list.push('\n');
                            }
                            body = Bytes::from(list);
                        } else if let Some(id) = header("x-turnpike-connection-id") {
                            match header("x-turnpike-event-type").as_deref() {
                                Some("CONNECT") => ids.lock().unwrap().push(id),
                                Some("DISCONNECT") => ids.lock().unwrap().retain(|i| *i != id),
                                _ => {}
                            }
                        }
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(body)))
                    }
                },
            );
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}
