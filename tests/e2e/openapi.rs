//! `turnpike import openapi` end to end: definitions written for Amazon API
//! Gateway (tests/openapi/) imported into a configuration, validated, served
//! by the real binary and called: integrations, Lambda functions and
//! authorizers, JWT, validators, CORS, gateway responses, mocks. Malformed
//! definitions are refused with the exact message and nothing written.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::harness::{
    Gateway, binary, client, plugin_cache, polyglot_guest, python_tool, run, workspace,
};
use crate::upstream::{Upstream, body_hash};

fn definition(name: &str) -> PathBuf {
    workspace().join("tests/openapi").join(name)
}

/// Runs `turnpike import openapi FILE ARGS...`: (exit code, stdout, stderr).
fn import(file: &Path, args: &[&str]) -> (i32, String, String) {
    run(Command::new(binary())
        .args(["import", "openapi"])
        .arg(file)
        .args(args))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_api_definition_is_imported_and_served() {
    let echo = polyglot_guest("python-lambda-echo", "python_lambda_echo.wasm", "lambda");
    let authorizer = polyglot_guest(
        "python-lambda-authorizer",
        "python_lambda_authorizer.wasm",
        "lambda",
    );
    let origin = Upstream::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("gateway.toml");
    // The operator's file: listener, plugins, keys and the plan that will
    // cover the imported API's stage.
    std::fs::write(
        &config,
        format!(
            r#"[server]
cache_dir = "{cache}"

[[listeners]]
name = "main"
address = "127.0.0.1:0"

[plugins.pets-auth]
component = "{authorizer}"
world = "lambda"
instances = "reuse"
timeout = "1500ms"

[plugins.pets-echo]
component = "{echo}"
world = "lambda"
instances = "reuse"
timeout = "1500ms"

[api_keys.partner]
value = "pk_import_0123456789"

[usage_plans.gold]
api_keys = ["partner"]
stages = [{{ api = "Pet-Shop", stage = "prod" }}]
"#,
            cache = plugin_cache()
        ),
    )
    .expect("write the base config");
    let backend = origin.base().trim_start_matches("http://").to_owned();
    let (code, stdout, report) = import(
        &definition("petshop.swagger.yaml"),
        &[
            "--into",
            config.to_str().expect("utf-8"),
            "--map",
            "AuthFunction=pets-auth",
            "--map",
            "EchoFunction=pets-echo",
            "--map",
            &format!("stageVariables.backend={backend}"),
        ],
    );
    assert_eq!(code, 0, "import failed:\n{report}");
    assert_eq!(stdout.trim(), format!("wrote {}", config.display()));
    let line = |needle: &str| {
        report
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no `{needle}` in the report:\n{report}"))
            .to_owned()
    };
    assert!(
        line("/paths/~1orders/post/x-amazon-apigateway-integration").ends_with(
            "unsupported: /paths/~1orders/post/x-amazon-apigateway-integration: AWS service integration `sqs` (path/123456789012/orders) is not supported; the route is left out"
        ),
        "{report}"
    );
    assert!(line("/x-company-owner").contains("petshop.swagger.yaml:44: ignored:"));
    assert!(line("/x-amazon-apigateway-documentation").contains(": ignored:"));
    assert!(
        report.ends_with(
            "6 routes imported, 1 left out; 0 errors, 1 unsupported, 0 warnings, 2 ignored\n"
        ),
        "{report}"
    );
    let text = std::fs::read_to_string(&config).expect("read the merged config");
    assert!(
        text.contains("deny_source = [\"203.0.113.0/24\"]"),
        "{text}"
    );
    assert!(
        text.contains("binary_media_types = [\"image/png\"]"),
        "{text}"
    );
    let (code, _, stderr) = run(Command::new(binary())
        .args(["validate", "--config"])
        .arg(&config));
    assert_eq!(code, 0, "{stderr}");

    let gw = Gateway::start(&text);
    let http = client();
    let url = |path: &str| gw.url("main", path);

    // The mock: the request template chose 200, the default response's
    // template and header.
    let response = http.get(url("/prod/health")).send().await.expect("health");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-mock"], "yes");
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.text().await.expect("body"), r#"{"status":"ok"}"#);

    // The API's default validator checks parameters; the error names them,
    // with API Gateway's error type and request id headers, and the
    // DEFAULT_4XX gateway response's header.
    let response = http.get(url("/prod/pets")).send().await.expect("pets");
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "BadRequestException"
    );
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    assert_eq!(
        response.headers()["x-amzn-requestid"],
        response.headers()["x-request-id"]
    );
    assert_eq!(
        response.text().await.expect("body"),
        r#"{"message":"Missing required request parameters: [limit]"}"#
    );
    let seen: Value = http
        .get(url("/prod/pets?limit=5"))
        .send()
        .await
        .expect("pets")
        .json()
        .await
        .expect("echo");
    assert_eq!(seen["path"], "/pets");
    // requestParameters: the query parameter under a new name, and as a
    // header; the client's query string goes on as it is.
    assert_eq!(seen["query"], "max=5&limit=5");
    assert_eq!(seen["headers"]["x-limit"], json!(["5"]));

    // The Lambda TOKEN authorizer with its validation expression, and the
    // customised UNAUTHORIZED answer.
    let response = http
        .get(url("/prod/pets/7"))
        .header("x-tenant", "acme")
        .send()
        .await
        .expect("pet");
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"pets\""
    );
    assert_eq!(response.headers()["x-tenant"], "acme");
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "UnauthorizedException"
    );
    let id = response.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_owned();
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body,
        json!({"error": "Unauthorized", "type": "UNAUTHORIZED", "id": id})
    );
    // Path parameter renamed by requestParameters, static and mapped headers.
    let seen: Value = http
        .get(url("/prod/pets/7"))
        .header("authorization", "Bearer alice")
        .header("x-tenant", "acme")
        .send()
        .await
        .expect("pet")
        .json()
        .await
        .expect("echo");
    assert_eq!(seen["path"], "/animals/7");
    assert_eq!(seen["headers"]["x-pet-source"], json!(["turnpike"]));
    assert_eq!(seen["headers"]["x-caller"], json!(["alice"]));
    assert_eq!(seen["headers"]["x-tenant-id"], json!(["acme"]));

    // POST /pets: authorizer, API key, body model ($ref resolved), Lambda.
    let post = |body: Value, key: Option<&str>| {
        let mut request = http
            .post(url("/prod/pets"))
            .header("authorization", "Bearer alice")
            .json(&body);
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        request.send()
    };
    let response = post(json!({"name": "Rex", "kind": "dog"}), None)
        .await
        .expect("post");
    assert_eq!(response.status(), 403);
    assert_eq!(response.headers()["x-amzn-errortype"], "ForbiddenException");
    let response = post(
        json!({"name": "Rex", "kind": "fish"}),
        Some("pk_import_0123456789"),
    )
    .await
    .expect("post");
    assert_eq!(response.status(), 400);
    let message = response.text().await.expect("body");
    assert!(
        message.contains("/kind: \\\"fish\\\" is not one of"),
        "{message}"
    );
    let response = post(
        json!({"name": "Rex", "kind": "dog"}),
        Some("pk_import_0123456789"),
    )
    .await
    .expect("post");
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.expect("json");
    assert_eq!(answer["event"]["httpMethod"], "POST");
    assert_eq!(answer["event"]["resource"], "/pets");
    assert_eq!(answer["event"]["requestContext"]["stage"], "prod");
    assert_eq!(
        answer["event"]["requestContext"]["authorizer"]["principalId"],
        "alice"
    );

    // VTL: the request template builds the backend's body, the response
    // template reshapes the backend's answer.
    let response = http
        .post(url("/prod/pets/search"))
        .header("x-tenant", "acme")
        .json(&json!({"q": "it's", "kinds": ["dog", "cat"]}))
        .send()
        .await
        .expect("search");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let id = response.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_owned();
    let mapped = "{\n  \"query\": \"it\\'s\",\n  \"limit\": 10,\n  \"tenant\": \"acme\",\n  \"stage\": \"prod\",\n  \"kinds\": [\"dog\",\"cat\"]\n}\n";
    assert_eq!(
        response.text().await.expect("body"),
        format!(
            "{{\"searched\": \"/search\", \"bytes\": {}, \"hash\": \"{}\", \"request\": \"{id}\"}}\n",
            mapped.len(),
            body_hash(mapped.as_bytes())
        )
    );
    // WHEN_NO_TEMPLATES: a media type without a template is refused.
    let response = http
        .post(url("/prod/pets/search"))
        .header("content-type", "text/plain")
        .body("q=dogs")
        .send()
        .await
        .expect("search");
    assert_eq!(response.status(), 415);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "UnsupportedMediaTypeException"
    );
    // A mock whose response template sets the status.
    let response = http
        .get(url("/prod/teapot?short=yes"))
        .send()
        .await
        .expect("teapot");
    assert_eq!(response.status(), 418);
    assert_eq!(
        response.text().await.expect("body"),
        "{\"short\": \"yes\", \"stout\": true}\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_api_export_is_imported_and_served() {
    let echo = polyglot_guest("python-lambda-echo", "python_lambda_echo.wasm", "lambda");
    let origin = Upstream::start();
    let tokens = python_tool(
        "jwt_tokens.py",
        &json!({
            "keys": [{"kid": "k1", "alg": "RS256"}],
            "publish": [["k1"]],
            "tokens": {
                "reader": {"kid": "k1", "claims": {"iss": "https://issuer.example.test/", "aud": "items", "sub": "ana", "scope": "items:read", "exp": "$now+600"}},
                "no_scope": {"kid": "k1", "claims": {"iss": "https://issuer.example.test/", "aud": "items", "sub": "ben", "scope": "profile", "exp": "$now+600"}},
            },
        }),
    );
    origin.publish("jwks", &tokens["jwks"][0].to_string());
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("items.toml");
    let backend = origin.base().trim_start_matches("http://").to_owned();
    let (code, _, report) = import(
        &definition("items.oas30.json"),
        &[
            "--out",
            out.to_str().expect("utf-8"),
            "--listen",
            "127.0.0.1:0",
            "--map",
            &format!("items-echo={echo}"),
            "--map",
            &format!("stageVariables.backend={backend}"),
            "--map",
            &format!("items-jwt.jwks_uri={}/doc/jwks", origin.base()),
        ],
    );
    assert_eq!(code, 0, "import failed:\n{report}");
    assert!(
        report.ends_with(
            "2 routes imported, 0 left out; 0 errors, 0 unsupported, 0 warnings, 0 ignored\n"
        ),
        "{report}"
    );
    let text = std::fs::read_to_string(&out).expect("read the config");
    let text = format!("[server]\ncache_dir = \"{}\"\n\n{text}", plugin_cache());
    let gw = Gateway::start(&text);
    let http = client();

    // The JWT authorizer with the route's scope.
    let get = |token: Option<&str>| {
        let mut request = http.get(gw.url("main", "/items/42"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    assert_eq!(get(None).await.expect("get").status(), 401);
    let reader = tokens["tokens"]["reader"].as_str().expect("token");
    let no_scope = tokens["tokens"]["no_scope"].as_str().expect("token");
    assert_eq!(get(Some(no_scope)).await.expect("get").status(), 403);
    let seen: Value = get(Some(reader))
        .await
        .expect("get")
        .json()
        .await
        .expect("echo");
    assert_eq!(seen["path"], "/items/42");

    // The $default route: a Lambda function with the 2.0 payload.
    let answer: Value = http
        .post(gw.url("main", "/anything/else"))
        .body("hi")
        .send()
        .await
        .expect("default")
        .json()
        .await
        .expect("json");
    assert_eq!(answer["event"]["version"], "2.0");
    assert_eq!(answer["event"]["routeKey"], "$default");
    assert_eq!(answer["event"]["rawPath"], "/anything/else");

    // CORS from x-amazon-apigateway-cors: a preflight answered by the gateway.
    let response = http
        .request(reqwest::Method::OPTIONS, gw.url("main", "/items/42"))
        .header("origin", "https://app.example.test")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .expect("preflight");
    assert_eq!(response.status(), 204);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://app.example.test"
    );
    assert_eq!(response.headers()["access-control-max-age"], "600");
    assert_eq!(
        response.headers()["access-control-allow-credentials"],
        "true"
    );
}

#[test]
fn malformed_definitions_are_refused_with_the_exact_reason() {
    let bad = workspace().join("tests/openapi/bad");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&bad)
        .expect("tests/openapi/bad")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e != "err"))
        .collect();
    names.sort();
    assert!(names.len() >= 5, "{names:?}");
    for file in names {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("out.toml");
        let (code, stdout, stderr) = run(Command::new(binary())
            .current_dir(&bad)
            .args(["import", "openapi"])
            .arg(file.file_name().expect("name"))
            .arg("--out")
            .arg(&out));
        let expected_file = file.with_extension(format!(
            "{}.err",
            file.extension().and_then(|e| e.to_str()).unwrap_or("")
        ));
        let expected = std::fs::read_to_string(&expected_file)
            .unwrap_or_else(|_| panic!("{} has no .err file; it says:\n{stderr}", file.display()));
        assert_eq!(code, 1, "{}: {stdout}", file.display());
        assert_eq!(stderr.trim_end(), expected.trim_end(), "{}", file.display());
        assert!(!out.exists(), "{}: nothing is written", file.display());
    }
}

