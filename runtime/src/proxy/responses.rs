//! Gateway responses: the API's `[apis.gateway_responses.TYPE]` applied to
//! the gateway's own error answers, and the headers API Gateway puts on
//! every one of them (`x-amzn-ErrorType`, the request id).

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response};

use super::context::Cx;
use crate::body::ResponseBody;
use crate::config::{
    GatewayResponseConfig, ResponsePiece, ResponseTemplate, ResponseType, ResponseVar,
};
use crate::error::GatewayError;

/// REST APIs' request id header.
const AMZN_REQUEST_ID: HeaderName = HeaderName::from_static("x-amzn-requestid");
/// HTTP APIs' request id header.
const APIGW_REQUEST_ID: HeaderName = HeaderName::from_static("apigw-requestid");

/// The answer for `error`: the default `{"message": ...}` with its
/// headers, customised by the API's gateway response for the error's type
/// (else the `DEFAULT_4XX` / `DEFAULT_5XX` one).
pub fn answer(cx: &Cx<'_>, error: &GatewayError) -> Response<ResponseBody> {
    let mut response = error.to_response();
    let headers = response.headers_mut();
    headers.insert(AMZN_REQUEST_ID, cx.request_id.clone());
    headers.insert(APIGW_REQUEST_ID, cx.request_id.clone());
    let configured = match cx.version {
        Some(v) => &v.api.gateway_responses,
        None => match cx.api {
            Some(api) => &api.gateway_responses,
            None => return response,
        },
    };
    if configured.is_empty() {
        return response;
    }
    let kind = error.response_type();
    let fallback = if error.status().is_server_error() {
        ResponseType::Default5xx
    } else {
        ResponseType::Default4xx
    };
    let Some(custom) = configured.get(&kind).or_else(|| configured.get(&fallback)) else {
        return response;
    };
    apply(cx, error, kind, custom, &mut response);
    response
}

fn apply(
    cx: &Cx<'_>,
    error: &GatewayError,
    kind: ResponseType,
    custom: &GatewayResponseConfig,
    response: &mut Response<ResponseBody>,
) {
    if let Some(status) = custom.status {
        *response.status_mut() = status;
    }
    for (name, template) in &custom.headers {
        let text = render(cx, error, kind, template);
        if let Ok(value) = HeaderValue::try_from(text) {
            response.headers_mut().insert(name.clone(), value);
        }
    }
    if let Some(body) = &custom.body {
        let text = render(cx, error, kind, body);
        *response.body_mut() = ResponseBody::full(Bytes::from(text));
    }
}

fn render(
    cx: &Cx<'_>,
    error: &GatewayError,
    kind: ResponseType,
    template: &ResponseTemplate,
) -> String {
    let mut out = String::new();
    for piece in &template.0 {
        match piece {
            ResponsePiece::Text(t) => out.push_str(t),
            ResponsePiece::Var(var) => push_var(cx, error, kind, var, &mut out),
        }
    }
    out
}

fn push_var(
    cx: &Cx<'_>,
    error: &GatewayError,
    kind: ResponseType,
    var: &ResponseVar,
    out: &mut String,
) {
    match var {
        ResponseVar::ErrorMessage => out.push_str(error.public_message()),
        ResponseVar::ErrorMessageString => {
            out.push_str(&serde_json::Value::from(error.public_message()).to_string())
        }
        ResponseVar::ErrorResponseType => out.push_str(kind.name()),
        ResponseVar::RequestId => out.push_str(cx.request_id_str()),
        ResponseVar::Stage => {
            if let Some(v) = cx.version {
                out.push_str(&v.stage.name);
            }
        }
        ResponseVar::ApiId => {
            if let Some(v) = cx.version {
                out.push_str(&v.api.api_id);
            }
        }
        ResponseVar::HttpMethod => out.push_str(cx.parts.method.as_str()),
        ResponseVar::Path => out.push_str(cx.parts.uri.path()),
        ResponseVar::ResourcePath => {
            if let Some(route) = cx.route {
                out.push_str(
                    route
                        .key
                        .split_once(' ')
                        .map_or(route.key.as_str(), |(_, p)| p),
                );
            }
        }
        ResponseVar::SourceIp => out.push_str(&cx.conn.client.ip().to_string()),
        ResponseVar::Authorizer(key) => {
            if let Some(value) = cx.authorized.as_deref().and_then(|a| a.value(key)) {
                out.push_str(value);
            }
        }
        ResponseVar::StageVariable(name) => {
            if let Some(value) = cx.version.and_then(|v| v.stage.variables.get(name)) {
                out.push_str(value);
            }
        }
        ResponseVar::Header(name) => {
            if let Some(value) = cx.parts.headers.get(name).and_then(|v| v.to_str().ok()) {
                out.push_str(value);
            }
        }
        ResponseVar::Query(name) => {
            let query = cx.parts.uri.query().unwrap_or("");
            if let Some((_, value)) =
                form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name)
            {
                out.push_str(&value);
            }
        }
        ResponseVar::PathParam(name) => {
            if let Some(route) = cx.route
                && let Some(i) = route.param_names.iter().position(|p| p == name)
                && let Some(value) = cx.params.get(i)
            {
                out.push_str(value);
            }
        }
    }
}
