//! The HTTP/1 differential test: every raw request of `tests/h1-corpus.txt`
//! goes, each on its own connection, to Turnpike, nginx and HAProxy, all
//! three proxying to origins of their own that count the requests reaching
//! them. A message both of them refuse must not reach an origin through
//! Turnpike, nor more requests from one connection than through either of
//! them (a smuggled second request). Where Turnpike refuses what both
//! forward, the case must be one `docs/http-conformance.md` explains.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::harness::{Gateway, workspace};

/// Cases Turnpike refuses although nginx and HAProxy both forward them;
/// each is explained in `docs/http-conformance.md`.
const STRICTER_THAN_BOTH: &[&str] = &[
    "chunk-size-bare-lf",
    "request-line-double-space",
    "header-value-control-char",
    "header-value-del",
    "header-value-vertical-tab",
    "host-with-userinfo",
    "host-port-letters",
    "host-unclosed-bracket",
];

/// A proxy under comparison; killed when dropped.
struct Proxy {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port free at the time of asking, for the proxies that cannot
/// be told to bind port 0 and report it.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Starts `program` with `args` and waits until it accepts connections.
fn start_proxy(program: &str, args: &[&str], dir: tempfile::TempDir, port: u16) -> Proxy {
    assert!(
        std::path::Path::new(program).exists(),
        "{program} is missing: ./scripts/test installs it"
    );
    let child = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {program}: {e}"));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut proxy = Proxy {
        child,
        addr,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).is_err() {
        if let Ok(Some(status)) = proxy.child.try_wait() {
            panic!("{program} exited: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "{program} never listened on {addr}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    proxy
}

fn nginx(origin: SocketAddr) -> Proxy {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let prefix = dir.path().display().to_string();
    let config = format!(
        "daemon off;\nmaster_process off;\nerror_log {prefix}/error.log;\npid {prefix}/nginx.pid;\n\
         events {{}}\n\
         http {{\n  access_log off;\n  client_body_temp_path {prefix};\n  proxy_temp_path {prefix};\n\
         \x20 server {{\n    listen 127.0.0.1:{port};\n    location / {{\n\
         \x20     proxy_pass http://{origin};\n      proxy_http_version 1.1;\n\
         \x20     proxy_ignore_client_abort on;\n    }}\n  }}\n}}\n",
    );
    let path = dir.path().join("nginx.conf");
    std::fs::write(&path, config).expect("nginx.conf");
    let path = path.display().to_string();
    start_proxy("/usr/sbin/nginx", &["-p", &prefix, "-c", &path], dir, port)
}

fn haproxy(origin: SocketAddr) -> Proxy {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let config = format!(
        "defaults\n  mode http\n  timeout connect 5s\n  timeout client 10s\n  timeout server 10s\n\
         frontend front\n  bind 127.0.0.1:{port}\n  default_backend origin\n\
         backend origin\n  server origin {origin}\n",
    );
    let path = dir.path().join("haproxy.cfg");
    std::fs::write(&path, config).expect("haproxy.cfg");
    let path = path.display().to_string();
    start_proxy("/usr/sbin/haproxy", &["-db", "-f", &path], dir, port)
}

/// `\r`, `\n`, `\t`, `\\` and `\xHH` unescaped.
fn unescape(text: &str, line: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'\\') => out.push(b'\\'),
            Some(b'x') => {
                let hex: Vec<u8> = bytes.by_ref().take(2).collect();
                let hex = std::str::from_utf8(&hex).expect("hex digits");
                out.push(
                    u8::from_str_radix(hex, 16)
                        .unwrap_or_else(|_| panic!("h1-corpus.txt:{line}: bad \\x{hex}")),
                );
            }
            other => panic!("h1-corpus.txt:{line}: unknown escape {other:?}"),
        }
    }
    out
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    let text = std::fs::read_to_string(workspace().join("tests/h1-corpus.txt")).expect("corpus");
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, request) = line
            .split_once('\t')
            .unwrap_or_else(|| panic!("h1-corpus.txt:{}: no tab", index + 1));
        assert!(
            cases.iter().all(|(n, _)| n != name),
            "h1-corpus.txt:{}: {name} twice",
            index + 1
        );
        cases.push((name.to_owned(), unescape(request, index + 1)));
    }
    cases
}

/// The statuses of the responses a proxy sends to `request` before it
/// closes the connection, the client having closed its writing half after
/// the request (for the table the test prints).
fn answers(addr: SocketAddr, request: &[u8]) -> Vec<u16> {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return Vec::new();
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    // A proxy may close as soon as it has seen enough to refuse.
    let _ = stream.write_all(request);
    let _ = stream.shutdown(Shutdown::Write);
    let mut received = Vec::new();
    let _ = stream.read_to_end(&mut received);
    status_codes(&received)
}

/// Every `HTTP/1.x NNN ` status line in `bytes`.
fn status_codes(bytes: &[u8]) -> Vec<u16> {
    bytes
        .windows(13)
        .filter(|w| {
            (w.starts_with(b"HTTP/1.1 ") || w.starts_with(b"HTTP/1.0 "))
                && w[9..12].iter().all(u8::is_ascii_digit)
                && w[12] == b' '
        })
        .filter_map(|w| std::str::from_utf8(&w[9..12]).ok()?.parse().ok())
        .collect()
}

