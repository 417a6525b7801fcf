//! VTL mapping templates in phases 10 and 12: API Gateway's request
//! templates (chosen by the request's media type, subject to the route's
//! passthrough behavior) and response templates (chosen by `Accept`),
//! rendered with `$input`, `$context`, `$stageVariables` and `$util`.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode, header};
use http_body_util::{BodyExt, Limited};

use crate::body::{RequestBody, ResponseBody};
use crate::config::{MappingTemplates, Passthrough};
use crate::error::{ErrorKind, GatewayError};
use crate::proxy::{Cx, Flow, Verdict};
use crate::vtl::{Direction, Inputs, RenderError, Template, Uses, Val};

/// Largest integration response a response template reads.
const MAX_MAPPED_RESPONSE: usize = 10 * 1024 * 1024;

/// What response templates need of the request, kept from phase 10 (the
/// request itself goes to the integration).
#[derive(Debug)]
pub struct RequestView {
    path_params: Vec<(String, String)>,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    accept: Option<String>,
    context: Val,
    stage_variables: Val,
}

fn failed(error: RenderError) -> GatewayError {
    match error {
        RenderError::Input(why) => GatewayError::new(ErrorKind::InvalidRequest(format!(
            "Invalid request body: {why}"
        ))),
        RenderError::Template(why) => GatewayError::with_source(ErrorKind::TemplateFailed, why),
    }
}

/// The media type of a `Content-Type` or `Accept` entry, lower case, no
/// parameters.
fn media_type(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Phase 10 with templates: renders the request template for the request's
/// media type into the integration's body.
pub async fn request(cx: &mut Cx<'_>, templates: &MappingTemplates) -> Verdict {
    let media = cx
        .parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(media_type)
        .unwrap_or_else(|| "application/json".to_owned());
    let chosen = templates.request.iter().find(|(m, _)| *m == media);
    let template = match (chosen, templates.passthrough) {
        (Some((_, template)), _) => Some((media, template)),
        (None, Passthrough::WhenNoMatch) => None,
        (None, Passthrough::WhenNoTemplates) if templates.request.is_empty() => None,
        (None, _) => return Err(GatewayError::new(ErrorKind::UnsupportedMediaType)),
    };
    if template.is_none() && templates.response.is_empty() {
        return Ok(Flow::Continue);
    }
    // Only what the templates read is gathered.
    let uses = templates
        .response
        .iter()
        .map(|(_, t)| t.uses())
        .chain(template.as_ref().map(|(_, t)| t.uses()))
        .fold(Uses::default(), |a, b| a | b);
    let view = view(cx, uses);
    if let Some((media, template)) = template {
        let body = crate::proxy::read_body(cx).await?;
        let rendered = render(template, &body, &view, Direction::Request).map_err(failed)?;
        let headers = &mut cx.parts.headers;
        headers.remove(header::CONTENT_LENGTH);
        headers.remove(header::TRANSFER_ENCODING);
        if let Ok(value) = HeaderValue::try_from(media) {
            headers.insert(header::CONTENT_TYPE, value);
        }
        set_headers(headers, &rendered.headers);
        cx.body = Some(RequestBody::Buffered(Bytes::from(rendered.body)));
    }
    if !templates.response.is_empty() {
        cx.template_view = Some(Box::new(view));
    }
    Ok(Flow::Continue)
}

/// Phase 12 with templates: renders the response template chosen by the
/// request's `Accept` over the integration's response.
pub async fn response(cx: &mut Cx<'_>, templates: &MappingTemplates) -> Verdict {
    let (Some(view), Some(response)) = (cx.template_view.take(), cx.response.take()) else {
        return Ok(Flow::Continue);
    };
    let accepted = view
        .accept
        .as_deref()
        .map(|a| a.split(',').map(media_type).collect::<Vec<_>>());
    let chosen = accepted
        .iter()
        .flatten()
        .find_map(|m| templates.response.iter().find(|(t, _)| t == m))
        .or_else(|| {
            templates
                .response
                .iter()
                .find(|(t, _)| t == "application/json")
        })
        .or_else(|| templates.response.first());
    let Some((media, template)) = chosen else {
        cx.response = Some(response);
        return Ok(Flow::Continue);
    };
    let (mut parts, body) = response.into_parts();
    let bytes = Limited::new(body, MAX_MAPPED_RESPONSE)
        .collect()
        .await
        .map_err(|e| GatewayError::with_source(ErrorKind::UpstreamUnreachable, e))?
        .to_bytes();
    let rendered = render(template, &bytes, &view, Direction::Response).map_err(|e| match e {
        // The integration's answer is not what the template reads: the
        // API's configuration, not the client, is at fault.
        RenderError::Input(why) => GatewayError::with_source(ErrorKind::TemplateFailed, why),
        other => failed(other),
    })?;
    if let Some(status) = rendered.status.and_then(|s| StatusCode::from_u16(s).ok()) {
        parts.status = status;
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::TRANSFER_ENCODING);
    parts.headers.remove(header::CONTENT_ENCODING);
    if let Ok(value) = HeaderValue::try_from(media.as_str()) {
        parts.headers.insert(header::CONTENT_TYPE, value);
    }
    set_headers(&mut parts.headers, &rendered.headers);
    cx.response = Some(http::Response::from_parts(
        parts,
        ResponseBody::full(Bytes::from(rendered.body)),
    ));
    Ok(Flow::Continue)
}

/// The headers a template's `$context.*Override.header` set; names or
/// values that are not valid in HTTP are left out.
fn set_headers(headers: &mut http::HeaderMap, set: &[(String, String)]) {
    for (name, value) in set {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            headers.insert(name, value);
        }
    }
}

