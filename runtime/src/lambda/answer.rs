//! What a Lambda-style function answers, read as API Gateway reads a proxy
//! integration's response.

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::Value;

use crate::config::PayloadFormat;

/// A function's answer as the client will get it.
#[derive(Debug)]
pub struct ProxyAnswer {
    /// The status.
    pub status: StatusCode,
    /// `headers` and `multiValueHeaders` merged, `cookies` as `set-cookie`.
    pub headers: HeaderMap,
    /// The body, base64-decoded when the answer says so.
    pub body: Bytes,
}

/// Why an answer is not a proxy response: API Gateway's 502 `Internal
/// server error`, with this for the log.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// Not JSON at all.
    #[error("the answer is not JSON: {0}")]
    NotJson(serde_json::Error),
    /// JSON, but not the response's shape (e.g. no `statusCode`, a body
    /// that is not a string, a header value that is not text).
    #[error("the answer is not a proxy response: {0}")]
    Malformed(String),
    /// `statusCode` is not an HTTP status.
    #[error("`statusCode` {0} is not an HTTP status")]
    Status(i64),
    /// `isBase64Encoded` with a body that is not base64.
    #[error("`isBase64Encoded` is true but the body is not base64: {0}")]
    Base64(base64::DecodeError),
}

/// Reads a function's answer (JSON text) for `format`. In 2.0 a JSON value
/// without `statusCode` is the body of a 200 `application/json` answer, as
/// HTTP APIs infer it.
pub fn read_proxy_answer(format: PayloadFormat, text: &str) -> Result<ProxyAnswer, AnswerError> {
    let mut value: Value = serde_json::from_str(text).map_err(AnswerError::NotJson)?;
    if format == PayloadFormat::V2 && value.get("statusCode").is_none_or(|s| s.is_null()) {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return Ok(ProxyAnswer {
            status: StatusCode::OK,
            headers,
            body: Bytes::copy_from_slice(text.trim().as_bytes()),
        });
    }
    if let Some(object) = value.as_object_mut() {
        // Header values written as numbers or booleans are taken as their
        // text, as API Gateway takes them.
        for key in ["headers", "multiValueHeaders"] {
            if let Some(Value::Object(headers)) = object.get_mut(key) {
                for value in headers.values_mut() {
                    stringify_scalars(value);
                }
            }
        }
        if format == PayloadFormat::V2 && !object.contains_key("cookies") {
            object.insert("cookies".into(), Value::Array(Vec::new()));
        }
    }
    let malformed = |e: serde_json::Error| AnswerError::Malformed(e.to_string());
    let (status, single, multi, body, encoded, cookies) = match format {
        PayloadFormat::V1 => {
            let r: ApiGatewayProxyResponse = serde_json::from_value(value).map_err(malformed)?;
            (
                r.status_code,
                r.headers,
                r.multi_value_headers,
                r.body,
                r.is_base64_encoded,
                Vec::new(),
            )
        }
        PayloadFormat::V2 => {
            let r: ApiGatewayV2httpResponse = serde_json::from_value(value).map_err(malformed)?;
            (
                r.status_code,
                r.headers,
                r.multi_value_headers,
                r.body,
                r.is_base64_encoded,
                r.cookies,
            )
        }
    };
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .filter(|s| s.as_u16() >= 100)
        .ok_or(AnswerError::Status(status))?;
    // API Gateway merges the two maps; a header in `multiValueHeaders`
    // takes its values from there.
    let mut headers = multi;
    for (name, value) in &single {
        if !headers.contains_key(name) {
            headers.insert(name.clone(), value.clone());
        }
    }
    // REST APIs answer JSON unless the function says otherwise.
    if format == PayloadFormat::V1 && !headers.contains_key(http::header::CONTENT_TYPE) {
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    for cookie in cookies {
        let value = HeaderValue::try_from(cookie)
            .map_err(|_| AnswerError::Malformed("a cookie is not a header value".into()))?;
        headers.append(http::header::SET_COOKIE, value);
    }
    let body = match body {
        None | Some(Body::Empty) => Bytes::new(),
        Some(Body::Text(text)) if encoded => Bytes::from(
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(AnswerError::Base64)?,
        ),
        Some(Body::Text(text)) => Bytes::from(text),
        Some(Body::Binary(bytes)) => Bytes::from(bytes),
        Some(_) => Bytes::new(),
    };
    Ok(ProxyAnswer {
        status,
        headers,
        body,
    })
}

fn stringify_scalars(value: &mut Value) {
    match value {
        Value::Number(_) | Value::Bool(_) => *value = Value::String(value.to_string()),
        Value::Array(items) => items.iter_mut().for_each(stringify_scalars),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_answers_as_api_gateway_does() {
        let v1 = read_proxy_answer(
            PayloadFormat::V1,
            r#"{"statusCode": 201, "headers": {"content-type": "text/plain", "x-n": 3},
                "multiValueHeaders": {"x-m": ["a", "b"]}, "body": "hi"}"#,
        )
        .expect("answer");
        assert_eq!(v1.status, StatusCode::CREATED);
        assert_eq!(v1.headers["x-n"], "3");
        assert_eq!(v1.headers.get_all("x-m").iter().count(), 2);
        assert_eq!(v1.body, "hi");
        let binary = read_proxy_answer(
            PayloadFormat::V2,
            r#"{"statusCode": 200, "body": "/wA=", "isBase64Encoded": true, "cookies": ["a=1", "b=2"]}"#,
        )
        .expect("answer");
        assert_eq!(&binary.body[..], &[0xff, 0x00]);
        assert_eq!(binary.headers.get_all("set-cookie").iter().count(), 2);
        let bare = read_proxy_answer(PayloadFormat::V2, r#"{"message": "hello"}"#).expect("answer");
        assert_eq!(bare.status, StatusCode::OK);
        assert_eq!(bare.headers["content-type"], "application/json");
        assert_eq!(bare.body, r#"{"message": "hello"}"#);
        for (format, bad) in [
            (PayloadFormat::V1, r#"{"body": "no status"}"#),
            (
                PayloadFormat::V1,
                r#"{"statusCode": 200, "body": {"not": "a string"}}"#,
            ),
            (PayloadFormat::V1, r#"{"statusCode": 99}"#),
            (PayloadFormat::V1, "not json"),
            (
                PayloadFormat::V2,
                r#"{"statusCode": 200, "body": "%%", "isBase64Encoded": true}"#,
            ),
        ] {
            assert!(read_proxy_answer(format, bad).is_err(), "{bad}");
        }
    }
}
