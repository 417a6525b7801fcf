//! A small JSON API as a standard `wasi:http/proxy` component, served by
//! Turnpike's `function` integration (and by any other wasi-http host).
//!
//! - `GET  .../items/{id}` → `{"id", "name", "routeKey", "stage", "region", "principal"}`
//!   (404 for id `missing`);
//! - `POST .../items` → 201 with `{"created": BODY, "requestId"}` and a `location`;
//! - anything else → 405.
//!
//! On a WebSocket API's route it echoes: each message (an
//! `x-turnpike-event-type: MESSAGE` call) is answered with its own bytes,
//! which a two-way route sends back to the client.
//!
//! Route parameters, stage variables and the authorizer's principal arrive as
//! `x-turnpike-*` request headers.

use serde_json::{Value, json};
use wasip2::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

wasip2::http::proxy::export!(Items);

struct Items;

fn header(request: &IncomingRequest, name: &str) -> Option<String> {
    request
        .headers()
        .get(name)
        .into_iter()
        .next()
        .map(|v| String::from_utf8_lossy(&v).into_owned())
}

fn read_body(request: IncomingRequest) -> Vec<u8> {
    let mut bytes = Vec::new();
    let Ok(body) = request.consume() else {
        return bytes;
    };
    if let Ok(stream) = body.stream() {
        while let Ok(chunk) = stream.blocking_read(64 * 1024) {
            bytes.extend_from_slice(&chunk);
        }
    }
    bytes
}

fn respond(out: ResponseOutparam, status: u16, headers: &[(&str, &str)], body: &Value) {
    let fields = Fields::new();
    let _ = fields.append("content-type", b"application/json");
    for (name, value) in headers {
        let _ = fields.append(name, value.as_bytes());
    }
    let response = OutgoingResponse::new(fields);
    let _ = response.set_status_code(status);
    let Ok(outgoing) = response.body() else {
        return;
    };
    ResponseOutparam::set(out, Ok(response));
    if let Ok(stream) = outgoing.write() {
        let bytes = body.to_string().into_bytes();
        for chunk in bytes.chunks(4096) {
            let _ = stream.blocking_write_and_flush(chunk);
        }
    }
    let _ = OutgoingBody::finish(outgoing, None);
}

fn respond_bytes(out: ResponseOutparam, content_type: &str, body: &[u8]) {
    let fields = Fields::new();
    let _ = fields.append("content-type", content_type.as_bytes());
    let response = OutgoingResponse::new(fields);
    let Ok(outgoing) = response.body() else {
        return;
    };
    ResponseOutparam::set(out, Ok(response));
    if let Ok(stream) = outgoing.write() {
        for chunk in body.chunks(4096) {
            let _ = stream.blocking_write_and_flush(chunk);
        }
    }
    let _ = OutgoingBody::finish(outgoing, None);
}

impl wasip2::exports::http::incoming_handler::Guest for Items {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        if header(&request, "x-turnpike-event-type").as_deref() == Some("MESSAGE") {
            let content_type = header(&request, "content-type").unwrap_or_default();
            let body = read_body(request);
            return respond_bytes(out, &content_type, &body);
        }
        let route_key = header(&request, "x-turnpike-route-key").unwrap_or_default();
        let stage = header(&request, "x-turnpike-stage").unwrap_or_default();
        match request.method() {
            Method::Get => match header(&request, "x-turnpike-path-id") {
                Some(id) if id == "missing" => {
                    respond(out, 404, &[], &json!({"message": "no such item"}))
                }
                Some(id) => {
                    let item = json!({
                        "id": id,
                        "name": format!("item {id}"),
                        "routeKey": route_key,
                        "stage": stage,
                        "region": header(&request, "x-turnpike-stage-variable-region"),
                        "principal": header(&request, "x-turnpike-principal-id"),
                    });
                    respond(out, 200, &[], &item);
                }
                None => respond(out, 400, &[], &json!({"message": "no item id"})),
            },
            Method::Post => {
                let request_id = header(&request, "x-request-id");
                let body = read_body(request);
                let created: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                respond(
                    out,
                    201,
                    &[("location", "/items/new")],
                    &json!({"created": created, "requestId": request_id, "bytes": body.len()}),
                );
            }
            _ => respond(out, 405, &[], &json!({"message": "Method Not Allowed"})),
        }
    }
}
