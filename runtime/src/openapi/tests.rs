//! Export then import, in process: what only Turnpike has (its own
//! authorizers, `wasi:http` functions, route policies and throttles) comes
//! back through the `x-turnpike-*` extensions.

use std::path::Path;

use super::export::{Extensions, export};
use super::import::{Options, import};
use super::source::Source;

const CONFIG: &str = r#"
[[apis]]
name = "native"

[apis.policy]
allow_source = ["10.0.0.0/8"]
deny_source = ["10.9.0.0/16"]

[apis.stages.live.variables]
origin = "10.0.0.5:8080"

[apis.authorizers.tokens]
type = "wasm"
plugin = "token-check"
identity_sources = ["$request.header.x-token"]
cache_ttl = "30s"

[apis.gateway_responses.THROTTLED]
status = 503
headers = { Retry-After = "${stageVariables.origin}", x-id = "${context.requestId}" }
body = '{"id":"${context.requestId}","why":${context.error.messageString}}'

[[apis.routes]]
key = "GET /render/{page+}"
authorizer = "tokens"
throttle = { rate = 5, burst = 10 }
policy = { deny_source = ["10.1.0.0/16"] }
integration = { type = "function", plugin = "renderer" }

[[apis.routes]]
key = "GET /items/{id}"
cache = { key_parameters = ["method.request.path.id", "method.request.querystring.page"] }
integration = { type = "http_proxy", url = "http://${stageVariables.origin}/items/{id}" }

[[apis.routes]]
key = "ANY /proxy/{rest+}"
integration = { type = "http_proxy", url = "http://${stageVariables.origin}/{rest}", timeout = "2s", request_headers = { x-who = "${context.authorizer.principalId}" } }
"#;

#[test]
fn turnpike_only_features_survive_a_round_trip() {
    let table: toml::Table = CONFIG.parse().expect("TOML");
    let document = export(
        &table,
        Path::new("gw.toml"),
        "native",
        None,
        Extensions::Aws,
    )
    .expect("exports");
    let text = serde_json::to_string_pretty(&document).expect("JSON");
    let source = Source::parse(&text, "native.json").expect("parses");
    let imported = import(&source, &Options::default()).unwrap_or_else(|report| panic!("{report}"));
    assert_eq!(
        imported.report.summary(),
        "3 routes imported, 0 left out; 0 errors, 0 unsupported, 1 warnings, 0 ignored"
    );
    // The warning: cache key parameters wait for a stage cache, which the
    // definition does not carry.
    assert!(
        imported
            .report
            .to_string()
            .contains("caching starts once the stage has a cache"),
        "{}",
        imported.report
    );
    // Route order does not matter (the most specific route wins); the
    // import writes them by path.
    let by_key = |apis: &toml::Value| {
        let mut apis = apis.clone();
        if let Some(routes) = apis[0].get_mut("routes").and_then(|r| r.as_array_mut()) {
            routes.sort_by_key(|r| r["key"].as_str().unwrap_or("").to_owned());
        }
        apis
    };
    let again: toml::Table = imported.toml.parse().expect("TOML");
    assert_eq!(
        by_key(&again["apis"]),
        by_key(&table["apis"]),
        "{}",
        imported.toml
    );
}

#[test]
fn unknown_apis_and_stages_are_named() {
    let table: toml::Table = CONFIG.parse().expect("TOML");
    let error = export(
        &table,
        Path::new("gw.toml"),
        "native",
        Some("beta"),
        Extensions::None,
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "API `native` has no stage `beta` (its stages: live)"
    );
}

