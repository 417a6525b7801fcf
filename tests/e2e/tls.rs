//! HTTPS: certificates chosen by SNI (exact, wildcard, default), custom
//! domains with base path mappings, ALPN, TLS versions, mutual TLS with a
//! truststore and a revocation list, the HTTP listener that redirects, and
//! certificates reloaded without dropping requests — through curl, openssl
//! s_client and a rustls client, against the real binary.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{Gateway, eventually, run};
use crate::pki::{Files, Key, Pki};
use crate::upstream::Upstream;

/// `curl` over TLS to `name` (resolved to the gateway), trusting `ca`;
/// returns the exit code, the status and body, and the HTTP version.
fn curl(gw: &Gateway, name: &str, path: &str, ca: &str, extra: &[&str]) -> (i32, String, String) {
    let addr = gw.addr("https");
    let (code, out, err) = run(Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert", ca])
        .arg("--resolve")
        .arg(format!("{name}:{}:127.0.0.1", addr.port()))
        .args(["-w", "\n%{http_code} %{http_version}"])
        .args(extra)
        .arg(format!("https://{name}:{}{path}", addr.port())));
    (code, out, err)
}

/// Splits curl's output into body, status and version.
fn parts(out: &str) -> (&str, &str, &str) {
    let (body, tail) = out.rsplit_once('\n').unwrap_or(("", out));
    let (status, version) = tail.split_once(' ').unwrap_or((tail, ""));
    (body, status, version)
}

/// `openssl s_client` to the gateway's TLS listener with `args`; returns
/// whether the handshake completed and what it printed.
fn s_client(gw: &Gateway, listener: &str, args: &[&str]) -> (bool, String) {
    let addr = gw.addr(listener);
    let output = Command::new("openssl")
        .args(["s_client", "-connect"])
        .arg(addr.to_string())
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run openssl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let completed =
        text.contains("Verify return code") && !text.contains("alert") && !text.contains(":error:");
    (completed, text)
}

struct Setup {
    pki: Pki,
    origin: Upstream,
    default: Files,
    api: Files,
    shop: Files,
    secure: Files,
    alice: Files,
    revoked: Files,
    expired: Files,
    stranger: Files,
}

fn setup() -> Setup {
    let pki = Pki::new("turnpike-test");
    let default = pki.server("default", Key::Ecdsa, &["localhost", "127.0.0.1"]);
    let api = pki.server("api", Key::Rsa, &["api.example.com"]);
    let shop = pki.server("shop", Key::Ecdsa, &["*.shop.example"]);
    let secure = pki.server(
        "secure",
        Key::Ed25519,
        &["secure.example.com", "optional.example.com"],
    );
    let alice = pki.client("alice", "alice", 1001, false);
    let revoked = pki.client("mallory", "mallory", 1002, false);
    let expired = pki.client("old", "old", 1003, true);
    let stranger = pki
        .another("nobody-trusts-this")
        .client("stranger", "stranger", 1004, false);
    pki.crl("crl.pem", &[1002]);
    Setup {
        pki,
        origin: Upstream::start(),
        default,
        api,
        shop,
        secure,
        alice,
        revoked,
        expired,
        stranger,
    }
}

