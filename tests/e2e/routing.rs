//! Route matching precedence, path parameters, greedy paths, stages, stage
//! variables and mock responses.

use crate::harness::{Gateway, client};

/// Every route is a mock whose body names the route, so a response says which route won.
fn precedence_config() -> String {
    let routes = [
        "GET /pets",
        "POST /pets",
        "GET /pets/{id}",
        "GET /pets/dog",
        "ANY /pets/{id}",
        "GET /pets/{id}/toys/{toy+}",
        "ANY /{proxy+}",
        "GET /",
    ];
    let mut config = String::from(
        "[[listeners]]\nname = \"main\"\naddress = \"127.0.0.1:0\"\n\n[[apis]]\nname = \"zoo\"\n",
    );
    for key in routes {
        config.push_str(&format!(
            "\n[[apis.routes]]\nkey = \"{key}\"\nintegration = {{ type = \"mock\", body = \"{key}\" }}\n"
        ));
    }
    config
}

#[tokio::test]
async fn most_specific_route_wins() {
    let gw = Gateway::start(&precedence_config());
    let http = client();
    let cases = [
        ("GET", "/pets", "GET /pets"),
        ("POST", "/pets", "POST /pets"),
        ("GET", "/pets/dog", "GET /pets/dog"),
        ("GET", "/pets/cat", "GET /pets/{id}"),
        ("DELETE", "/pets/dog", "ANY /pets/{id}"),
        ("PUT", "/pets/7", "ANY /pets/{id}"),
        ("GET", "/pets/7/toys/ball/red", "GET /pets/{id}/toys/{toy+}"),
        ("GET", "/birds/1", "ANY /{proxy+}"),
        ("DELETE", "/pets", "ANY /{proxy+}"),
        ("GET", "/", "GET /"),
        ("GET", "/pets/", "GET /pets"),
    ];
    for (method, path, want) in cases {
        let response = http
            .request(method.parse().expect("method"), gw.url("main", path))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{method} {path}");
        assert_eq!(
            response.text().await.expect("body"),
            want,
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn path_parameters_and_greedy_paths_reach_mocks_and_upstreams() {
    let origin = crate::upstream::Upstream::start();
    let gw = Gateway::start(&format!(
        r#"
[[listeners]]
name = "main"
address = "127.0.0.1:0"

[[apis]]
name = "params"

[[apis.routes]]
key = "GET /users/{{user}}/orders/{{order}}"
[apis.routes.integration]
type = "mock"
headers = {{ x-user = "${{request.path.user}}" }}
body = '{{"user": "${{request.path.user}}", "order": "${{request.path.order}}"}}'

[[apis.routes]]
key = "ANY /files/{{path+}}"
integration = {{ type = "http_proxy", url = "{origin}/storage/{{path}}" }}
"#,
        origin = origin.base()
    ));
    let http = client();
    let response = http
        .get(gw.url("main", "/users/ann/orders/42"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-user"], "ann");
    assert_eq!(
        response.text().await.expect("body"),
        r#"{"user": "ann", "order": "42"}"#
    );

    let seen: serde_json::Value = http
        .get(gw.url("main", "/files/a/b%20c/d.txt?v=2"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(seen["path"], "/storage/a/b%20c/d.txt");
    assert_eq!(seen["query"], "v=2");

    // A greedy parameter needs at least one segment.
    let response = http
        .get(gw.url("main", "/files/"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 404);
    // Dot segments cannot climb out of the greedy prefix.
    let seen: serde_json::Value = http
        .get(gw.url("main", "/files/x/%2e%2e/y"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(seen["path"], "/storage/y");
}

#[tokio::test]
async fn stages_prefix_paths_and_fill_in_stage_variables() {
    let origin = crate::upstream::Upstream::start();
    let gw = Gateway::start(&format!(
        r#"
[[listeners]]
name = "main"
address = "127.0.0.1:0"

[[apis]]
name = "staged"

[apis.stages."$default"]
variables = {{ origin = "{origin}", env = "default", prefix = "v0" }}

[apis.stages.prod]
variables = {{ origin = "{origin}", env = "production", prefix = "v2" }}

[apis.stages.beta]
variables = {{ origin = "{origin}", env = "beta", prefix = "v3" }}

[[apis.routes]]
key = "ANY /api/{{proxy+}}"
[apis.routes.integration]
type = "http_proxy"
url = "${{stageVariables.origin}}/${{stageVariables.prefix}}/{{proxy}}"
request_headers = {{ x-env = "${{stageVariables.env}}" }}

[[apis.routes]]
key = "GET /whoami"
integration = {{ type = "mock", body = "stage ${{stageVariables.env}}" }}
"#,
        origin = origin.base()
    ));
    let http = client();
    for (prefix, env, version) in [
        ("", "default", "v0"),
        ("/prod", "production", "v2"),
        ("/beta", "beta", "v3"),
    ] {
        let seen: serde_json::Value = http
            .get(gw.url("main", &format!("{prefix}/api/items/1")))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        assert_eq!(
            seen["path"],
            format!("/{version}/items/1"),
            "stage {prefix}"
        );
        assert_eq!(seen["headers"]["x-env"][0], env, "stage {prefix}");

        let response = http
            .get(gw.url("main", &format!("{prefix}/whoami")))
            .send()
            .await
            .expect("request");
        let request_id = response.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert_eq!(response.text().await.expect("body"), format!("stage {env}"));
        let entry = gw.access_log_entry(&request_id);
        let stage = if prefix.is_empty() {
            "$default"
        } else {
            &prefix[1..]
        };
        assert_eq!(entry["stage"], stage);
        assert_eq!(entry["routeKey"], "GET /whoami");
    }
    // An unknown first segment is not a stage: it is a path of the $default stage.
    let response = http
        .get(gw.url("main", "/staging/whoami"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn named_stage_only_api_has_no_root() {
    let gw = Gateway::start(
        r#"
[[listeners]]
name = "main"
address = "127.0.0.1:0"

[[apis]]
name = "rest"
[apis.stages.v1]
[[apis.routes]]
key = "GET /ping"
integration = { type = "mock", body = "pong" }
"#,
    );
    let http = client();
    let ok = http
        .get(gw.url("main", "/v1/ping"))
        .send()
        .await
        .expect("request");
    assert_eq!(ok.text().await.expect("body"), "pong");
    let missing = http
        .get(gw.url("main", "/ping"))
        .send()
        .await
        .expect("request");
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn mock_answers_with_configured_status_headers_and_body() {
    let gw = Gateway::start(
        r#"
[[listeners]]
name = "main"
address = "127.0.0.1:0"

[[apis]]
name = "mocks"

[[apis.routes]]
key = "POST /orders"
[apis.routes.integration]
type = "mock"
status = 201
headers = { content-type = "application/json", location = "/orders/1", cache-control = "no-store" }
body = '{"id": 1, "status": "created"}'

[[apis.routes]]
key = "DELETE /orders/{id}"
integration = { type = "mock", status = 204 }
"#,
    );
    let http = client();
    let response = http
        .post(gw.url("main", "/orders"))
        .body("ignored")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["location"], "/orders/1");
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(response.headers().contains_key("x-request-id"));
    assert_eq!(
        response.text().await.expect("body"),
        r#"{"id": 1, "status": "created"}"#
    );

    let response = http
        .delete(gw.url("main", "/orders/9"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 204);
    assert_eq!(response.text().await.expect("body"), "");
}

#[tokio::test]
async fn apis_are_told_apart_by_host() {
    let gw = Gateway::start(
        r#"
[[listeners]]
name = "main"
address = "127.0.0.1:0"

[[apis]]
name = "shop"
hosts = ["shop.example.com"]
[[apis.routes]]
key = "GET /"
integration = { type = "mock", body = "shop" }

[[apis]]
name = "blog"
hosts = ["blog.example.com"]
[[apis.routes]]
key = "GET /"
integration = { type = "mock", body = "blog" }

[[apis]]
name = "fallback"
[[apis.routes]]
key = "GET /"
integration = { type = "mock", body = "fallback" }
"#,
    );
    let http = client();
    for (host, want) in [
        ("shop.example.com", "shop"),
        ("BLOG.example.com:8443", "blog"),
        ("other.example.com", "fallback"),
    ] {
        let body = http
            .get(gw.url("main", "/"))
            .header("host", host)
            .send()
            .await
            .expect("request")
            .text()
            .await
            .expect("body");
        assert_eq!(body, want, "host {host}");
    }
}
