//! A mapper that reshapes JSON, as an API Gateway mapping template would.
//!
//! Request mapping:
//! - a JSON body `{"name": N, "kind": K}` becomes
//!   `{"pet": {"name": N, "species": K}, "requestId": ID}`;
//! - `x-mapped-by: json-mapper` is added, `x-internal-secret` removed;
//! - the query gets `mapped=true`;
//! - a request with `x-mapper-respond: teapot` is answered by the mapper
//!   itself (418), without calling the integration.
//!
//! Response mapping: the body is wrapped as `{"status": S, "data": BODY}`
//! (BODY as JSON if it is JSON, else as a string), with
//! `x-response-mapped: true`.

use serde_json::{Value, json};
use turnpike_sdk::mapper::{HttpRequest, HttpResponse, Mapper, RequestOutcome};
use turnpike_sdk::{Entry, RequestInfo};

/// The plugin.
pub struct JsonMapper;

impl Mapper for JsonMapper {
    fn map_request(
        info: RequestInfo,
        _context: Vec<Entry>,
        mut request: HttpRequest,
    ) -> Result<RequestOutcome, String> {
        if request.header("x-mapper-respond") == Some("teapot") {
            return Ok(RequestOutcome::Respond(HttpResponse::new(
                418,
                "text/plain",
                "short-circuited by the mapper",
            )));
        }
        if !request.body.is_empty() {
            let input: Value = serde_json::from_slice(&request.body)
                .map_err(|e| format!("request body is not JSON: {e}"))?;
            let reshaped = json!({
                "pet": { "name": input["name"], "species": input["kind"] },
                "requestId": info.request_id,
            });
            request.body = serde_json::to_vec(&reshaped).map_err(|e| e.to_string())?;
            request.set_header("content-type", "application/json");
        }
        request.set_header("x-mapped-by", "json-mapper");
        request.remove_header("x-internal-secret");
        request.query.push(("mapped".into(), "true".into()));
        Ok(RequestOutcome::Forward(request))
    }

    fn map_response(
        _info: RequestInfo,
        _context: Vec<Entry>,
        response: HttpResponse,
    ) -> Result<HttpResponse, String> {
        let data = serde_json::from_slice::<Value>(&response.body).unwrap_or_else(|_| {
            Value::String(String::from_utf8_lossy(&response.body).into_owned())
        });
        let body = serde_json::to_vec(&json!({ "status": response.status, "data": data }))
            .map_err(|e| e.to_string())?;
        let mut mapped = HttpResponse::new(response.status, "application/json", body);
        mapped.set_header("x-response-mapped", "true");
        Ok(mapped)
    }
}

turnpike_sdk::export_mapper!(JsonMapper);

#[cfg(test)]
mod tests {
    use super::*;
    use turnpike_sdk::testing;

    #[test]
    fn reshapes_the_request_body_and_wraps_the_response() {
        let info = testing::request_info("POST", "/pets", &[]);
        let request = HttpRequest {
            method: "POST".into(),
            path: "/pets".into(),
            query: vec![],
            headers: vec![("x-internal-secret".into(), "1".into())],
            body: br#"{"name":"Rex","kind":"dog"}"#.to_vec(),
        };
        let Ok(RequestOutcome::Forward(mapped)) =
            JsonMapper::map_request(info.clone(), vec![], request)
        else {
            panic!("expected forward");
        };
        let body: Value = serde_json::from_slice(&mapped.body).expect("json");
        assert_eq!(body["pet"]["species"], "dog");
        assert_eq!(mapped.header("x-internal-secret"), None);
        assert_eq!(mapped.header("x-mapped-by"), Some("json-mapper"));

        let response =
            JsonMapper::map_response(info, vec![], HttpResponse::new(200, "text/plain", "ok"))
                .expect("mapped");
        let body: Value = serde_json::from_slice(&response.body).expect("json");
        assert_eq!(body, json!({"status": 200, "data": "ok"}));
    }
}