fn config(s: &Setup) -> String {
    format!(
        r#"
[[listeners]]
name = "https"
address = "127.0.0.1:0"
[listeners.tls]
certificates = [{{ cert = "{dc}", key = "{dk}" }}]
http3 = true

[[listeners]]
name = "strict"
address = "127.0.0.1:0"
[listeners.tls]
certificates = [{{ cert = "{dc}", key = "{dk}" }}]
min_version = "1.3"
without_sni = "refuse"
alpn = ["http/1.1"]

[[listeners]]
name = "plain"
address = "127.0.0.1:0"
redirect_https = "https"

[[apis]]
name = "orders"
listeners = []
[apis.stages.prod]
variables = {{ who = "prod" }}
[[apis.routes]]
key = "GET /items"
integration = {{ type = "mock", body = "orders ${{stageVariables.who}}" }}

[[apis]]
name = "pets"
listeners = []
[[apis.routes]]
key = "GET /pets/{{id}}"
integration = {{ type = "mock", body = "pet ${{request.path.id}}" }}

[[apis]]
name = "echo"
listeners = []
[[apis.routes]]
key = "ANY /{{proxy+}}"
integration = {{ type = "http_proxy", url = "{origin}/{{proxy}}" }}

[[domains]]
name = "api.example.com"
listeners = ["https", "plain"]
certificate = {{ cert = "{ac}", key = "{ak}" }}
[[domains.mappings]]
base_path = "orders"
api = "orders"
stage = "prod"
[[domains.mappings]]
base_path = ""
api = "pets"

[[domains]]
name = "*.shop.example"
listeners = ["https"]
certificate = {{ cert = "{sc}", key = "{sk}" }}
[[domains.mappings]]
base_path = "v1"
api = "orders"
stage = "prod"

[[domains]]
name = "secure.example.com"
listeners = ["https"]
certificate = {{ cert = "{xc}", key = "{xk}" }}
mtls = {{ truststore = "{ca}", crls = ["{crl}"] }}
[[domains.mappings]]
base_path = ""
api = "echo"

[[domains]]
name = "optional.example.com"
listeners = ["https"]
mtls = {{ truststore = "{ca}", mode = "optional" }}
[[domains.mappings]]
base_path = ""
api = "echo"
"#,
        dc = s.default.cert,
        dk = s.default.key,
        ac = s.api.cert,
        ak = s.api.key,
        sc = s.shop.cert,
        sk = s.shop.key,
        xc = s.secure.cert,
        xk = s.secure.key,
        ca = s.pki.ca_file(),
        crl = s.pki.path("crl.pem").display(),
        origin = s.origin.base(),
    )
}

