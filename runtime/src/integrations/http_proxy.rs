//! `http_proxy`: pass the request through to an HTTP upstream, like API
//! Gateway's HTTP_PROXY integration.

use std::time::{Duration, Instant};

use http::header::{self, HeaderName, HeaderValue};
use http::request::Parts;
use http::{HeaderMap, Request, Response, Uri, Version};
use hyper::body::Incoming;

use super::{UpstreamClient, render};
use crate::body::{BodyTooLarge, DownstreamBodyError, LimitedBody, ResponseBody};
use crate::config::template::Resolved;
use crate::config::{HttpProxyConfig, StageConfig, is_hop_by_hop};
use crate::error::{ErrorKind, GatewayError};
use crate::pipeline::RequestContext;

/// An `http_proxy` integration compiled for one stage.
#[derive(Debug)]
pub struct HttpProxy {
    url: Vec<Resolved>,
    url_has_query: bool,
    timeout: Duration,
    request_headers: Vec<(HeaderName, Vec<Resolved>)>,
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

impl HttpProxy {
    /// Fills in `stage`'s variables.
    pub fn compile(
        config: &HttpProxyConfig,
        stage: &StageConfig,
        param_names: &[&str],
    ) -> Result<HttpProxy, String> {
        let url = config
            .url
            .resolve(&stage.variables, param_names.iter().copied())?;
        let url_has_query = url
            .iter()
            .any(|p| matches!(p, Resolved::Text(t) if t.contains('?')));
        let request_headers = config
            .request_headers
            .iter()
            .map(|(name, t)| {
                t.resolve(&stage.variables, param_names.iter().copied())
                    .map(|r| (name.clone(), r))
            })
            .collect::<Result<_, _>>()?;
        Ok(HttpProxy {
            url,
            url_has_query,
            timeout: config.timeout,
            request_headers,
        })
    }

    /// Sends the request upstream and streams the answer back.
    pub async fn invoke(
        &self,
        upstream: &UpstreamClient,
        ctx: &mut RequestContext,
        mut parts: Parts,
        body: Option<Incoming>,
        params: &[&str],
    ) -> Result<Response<ResponseBody>, GatewayError> {
        let downstream_host = downstream_host(&parts);
        parts.uri = self.target(&parts.uri, params)?;
        prepare_upstream_headers(&mut parts.headers, ctx, downstream_host);
        for (name, pieces) in &self.request_headers {
            let mut text = String::new();
            render(pieces, params, &mut text);
            if let Ok(value) = HeaderValue::try_from(text) {
                parts.headers.insert(name.clone(), value);
            }
        }
        parts.version = Version::HTTP_11;
        parts.extensions = http::Extensions::new();
        let body = LimitedBody::new(body, ctx.max_body_bytes);
        let request = Request::from_parts(parts, body);

        let started = Instant::now();
        let sent = tokio::time::timeout(self.timeout, upstream.client.request(request)).await;
        ctx.integration_latency = Some(started.elapsed());
        let response = match sent {
            Err(_elapsed) => {
                return Err(GatewayError::with_source(
                    ErrorKind::UpstreamTimeout,
                    format!("no response within {:?}", self.timeout),
                ));
            }
            Ok(Err(e)) => return Err(classify(e)),
            Ok(Ok(response)) => response,
        };
        ctx.integration_status = Some(response.status());
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        Ok(Response::from_parts(parts, ResponseBody::upstream(body)))
    }

    fn target(&self, downstream: &Uri, params: &[&str]) -> Result<Uri, GatewayError> {
        let query = downstream.query();
        let mut url = String::with_capacity(96 + query.map_or(0, str::len));
        render(&self.url, params, &mut url);
        if let Some(query) = query {
            url.push(if self.url_has_query { '&' } else { '?' });
            url.push_str(query);
        }
        Uri::try_from(url).map_err(|e| GatewayError::with_source(ErrorKind::BadRequest, e))
    }
}

/// The host the client addressed: the `Host` header (HTTP/1) or the `:authority` (HTTP/2).
fn downstream_host(parts: &Parts) -> Option<HeaderValue> {
    match parts.headers.get(header::HOST) {
        Some(host) => Some(host.clone()),
        None => parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::try_from(a.as_str()).ok()),
    }
}

fn prepare_upstream_headers(
    headers: &mut HeaderMap,
    ctx: &RequestContext,
    downstream_host: Option<HeaderValue>,
) {
    strip_hop_by_hop(headers);
    // The upstream's own authority goes in Host; the client's is kept in X-Forwarded-Host.
    headers.remove(header::HOST);
    let client_ip = ctx.client_ip_header();
    let forwarded_for = match headers.get(X_FORWARDED_FOR).map(HeaderValue::as_bytes) {
        Some(previous) if !previous.is_empty() => {
            let mut joined = Vec::with_capacity(previous.len() + 2 + client_ip.len());
            joined.extend_from_slice(previous);
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(client_ip.as_bytes());
            HeaderValue::from_bytes(&joined).unwrap_or(client_ip)
        }
        _ => client_ip,
    };
    headers.insert(X_FORWARDED_FOR, forwarded_for);
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(ctx.scheme));
    if let Some(host) = downstream_host {
        headers.insert(X_FORWARDED_HOST, host);
    }
    headers.insert(ctx.request_id_header.clone(), ctx.request_id.clone());
}

/// Removes hop-by-hop headers, including those the `Connection` header names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let mut named = Vec::new();
    for value in headers.get_all(header::CONNECTION) {
        if let Ok(list) = value.to_str() {
            for token in list.split(',') {
                if let Ok(name) = HeaderName::from_bytes(token.trim().as_bytes()) {
                    named.push(name);
                }
            }
        }
    }
    for name in named {
        headers.remove(name);
    }
    if headers.keys().any(is_hop_by_hop) {
        let hop: Vec<HeaderName> = headers
            .keys()
            .filter(|k| is_hop_by_hop(k))
            .cloned()
            .collect();
        for name in hop {
            headers.remove(name);
        }
    }
}

/// Turns an upstream client failure into the error the client sees.
fn classify(error: hyper_util::client::legacy::Error) -> GatewayError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(e) = cause {
        if e.is::<BodyTooLarge>() {
            return GatewayError::with_source(ErrorKind::PayloadTooLarge, error);
        }
        if e.is::<DownstreamBodyError>() {
            return GatewayError::with_source(ErrorKind::BadRequest, error);
        }
        cause = e.source();
    }
    GatewayError::with_source(ErrorKind::UpstreamUnreachable, error)
}
