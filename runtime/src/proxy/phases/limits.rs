//! Phase 1: request limits that can be checked before anything else runs.
//! (A body without a declared length is counted while it streams upstream.)

use http::header;
use http_body::Body;

use crate::body::RequestBody;
use crate::error::{ErrorKind, GatewayError};
use crate::proxy::{Cx, Flow, Verdict};

/// Fails requests whose headers (431) or declared body (413) exceed the
/// limits.
pub async fn run(cx: &mut Cx<'_>) -> Verdict {
    let limits = &cx.snapshot.limits;
    let header_bytes: usize = cx
        .parts
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > limits.max_header_bytes {
        return Err(GatewayError::with_source(
            ErrorKind::HeadersTooLarge,
            format!(
                "{header_bytes} bytes of headers, limit {}",
                limits.max_header_bytes
            ),
        ));
    }
    let declared = match cx.parts.headers.get(header::CONTENT_LENGTH) {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok()),
        None => match &cx.body {
            Some(RequestBody::Streaming(b)) => b.size_hint().exact(),
            Some(RequestBody::Buffered(b)) => Some(b.len() as u64),
            None => None,
        },
    };
    if let Some(length) = declared
        && length > limits.max_body_bytes
    {
        return Err(GatewayError::with_source(
            ErrorKind::PayloadTooLarge,
            format!(
                "declared body of {length} bytes, limit {}",
                limits.max_body_bytes
            ),
        ));
    }
    Ok(Flow::Continue)
}

#[cfg(test)]
mod tests {
    use crate::proxy::testing::{Harness, request};

    const CONFIG: &str = r#"
[limits]
max_body_size = 16
max_header_size = 200

[[apis]]
name = "a"
[[apis.routes]]
key = "ANY /x"
integration = { type = "mock", body = "ok" }
"#;

    #[tokio::test]
    async fn oversized_headers_and_bodies_are_refused_before_routing() {
        let harness = Harness::new(CONFIG);
        let cases = [
            (request("GET", "/x").body(""), 200),
            (request("POST", "/x").body("0123456789abcdef"), 200),
            (request("POST", "/x").body("0123456789abcdefg"), 413),
            (
                request("GET", "/x")
                    .header("x-big", &"v".repeat(300))
                    .body(""),
                431,
            ),
            // Limits come first: even a path nothing serves gets 413.
            (request("POST", "/nowhere").body(&"b".repeat(17)), 413),
        ];
        for (request, status) in cases {
            let (got, body) = harness.send(request).await;
            assert_eq!(got, status, "{body}");
        }
    }
}
