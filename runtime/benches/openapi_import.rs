//! `turnpike import openapi` on a 500-route definition: reading the JSON
//! (with line positions), mapping every route, writing the TOML, and
//! validating the result as `turnpike validate` would (what the command
//! does before it writes anything):
//!
//!   cargo bench -p turnpike --bench openapi_import
//!
//! The definition: 100 resources, each with GET (http_proxy with a path
//! parameter and header mapping), POST (a body model with a `$ref`, under a
//! request validator), PUT (a VTL request template), DELETE (API key) and
//! a mock `OPTIONS`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use turnpike::openapi::Source;
use turnpike::openapi::import::{Options, import};

fn definition() -> String {
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    for i in 0..100 {
        schemas.insert(
            format!("Item{i}"),
            json!({"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "tags": {"type": "array", "items": {"$ref": "#/components/schemas/Tag"}}}}),
        );
        let backend = json!({
            "type": "http_proxy", "httpMethod": "ANY",
            "uri": format!("http://backend.internal:8080/r{i}/{{id}}"),
            "requestParameters": {"integration.request.header.x-resource": format!("'r{i}'")},
        });
        paths.insert(
            format!("/r{i}/{{id}}"),
            json!({
                "get": {"x-amazon-apigateway-integration": backend},
                "post": {
                    "x-amazon-apigateway-request-validator": "all",
                    "requestBody": {"content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/Item{i}")}}}},
                    "x-amazon-apigateway-integration": backend,
                },
                "put": {"x-amazon-apigateway-integration": {
                    "type": "http", "httpMethod": "PUT", "uri": format!("http://backend.internal:8080/r{i}/{{id}}"),
                    "requestTemplates": {"application/json": "#set($r = $input.path('$'))\n{\"name\": \"$util.escapeJavaScript($r.name)\", \"id\": \"$input.params('id')\"}"},
                }},
                "delete": {"security": [{"api_key": []}], "x-amazon-apigateway-integration": backend},
                "options": {"x-amazon-apigateway-integration": {
                    "type": "mock", "requestTemplates": {"application/json": "{\"statusCode\": 204}"},
                    "responses": {"default": {"statusCode": "204", "responseParameters": {"method.response.header.Allow": "'GET, POST, PUT, DELETE'"}}},
                }},
            }),
        );
    }
    schemas.insert("Tag".into(), json!({"type": "string", "maxLength": 32}));
    let doc: Value = json!({
        "openapi": "3.0.1",
        "info": {"title": "bench", "version": "1"},
        "x-amazon-apigateway-request-validators": {"all": {"validateRequestBody": true, "validateRequestParameters": true}},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"}},
        },
    });
    serde_json::to_string_pretty(&doc).unwrap()
}

fn bench(c: &mut Criterion) {
    let text = definition();
    let options = Options {
        listen: Some("127.0.0.1:8080".into()),
        ..Options::default()
    };
    // Once, outside the measurement: it imports and validates.
    let source = Source::parse(&text, "bench.json").unwrap();
    let imported = import(&source, &options).unwrap();
    assert_eq!(imported.report.routes_imported, 500);
    let config = turnpike::Config::parse(&imported.toml, "bench.toml").unwrap();
    turnpike::check(&config).unwrap();

    c.bench_function("import 500 routes (parse, map, write TOML)", |b| {
        b.iter(|| {
            let source = Source::parse(black_box(&text), "bench.json").unwrap();
            import(&source, &options).unwrap()
        })
    });
    c.bench_function("import 500 routes and validate the result", |b| {
        b.iter(|| {
            let source = Source::parse(black_box(&text), "bench.json").unwrap();
            let imported = import(&source, &options).unwrap();
            let config = turnpike::Config::parse(&imported.toml, "bench.toml").unwrap();
            turnpike::check(&config).unwrap();
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(10)).sample_size(20);
    targets = bench
}
criterion_main!(benches);
