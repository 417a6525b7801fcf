//! Lambda code served unchanged: Python and JavaScript Lambda functions and
//! authorizers, built from source with their language's tooling and
//! Turnpike's shims, answering API Gateway's events through the real
//! binary. The handlers (guest-examples/*-lambda-*) are plain Lambda code.

use serde_json::{Value, json};

use crate::harness::{Gateway, client, eventually, plugin_cache, polyglot_guest};

/// The echo function and the AuthPolicy-style authorizer in one language.
struct Guests {
    language: &'static str,
    echo: String,
    authorizer: String,
}

fn python() -> Guests {
    Guests {
        language: "python",
        echo: polyglot_guest("python-lambda-echo", "python_lambda_echo.wasm", "lambda"),
        authorizer: polyglot_guest(
            "python-lambda-authorizer",
            "python_lambda_authorizer.wasm",
            "lambda",
        ),
    }
}

fn javascript() -> Guests {
    Guests {
        language: "javascript",
        echo: polyglot_guest("js-lambda-echo", "js_lambda_echo.wasm", "lambda"),
        authorizer: polyglot_guest(
            "js-lambda-authorizer",
            "js_lambda_authorizer.wasm",
            "lambda",
        ),
    }
}

fn config(guests: &Guests, instances: &str) -> String {
    let route = |key: &str, format: &str, authorizer: Option<&str>| {
        let authorizer = authorizer
            .map(|a| format!("authorizer = \"{a}\"\n"))
            .unwrap_or_default();
        format!(
            "[[apis.routes]]\nkey = \"{key}\"\n{authorizer}[apis.routes.integration]\ntype = \"function\"\nplugin = \"echo\"\npayload_format = \"{format}\"\n\n"
        )
    };
    let routes = [
        route("GET /v1/items/{id}", "1.0", None),
        route("ANY /v1/{proxy+}", "1.0", None),
        route("GET /v2/items/{id}", "2.0", None),
        route("ANY /v2/{proxy+}", "2.0", None),
        route("GET /pets", "1.0", Some("token")),
        route("GET /pets/{id}", "1.0", Some("token")),
        route("DELETE /pets/{id}", "1.0", Some("token")),
        route("GET /admin/users", "1.0", Some("token")),
        route("GET /request/pets", "1.0", Some("request")),
        route("GET /http/pets", "2.0", Some("http")),
        "[[apis.routes]]\nkey = \"GET /keyed\"\napi_key_required = true\n\
         integration = { type = \"function\", plugin = \"echo\", payload_format = \"1.0\" }\n\n"
            .to_owned(),
        // What the authorizer said, in a mock answer's header and body.
        "[[apis.routes]]\nkey = \"GET /whoami\"\nauthorizer = \"token\"\n[apis.routes.integration]\n\
         type = \"mock\"\nheaders = { x-principal = \"${context.authorizer.principalId}\" }\n\
         body = '{\"user\": \"${context.authorizer.principalId}\", \"flag\": \"${context.authorizer.booleanKey}\"}'\n\n"
            .to_owned(),
    ]
    .concat();
    format!(
        r#"
[server]
cache_dir = "{cache}"

[plugins.echo]
component = "{echo}"
world = "lambda"
instances = "{instances}"
timeout = "1500ms"
memory_limit = "64MiB"
config = {{ GREETING = "hello from the plugin's config" }}

[plugins.auth]
component = "{authorizer}"
world = "lambda"
instances = "{instances}"
timeout = "1500ms"
memory_limit = "64MiB"

[api_keys.partner]
value = "pk_test_0123456789abcdef"

[usage_plans.gold]
api_keys = ["partner"]
stages = [{{ api = "lambda", stage = "$default" }}]

[[listeners]]
name = "main"
address = "127.0.0.1:0"

[[apis]]
name = "lambda"
listeners = ["main"]
binary_media_types = ["application/octet-stream", "image/*"]

[apis.aws]
region = "eu-west-1"
account_id = "111122223333"
api_id = "a1b2c3"

[apis.stages."$default"]
[apis.stages.prod]
variables = {{ env = "production" }}

[apis.authorizers.token]
type = "wasm"
format = "lambda"
plugin = "auth"
payload = "token"
identity_sources = ["$request.header.Authorization"]
identity_validation_expression = "Bearer [a-z-]+"
cache_ttl = "300s"

[apis.authorizers.request]
type = "wasm"
format = "lambda"
plugin = "auth"
payload = "request"
identity_sources = ["$request.header.Authorization"]
cache_ttl = "0s"

[apis.authorizers.http]
type = "wasm"
format = "lambda"
payload_format = "2.0"
plugin = "auth"
payload = "request"
identity_sources = ["$request.header.Authorization"]
cache_ttl = "0s"

{routes}"#,
        cache = plugin_cache(),
        echo = guests.echo,
        authorizer = guests.authorizer,
    )
}