/// Shapes real definitions have: shared parameters and request bodies by
/// `$ref`, OpenAPI 3.0 `nullable` and `default: null`, `Fn::Join` Lambda
/// URIs, VPC links named by ARN, Cognito pools.
#[test]
fn real_world_shapes_import() {
    let text = r##"{
      "openapi": "3.0.1",
      "info": {"title": "Orders API", "version": "1"},
      "x-amazon-apigateway-request-validators": {"all": {"validateRequestBody": true, "validateRequestParameters": true}},
      "x-amazon-apigateway-request-validator": "all",
      "paths": {
        "/orders/{orderId}": {
          "parameters": [{"$ref": "#/components/parameters/Tenant"}],
          "put": {
            "requestBody": {"$ref": "#/components/requestBodies/Order"},
            "x-amazon-apigateway-integration": {
              "type": "aws_proxy", "httpMethod": "POST",
              "uri": {"Fn::Join": ["", ["arn:aws:apigateway:", {"Ref": "AWS::Region"}, ":lambda:path/2015-03-31/functions/", {"Fn::GetAtt": ["OrdersFunction", "Arn"]}, "/invocations"]]}
            }
          },
          "get": {
            "x-amazon-apigateway-integration": {
              "type": "http_proxy", "httpMethod": "GET", "connectionType": "VPC_LINK", "connectionId": "abc123",
              "uri": "arn:aws:elasticloadbalancing:eu-west-1:111122223333:listener/app/orders/50dc6c495c0c9188/0467ef3c8400ae65"
            }
          }
        }
      },
      "components": {
        "parameters": {"Tenant": {"name": "x-tenant", "in": "header", "required": true, "schema": {"type": "string"}}},
        "requestBodies": {"Order": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Order"}}}}},
        "schemas": {"Order": {"type": "object", "properties": {"note": {"type": "string", "nullable": true, "default": null, "example": "gift"}}}}
      }
    }"##;
    let source = Source::parse(text, "orders.json").expect("parses");
    let options = Options {
        maps: [("OrdersFunction".to_owned(), "orders".to_owned())].into(),
        ..Options::default()
    };
    let imported = import(&source, &options).unwrap_or_else(|report| panic!("{report}"));
    assert_eq!(
        imported.report.summary(),
        "1 routes imported, 1 left out; 0 errors, 1 unsupported, 0 warnings, 0 ignored"
    );
    assert!(
        imported.report.findings[0]
            .message
            .starts_with("VPC link target `arn:aws:elasticloadbalancing:"),
        "{}",
        imported.report
    );
    let config: toml::Table = imported.toml.parse().expect("TOML");
    let route = &config["apis"][0]["routes"][0];
    assert_eq!(route["key"].as_str(), Some("PUT /orders/{orderId}"));
    assert_eq!(route["required_headers"][0].as_str(), Some("x-tenant"));
    assert_eq!(
        route["request_models"]["application/json"].as_str(),
        Some("Order")
    );
    assert_eq!(route["integration"]["plugin"].as_str(), Some("orders"));
    let note = &config["apis"][0]["models"]["Order"]["schema"]["properties"]["note"];
    assert_eq!(note.to_string(), r#"{ type = ["string", "null"] }"#);

    // A Cognito pool's app clients are not in the definition: the report
    // says which --map gives them.
    let cognito = r#"{"swagger": "2.0", "info": {"title": "c", "version": "1"},
      "securityDefinitions": {"pool": {"type": "apiKey", "name": "Authorization", "in": "header",
        "x-amazon-apigateway-authtype": "cognito_user_pools",
        "x-amazon-apigateway-authorizer": {"type": "cognito_user_pools", "providerARNs": ["arn:aws:cognito-idp:eu-west-1:111122223333:userpool/eu-west-1_AbC123"]}}},
      "paths": {"/me": {"get": {"security": [{"pool": []}], "x-amazon-apigateway-integration": {"type": "mock", "requestTemplates": {"application/json": "{\"statusCode\": 200}"}}}}}}"#;
    let source = Source::parse(cognito, "c.json").expect("parses");
    let report = import(&source, &Options::default()).expect_err("needs a map");
    assert!(
        report.to_string().contains(
            "the app client ids of user pool eu-west-1_AbC123 are not in the definition: --map 'pool.audiences=CLIENT_ID[,...]'"
        ),
        "{report}"
    );
    let options = Options {
        maps: [("pool.audiences".to_owned(), "client-1".to_owned())].into(),
        ..Options::default()
    };
    let imported = import(&source, &options).unwrap_or_else(|report| panic!("{report}"));
    let config: toml::Table = imported.toml.parse().expect("TOML");
    let pool = &config["apis"][0]["authorizers"]["pool"];
    assert_eq!(
        pool["issuer"].as_str(),
        Some("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123")
    );
    assert_eq!(
        pool["jwks_uri"].as_str(),
        Some("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123/.well-known/jwks.json")
    );
}
