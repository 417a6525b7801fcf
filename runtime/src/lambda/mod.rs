//! Amazon API Gateway's Lambda payloads: the events a Lambda-style plugin
//! receives (proxy integration payloads 1.0 and 2.0, TOKEN and REQUEST
//! authorizer events) and the answers it gives, read the way API Gateway
//! reads them. The shapes are `aws_lambda_events`' types; this module fills
//! them from a request and holds API Gateway's rules the types do not
//! (which values are `null`, how headers are joined, what a bare 2.0 answer
//! means).

mod answer;
mod events;
mod wire;

pub use answer::{AnswerError, ProxyAnswer, read_proxy_answer};
pub use events::{
    AuthorizerEvent, RequestView, WebSocketView, authorizer_event, method_arn, proxy_event,
    request_time, websocket_event,
};

use crate::config::AwsNames;

/// The ARN Lambda's context reports as the invoked function's:
/// `arn:aws:lambda:REGION:ACCOUNT:function:NAME`.
pub fn function_arn(aws: &AwsNames, function: &str) -> String {
    format!(
        "arn:aws:lambda:{}:{}:function:{function}",
        aws.region, aws.account_id
    )
}

/// Whether a body of `content_type` is sent base64-encoded, given the
/// API's binary media types (`image/png`, `image/*`, `*/*`), as REST APIs
/// decide (payload 1.0).
pub fn is_binary_type(content_type: Option<&str>, binary_media_types: &[String]) -> bool {
    let Some(essence) = content_type.map(essence) else {
        return false;
    };
    binary_media_types.iter().any(|pattern| {
        pattern == "*/*"
            || pattern.eq_ignore_ascii_case(essence)
            || pattern.strip_suffix("/*").is_some_and(|top| {
                essence
                    .split_once('/')
                    .is_some_and(|(essence_top, _)| essence_top.eq_ignore_ascii_case(top))
            })
    })
}

/// Whether HTTP APIs (payload 2.0) pass a body of `content_type` as text
/// rather than base64: text, JSON, XML, JavaScript and form types.
pub fn is_textual_type(content_type: Option<&str>) -> bool {
    let Some(essence) = content_type.map(essence) else {
        return false;
    };
    let ends_with = |suffix: &str| {
        essence
            .len()
            .checked_sub(suffix.len())
            .and_then(|at| essence.get(at..))
            .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
    };
    essence
        .get(..5)
        .is_some_and(|top| top.eq_ignore_ascii_case("text/"))
        || ends_with("/json")
        || ends_with("+json")
        || ends_with("/xml")
        || ends_with("+xml")
        || essence.eq_ignore_ascii_case("application/javascript")
        || essence.eq_ignore_ascii_case("application/x-www-form-urlencoded")
        || essence.eq_ignore_ascii_case("application/graphql")
}

/// A media type without its parameters (the configured types are lower
/// case; requests' are compared ignoring case).
fn essence(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_media_types_match_as_api_gateway_matches_them() {
        let types = vec!["image/*".to_owned(), "application/octet-stream".to_owned()];
        assert!(is_binary_type(Some("image/png"), &types));
        assert!(is_binary_type(
            Some("Application/Octet-Stream; x=1"),
            &types
        ));
        assert!(!is_binary_type(Some("application/json"), &types));
        assert!(!is_binary_type(None, &types));
        assert!(is_binary_type(Some("text/plain"), &["*/*".to_owned()]));
        assert!(is_textual_type(Some("application/json; charset=utf-8")));
        assert!(is_textual_type(Some("application/vnd.api+json")));
        assert!(!is_textual_type(Some("application/octet-stream")));
        assert!(!is_textual_type(None));
    }
}