#[test]
fn domains_certificates_alpn_and_mappings() {
    let s = setup();
    let gw = Gateway::start(&config(&s));
    let ca = s.pki.ca_file();

    // Base path mappings over HTTP/1.1 and HTTP/2, each name its certificate.
    for (flag, version) in [("--http1.1", "1.1"), ("--http2", "2")] {
        let (code, out, err) = curl(&gw, "api.example.com", "/orders/items", &ca, &[flag]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(parts(&out), ("orders prod", "200", version), "{flag}");
        let (_, out, _) = curl(&gw, "api.example.com", "/pets/7", &ca, &[flag]);
        assert_eq!(parts(&out), ("pet 7", "200", version), "{flag}");
        let (code, out, err) = curl(&gw, "a.shop.example", "/v1/items", &ca, &[flag]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(parts(&out), ("orders prod", "200", version), "{flag}");
    }
    // A base path no mapping covers, and a host no domain has: API
    // Gateway's 403.
    let (_, out, _) = curl(&gw, "a.shop.example", "/v2/items", &ca, &[]);
    assert_eq!(parts(&out).0, r#"{"message":"Forbidden"}"#);
    assert_eq!(parts(&out).1, "403");
    let (_, out, _) = curl(&gw, "localhost", "/orders/items", &ca, &[]);
    assert_eq!(parts(&out), (r#"{"message":"Forbidden"}"#, "403", "2"));

    // The certificate each name gets (openssl prints the subject).
    for (sni, subject) in [
        (Some("api.example.com"), "CN = api.example.com"),
        (Some("b.shop.example"), "CN = *.shop.example"),
        (Some("secure.example.com"), "CN = secure.example.com"),
        (Some("unknown.example"), "CN = localhost"),
        (None, "CN = localhost"),
    ] {
        let mut args = vec!["-CAfile", &ca];
        match sni {
            Some(name) => args.extend(["-servername", name]),
            None => args.push("-noservername"),
        }
        let (_, text) = s_client(&gw, "https", &args);
        assert!(
            text.contains(&format!("subject={subject}")),
            "{sni:?}: {text}"
        );
    }

    // ALPN: h2 and http/1.1 on the main listener, http/1.1 only on the
    // strict one; TLS 1.2 refused where 1.3 is the minimum, SNI required.
    let (_, text) = s_client(&gw, "https", &["-alpn", "h2", "-servername", "localhost"]);
    assert!(text.contains("ALPN protocol: h2"), "{text}");
    // The server's suite order wins: OpenSSL offers AES-256 first, the
    // gateway picks AES-128 with SHA-256 (a cheaper handshake hash).
    assert!(text.contains("Cipher is TLS_AES_128_GCM_SHA256"), "{text}");
    let (_, text) = s_client(
        &gw,
        "https",
        &["-alpn", "http/1.1", "-servername", "localhost"],
    );
    assert!(text.contains("ALPN protocol: http/1.1"), "{text}");
    let (ok, text) = s_client(&gw, "https", &["-tls1_2", "-servername", "localhost"]);
    assert!(ok && text.contains("Protocol  : TLSv1.2"), "{text}");
    let (ok, text) = s_client(&gw, "strict", &["-tls1_2", "-servername", "localhost"]);
    assert!(!ok, "TLS 1.2 was accepted: {text}");
    let (ok, text) = s_client(
        &gw,
        "strict",
        &[
            "-tls1_3",
            "-servername",
            "localhost",
            "-alpn",
            "h2,http/1.1",
        ],
    );
    assert!(ok && text.contains("ALPN protocol: http/1.1"), "{text}");
    let (ok, text) = s_client(&gw, "strict", &["-tls1_3", "-noservername"]);
    assert!(!ok, "a handshake without SNI was accepted: {text}");

    // The plain listener redirects to HTTPS, path and query kept.
    let plain = gw.addr("plain");
    let (code, out, _) = run(Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
        ])
        .args(["-H", "host: api.example.com"])
        .arg(format!("http://{plain}/orders/items?x=1")));
    assert_eq!(code, 0);
    assert_eq!(
        out,
        format!(
            "308 https://api.example.com:{}/orders/items?x=1",
            gw.addr("https").port()
        )
    );
}

#[test]
fn mutual_tls_verifies_client_certificates() {
    let s = setup();
    let gw = Gateway::start(&config(&s));
    let ca = s.pki.ca_file();
    let with = |cert: &Files| {
        vec![
            "--cert".to_owned(),
            cert.cert.clone(),
            "--key".to_owned(),
            cert.key.clone(),
        ]
    };

    // A good certificate: its fields reach the upstream and the access log.
    let alice = with(&s.alice);
    let args: Vec<&str> = alice.iter().map(String::as_str).collect();
    let (code, out, err) = curl(&gw, "secure.example.com", "/who", &ca, &args);
    assert_eq!(code, 0, "{err}");
    let (body, status, _) = parts(&out);
    assert_eq!(status, "200", "{body}");
    let seen: Value = serde_json::from_str(body).expect("echo");
    let header = |name: &str| {
        seen["headers"][name][0]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(
        header("x-turnpike-client-cert-subject"),
        "CN=alice, O=Turnpike Tests"
    );
    assert_eq!(header("x-turnpike-client-cert-issuer"), "CN=turnpike-test");
    assert_eq!(header("x-turnpike-client-cert-serial"), "03e9");
    assert_eq!(header("x-turnpike-client-cert-fingerprint").len(), 64);
    assert!(header("x-turnpike-client-cert-pem").starts_with("-----BEGIN%20CERTIFICATE"));
    eventually(
        Duration::from_secs(5),
        "the access log's clientCert",
        || {
            gw.stdout_lines().iter().any(|line| {
                serde_json::from_str::<Value>(line).is_ok_and(|entry| {
                    entry["clientCert"]["subjectDN"] == "CN=alice, O=Turnpike Tests"
                        && entry["domainName"] == "secure.example.com"
                        && entry["tlsVersion"] == "TLSv1.3"
                })
            })
        },
    );

    // No certificate, a revoked one, an expired one, one of another CA:
    // the handshake fails (curl exits non-zero, no HTTP status).
    for (what, cert) in [
        ("none", None),
        ("revoked", Some(&s.revoked)),
        ("expired", Some(&s.expired)),
        ("untrusted", Some(&s.stranger)),
    ] {
        let args = cert.map(with).unwrap_or_default();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = curl(&gw, "secure.example.com", "/who", &ca, &args);
        assert_ne!(code, 0, "{what}: {out}");
        assert!(!out.contains("200"), "{what}: {out} {err}");
    }

    // A client may not reach the mTLS domain through another name's
    // handshake, nor a forged certificate header the upstream trusts.
    let (_, out, _) = curl(
        &gw,
        "api.example.com",
        "/who",
        &ca,
        &[
            "-H",
            "host: secure.example.com",
            "-H",
            "x-turnpike-client-cert-subject: CN=admin",
        ],
    );
    assert_eq!(parts(&out).1, "403", "{out}");
    // Nor over HTTP/3, which has no client certificates; other domains of
    // the listener are served there with their mappings.
    for (name, path, status) in [
        ("secure.example.com", "/who", 403),
        ("api.example.com", "/orders/items", 200),
    ] {
        let result = crate::harness::python_tool(
            "h3_client.py",
            &serde_json::json!({
                "port": gw.addr("https").port(),
                "server_name": name,
                "ca": ca,
                "requests": [{ "path": path }],
            }),
        );
        assert_eq!(result["responses"][0]["status"], status, "{name}: {result}");
    }

    // Optional mTLS: without a certificate the request passes with no
    // certificate headers (a forged one is dropped); with one, it is shown.
    let (code, out, err) = curl(
        &gw,
        "optional.example.com",
        "/who",
        &ca,
        &["-H", "x-turnpike-client-cert-subject: CN=admin"],
    );
    assert_eq!(code, 0, "{err}");
    let (body, status, _) = parts(&out);
    assert_eq!(status, "200");
    let seen: Value = serde_json::from_str(body).expect("echo");
    assert_eq!(
        seen["headers"]["x-turnpike-client-cert-subject"],
        Value::Null
    );
    let (code, out, err) = curl(
        &gw,
        "optional.example.com",
        "/who",
        &ca,
        &args_of(&with(&s.alice)),
    );
    assert_eq!(code, 0, "{err}");
    let seen: Value = serde_json::from_str(parts(&out).0).expect("echo");
    assert_eq!(
        seen["headers"]["x-turnpike-client-cert-subject"][0],
        "CN=alice, O=Turnpike Tests"
    );
}

fn args_of(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// One HTTPS request on a new connection with a rustls client trusting
/// `ca`: the certificate the server presented and the response status.
async fn handshake_and_get(
    addr: std::net::SocketAddr,
    name: &str,
    ca: &str,
) -> Result<(Vec<u8>, u16), String> {
    use http_body_util::Empty;
    use hyper_util::rt::TokioIo;
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        turnpike::tls::certs::read_chain(std::path::Path::new(ca)).map_err(|e| e.to_string())?
    {
        roots.add(cert).map_err(|e| e.to_string())?;
    }
    let config = rustls::ClientConfig::builder_with_provider(turnpike::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let server_name =
        rustls::pki_types::ServerName::try_from(name.to_owned()).map_err(|e| e.to_string())?;
    let tls = connector
        .connect(server_name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let presented = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .unwrap_or_default();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Empty<bytes::Bytes>>(TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = http::Request::get("/pets/1")
        .header("host", name)
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    Ok((presented, response.status().as_u16()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_reload_without_dropping_requests() {
    let s = setup();
    let gw = Arc::new(Gateway::start(&config(&s)));
    let ca = s.pki.ca_file();
    let addr = gw.addr("https");
    let first = std::fs::read(&s.api.cert).expect("cert");

    // A request loop, a new handshake each time, through the reloads below.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = Arc::new(std::sync::Mutex::new(
        Vec::<Result<(Vec<u8>, u16), String>>::new(),
    ));
    let looping = {
        let (stop, seen, ca) = (stop.clone(), seen.clone(), ca.clone());
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let outcome = handshake_and_get(addr, "api.example.com", &ca).await;
                seen.lock().expect("lock").push(outcome);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let served = |seen: &[Result<(Vec<u8>, u16), String>]| -> Option<Vec<u8>> {
        seen.iter()
            .rev()
            .find_map(|r| r.as_ref().ok().map(|(c, _)| c.clone()))
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let original_der = served(&seen.lock().expect("lock")).expect("a first answer");

    // A new certificate and key over the old files: new handshakes get it.
    let renewed = s
        .pki
        .server("api-renewed", Key::Ecdsa, &["api.example.com"]);
    std::fs::copy(&renewed.key, &s.api.key).expect("key");
    std::fs::copy(&renewed.cert, &s.api.cert).expect("cert");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = served(&seen.lock().expect("lock"));
        if now.as_ref().is_some_and(|c| *c != original_der) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the renewed certificate never served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        gw.stderr().contains("certificates reloaded"),
        "{}",
        gw.stderr()
    );

    // A broken certificate file is refused, named, and the renewed one
    // keeps serving.
    std::fs::write(&s.api.cert, b"-----BEGIN CERTIFICATE-----\ngarbage\n").expect("break");
    eventually(Duration::from_secs(10), "the refusal in the log", || {
        gw.stderr().contains("does not load") && gw.stderr().contains(&s.api.cert)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    looping.await.expect("loop");
    let seen = seen.lock().expect("lock");
    let failed: Vec<&String> = seen.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "{} of {} failed: {:?}",
        failed.len(),
        seen.len(),
        failed.first()
    );
    assert!(seen.iter().all(|r| matches!(r, Ok((_, 200)))));
    assert!(seen.len() > 20, "only {} requests", seen.len());
    let last = served(&seen).expect("answers");
    assert_ne!(last, original_der);
    let _ = first;
}

#[test]
fn certificate_problems_are_named_at_load() {
    let pki = Pki::new("load-test");
    let good = pki.server("good", Key::Ecdsa, &["localhost"]);
    let other = pki.server("other", Key::Ecdsa, &["localhost"]);
    let expired = pki.expired_server("expired", &["old.example"]);
    let dir = pki.dir();
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("config");
        path
    };
    let validate = |path: &std::path::Path| {
        run(Command::new(crate::harness::binary())
            .args(["validate", "--config"])
            .arg(path))
    };
    let config = write(
        "bad.toml",
        &format!(
            r#"[[listeners]]
name = "https"
address = "127.0.0.1:0"
[listeners.tls]
certificates = [
  {{ cert = "missing.pem", key = "{gk}" }},
  {{ cert = "{gc}", key = "{ok}" }},
]
min_version = "1.1"

[[apis]]
name = "a"
[[apis.routes]]
key = "GET /"
integration = {{ type = "mock" }}
"#,
            gk = good.key,
            gc = good.cert,
            ok = other.key,
        ),
    );
    let (code, _, err) = validate(&config);
    assert_eq!(code, 1);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(lines[0].contains("bad.toml:6:"), "{err}");
    assert!(
        lines[0].contains("listeners[0].tls.certificates[0].cert: cannot read")
            && lines[0].contains("missing.pem"),
        "{err}"
    );
    assert!(
        lines[1].contains("bad.toml:7:")
            && lines[1].contains("listeners[0].tls.certificates[1].key:")
            && lines[1].contains("is not the private key of"),
        "{err}"
    );
    assert!(
        lines[2].contains("bad.toml:9:")
            && lines[2].contains("min_version: `1.1` is not a TLS version"),
        "{err}"
    );

    // A domain no certificate of its listener covers.
    let config = write(
        "uncovered.toml",
        &format!(
            r#"[[listeners]]
name = "https"
address = "127.0.0.1:0"
tls = {{ certificates = [{{ cert = "{gc}", key = "{gk}" }}] }}

[[apis]]
name = "a"
listeners = []
[[apis.routes]]
key = "GET /"
integration = {{ type = "mock" }}

[[domains]]
name = "nocert.example"
[[domains.mappings]]
base_path = ""
api = "a"
"#,
            gk = good.key,
            gc = good.cert,
        ),
    );
    let (code, _, err) = validate(&config);
    assert_eq!(code, 1);
    assert!(
        err.contains("uncovered.toml:13:1: domains[0]: no certificate on listener `https` covers `nocert.example`: give the domain a `certificate`"),
        "{err}"
    );

    // An expired certificate is a warning with its date; the file is valid.
    let config = write(
        "expired.toml",
        &format!(
            r#"[[listeners]]
name = "https"
address = "127.0.0.1:0"
[listeners.tls]
certificates = [{{ cert = "{ec}", key = "{ek}" }}]

[[apis]]
name = "a"
[[apis.routes]]
key = "GET /"
integration = {{ type = "mock" }}
"#,
            ec = expired.cert,
            ek = expired.key,
        ),
    );
    let (code, out, err) = validate(&config);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("configuration is valid"));
    assert!(
        err.contains("warning:")
            && err.contains("listeners[0].tls.certificates[0].cert")
            && err.contains("expired on")
            && err.contains("2021"),
        "{err}"
    );
}
