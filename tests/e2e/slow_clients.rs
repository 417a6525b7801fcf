//! Slow and greedy clients over raw TCP: a body that stalls gets 408, an
//! idle keep-alive connection is closed, a listener past its connection
//! limit answers 503 and closes, a thousand slowloris connections neither
//! starve normal requests nor outlive the header read timeout, and a
//! thousand idle keep-alive connections hold a few KiB each and still
//! serve.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{Gateway, client, eventually, rss_kib};
use crate::upstream::Upstream;

fn config(origin: &Upstream, limits: &str, listener: &str) -> String {
    format!(
        r#"
[limits]
{limits}

[[listeners]]
name = "main"
address = "127.0.0.1:0"
{listener}

[[apis]]
name = "slow"

[[apis.routes]]
key = "ANY /{{proxy+}}"
integration = {{ type = "http_proxy", url = "{origin}/{{proxy}}" }}

[apis.models.Thing]
schema = {{ type = "object" }}

[[apis.routes]]
key = "POST /validated"
request_models = {{ "$default" = "Thing" }}
integration = {{ type = "mock", body = "ok" }}
"#,
        origin = origin.base()
    )
}

/// Reads until the peer closes (or `limit` passes); returns what came and
/// whether the peer closed.
async fn read_to_close(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&all).into_owned(), true),
            Ok(Ok(n)) => all.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&all).into_owned(), false),
        }
    }
}

