//! Phases 9 and 11: request mapping before the integration and response
//! mapping after it, by the route's `mapper` plugin or its VTL templates
//! ([`super::templates`]). A request mapper may
//! rewrite the method, path, query, headers and body, or answer the client
//! itself.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};

use crate::body::{RequestBody, ResponseBody};
use crate::error::{ErrorKind, GatewayError};
use crate::plugin::{HttpRequest, HttpResponse, MapperPlugin, PluginError, RequestOutcome};
use crate::proxy::{Cx, Flow, Verdict};

/// Largest response body a response mapper is given.
const MAX_MAPPED_RESPONSE: usize = 10 * 1024 * 1024;

fn failed(error: PluginError) -> GatewayError {
    // The request's own log line (warn, blamed on the plugin) says what failed.
    GatewayError::with_source(ErrorKind::PluginFailed, error)
}

fn garbage(mapper: &MapperPlugin, what: String) -> GatewayError {
    failed(PluginError {
        plugin: mapper.name().to_owned(),
        kind: crate::plugin::PluginErrorKind::Failed,
        detail: format!("returned garbage: {what}"),
    })
}

fn context(cx: &Cx<'_>) -> Vec<(String, String)> {
    cx.authorized
        .as_ref()
        .map(|a| a.context.clone())
        .unwrap_or_default()
}

fn header_map(
    mapper: &MapperPlugin,
    entries: &[(String, String)],
) -> Result<HeaderMap, GatewayError> {
    let mut headers = HeaderMap::with_capacity(entries.len());
    for (name, value) in entries {
        let name = HeaderName::try_from(name.as_str())
            .map_err(|_| garbage(mapper, format!("`{name}` is not a header name")))?;
        let value = HeaderValue::try_from(value.as_str()).map_err(|_| {
            garbage(
                mapper,
                format!("the value of `{name}` is not a header value"),
            )
        })?;
        // Framing is the gateway's business: it follows the mapped body.
        if name != header::CONTENT_LENGTH && name != header::TRANSFER_ENCODING {
            headers.append(name, value);
        }
    }
    Ok(headers)
}

fn to_response(
    mapper: &MapperPlugin,
    mapped: HttpResponse,
) -> Result<Response<ResponseBody>, GatewayError> {
    let status = StatusCode::from_u16(mapped.status)
        .ok()
        .filter(|s| s.as_u16() >= 200)
        .ok_or_else(|| {
            garbage(
                mapper,
                format!("{} is not a response status", mapped.status),
            )
        })?;
    let mut response = Response::new(ResponseBody::full(mapped.body));
    *response.status_mut() = status;
    *response.headers_mut() = header_map(mapper, &mapped.headers)?;
    Ok(response)
}

/// Phase 10: runs the route's mapper on the request; its own answer, if it
/// gives one, goes to the client.
pub async fn request(cx: &mut Cx<'_>) -> Verdict {
    if let Some(templates) = cx.route.and_then(|r| r.templates.as_deref()) {
        return super::templates::request(cx, templates).await;
    }
    let Some(mapper) = cx.route.and_then(|r| r.mapper.as_deref()) else {
        return Ok(Flow::Continue);
    };
    let info = super::authorize::plugin_view(cx);
    let bytes = crate::proxy::read_body(cx).await?;
    let request = HttpRequest {
        method: cx.parts.method.as_str().to_owned(),
        path: cx.parts.uri.path().to_owned(),
        query: info.query.clone(),
        headers: crate::plugin::header_entries(&cx.parts.headers),
        body: bytes.to_vec(),
    };
    let started = std::time::Instant::now();
    let outcome =
        crate::observe::trace::within(&cx.trace, mapper.map_request(&info, &context(cx), &request))
            .await;
    cx.marks.mapper[0] = Some((started, started.elapsed()));
    let outcome = outcome.map_err(failed)?;
    cx.plugin_view = Some(info);
    let mapped = match outcome {
        RequestOutcome::Respond(answer) => return to_response(mapper, answer).map(Flow::Respond),
        RequestOutcome::Forward(mapped) => mapped,
    };
    cx.parts.method = Method::from_bytes(mapped.method.as_bytes())
        .map_err(|_| garbage(mapper, format!("`{}` is not a method", mapped.method)))?;
    if mapped.path != request.path {
        if !mapped.path.starts_with('/') || mapped.path.contains(['?', '#']) {
            return Err(garbage(mapper, format!("`{}` is not a path", mapped.path)));
        }
        cx.mapped_path = Some(mapped.path.clone());
    }
    if mapped.query != request.query {
        cx.mapped_query = Some(
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(mapped.query.iter())
                .finish(),
        );
    }
    cx.parts.headers = header_map(mapper, &mapped.headers)?;
    cx.body = Some(RequestBody::Buffered(Bytes::from(mapped.body)));
    Ok(Flow::Continue)
}

/// Phase 12: runs the route's mapper on the integration's response.
pub async fn response(cx: &mut Cx<'_>) -> Verdict {
    if let Some(templates) = cx.route.and_then(|r| r.templates.as_deref()) {
        return super::templates::response(cx, templates).await;
    }
    let (Some(mapper), Some(info)) = (
        cx.route.and_then(|r| r.mapper.as_deref()),
        cx.plugin_view.as_ref(),
    ) else {
        return Ok(Flow::Continue);
    };
    let Some(response) = cx.response.take() else {
        return Ok(Flow::Continue);
    };
    let (parts, body) = response.into_parts();
    let bytes = Limited::new(body, MAX_MAPPED_RESPONSE)
        .collect()
        .await
        .map_err(|e| GatewayError::with_source(ErrorKind::UpstreamUnreachable, e))?
        .to_bytes();
    let original = HttpResponse {
        status: parts.status.as_u16(),
        headers: crate::plugin::header_entries(&parts.headers),
        body: bytes.to_vec(),
    };
    let started = std::time::Instant::now();
    let mapped = crate::observe::trace::within(
        &cx.trace,
        mapper.map_response(info, &context(cx), &original),
    )
    .await;
    cx.marks.mapper[1] = Some((started, started.elapsed()));
    let mapped = mapped.map_err(failed)?;
    cx.response = Some(to_response(mapper, mapped)?);
    Ok(Flow::Continue)
}
