//! WebSocket APIs end to end: real clients (tokio-tungstenite here, PyPI
//! `websockets` in `tests/tools/ws_client.py`, the Autobahn suite through
//! PyPI `kosoku`), a real backend that records what the gateway sends it,
//! and `@connections` over the admin API and the CLI.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::harness::{Gateway, binary, client, eventually, guest, python_tool, rss_kib, run};
use crate::upstream::Upstream;

type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const TOKEN: &str = "ws-admin-token";

/// One call the backend received.
#[derive(Debug, Clone)]
struct Call {
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Call {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A backend that records every call and answers 200 `{"ok":true}`, or
/// what the path asks: `/refuse` → 403 `{"message":"go away"}`,
/// `/protocol` → 200 with `Sec-WebSocket-Protocol: chat.v2`.
struct Backend {
    addr: SocketAddr,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl Backend {
    fn start() -> Backend {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind backend");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
        let recorded = calls.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let recorded = recorded.clone();
                    tokio::spawn(async move {
                        let service =
                            service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                                let recorded = recorded.clone();
                                async move {
                                    let path = request.uri().path().to_owned();
                                    let headers = request
                                        .headers()
                                        .iter()
                                        .map(|(n, v)| {
                                            (
                                                n.as_str().to_owned(),
                                                String::from_utf8_lossy(v.as_bytes()).into_owned(),
                                            )
                                        })
                                        .collect();
                                    let body = request
                                        .into_body()
                                        .collect()
                                        .await
                                        .map(|b| b.to_bytes())
                                        .unwrap_or_default();
                                    recorded.lock().expect("calls").push(Call {
                                        path: path.clone(),
                                        headers,
                                        body: String::from_utf8_lossy(&body).into_owned(),
                                    });
                                    let mut response = hyper::Response::new(Full::new(
                                        Bytes::from_static(b"{\"ok\":true}"),
                                    ));
                                    match path.as_str() {
                                        "/refuse" => {
                                            *response.status_mut() = hyper::StatusCode::FORBIDDEN;
                                            *response.body_mut() = Full::new(Bytes::from_static(
                                                b"{\"message\":\"go away\"}",
                                            ));
                                        }
                                        "/protocol" => {
                                            response.headers_mut().insert(
                                                "sec-websocket-protocol",
                                                "chat.v2".parse().expect("value"),
                                            );
                                        }
                                        _ => {}
                                    }
                                    Ok::<_, Infallible>(response)
                                }
                            });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        Backend { addr, calls }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("calls").clone()
    }

    /// The calls of one event type.
    fn events(&self, event_type: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.header("x-turnpike-event-type") == Some(event_type))
            .collect()
    }

    /// The connection id of the last `$connect` call.
    fn last_connection_id(&self) -> String {
        self.events("CONNECT")
            .last()
            .and_then(|c| c.header("x-turnpike-connection-id").map(str::to_owned))
            .expect("a $connect call with a connection id")
    }

    /// Waits for the first call of `event_type` on `connection`.
    fn wait_for(&self, event_type: &str, connection: &str) -> Call {
        let mut found = None;
        eventually(Duration::from_secs(10), event_type, || {
            found = self
                .events(event_type)
                .into_iter()
                .find(|c| c.header("x-turnpike-connection-id") == Some(connection));
            found.is_some()
        });
        found.expect("found")
    }
}

/// The connection id in the gateway's first CONNECT access-log line
/// (for APIs without a `$connect` backend to learn it from).
fn connection_id_from_log(gateway: &Gateway) -> String {
    let mut found = None;
    eventually(Duration::from_secs(10), "the connect line", || {
        found = gateway.stdout_lines().iter().find_map(|l| {
            let line: Value = serde_json::from_str(l).ok()?;
            let id = line["connectionId"].as_str()?.to_owned();
            (line["eventType"] == "CONNECT").then_some(id)
        });
        found.is_some()
    });
    found.expect("id")
}

/// Opens a connection to `url` with extra headers; the error is the HTTP
/// refusal, if any.
async fn connect(url: &str, headers: &[(&str, &str)]) -> Result<Client, WsError> {
    let mut request = url.into_client_request().expect("request");
    for (name, value) in headers {
        request.headers_mut().insert(
            http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
            value.parse().expect("value"),
        );
    }
    tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(request),
    )
    .await
    .expect("connect in time")
    .map(|(ws, _)| ws)
}

/// The next data message, as text.
async fn next_text(ws: &mut Client) -> String {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message in time")
            .expect("open")
            .expect("no error");
        match message {
            Message::Text(t) => return t.to_string(),
            Message::Binary(b) => return String::from_utf8_lossy(&b).into_owned(),
            _ => continue,
        }
    }
}