fn render(
    template: &Template,
    body: &[u8],
    view: &RequestView,
    direction: Direction,
) -> Result<crate::vtl::Rendered, RenderError> {
    let inputs = Inputs {
        body,
        path_params: &view.path_params,
        query: &view.query,
        headers: &view.headers,
        context: &view.context,
        stage_variables: &view.stage_variables,
    };
    template.render(&inputs, direction)
}

/// The request as templates see it.
fn view(cx: &Cx<'_>, uses: Uses) -> RequestView {
    let accept = cx
        .parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (path_params, query, headers) = if uses.params {
        params(cx)
    } else {
        Default::default()
    };
    RequestView {
        path_params,
        query,
        headers,
        accept,
        context: if uses.context {
            context(cx)
        } else {
            Val::Map(Vec::new())
        },
        stage_variables: stage_variables(cx, uses),
    }
}

type Pairs = Vec<(String, String)>;

/// `$input.params()`: path parameters, query-string parameters (the first
/// value of each) and headers.
fn params(cx: &Cx<'_>) -> (Pairs, Pairs, Pairs) {
    let path_params = cx
        .route
        .map(|r| {
            r.param_names
                .iter()
                .zip(cx.params.iter())
                .map(|(n, v)| (n.clone(), (*v).to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let mut query: Pairs = Vec::new();
    for (k, v) in form_urlencoded::parse(cx.parts.uri.query().unwrap_or("").as_bytes()) {
        if !query.iter().any(|(seen, _)| *seen == k) {
            query.push((k.into_owned(), v.into_owned()));
        }
    }
    let headers = cx
        .parts
        .headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    (path_params, query, headers)
}

/// `$stageVariables`, when a template reads it.
fn stage_variables(cx: &Cx<'_>, uses: Uses) -> Val {
    match cx.version.filter(|_| uses.stage_variables) {
        Some(v) => Val::Map(
            v.stage
                .variables
                .iter()
                .map(|(k, v)| (k.clone(), Val::Str(v.clone())))
                .collect(),
        ),
        None => Val::Map(Vec::new()),
    }
}

/// `$context`: what API Gateway's mapping templates know of the request.
fn context(cx: &Cx<'_>) -> Val {
    let s = |v: &str| Val::Str(v.to_owned());
    let resource_path = cx
        .route
        .map(|r| r.key.split_once(' ').map_or(r.key.as_str(), |(_, p)| p))
        .unwrap_or("");
    let mut authorizer = Vec::new();
    if let Some(a) = cx.authorized.as_deref() {
        authorizer.push(("principalId".to_owned(), s(&a.principal_id)));
        for (k, v) in &a.context {
            authorizer.push((k.clone(), s(v)));
        }
    }
    let user_agent = cx
        .parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let epoch_ms = cx
        .received_wall
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let (stage, api_id) = cx
        .version
        .map_or(("", ""), |v| (v.stage.name.as_str(), v.api.api_id.as_str()));
    let host = cx
        .parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| cx.parts.uri.authority().map(|a| a.as_str()))
        .unwrap_or("");
    Val::Map(vec![
        ("requestId".into(), s(cx.request_id_str())),
        ("extendedRequestId".into(), s(cx.request_id_str())),
        ("stage".into(), s(stage)),
        ("apiId".into(), s(api_id)),
        ("httpMethod".into(), s(cx.parts.method.as_str())),
        ("resourcePath".into(), s(resource_path)),
        ("path".into(), s(cx.parts.uri.path())),
        ("domainName".into(), s(host)),
        (
            "protocol".into(),
            s(match cx.parts.version {
                http::Version::HTTP_2 => "HTTP/2.0",
                http::Version::HTTP_3 => "HTTP/3.0",
                http::Version::HTTP_10 => "HTTP/1.0",
                _ => "HTTP/1.1",
            }),
        ),
        (
            "requestTime".into(),
            s(&crate::lambda::request_time(cx.received_wall)),
        ),
        ("requestTimeEpoch".into(), Val::Int(epoch_ms)),
        (
            "identity".into(),
            Val::Map(vec![
                ("sourceIp".into(), s(&cx.conn.client.ip().to_string())),
                ("userAgent".into(), s(user_agent)),
            ]),
        ),
        ("authorizer".into(), Val::Map(authorizer)),
    ])
}
