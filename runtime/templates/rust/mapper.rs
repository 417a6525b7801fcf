//! __NAME__: a Turnpike mapper.
//!
//! The starting point marks both directions with an `x-mapped-by: __NAME__`
//! header. Rewrite the method, path, query, headers or body in
//! `map_request`, or answer by itself with `RequestOutcome::Respond`; reshape
//! the integration's answer in `map_response`. `cargo test` runs the tests
//! below natively.

use turnpike_sdk::mapper::{HttpRequest, HttpResponse, Mapper, RequestOutcome};
use turnpike_sdk::{Entry, RequestInfo};

/// The plugin.
pub struct Plugin;

impl Mapper for Plugin {
    fn map_request(
        _info: RequestInfo,
        _context: Vec<Entry>,
        mut request: HttpRequest,
    ) -> Result<RequestOutcome, String> {
        request.set_header("x-mapped-by", "__NAME__");
        Ok(RequestOutcome::Forward(request))
    }

    fn map_response(
        _info: RequestInfo,
        _context: Vec<Entry>,
        mut response: HttpResponse,
    ) -> Result<HttpResponse, String> {
        response.set_header("x-mapped-by", "__NAME__");
        Ok(response)
    }
}

turnpike_sdk::export_mapper!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use turnpike_sdk::testing;

    #[test]
    fn both_directions_are_marked() {
        let info = testing::request_info("GET", "/hello", &[]);
        let request = HttpRequest {
            method: "GET".into(),
            path: "/hello".into(),
            query: vec![],
            headers: vec![],
            body: vec![],
        };
        let Ok(RequestOutcome::Forward(mapped)) = Plugin::map_request(info.clone(), vec![], request) else {
            panic!("expected the request to be forwarded");
        };
        assert_eq!(mapped.header("x-mapped-by"), Some("__NAME__"));
        let response = Plugin::map_response(info, vec![], HttpResponse::new(200, "text/plain", "hi"));
        assert_eq!(response.expect("mapped").header("x-mapped-by"), Some("__NAME__"));
    }
}
