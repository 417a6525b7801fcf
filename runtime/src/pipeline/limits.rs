//! Phase 1: request limits that can be checked before anything else runs.
//! (A body without a declared length is counted while it streams upstream.)

use crate::body::RequestBody;
use http::header;
use http::request::Parts;
use http_body::Body;

use crate::config::Limits;
use crate::error::{ErrorKind, GatewayError};

/// Fails requests whose headers or declared body exceed the limits.
pub fn check(
    limits: &Limits,
    parts: &Parts,
    body: Option<&RequestBody>,
) -> Result<(), GatewayError> {
    let header_bytes: usize = parts
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
    let declared = match parts.headers.get(header::CONTENT_LENGTH) {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok()),
        None => match body {
            Some(RequestBody::Streaming(b)) => b.size_hint().exact(),
            _ => None,
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
    Ok(())
}