/// Reads until the gateway closes; returns its close code.
async fn close_code(ws: &mut Client, within: Duration) -> Option<CloseCode> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("closed in time")
        {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return None,
        }
    }
}

fn refusal_status(error: WsError) -> (u16, String) {
    match error {
        WsError::Http(response) => (
            response.status().as_u16(),
            response
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default(),
        ),
        other => panic!("expected an HTTP refusal, got {other}"),
    }
}

/// A file holding [`TOKEN`], for the admin listener.
fn token_file() -> String {
    crate::harness::token_file("ws-admin", TOKEN)
}

fn base_config(extra: &str) -> String {
    format!(
        r#"
[[listeners]]
name = "main"
address = "127.0.0.1:0"

[admin]
address = "127.0.0.1:0"
token_file = "{token}"

{extra}
"#,
        token = token_file()
    )
}

#[tokio::test]
async fn messages_are_routed_by_the_selection_expression_with_default_and_error_messages() {
    let gateway = Gateway::start(&base_config(
        r#"
[[apis]]
name = "game"
hosts = ["game.test"]
protocol = "websocket"
route_selection_expression = "$request.body.move.kind"
[apis.stages.prod]
[[apis.routes]]
key = "jump"
return_response = true
integration = { type = "mock", body = "jumped on ${stageVariables.name}" }
[[apis.routes]]
key = "quiet"
integration = { type = "mock", body = "never sent" }
[[apis.routes]]
key = "$default"
return_response = true
integration = { type = "mock", body = "default" }
[apis.stages.prod.variables]
name = "prod"

[[apis]]
name = "strict"
protocol = "websocket"
[[apis.routes]]
key = "hello"
return_response = true
integration = { type = "mock", body = "hi" }
"#,
    ));
    let addr = gateway.addr("main");
    let mut ws = connect(&format!("ws://{addr}/prod"), &[("host", "game.test")])
        .await
        .expect("connects");
    let cases = [
        (
            json!({"move": {"kind": "jump"}}).to_string(),
            Some("jumped on prod"),
        ),
        (
            json!({"move": {"kind": "run"}}).to_string(),
            Some("default"),
        ),
        ("not json at all".to_owned(), Some("default")),
        (
            json!({"move": {"kind": "$connect"}}).to_string(),
            Some("default"),
        ),
        // A one-way route: the integration's answer is dropped.
        (json!({"move": {"kind": "quiet"}}).to_string(), None),
        (
            json!({"move": {"kind": "jump"}}).to_string(),
            Some("jumped on prod"),
        ),
    ];
    for (message, want) in cases {
        ws.send(Message::text(message.clone())).await.expect("send");
        if let Some(want) = want {
            assert_eq!(next_text(&mut ws).await, want, "{message}");
        }
    }
    ws.send(Message::binary(b"\x00\x01".to_vec()))
        .await
        .expect("send");
    match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
        Ok(Some(Ok(Message::Binary(b)))) => assert_eq!(&b[..], b"default"),
        other => panic!("a binary message answers a binary one: {other:?}"),
    }

    // No route and no $default: API Gateway's error message.
    let mut strict = connect(&format!("ws://{addr}/"), &[])
        .await
        .expect("connects");
    strict
        .send(Message::text(r#"{"action":"hello"}"#))
        .await
        .expect("send");
    assert_eq!(next_text(&mut strict).await, "hi");
    strict
        .send(Message::text(r#"{"action":"nope"}"#))
        .await
        .expect("send");
    let error: Value = serde_json::from_str(&next_text(&mut strict).await).expect("json");
    assert_eq!(error["message"], "Forbidden");
    assert_eq!(error["connectionId"].as_str().map(str::len), Some(16));
    assert!(error["requestId"].as_str().is_some_and(|r| !r.is_empty()));

    // Not an upgrade, or the wrong path: plain HTTP answers.
    let plain = client()
        .get(format!("http://{addr}/prod"))
        .header("host", "game.test")
        .send()
        .await
        .expect("get");
    assert_eq!(plain.status(), 426);
    assert_eq!(plain.headers()["upgrade"], "websocket");
    let elsewhere = connect(&format!("ws://{addr}/prod/chat"), &[("host", "game.test")]).await;
    assert_eq!(refusal_status(elsewhere.expect_err("refused")).0, 404);
    let old_version = client()
        .get(format!("http://{addr}/"))
        .header("upgrade", "websocket")
        .header("connection", "upgrade")
        .header("sec-websocket-version", "8")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .expect("get");
    assert_eq!(old_version.status(), 426);
    assert_eq!(old_version.headers()["sec-websocket-version"], "13");
}

fn secured_config(component: &str, backend: &Backend, upstream: &Upstream) -> String {
    base_config(&format!(
        r#"
[plugins.tokens]
component = "{component}"
world = "authorizer"
timeout = "5s"
config = {{ tokens = "s3cret:alice, other:bob" }}

[[apis]]
name = "chat"
protocol = "websocket"
[apis.stages.prod]
[apis.authorizers.bearer]
type = "wasm"
plugin = "tokens"
identity_sources = ["$request.header.Authorization"]

[[apis.routes]]
key = "$connect"
authorizer = "bearer"
integration = {{ type = "http_proxy", url = "{backend}/${{request.querystring.door}}" }}

[[apis.routes]]
key = "$disconnect"
integration = {{ type = "http_proxy", url = "{backend}/disconnect" }}

[[apis.routes]]
key = "whoami"
return_response = true
integration = {{ type = "http_proxy", url = "{upstream}/whoami" }}

[[apis.routes]]
key = "$default"
integration = {{ type = "http_proxy", url = "{backend}/message" }}
"#,
        backend = backend.url(""),
        upstream = upstream.base(),
    ))
}

#[tokio::test]
async fn connect_is_authorized_and_decided_by_its_integration_and_the_principal_reaches_every_call()
{
    let backend = Backend::start();
    let upstream = Upstream::start();
    let gateway = Gateway::start(&secured_config(
        &guest("rust_token_authorizer"),
        &backend,
        &upstream,
    ));
    let url = format!("ws://{}/prod", gateway.addr("main"));

    // The authorizer refuses: no token 401, an unknown one 403.
    let (status, body) = refusal_status(
        connect(&format!("{url}?door=open"), &[])
            .await
            .expect_err("refused"),
    );
    assert_eq!(
        (status, body.as_str()),
        (401, r#"{"message":"Unauthorized"}"#)
    );
    let denied = connect(
        &format!("{url}?door=open"),
        &[("authorization", "Bearer wrong")],
    )
    .await;
    assert_eq!(refusal_status(denied.expect_err("refused")).0, 403);
    assert!(
        backend.events("CONNECT").is_empty(),
        "refused before the integration"
    );

    // The integration refuses: its status and body are the answer.
    let refused = connect(
        &format!("{url}?door=refuse"),
        &[("authorization", "Bearer s3cret")],
    )
    .await;
    assert_eq!(
        refusal_status(refused.expect_err("refused")),
        (403, r#"{"message":"go away"}"#.to_owned())
    );
    let connect_call = backend.events("CONNECT").pop().expect("the $connect call");
    assert_eq!(
        connect_call.header("x-turnpike-route-key"),
        Some("$connect")
    );
    assert_eq!(
        connect_call.header("x-turnpike-principal-id"),
        Some("alice")
    );
    assert_eq!(connect_call.header("authorization"), Some("Bearer s3cret"));
    assert_eq!(connect_call.header("sec-websocket-key"), None);

    // A subprotocol chosen by the integration is the one agreed.
    let (ws, response) = tokio_tungstenite::connect_async({
        let mut request = format!("{url}?door=protocol")
            .into_client_request()
            .expect("request");
        request
            .headers_mut()
            .insert("authorization", "Bearer other".parse().expect("v"));
        request.headers_mut().insert(
            "sec-websocket-protocol",
            "chat.v1, chat.v2".parse().expect("v"),
        );
        request
    })
    .await
    .expect("accepted");
    assert_eq!(response.headers()["sec-websocket-protocol"], "chat.v2");
    drop(ws);

    // Accepted: every later call carries the principal and its context.
    let mut ws = connect(
        &format!("{url}?door=open"),
        &[("authorization", "Bearer s3cret")],
    )
    .await
    .expect("accepted");
    let id = backend.last_connection_id();
    ws.send(Message::text(r#"{"action":"whoami","n":1}"#))
        .await
        .expect("send");
    let seen: Value =
        serde_json::from_str(&next_text(&mut ws).await).expect("the upstream's description");
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["headers"]["x-turnpike-principal-id"][0], "alice");
    assert_eq!(
        seen["headers"]["x-turnpike-context-tokensource"][0],
        "static-list"
    );
    assert_eq!(seen["headers"]["x-turnpike-connection-id"][0], id.as_str());
    assert_eq!(seen["headers"]["x-turnpike-event-type"][0], "MESSAGE");
    assert_eq!(seen["headers"]["x-turnpike-route-key"][0], "whoami");
    assert_eq!(seen["headers"]["content-type"][0], "application/json");
    ws.send(Message::text("plain words")).await.expect("send");
    let message = backend.wait_for("MESSAGE", &id);
    assert_eq!(message.body, "plain words");
    assert_eq!(message.header("x-turnpike-principal-id"), Some("alice"));
    assert_eq!(message.header("x-turnpike-route-key"), Some("$default"));

    // The client closes: $disconnect, with its close code.
    ws.close(None).await.expect("close");
    let gone = backend.wait_for("DISCONNECT", &id);
    assert_eq!(gone.path, "/disconnect");
    assert_eq!(gone.header("x-turnpike-close-code"), Some("1005"));
    assert_eq!(gone.header("x-turnpike-principal-id"), Some("alice"));

    // Every event has its access-log line (written once its call returned,
    // so the DISCONNECT line may follow the backend's view of it).
    for event in ["CONNECT", "MESSAGE", "DISCONNECT"] {
        eventually(
            Duration::from_secs(5),
            &format!("the {event} access-log line of {id}"),
            || {
                gateway.stdout_lines().iter().any(|l| {
                    l.contains(&format!("\"connectionId\":\"{id}\""))
                        && l.contains(&format!("\"eventType\":\"{event}\""))
                })
            },
        );
    }
}

#[tokio::test]
async fn connections_api_sends_describes_and_closes_and_answers_410_after() {
    let backend = Backend::start();
    let gateway = Gateway::start(&base_config(&format!(
        r#"
[[apis]]
name = "push"
protocol = "websocket"
[apis.stages.live]
[[apis.routes]]
key = "$connect"
integration = {{ type = "http_proxy", url = "{backend}/connect" }}
[[apis.routes]]
key = "$disconnect"
integration = {{ type = "http_proxy", url = "{backend}/disconnect" }}
"#,
        backend = backend.url("")
    )));
    let mut ws = connect(
        &format!("ws://{}/live", gateway.addr("main")),
        &[("user-agent", "e2e-client/1")],
    )
    .await
    .expect("connects");
    let id = backend.last_connection_id();
    let admin = format!("http://{}", gateway.addr("@admin"));
    let http = client();

    // POST sends, on either path form; the token is required.
    let sent = http
        .post(format!("{admin}/live/@connections/{id}"))
        .bearer_auth(TOKEN)
        .body("pushed")
        .send()
        .await
        .expect("post");
    assert_eq!(sent.status(), 200);
    assert_eq!(next_text(&mut ws).await, "pushed");
    let anonymous = http
        .post(format!("{admin}/@connections/{id}"))
        .body("x")
        .send()
        .await
        .expect("post");
    assert_eq!(anonymous.status(), 401);
    let wrong_stage = http
        .post(format!("{admin}/prod/@connections/{id}"))
        .bearer_auth(TOKEN)
        .body("x")
        .send()
        .await
        .expect("post");
    assert_eq!(wrong_stage.status(), 410);

    // The push is counted, the connection open (the metrics as text:
    // `observability.rs` parses them with an independent parser).
    let metrics = http
        .get(format!("{admin}/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("turnpike_websocket_connections{api=\"push\",stage=\"live\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "turnpike_websocket_messages_total{api=\"push\",stage=\"live\",direction=\"out\"} 1\n"
        ),
        "{metrics}"
    );

    // GET describes it.
    let info: Value = http
        .get(format!("{admin}/@connections/{id}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(info["identity"]["sourceIp"], "127.0.0.1");
    assert_eq!(info["identity"]["userAgent"], "e2e-client/1");
    assert_eq!(
        (info["api"].as_str(), info["stage"].as_str()),
        (Some("push"), Some("live"))
    );
    assert!(
        info["connectedAt"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert!(info["lastActiveAt"].as_str().is_some());

    // The CLI speaks the same API.
    let cli = |args: &[&str]| {
        let mut command = std::process::Command::new(binary());
        command
            .arg("ws")
            .args(args)
            .args(["--admin", &admin, "--token", TOKEN]);
        run(&mut command)
    };
    let (code, out, err) = cli(&["send", &id, "--data", "from the cli"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(next_text(&mut ws).await, "from the cli");
    let (code, out, _) = cli(&["info", &id]);
    assert_eq!(code, 0);
    assert!(out.contains("\"sourceIp\": \"127.0.0.1\""), "{out}");

    // DELETE closes it (1000), and $disconnect runs.
    let (code, out, err) = cli(&["close", &id]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        close_code(&mut ws, Duration::from_secs(10)).await,
        Some(CloseCode::Normal)
    );
    let gone = backend.wait_for("DISCONNECT", &id);
    assert_eq!(gone.header("x-turnpike-close-code"), Some("1000"));

    // Gone: 410 for every verb, with API Gateway's error type.
    for method in [
        reqwest::Method::POST,
        reqwest::Method::GET,
        reqwest::Method::DELETE,
    ] {
        let answer = http
            .request(method.clone(), format!("{admin}/@connections/{id}"))
            .bearer_auth(TOKEN)
            .body("late")
            .send()
            .await
            .expect("call");
        assert_eq!(answer.status(), 410, "{method}");
        assert_eq!(answer.headers()["x-amzn-errortype"], "GoneException");
    }
    let (code, _, err) = cli(&["send", &id, "--data", "late"]);
    assert_eq!(code, 1);
    assert!(err.contains("410"), "{err}");
    let unknown = http
        .get(format!("{admin}/@connections/AAAAAAAAAAAAAAAA"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("get");
    assert_eq!(unknown.status(), 410);
}

#[tokio::test]
async fn frames_over_the_limit_and_idle_connections_are_closed_and_disconnected() {
    let backend = Backend::start();
    let gateway = Gateway::start(&base_config(&format!(
        r#"
[[apis]]
name = "small"
protocol = "websocket"
[apis.websocket]
max_frame_size = "1KiB"
max_message_size = "4KiB"
idle_timeout = "1s"
[[apis.routes]]
key = "$connect"
integration = {{ type = "http_proxy", url = "{backend}/connect" }}
[[apis.routes]]
key = "$disconnect"
integration = {{ type = "http_proxy", url = "{backend}/disconnect" }}
[[apis.routes]]
key = "$default"
return_response = true
integration = {{ type = "mock", body = "ok" }}
"#,
        backend = backend.url("")
    )));
    let url = format!("ws://{}/", gateway.addr("main"));

    // A frame over 1 KiB: 1009.
    let mut ws = connect(&url, &[]).await.expect("connects");
    ws.send(Message::text("x".repeat(1000)))
        .await
        .expect("send");
    assert_eq!(next_text(&mut ws).await, "ok");
    ws.send(Message::text("x".repeat(2000)))
        .await
        .expect("send");
    assert_eq!(
        close_code(&mut ws, Duration::from_secs(10)).await,
        Some(CloseCode::Size)
    );
    let id = backend.last_connection_id();
    assert_eq!(
        backend
            .wait_for("DISCONNECT", &id)
            .header("x-turnpike-close-code"),
        Some("1009")
    );

    // A message of several small frames over 4 KiB: 1009 (PyPI websockets
    // sends it fragmented).
    let fragmented = python_tool(
        "ws_client.py",
        &json!({"command": "fragments", "url": url, "fragments": 6, "size": 1000}),
    );
    assert_eq!(fragmented["close_code"], 1009, "{fragmented}");

    // Idle for the idle timeout: 1001, and $disconnect.
    let mut idle = connect(&url, &[]).await.expect("connects");
    let started = std::time::Instant::now();
    assert_eq!(
        close_code(&mut idle, Duration::from_secs(10)).await,
        Some(CloseCode::Away)
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    let idle_id = backend.last_connection_id();
    assert_eq!(
        backend
            .wait_for("DISCONNECT", &idle_id)
            .header("x-turnpike-close-code"),
        Some("1001")
    );
}

#[tokio::test]
async fn a_client_that_does_not_read_is_closed_and_memory_stays_flat() {
    let gateway = Gateway::start(&base_config(
        r#"
[[apis]]
name = "firehose"
protocol = "websocket"
[apis.websocket]
send_queue_size = "256KiB"
"#,
    ));
    // $connect has no route here: accepted as is. The id is in the
    // connect line of the access log.
    let _stalled_client = connect(&format!("ws://{}/", gateway.addr("main")), &[])
        .await
        .expect("connects");
    let id = connection_id_from_log(&gateway);
    let admin = format!("http://{}", gateway.addr("@admin"));
    let http = client();
    let chunk = "y".repeat(100 * 1024);
    let before = rss_kib(gateway.pid());
    let mut refused_after = None;
    // Up to 100 MB offered to a client that never reads.
    for sent in 0..1000 {
        let answer = http
            .post(format!("{admin}/@connections/{id}"))
            .bearer_auth(TOKEN)
            .body(chunk.clone())
            .send()
            .await
            .expect("post");
        if answer.status() == 410 {
            refused_after = Some(sent);
            break;
        }
        assert_eq!(answer.status(), 200);
    }
    let refused_after = refused_after.expect("the slow reader is cut off");
    // The socket buffers take a few MB before the queue fills at all.
    assert!(
        refused_after < 400,
        "refused only after {refused_after} messages"
    );
    let growth = rss_kib(gateway.pid()).saturating_sub(before);
    assert!(growth < 16 * 1024, "RSS grew by {growth} KiB");
    let gone = http
        .get(format!("{admin}/@connections/{id}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("get");
    assert_eq!(gone.status(), 410);
}

#[tokio::test]
async fn shutdown_closes_connections_with_1001_and_runs_disconnect() {
    let backend = Backend::start();
    let gateway = Gateway::start(&base_config(&format!(
        r#"
[server]
shutdown_grace = "5s"
[[apis]]
name = "bye"
protocol = "websocket"
[[apis.routes]]
key = "$connect"
integration = {{ type = "http_proxy", url = "{backend}/connect" }}
[[apis.routes]]
key = "$disconnect"
integration = {{ type = "http_proxy", url = "{backend}/disconnect" }}
"#,
        backend = backend.url("")
    )));
    let mut ws = connect(&format!("ws://{}/", gateway.addr("main")), &[])
        .await
        .expect("connects");
    let id = backend.last_connection_id();
    let mut gateway = gateway;
    gateway.terminate();
    assert_eq!(
        close_code(&mut ws, Duration::from_secs(10)).await,
        Some(CloseCode::Away)
    );
    let status = gateway.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    assert_eq!(
        backend
            .wait_for("DISCONNECT", &id)
            .header("x-turnpike-close-code"),
        Some("1001")
    );
}

#[tokio::test]
async fn the_chat_example_broadcasts_through_connections() {
    let example = crate::harness::workspace().join("examples");
    let config = std::fs::read_to_string(example.join("chat.toml")).expect("examples/chat.toml");
    let component = guest("rust_token_authorizer");
    // The example's fixed ports become port 0; the backend's comes once
    // it runs, and a reload gives it to the gateway.
    let portable = config
        .replace("127.0.0.1:8080", "127.0.0.1:0")
        .replace("127.0.0.1:9901", "127.0.0.1:0")
        .replace(
            "../guest-examples/target/wasm32-wasip2/release/rust_token_authorizer.wasm",
            &component,
        )
        .replace(
            "\"chat-admin.token\"",
            &format!("\"{}\"", example.join("chat-admin.token").display()),
        );
    assert_ne!(portable, config, "the example's addresses changed");
    let gateway = Gateway::start(&portable);
    let admin = format!("http://{}", gateway.addr("@admin"));
    let mut backend = std::process::Command::new("python3")
        .arg(example.join("chat_backend.py"))
        .args([
            "--port",
            "0",
            "--admin",
            &admin,
            "--token",
            "chat-admin-token",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the backend");
    let port = {
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(backend.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("its port");
        line.trim()
            .rsplit(':')
            .next()
            .expect("port")
            .parse::<u16>()
            .expect("a port")
    };
    gateway.rewrite_config(&portable.replace("127.0.0.1:9000", &format!("127.0.0.1:{port}")));
    let reloaded = client()
        .post(format!("{admin}/reload"))
        .bearer_auth("chat-admin-token")
        .send()
        .await
        .expect("reload");
    assert_eq!(reloaded.status(), 200);
    let outcome = python_tool(
        "ws_client.py",
        &json!({
            "command": "chat",
            "url": format!("ws://{}/prod", gateway.addr("main")),
            "tokens": ["alice-token", "bob-token"],
        }),
    );
    let _ = backend.kill();
    let _ = backend.wait();
    assert_eq!(outcome["refused_without_token"], 401, "{outcome}");
    for who in ["alice", "bob"] {
        assert_eq!(
            outcome["received"][who],
            json!({"from": "alice", "data": "hi"}),
            "{outcome}"
        );
    }
}

#[tokio::test]
async fn the_autobahn_suite_passes_against_an_echo_route() {
    let gateway = Gateway::start(&base_config(&format!(
        r#"
[server]
access_log = "off"
[plugins.echo]
component = "{echo}"
world = "function"
timeout = "10s"
[[apis]]
name = "echo"
protocol = "websocket"
[apis.websocket]
max_frame_size = "16MiB"
max_message_size = "16MiB"
send_queue_size = "64MiB"
[[apis.routes]]
key = "$default"
return_response = true
integration = {{ type = "function", plugin = "echo" }}
"#,
        echo = guest("rust_http_function")
    )));
    let reports = tempfile::tempdir().expect("dir");
    let mut command = std::process::Command::new("kosoku");
    command
        .arg(format!("ws://{}/", gateway.addr("main")))
        // permessage-deflate (12.*, 13.*) is not offered, as API Gateway
        // does not: those cases are UNIMPLEMENTED by definition.
        .args(["-x", "12.*", "-x", "13.*", "-o"])
        .arg(reports.path());
    let (code, out, err) = run(&mut command);
    let index: Value = serde_json::from_slice(
        &std::fs::read(reports.path().join("index.json")).expect("index.json"),
    )
    .expect("json");
    let cases = index
        .as_object()
        .and_then(|a| a.values().next())
        .and_then(Value::as_object)
        .expect("one agent");
    let failed: Vec<_> = cases
        .iter()
        .filter(|(_, c)| {
            !matches!(
                c["behavior"].as_str(),
                Some("OK" | "NON-STRICT" | "INFORMATIONAL")
            )
        })
        .map(|(id, c)| format!("{id}: {}", c["behavior"]))
        .collect();
    assert!(failed.is_empty() && code == 0, "{failed:?}\n{out}{err}");
    assert_eq!(cases.len(), 301, "the suite without compression");
}

#[tokio::test]
async fn throttles_and_the_connect_keys_usage_plan_apply_to_messages() {
    let gateway = Gateway::start(&base_config(
        r#"
[api_keys.player]
value = "player-key-0123456789abcdef"

[usage_plans.trial]
api_keys = ["player"]
stages = [{ api = "arena", stage = "$default" }]
quota = { limit = 3, period = "day" }

[[apis]]
name = "arena"
protocol = "websocket"
[[apis.routes]]
key = "$connect"
api_key_required = true
integration = { type = "mock" }
[[apis.routes]]
key = "ping"
return_response = true
throttle = { rate = 0.001, burst = 1 }
integration = { type = "mock", body = "pong" }
[[apis.routes]]
key = "$default"
return_response = true
integration = { type = "mock", body = "ok" }
"#,
    ));
    let url = format!("ws://{}/", gateway.addr("main"));
    let refused = connect(&url, &[]).await.expect_err("refused");
    assert_eq!(refusal_status(refused).0, 403);
    // The connect counts against the quota of 3, as messages do.
    let mut ws = connect(&url, &[("x-api-key", "player-key-0123456789abcdef")])
        .await
        .expect("admitted");
    let error = |text: String| -> String {
        serde_json::from_str::<Value>(&text).map_or(text.clone(), |v| {
            v["message"].as_str().map_or(text, str::to_owned)
        })
    };
    ws.send(Message::text(r#"{"action":"ping"}"#))
        .await
        .expect("send");
    assert_eq!(next_text(&mut ws).await, "pong");
    ws.send(Message::text(r#"{"action":"ping"}"#))
        .await
        .expect("send");
    assert_eq!(error(next_text(&mut ws).await), "Too Many Requests");
    // The throttled message did not count: one more is admitted.
    ws.send(Message::text("hello")).await.expect("send");
    assert_eq!(next_text(&mut ws).await, "ok");
    ws.send(Message::text("hello")).await.expect("send");
    assert_eq!(error(next_text(&mut ws).await), "Limit Exceeded");
}

#[tokio::test]
async fn connections_api_on_the_apis_own_listener_takes_botocores_signed_calls() {
    const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    let gateway = Gateway::start(&base_config(&format!(
        r#"
[[apis]]
name = "live"
protocol = "websocket"
[apis.stages.prod]
[apis.authorizers.iam]
type = "sigv4"
region = "eu-west-1"
credentials = [{{ access_key_id = "{KEY_ID}", secret_access_key = "{SECRET}", principal = "backend" }}]
[apis.websocket]
management_authorizer = "iam"
"#
    )));
    let addr = gateway.addr("main");
    let mut ws = connect(&format!("ws://{addr}/prod"), &[])
        .await
        .expect("connects");
    let id = connection_id_from_log(&gateway);
    // Unsigned: API Gateway's 403.
    let unsigned = client()
        .post(format!("http://{addr}/prod/@connections/{id}"))
        .body("x")
        .send()
        .await
        .expect("post");
    assert_eq!(unsigned.status(), 403);
    let answer = python_tool(
        "ws_client.py",
        &json!({
            "command": "manage",
            "endpoint": format!("http://{addr}/prod"),
            "region": "eu-west-1",
            "access_key": KEY_ID,
            "secret": SECRET,
            "connection_id": id,
        }),
    );
    assert_eq!(next_text(&mut ws).await, "hello from botocore");
    assert_eq!(answer["source_ip"], "127.0.0.1", "{answer}");
    assert_eq!(answer["forged"], 403, "{answer}");
    assert_eq!(answer["after_delete"], "GoneException", "{answer}");
    assert_eq!(
        close_code(&mut ws, Duration::from_secs(10)).await,
        Some(CloseCode::Normal)
    );
}

#[tokio::test]
async fn a_websocket_runs_over_an_http2_stream_with_extended_connect() {
    let gateway = Gateway::start(&base_config(
        r#"
[[apis]]
name = "h2"
protocol = "websocket"
[apis.stages.prod]
[[apis.routes]]
key = "$default"
return_response = true
integration = { type = "mock", body = "over h2" }
"#,
    ));
    let answer = python_tool(
        "ws_client.py",
        &json!({"command": "h2", "address": gateway.addr("main").to_string(), "path": "/prod", "send": "hello"}),
    );
    assert_eq!(answer["enable_connect_protocol"], 1, "{answer}");
    assert_eq!(answer["status"], 200, "{answer}");
    assert_eq!(answer["opcode"], 1, "a text message: {answer}");
    assert_eq!(answer["message"], "over h2", "{answer}");
}

#[tokio::test]
async fn a_python_lambda_handler_serves_websocket_routes_with_api_gateways_events() {
    let echo =
        crate::harness::polyglot_guest("python-lambda-echo", "python_lambda_echo.wasm", "lambda");
    let gateway = Gateway::start(&base_config(&format!(
        r#"
[server]
cache_dir = "{cache}"
[plugins.echo]
component = "{echo}"
world = "lambda"
timeout = "5s"
[[apis]]
name = "lambda"
protocol = "websocket"
[apis.stages.prod]
[[apis.routes]]
key = "$connect"
integration = {{ type = "function", plugin = "echo", payload_format = "1.0" }}
[[apis.routes]]
key = "$default"
return_response = true
integration = {{ type = "function", plugin = "echo", payload_format = "1.0" }}
"#,
        cache = crate::harness::plugin_cache(),
    )));
    let mut ws = connect(
        &format!("ws://{}/prod?room=lobby", gateway.addr("main")),
        &[("host", "chat.example.com")],
    )
    .await
    .expect("the handler's 200 accepts");
    ws.send(Message::text(r#"{"action":"say","text":"hi"}"#))
        .await
        .expect("send");
    let answer: Value = serde_json::from_str(&next_text(&mut ws).await).expect("the echo's body");
    let event = &answer["event"];
    let context = &event["requestContext"];
    assert_eq!(event["body"], r#"{"action":"say","text":"hi"}"#, "{answer}");
    assert_eq!(event["isBase64Encoded"], false);
    assert_eq!(context["eventType"], "MESSAGE");
    assert_eq!(context["routeKey"], "$default");
    assert_eq!(context["stage"], "prod");
    assert_eq!(context["domainName"], "chat.example.com");
    assert_eq!(context["connectionId"].as_str().map(str::len), Some(16));
    assert!(
        context["connectedAt"]
            .as_i64()
            .is_some_and(|t| t > 1_700_000_000_000)
    );
    assert_eq!(context["identity"]["sourceIp"], "127.0.0.1");
    // The handshake's query string reached $connect; a refusal from the
    // handler ("mode=raise" makes it raise) refuses the upgrade with 502.
    let raised = connect(
        &format!("ws://{}/prod?mode=raise", gateway.addr("main")),
        &[],
    )
    .await;
    assert_eq!(refusal_status(raised.expect_err("refused")).0, 502);
}