#[tokio::test]
async fn a_body_that_stops_arriving_gets_408() {
    let origin = Upstream::start();
    let gw = Gateway::start(&config(&origin, r#"body_read_timeout = "300ms""#, ""));
    for path in ["/things", "/validated"] {
        let mut stream = TcpStream::connect(gw.addr("main")).await.expect("connect");
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"a\":"
        );
        stream.write_all(head.as_bytes()).await.expect("write");
        let started = Instant::now();
        let (text, _) = read_to_close(&mut stream, Duration::from_secs(10)).await;
        assert!(
            text.starts_with("HTTP/1.1 408 "),
            "{path}: a stalled body is answered 408, got {text:?}"
        );
        assert!(text.contains(r#"{"message":"Request Timeout"}"#), "{text}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{path}: answered after {:?}",
            started.elapsed()
        );
    }
    // A body that keeps coming, however slowly, is not cut off.
    let mut stream = TcpStream::connect(gw.addr("main")).await.expect("connect");
    stream
        .write_all(
            b"POST /things HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nConnection: close\r\n\r\n",
        )
        .await
        .expect("write");
    for chunk in [b"ab", b"cd", b"ef"] {
        tokio::time::sleep(Duration::from_millis(200)).await;
        stream.write_all(chunk).await.expect("write");
    }
    let (text, closed) = read_to_close(&mut stream, Duration::from_secs(10)).await;
    assert!(closed);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    assert!(text.contains(r#""body_len":6"#), "{text}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_and_a_busy_one_is_not() {
    let origin = Upstream::start();
    let gw = Gateway::start(&config(&origin, r#"idle_timeout = "400ms""#, ""));
    let mut stream = TcpStream::connect(gw.addr("main")).await.expect("connect");
    // A request longer than the idle timeout: the connection is busy.
    stream
        .write_all(b"GET /slow/900 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("answered")
        .expect("read");
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    // Now idle: closed by the gateway soon after the timeout.
    let idle_from = Instant::now();
    let (rest, closed) = read_to_close(&mut stream, Duration::from_secs(5)).await;
    assert!(closed, "the idle connection was closed");
    assert!(rest.is_empty(), "nothing more was sent: {rest:?}");
    let idle_for = idle_from.elapsed();
    assert!(
        idle_for >= Duration::from_millis(300) && idle_for < Duration::from_secs(3),
        "closed after {idle_for:?}"
    );
}

#[tokio::test]
async fn past_max_connections_a_listener_answers_503_and_closes() {
    let origin = Upstream::start();
    let gw = Gateway::start(&config(&origin, "", "max_connections = 3"));
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = TcpStream::connect(gw.addr("main")).await.expect("connect");
        stream
            .write_all(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let mut buf = vec![0u8; 4096];
        let n = stream.read(&mut buf).await.expect("read");
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200 "));
        held.push(stream);
    }
    let mut fourth = TcpStream::connect(gw.addr("main")).await.expect("connect");
    let (text, closed) = read_to_close(&mut fourth, Duration::from_secs(5)).await;
    assert!(closed);
    assert!(
        text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{text:?}"
    );
    assert!(text.contains("retry-after: 1"), "{text}");
    eventually(Duration::from_secs(5), "the refusal logged", || {
        gw.stderr().contains("connection limit reached")
    });
    // A held connection goes: room for one more.
    held.pop();
    let http = client();
    eventually(
        Duration::from_secs(5),
        "a connection accepted again",
        || {
            std::net::TcpStream::connect(gw.addr("main")).is_ok_and(|mut s| {
                use std::io::{Read, Write};
                s.write_all(b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .is_ok()
                    && {
                        let mut text = String::new();
                        let _ = s.read_to_string(&mut text);
                        text.starts_with("HTTP/1.1 200 ")
                    }
            })
        },
    );
    drop(http);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_slowloris_connections_neither_starve_others_nor_stay() {
    let origin = Upstream::start();
    let gw = Gateway::start(&config(&origin, r#"header_read_timeout = "3s""#, ""));
    let addr = gw.addr("main");
    // Each sends part of a request and then a header line every 500 ms,
    // never finishing: the classic slowloris.
    let mut attackers = Vec::new();
    for _ in 0..1000 {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("write");
        attackers.push(stream);
    }
    let trickle = tokio::spawn(async move {
        let started = Instant::now();
        let mut closed_by_server = 0;
        let mut alive = attackers;
        while !alive.is_empty() && started.elapsed() < Duration::from_secs(15) {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let mut still = Vec::with_capacity(alive.len());
            for mut stream in alive {
                let mut buf = [0u8; 512];
                // The server closing shows up as EOF, a reset, or a failed write.
                let gone = match stream.try_read(&mut buf) {
                    Ok(0) => true,
                    Ok(_) => true,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        stream.write_all(b"X-Slow: 1\r\n").await.is_err()
                    }
                    Err(_) => true,
                };
                if gone {
                    closed_by_server += 1;
                } else {
                    still.push(stream);
                }
            }
            alive = still;
        }
        (closed_by_server, started.elapsed())
    });
    // Meanwhile, normal requests on new connections are answered promptly.
    let http = client();
    let mut slowest = Duration::ZERO;
    for i in 0..20 {
        let started = Instant::now();
        let response = http
            .get(gw.url("main", &format!("/normal/{i}")))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        slowest < Duration::from_secs(1),
        "normal requests beside the attack took up to {slowest:?}"
    );
    let (closed, took) = trickle.await.expect("trickle");
    assert_eq!(
        closed, 1000,
        "every slowloris connection was closed by the gateway"
    );
    assert!(
        took < Duration::from_secs(10),
        "closed within the header read timeout and a margin: {took:?}"
    );
}

/// Reads `count` responses framed by `Content-Length`; returns their heads.
async fn read_responses(stream: &mut TcpStream, count: usize) -> Vec<String> {
    let mut got = Vec::new();
    let mut heads = Vec::new();
    let mut buf = [0u8; 4096];
    while heads.len() < count {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_owned())
                })
                .and_then(|v| v.parse().ok())
                .expect("content-length");
            if got.len() >= end + 4 + length {
                got.drain(..end + 4 + length);
                heads.push(head);
                continue;
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("an answer within 10 s")
            .expect("read");
        assert!(
            n > 0,
            "closed before the answer: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    heads
}

/// Reads one response framed by `Content-Length`; returns its head.
async fn read_response(stream: &mut TcpStream) -> String {
    read_responses(stream, 1).await.remove(0)
}

#[tokio::test]
async fn idle_keep_alive_connections_give_back_their_buffers_and_keep_serving() {
    let origin = Upstream::start();
    let gw = Gateway::start(&config(&origin, "", ""));
    let addr = gw.addr("main");
    let request = b"GET /idle HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut first = TcpStream::connect(addr).await.expect("connect");
    first.write_all(request).await.expect("write");
    assert!(read_response(&mut first).await.starts_with("HTTP/1.1 200"));
    let before = rss_kib(gw.pid());

    // A thousand keep-alive connections, one request each, then idle.
    const COUNT: u64 = 1000;
    let mut idle = Vec::new();
    for _ in 0..COUNT {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(request).await.expect("write");
        let head = read_response(&mut stream).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(
            !head.to_ascii_lowercase().contains("connection: close"),
            "{head}"
        );
        idle.push(stream);
    }
    // Holding hyper's buffers they took over 30 KB each; parked, a few.
    let pid = gw.pid();
    let mut per_connection = 0;
    eventually(
        Duration::from_secs(15),
        "idle connections to shrink",
        || {
            per_connection = rss_kib(pid).saturating_sub(before) * 1024 / COUNT;
            per_connection < 8 * 1024
        },
    );

    // Every one of them still serves, on the same connection.
    for stream in &mut idle {
        stream.write_all(request).await.expect("write");
        let head = read_response(stream).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    }
    // A request whose head arrives in two parts with a pause longer than
    // the parking delay, and two pipelined in one write.
    first
        .write_all(b"GET /idle HTTP/1.1\r\nHo")
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    first.write_all(b"st: x\r\n\r\n").await.expect("write");
    assert!(read_response(&mut first).await.starts_with("HTTP/1.1 200"));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    first
        .write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let heads = read_responses(&mut first, 2).await;
    assert!(
        heads.iter().all(|h| h.starts_with("HTTP/1.1 200")),
        "{heads:?}"
    );
}