/// The echo's answer: the status, the response's headers, and the event it
/// saw (for the default mode).
async fn echo(
    gw: &Gateway,
    request: reqwest::RequestBuilder,
) -> (u16, reqwest::header::HeaderMap, Value, Value) {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let id = headers["x-request-id"].to_str().expect("ascii").to_owned();
    let body = response.text().await.expect("body");
    let seen = serde_json::from_str(&body).unwrap_or(Value::String(body));
    (status, headers, seen, gw.access_log_entry(&id))
}

async fn functions_answer_api_gateway_events(guests: &Guests) {
    let language = guests.language;
    for instances in ["fresh", "reuse"] {
        let gw = Gateway::start(&config(guests, instances));

        // Payload 1.0, on a named stage, with repeated query parameters and
        // headers.
        let (status, headers, seen, _) = echo(
            &gw,
            client()
                .get(gw.url("main", "/prod/v1/items/42?tag=a&tag=b&q=x%20y"))
                .header("x-two", "1")
                .header("x-two", "2")
                .header("user-agent", "lambda-test"),
        )
        .await;
        assert_eq!(status, 200, "{language} {instances}: {seen}");
        assert_eq!(headers["x-echo"], language);
        let multi: Vec<_> = headers.get_all("x-multi").iter().collect();
        assert_eq!(multi, ["one", "two"], "multiValueHeaders reach the client");
        let event = &seen["event"];
        assert_eq!(event["resource"], "/v1/items/{id}");
        assert_eq!(event["path"], "/v1/items/42");
        assert_eq!(event["httpMethod"], "GET");
        assert_eq!(event["pathParameters"], json!({"id": "42"}));
        assert_eq!(event["queryStringParameters"]["tag"], "b");
        assert_eq!(event["queryStringParameters"]["q"], "x y");
        assert_eq!(
            event["multiValueQueryStringParameters"]["tag"],
            json!(["a", "b"])
        );
        assert_eq!(event["headers"]["x-two"], "2");
        assert_eq!(event["multiValueHeaders"]["x-two"], json!(["1", "2"]));
        assert_eq!(event["stageVariables"], json!({"env": "production"}));
        assert_eq!(event["body"], Value::Null);
        assert_eq!(event["isBase64Encoded"], false);
        let context = &event["requestContext"];
        assert_eq!(context["stage"], "prod");
        assert_eq!(context["path"], "/prod/v1/items/42");
        assert_eq!(context["accountId"], "111122223333");
        assert_eq!(context["apiId"], "a1b2c3");
        assert_eq!(context["identity"]["sourceIp"], "127.0.0.1");
        assert_eq!(context["identity"]["userAgent"], "lambda-test");
        assert_eq!(context["requestId"], seen["requestId"]);
        // The context object: Lambda's names, the plugin's deadline, the
        // settings in the environment.
        assert_eq!(seen["function"], "echo");
        assert_eq!(
            seen["arn"],
            "arn:aws:lambda:eu-west-1:111122223333:function:echo"
        );
        assert_eq!(seen["greeting"], "hello from the plugin's config");
        let remaining = seen["remaining"].as_u64().expect("remaining time");
        assert!(
            remaining > 0 && remaining <= 1500,
            "{language}: {remaining} ms left of a 1.5 s budget"
        );

        // Payload 2.0: cookies, joined headers, raw query string.
        let (status, _, seen, _) = echo(
            &gw,
            client()
                .get(gw.url("main", "/v2/items/7?tag=a&tag=b"))
                .header("cookie", "session=abc; theme=dark")
                .header("x-two", "1")
                .header("x-two", "2"),
        )
        .await;
        assert_eq!(status, 200, "{language}: {seen}");
        let event = &seen["event"];
        assert_eq!(event["version"], "2.0");
        assert_eq!(event["routeKey"], "GET /v2/items/{id}");
        assert_eq!(event["rawPath"], "/v2/items/7");
        assert_eq!(event["rawQueryString"], "tag=a&tag=b");
        assert_eq!(event["cookies"], json!(["session=abc", "theme=dark"]));
        assert_eq!(event["headers"]["x-two"], "1,2");
        assert_eq!(event["queryStringParameters"]["tag"], "a,b");
        assert_eq!(event["pathParameters"], json!({"id": "7"}));
        assert_eq!(event["requestContext"]["http"]["method"], "GET");
        assert_eq!(event["requestContext"]["stage"], "$default");

        // A binary body in (base64 by the binary media types) and out.
        for (path, format) in [
            ("/v1/bytes?mode=binary", "1.0"),
            ("/v2/bytes?mode=binary", "2.0"),
        ] {
            let response = client()
                .post(gw.url("main", path))
                .header("content-type", "application/octet-stream")
                .body(vec![0x01, 0x02, 0xff])
                .send()
                .await
                .expect("request");
            assert_eq!(response.status(), 200, "{language} {format}");
            assert_eq!(
                response.headers()["content-type"],
                "application/octet-stream"
            );
            let bytes = response.bytes().await.expect("body");
            assert_eq!(&bytes[..], &[0xff, 0x02, 0x01], "{language} {format}");
        }
        // Text stays text in 1.0 when its type is not binary.
        let (_, _, seen, _) = echo(
            &gw,
            client()
                .post(gw.url("main", "/v1/text"))
                .header("content-type", "text/plain")
                .body("plain words"),
        )
        .await;
        assert_eq!(seen["event"]["body"], "plain words");
        assert_eq!(seen["event"]["isBase64Encoded"], false);

        // The API key the usage plan admitted, in the event's identity.
        let (status, _, seen, _) = echo(
            &gw,
            client()
                .get(gw.url("main", "/keyed"))
                .header("x-api-key", "pk_test_0123456789abcdef"),
        )
        .await;
        assert_eq!(status, 200, "{language}: {seen}");
        let identity = &seen["event"]["requestContext"]["identity"];
        assert_eq!(identity["apiKey"], "pk_test_0123456789abcdef");
        assert_eq!(identity["apiKeyId"], "partner");

        // A 2.0 bare JSON answer is a 200 application/json.
        let response = client()
            .get(gw.url("main", "/v2/x?mode=bare"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        let bare: Value = response.json().await.expect("json");
        assert_eq!(bare, json!({"bare": true, "items": [1, 2]}));

        // Cookies (2.0) become Set-Cookie headers.
        let response = client()
            .get(gw.url("main", "/v2/x?mode=cookies"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 204);
        let cookies: Vec<_> = response.headers().get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1; Path=/", "b=2"]);

        // A malformed answer (1.0 needs a statusCode), an exception and a
        // handler that never returns: API Gateway's 502, the reason logged.
        for (mode, logged) in [
            ("malformed", "statusCode"),
            ("raise", "the echo was asked to fail"),
            ("spin", "time budget"),
        ] {
            let (status, body, entry) = gw
                .send_logged(client().get(gw.url("main", &format!("/v1/x?mode={mode}"))))
                .await;
            assert_eq!(
                (status, body.as_str()),
                (502, r#"{"message":"Internal server error"}"#),
                "{language} {instances} {mode}"
            );
            assert_eq!(entry["errorBlame"], "plugin");
            let message = entry["errorMessage"].as_str().unwrap_or_default();
            assert!(message.contains(logged), "{language} {mode}: {message}");
        }
        // The handler's own output (print, console.log, Python's logging)
        // reaches the gateway's log with the request id; the next request is
        // served.
        let (status, _, seen, _) = echo(&gw, client().get(gw.url("main", "/v1/items/1"))).await;
        assert_eq!(status, 200);
        let request_id = seen["requestId"].as_str().expect("id").to_owned();
        eventually(
            std::time::Duration::from_secs(5),
            "the handler's print/console.log line",
            || {
                let log = gw.stderr();
                let printed = log.lines().any(|line| {
                    line.contains(&format!("mode None for {request_id}"))
                        || line.contains(&format!("mode undefined for {request_id}"))
                });
                let logged = language != "python"
                    || log.lines().any(|line| {
                        line.contains(&format!("[INFO]\thandled {request_id}"))
                            || line.contains(&format!("[INFO]\\thandled {request_id}"))
                    });
                printed && logged
            },
        );
    }
}

async fn get(gw: &Gateway, path: &str, token: Option<&str>) -> (u16, String, Value) {
    let mut request = client().get(gw.url("main", path));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    gw.send_logged(request).await
}

async fn authorizers_answer_with_policies(guests: &Guests) {
    let language = guests.language;
    let gw = Gateway::start(&config(guests, "fresh"));
    const NOT_ALLOWED: &str = r#"{"Message":"User is not authorized to access this resource"}"#;
    const DENIED: &str =
        r#"{"Message":"User is not authorized to access this resource with an explicit deny"}"#;

    // TOKEN: a policy allowing everything, its context typed in the event
    // as REST APIs type it (strings).
    let (status, body, entry) = get(&gw, "/prod/pets/1", Some("alice")).await;
    assert_eq!(status, 200, "{language}: {body}");
    assert_eq!(entry["principalId"], "alice");
    let seen: Value = serde_json::from_str(&body).expect("json");
    let authorizer = &seen["event"]["requestContext"]["authorizer"];
    assert_eq!(authorizer["principalId"], "alice");
    assert_eq!(authorizer["stringKey"], "value");
    assert_eq!(authorizer["numberKey"], "1");
    assert_eq!(authorizer["booleanKey"], "true");

    // `${context.authorizer.*}` in templates.
    let response = client()
        .get(gw.url("main", "/whoami"))
        .header("authorization", "Bearer alice")
        .send()
        .await
        .expect("request");
    assert_eq!(
        response.status(),
        200,
        "{language}: {:?}",
        response.headers()
    );
    assert_eq!(response.headers()["x-principal"], "alice");
    assert_eq!(
        response.text().await.expect("body"),
        r#"{"user": "alice", "flag": "true"}"#
    );

    // A policy allowing GET /pets and below only.
    assert_eq!(get(&gw, "/prod/pets/7", Some("bob")).await.0, 200);
    let (status, body, _) = gw
        .send_logged(
            client()
                .delete(gw.url("main", "/prod/pets/7"))
                .header("authorization", "Bearer bob"),
        )
        .await;
    assert_eq!((status, body.as_str()), (403, NOT_ALLOWED), "{language}");
    // The cached policy (same token) decides the next route by what it says
    // of that route: allowed /pets, not /admin.
    let (status, _, entry) = get(&gw, "/prod/pets", Some("bob")).await;
    assert_eq!(status, 200);
    assert_eq!(entry["authorizerCacheHit"], true);
    let (status, body, entry) = get(&gw, "/prod/admin/users", Some("bob")).await;
    assert_eq!((status, body.as_str()), (403, NOT_ALLOWED));
    assert_eq!(entry["authorizerCacheHit"], true);

    // An explicit deny wins over an allow-all.
    assert_eq!(get(&gw, "/pets/1", Some("carol")).await.0, 200);
    let (status, body, _) = get(&gw, "/admin/users", Some("carol")).await;
    assert_eq!((status, body.as_str()), (403, DENIED), "{language}");

    // Raising "Unauthorized" is a 401; so is a token the identity
    // validation expression refuses, without calling the plugin.
    let (status, body, _) = get(&gw, "/pets/1", Some("stranger")).await;
    assert_eq!(
        (status, body.as_str()),
        (401, r#"{"message":"Unauthorized"}"#),
        "{language}"
    );
    let (status, _, entry) = get(&gw, "/pets/1", Some("NOT-LOWER")).await;
    assert_eq!(status, 401);
    assert!(
        entry["authorizerLatency"].is_null(),
        "the plugin was not called"
    );

    // A context API Gateway would refuse (a nested object): 500.
    let (status, body, _) = get(&gw, "/pets/1", Some("nested")).await;
    assert_eq!(
        (status, body.as_str()),
        (500, r#"{"message":"Internal server error"}"#)
    );

    // REQUEST (1.0): the headers reach the authorizer.
    let (status, body, _) = get(&gw, "/request/pets", Some("alice")).await;
    assert_eq!(status, 200, "{language}: {body}");
    assert_eq!(get(&gw, "/request/pets", Some("stranger")).await.0, 401);

    // HTTP API 2.0: simple responses, the context typed as it was answered.
    let (status, body, _) = get(&gw, "/http/pets", Some("simple-yes")).await;
    assert_eq!(status, 200, "{language}: {body}");
    let seen: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        seen["event"]["requestContext"]["authorizer"]["lambda"],
        json!({"user": "simple", "level": 3, "nested": {"a": 1}})
    );
    let (status, body, _) = get(&gw, "/http/pets", Some("simple-no")).await;
    assert_eq!((status, body.as_str()), (403, r#"{"message":"Forbidden"}"#));
    // ...and IAM policies, evaluated against the route ARN.
    assert_eq!(get(&gw, "/http/pets", Some("alice")).await.0, 200);
    assert_eq!(get(&gw, "/http/pets", Some("bob")).await.0, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_lambda_functions_run_unchanged() {
    functions_answer_api_gateway_events(&python()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_lambda_functions_run_unchanged() {
    functions_answer_api_gateway_events(&javascript()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_lambda_authorizers_run_unchanged() {
    authorizers_answer_with_policies(&python()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_lambda_authorizers_run_unchanged() {
    authorizers_answer_with_policies(&javascript()).await;
}

/// The README's example: a handler file holding only Lambda code, served at
/// GET /hello.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hello_handler_greets_by_name() {
    let hello = polyglot_guest("python-lambda-hello", "python_lambda_hello.wasm", "lambda");
    let gw = Gateway::start(&format!(
        r#"
[server]
cache_dir = "{cache}"

[plugins.hello]
component = "{hello}"
world = "lambda"

[[listeners]]
name = "main"
address = "127.0.0.1:0"

[[apis]]
name = "hello"
listeners = ["main"]

[[apis.routes]]
key = "GET /hello"
[apis.routes.integration]
type = "function"
plugin = "hello"
payload_format = "1.0"
"#,
        cache = plugin_cache()
    ));
    for (query, name) in [("?name=Ada", "Ada"), ("", "World")] {
        let response = client()
            .get(gw.url("main", &format!("/hello{query}")))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body, json!({"message": format!("Hello, {name}!")}));
    }
}