/// Exports `api` of `config` with `args`, checks the document with
/// openapi-spec-validator, and returns its path.
fn export_checked(config: &Path, api: &str, args: &[&str], out: &Path) -> String {
    let (code, stdout, stderr) = run(Command::new(binary())
        .args(["export", "openapi", api, "--config"])
        .arg(config)
        .arg("--out")
        .arg(out)
        .args(args));
    assert_eq!(code, 0, "export failed: {stdout}\n{stderr}");
    let verdict = python_tool("openapi_validate.py", &json!({"file": out}));
    assert_eq!(verdict, json!({"valid": true}), "{}", out.display());
    std::fs::read_to_string(out).expect("read the export")
}

/// The `[[apis]]` and `[plugins]` tables of a configuration file.
fn api_tables(path: &Path) -> (toml::Value, Option<toml::Value>) {
    let table: toml::Table = std::fs::read_to_string(path)
        .expect("read")
        .parse()
        .expect("TOML");
    (table["apis"].clone(), table.get("plugins").cloned())
}

#[test]
fn exports_are_valid_openapi_and_import_back_to_the_same_api() {
    let echo = polyglot_guest("python-lambda-echo", "python_lambda_echo.wasm", "lambda");
    let authorizer = polyglot_guest(
        "python-lambda-authorizer",
        "python_lambda_authorizer.wasm",
        "lambda",
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let base = format!(
        "[server]\ncache_dir = \"{}\"\n\n[[listeners]]\nname = \"main\"\naddress = \"127.0.0.1:0\"\n\n[plugins.pets-auth]\ncomponent = \"{authorizer}\"\nworld = \"lambda\"\n\n\
         [plugins.pets-echo]\ncomponent = \"{echo}\"\nworld = \"lambda\"\n",
        plugin_cache()
    );
    let first = dir.path().join("first.toml");
    let second = dir.path().join("second.toml");
    std::fs::write(&first, &base).expect("write");
    std::fs::write(&second, &base).expect("write");
    let (code, _, report) = import(
        &definition("petshop.swagger.yaml"),
        &[
            "--into",
            first.to_str().expect("utf-8"),
            "--map",
            "AuthFunction=pets-auth",
            "--map",
            "EchoFunction=pets-echo",
            "--map",
            "stageVariables.backend=127.0.0.1:9",
        ],
    );
    assert_eq!(code, 0, "{report}");

    // With the extensions, as JSON and as YAML: valid, and complete enough
    // that importing it again gives the same API.
    let json_export = dir.path().join("petshop.json");
    let document = export_checked(&first, "Pet-Shop", &["--stage", "prod"], &json_export);
    let document: Value = serde_json::from_str(&document).expect("JSON");
    assert_eq!(document["openapi"], "3.0.1");
    assert_eq!(document["servers"], json!([{"url": "/prod"}]));
    assert_eq!(
        document["paths"]["/pets/{petId}"]["get"]["x-amazon-apigateway-integration"]["requestParameters"]
            ["integration.request.header.x-tenant-id"],
        "method.request.header.x-tenant"
    );
    let yaml_export = dir.path().join("petshop.yaml");
    export_checked(&first, "Pet-Shop", &["--format", "yaml"], &yaml_export);
    let (code, _, report) = import(
        &yaml_export,
        &[
            "--into",
            second.to_str().expect("utf-8"),
            "--map",
            "pets-echo=pets-echo",
        ],
    );
    assert_eq!(code, 0, "{report}");
    assert!(
        report.ends_with(
            "6 routes imported, 0 left out; 0 errors, 0 unsupported, 0 warnings, 0 ignored\n"
        ),
        "{report}"
    );
    assert_eq!(api_tables(&first), api_tables(&second));

    // Without extensions: plain OpenAPI for documentation and generators.
    let plain = export_checked(
        &first,
        "Pet-Shop",
        &["--extensions", "none"],
        &dir.path().join("plain.json"),
    );
    assert!(
        !plain.contains("x-amazon-apigateway") && !plain.contains("x-turnpike"),
        "{plain}"
    );
    let plain: Value = serde_json::from_str(&plain).expect("JSON");
    assert_eq!(
        plain["paths"]["/pets"]["get"]["parameters"],
        json!([{"name": "limit", "in": "query", "required": true, "schema": {"type": "string"}}])
    );
    assert_eq!(
        plain["paths"]["/pets"]["post"]["requestBody"]["content"]["application/json"]["schema"],
        json!({"$ref": "#/components/schemas/Pet"})
    );

    // An HTTP API: JWT authorizer, CORS, the $default route, 2.0 payloads.
    let items_first = dir.path().join("items-first.toml");
    let items_second = dir.path().join("items-second.toml");
    let echo_map = format!("items-echo={echo}");
    let common = [
        "--map",
        echo_map.as_str(),
        "--map",
        "stageVariables.backend=127.0.0.1:9",
        "--map",
        "items-jwt.jwks_uri=http://127.0.0.1:9/jwks",
    ];
    let mut args = vec!["--out", items_first.to_str().expect("utf-8")];
    args.extend(common);
    let (code, _, report) = import(&definition("items.oas30.json"), &args);
    assert_eq!(code, 0, "{report}");
    let items_export = dir.path().join("items.json");
    export_checked(&items_first, "items-http-api", &[], &items_export);
    let (code, _, report) = import(
        &items_export,
        &[
            "--out",
            items_second.to_str().expect("utf-8"),
            "--map",
            echo_map.as_str(),
        ],
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(api_tables(&items_first), api_tables(&items_second));

    // What cannot be exported says why.
    let (code, _, stderr) = run(Command::new(binary())
        .args(["export", "openapi", "Nope", "--config"])
        .arg(&first));
    assert_eq!(code, 1);
    assert_eq!(
        stderr.trim_end(),
        format!(
            "no API named `Nope` in {} (its APIs: Pet-Shop)",
            first.display()
        )
    );
}

const RUNTIME_DEFINITION: &str = r#"
openapi: 3.0.1
info: {title: orders, version: "1"}
servers: [{url: /v1}]
x-amazon-apigateway-gateway-responses:
  RESOURCE_NOT_FOUND:
    responseTemplates:
      application/json: '{"missing": "$context.path"}'
paths:
  /orders/{id}:
    get:
      x-amazon-apigateway-integration:
        type: http_proxy
        httpMethod: GET
        uri: ORIGIN/orders/{id}
  /status:
    get:
      x-amazon-apigateway-integration:
        type: mock
        requestTemplates: {application/json: '{"statusCode": 200}'}
        responses:
          default:
            statusCode: "200"
            responseTemplates: {application/json: '{"status": "VERSION"}'}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_imports_a_definition_into_a_running_gateway() {
    let origin = Upstream::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "[admin]\naddress = \"127.0.0.1:0\"\n\n[server]\ndata_dir = \"{}\"\n\n[[listeners]]\nname = \"main\"\naddress = \"127.0.0.1:0\"\n\n\
         [[apis]]\nname = \"shop\"\nhosts = [\"shop.test\"]\n\n[[apis.routes]]\nkey = \"GET /\"\nintegration = {{ type = \"mock\", body = \"shop\" }}\n",
        dir.path().join("data").display()
    );
    let mut gw = Gateway::start(&config);
    let http = client();
    let definition = |version: &str| {
        RUNTIME_DEFINITION
            .replace("ORIGIN", &origin.base())
            .replace("VERSION", version)
    };
    let import = |api: &str, body: String| {
        http.post(gw.url(turnpike::ADMIN_LISTENER, &format!("/apis/{api}/import")))
            .body(body)
            .send()
    };

    let response = import("orders", definition("one")).await.expect("import");
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.expect("json");
    assert_eq!(answer["api"], "orders");
    assert_eq!(answer["routesImported"], 2);
    let seen: Value = http
        .get(gw.url("main", "/v1/orders/42"))
        .send()
        .await
        .expect("order")
        .json()
        .await
        .expect("echo");
    assert_eq!(seen["path"], "/orders/42");
    let status = |gw: &Gateway| http.get(gw.url("main", "/v1/status")).send();
    assert_eq!(
        status(&gw)
            .await
            .expect("status")
            .text()
            .await
            .expect("body"),
        r#"{"status": "one"}"#
    );
    let response = http
        .get(gw.url("main", "/v1/nothing"))
        .send()
        .await
        .expect("404");
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.text().await.expect("body"),
        r#"{"missing": "/v1/nothing"}"#
    );

    // A broken definition changes nothing, and says why.
    let response = import("orders", definition("two").replace("http_proxy", "grpc"))
        .await
        .expect("import");
    assert_eq!(response.status(), 400);
    let refusal: Value = response.json().await.expect("json");
    assert_eq!(
        refusal["message"],
        "the definition cannot be imported; nothing changed"
    );
    assert!(
        refusal["problems"][0].as_str().expect("problem").contains(
            "error: /paths/~1orders~1{id}/get/x-amazon-apigateway-integration/type: unknown integration type `grpc`"
        ),
        "{refusal}"
    );
    assert_eq!(
        status(&gw)
            .await
            .expect("status")
            .text()
            .await
            .expect("body"),
        r#"{"status": "one"}"#
    );
    // An API the file defines is the file's.
    let response = import("shop", definition("x")).await.expect("import");
    assert_eq!(response.status(), 409);

    // Importing again replaces it; a restart serves what was imported.
    assert_eq!(
        import("orders", definition("two"))
            .await
            .expect("import")
            .status(),
        200
    );
    assert_eq!(
        status(&gw)
            .await
            .expect("status")
            .text()
            .await
            .expect("body"),
        r#"{"status": "two"}"#
    );
    gw.terminate();
    gw.wait_exit(std::time::Duration::from_secs(10));
    let gw = Gateway::start(&config);
    assert_eq!(
        status(&gw)
            .await
            .expect("status")
            .text()
            .await
            .expect("body"),
        r#"{"status": "two"}"#
    );

    // Removed, it is gone; removing again is 404.
    let remove = || {
        http.delete(gw.url(turnpike::ADMIN_LISTENER, "/apis/orders/import"))
            .send()
    };
    assert_eq!(remove().await.expect("delete").status(), 200);
    assert_eq!(status(&gw).await.expect("status").status(), 404);
    assert_eq!(remove().await.expect("delete").status(), 404);
}