/// An origin that takes whatever a proxy forwards: it counts every complete
/// request that arrives (head and body, by `Content-Length` or chunked
/// framing) and answers each with 200. Unlike a strict server it cannot
/// hide a request the proxy let through by refusing it itself. A request
/// cut off in its body (a proxy streaming it, then finding it malformed)
/// is not counted: no upstream would act on it.
struct Origin {
    addr: SocketAddr,
    complete: Arc<AtomicUsize>,
}

impl Origin {
    fn start() -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind origin");
        let addr = listener.local_addr().expect("origin addr");
        let complete = Arc::new(AtomicUsize::new(0));
        let counter = complete.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let counter = counter.clone();
                std::thread::spawn(move || {
                    let _ = serve_origin(stream, &counter);
                });
            }
        });
        Origin { addr, complete }
    }

    fn complete(&self) -> usize {
        self.complete.load(Ordering::SeqCst)
    }
}

fn serve_origin(stream: TcpStream, complete: &AtomicUsize) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let mut length = 0usize;
        let mut chunked = false;
        let mut line = String::new();
        // The request line, then fields up to the empty line.
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let field = line.trim_end();
            if field.is_empty() {
                break;
            }
            if let Some((name, value)) = field.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = value.to_ascii_lowercase().ends_with("chunked");
                }
            }
        }
        if chunked {
            loop {
                line.clear();
                reader.read_line(&mut line)?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                    .ok()
                    .filter(|size| *size <= 1 << 20)
                    .ok_or_else(|| std::io::Error::other("chunk size"))?;
                if size == 0 {
                    // Trailers up to the empty line.
                    loop {
                        line.clear();
                        if reader.read_line(&mut line)? == 0 {
                            return Ok(());
                        }
                        if line.trim().is_empty() {
                            break;
                        }
                    }
                    break;
                }
                let mut data = vec![0; size + 2];
                reader.read_exact(&mut data)?;
            }
        } else {
            let mut body = vec![0; length];
            reader.read_exact(&mut body)?;
        }
        complete.fetch_add(1, Ordering::SeqCst);
        writer.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")?;
    }
}

#[test]
fn turnpike_refuses_what_nginx_and_haproxy_both_refuse() {
    let cases = corpus();
    let origins = [Origin::start(), Origin::start(), Origin::start()];
    let gateway = Gateway::start(&format!(
        r#"
[server]
access_log = "off"

[[listeners]]
name = "main"
address = "127.0.0.1:0"

[[apis]]
name = "differential"

[[apis.routes]]
key = "ANY /{{proxy+}}"
integration = {{ type = "http_proxy", url = "http://{origin}/{{proxy}}" }}

[[apis.routes]]
key = "ANY /"
integration = {{ type = "http_proxy", url = "http://{origin}/" }}
"#,
        origin = origins[0].addr
    ));
    let nginx = nginx(origins[1].addr);
    let haproxy = haproxy(origins[2].addr);
    let targets = [gateway.addr("main"), nginx.addr, haproxy.addr];

    let mut table = String::new();
    let mut failures = Vec::new();
    let mut stricter = Vec::new();
    // One case at a time, to the three at once: what reached each origin is
    // then that case's.
    for (name, request) in &cases {
        let before = origins.each_ref().map(Origin::complete);
        let statuses = std::thread::scope(|scope| {
            targets
                .map(|addr| scope.spawn(move || answers(addr, request)))
                .map(|t| t.join().expect("client thread"))
        });
        let reached: Vec<usize> = origins
            .iter()
            .zip(before)
            .map(|(o, before)| o.complete() - before)
            .collect();
        let [turnpike, nginx, haproxy] = [0, 1, 2].map(|i| (reached[i], &statuses[i]));
        table.push_str(&format!(
            "{name:40} turnpike {:?} {}  nginx {:?} {}  haproxy {:?} {}\n",
            turnpike.1, turnpike.0, nginx.1, nginx.0, haproxy.1, haproxy.0
        ));
        if turnpike.0 > nginx.0.max(haproxy.0) {
            failures.push(format!(
                "{name}: {} requests reached the origin through Turnpike, {} through nginx, {} through HAProxy",
                turnpike.0, nginx.0, haproxy.0
            ));
        }
        if name.starts_with("ok-") && (turnpike.0 == 0 || turnpike.1.first() != Some(&200)) {
            failures.push(format!("{name}: a valid request refused"));
        }
        if nginx.0 > 0 && haproxy.0 > 0 && turnpike.0 == 0 {
            stricter.push(name.as_str());
        }
    }
    println!("{table}");
    assert!(failures.is_empty(), "{failures:#?}\n{table}");
    let mut documented = STRICTER_THAN_BOTH.to_vec();
    documented.sort_unstable();
    stricter.sort_unstable();
    assert_eq!(
        stricter, documented,
        "refused although nginx and HAProxy forward: update docs/http-conformance.md\n{table}"
    );
}
