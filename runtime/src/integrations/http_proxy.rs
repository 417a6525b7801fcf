//! `http_proxy`: pass the request through to an HTTP upstream, like API
//! Gateway's HTTP_PROXY integration.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{self, HeaderName, HeaderValue};
use http::request::Parts;
use http::{HeaderMap, Request, Response, Uri, Version};
use smallvec::SmallVec;

use super::{Forwarding, Measured, render};
use crate::body::{RequestBody, ResponseBody};
use crate::config::template::Resolved;
use crate::config::{HttpProxyConfig, StageConfig};
use crate::error::{BoxError, ErrorKind, GatewayError};
use crate::upstream::{BodyTooLarge, DownstreamBodyError, Origin, UpstreamClient};
use crate::util::headers::is_hop_by_hop;

/// An `http_proxy` integration compiled for one stage.
#[derive(Debug)]
pub struct HttpProxy {
    target: Target,
    url_has_query: bool,
    timeout: Duration,
    request_headers: Vec<(HeaderName, Vec<Resolved>)>,
}

/// How the upstream request is addressed.
#[derive(Debug)]
enum Target {
    /// A plain-HTTP origin fixed at load time: pooled connection, origin-form
    /// URI rendered from `path`, `Host` set to `host`.
    Pooled {
        origin: Origin,
        host: HeaderValue,
        path: Vec<Resolved>,
    },
    /// https, or an origin that depends on the request: absolute URI
    /// through the general client.
    General { url: Vec<Resolved> },
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

impl HttpProxy {
    /// Fills in `stage`'s variables and works out how the origin is reached.
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
            target: Target::for_url(url)?,
            url_has_query,
            timeout: config.timeout,
            request_headers,
        })
    }

    /// Sends the request upstream and streams the answer back.
    pub async fn invoke(
        &self,
        upstream: &UpstreamClient,
        forwarding: Forwarding<'_>,
        mut parts: Parts,
        body: Option<RequestBody>,
        params: &[&str],
        measured: &mut Measured,
    ) -> Result<Response<ResponseBody>, GatewayError> {
        let downstream_host = downstream_host(&parts);
        prepare_upstream_headers(&mut parts.headers, &forwarding, downstream_host);
        for (name, pieces) in &self.request_headers {
            let mut text = String::new();
            render(pieces, params, &mut text);
            if let Ok(value) = HeaderValue::try_from(text) {
                parts.headers.insert(name.clone(), value);
            }
        }
        let query = parts.uri.query();
        let (pieces, pooled) = match &self.target {
            Target::Pooled { origin, host, path } => {
                parts.headers.insert(header::HOST, host.clone());
                (path, Some(origin))
            }
            Target::General { url } => (url, None),
        };
        // A request mapper may have chosen the query and the path.
        let query = match forwarding.mapped_query {
            Some(mapped) => Some(mapped).filter(|q| !q.is_empty()),
            None => query,
        };
        parts.uri = self.render_uri(pieces, params, query)?;
        if let Some(path) = forwarding.mapped_path {
            parts.uri = replace_path(parts.uri, path)?;
        }
        parts.version = Version::HTTP_11;
        parts.extensions = http::Extensions::new();
        let request =
            Request::from_parts(parts, RequestBody::forward(body, forwarding.max_body_bytes));

        let started = Instant::now();
        let exchange = async {
            match pooled {
                Some(origin) => upstream
                    .send_pooled(origin, request)
                    .await
                    .map(|(response, connection)| (response, Some(connection))),
                None => upstream.send_general(request).await.map(|r| (r, None)),
            }
        };
        let sent = tokio::time::timeout(self.timeout, exchange).await;
        measured.latency = Some(started.elapsed());
        let (response, connection) = match sent {
            Err(_elapsed) => {
                return Err(GatewayError::with_source(
                    ErrorKind::UpstreamTimeout,
                    format!("no response within {:?}", self.timeout),
                ));
            }
            Ok(Err(e)) => return Err(classify(e)),
            Ok(Ok(exchanged)) => exchanged,
        };
        measured.status = Some(response.status());
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        let body = match connection {
            Some(connection) => ResponseBody::pooled(body, connection),
            None => ResponseBody::upstream(body),
        };
        Ok(Response::from_parts(parts, body))
    }

    fn render_uri(
        &self,
        pieces: &[Resolved],
        params: &[&str],
        query: Option<&str>,
    ) -> Result<Uri, GatewayError> {
        let mut url = String::with_capacity(64 + query.map_or(0, str::len));
        render(pieces, params, &mut url);
        if let Some(query) = query {
            url.push(if self.url_has_query { '&' } else { '?' });
            url.push_str(query);
        }
        Uri::try_from(url).map_err(|e| GatewayError::with_source(ErrorKind::BadRequest, e))
    }
}

/// Replaces `uri`'s path, keeping its scheme, authority and query.
fn replace_path(uri: Uri, path: &str) -> Result<Uri, GatewayError> {
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut parts = uri.into_parts();
    parts.path_and_query = Some(
        path_and_query
            .parse()
            .map_err(|e| GatewayError::with_source(ErrorKind::PluginFailed, e))?,
    );
    Uri::from_parts(parts).map_err(|e| GatewayError::with_source(ErrorKind::PluginFailed, e))
}

impl Target {
    fn for_url(url: Vec<Resolved>) -> Result<Target, String> {
        let Some(Resolved::Text(first)) = url.first() else {
            return Err("the URL must start with its scheme and host".into());
        };
        let Some(rest) = first.strip_prefix("http://") else {
            return Ok(Target::General { url });
        };
        // The origin is fixed only if the first literal piece holds the whole authority.
        let Some(end) = rest.find(['/', '?']) else {
            if url.len() == 1 {
                return Target::pooled(rest, vec![Resolved::Text("/".into())]);
            }
            return Ok(Target::General { url });
        };
        let authority = &rest[..end];
        let mut path = Vec::with_capacity(url.len());
        let first_path = &rest[end..];
        if first_path.starts_with('?') {
            path.push(Resolved::Text(format!("/{first_path}")));
        } else {
            path.push(Resolved::Text(first_path.to_owned()));
        }
        path.extend(url.iter().skip(1).cloned());
        Target::pooled(authority, path)
    }

    fn pooled(authority: &str, path: Vec<Resolved>) -> Result<Target, String> {
        let parsed: http::uri::Authority = authority
            .parse()
            .map_err(|e| format!("`{authority}` is not a valid host ({e})"))?;
        let port = parsed.port_u16().unwrap_or(80);
        let host = HeaderValue::try_from(authority)
            .map_err(|_| format!("`{authority}` is not a valid Host header"))?;
        Ok(Target::Pooled {
            origin: Origin {
                authority: Arc::from(format!("{}:{port}", parsed.host())),
            },
            host,
            path,
        })
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
    forwarding: &Forwarding<'_>,
    downstream_host: Option<HeaderValue>,
) {
    strip_hop_by_hop(headers);
    // The upstream's own authority goes in Host; the client's is kept in X-Forwarded-Host.
    headers.remove(header::HOST);
    let client_ip = forwarding.client_ip.clone();
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
    headers.insert(
        X_FORWARDED_PROTO,
        HeaderValue::from_static(forwarding.scheme),
    );
    if let Some(host) = downstream_host {
        headers.insert(X_FORWARDED_HOST, host);
    }
    headers.insert(
        forwarding.request_id_header.clone(),
        forwarding.request_id.clone(),
    );
    super::apply_gateway_headers(headers, forwarding);
}

/// Removes hop-by-hop headers, including those the `Connection` header
/// names, in one pass over the map.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let mut doomed: SmallVec<[HeaderName; 4]> = SmallVec::new();
    for (name, value) in headers.iter() {
        if !is_hop_by_hop(name) {
            continue;
        }
        if !doomed.contains(name) {
            doomed.push(name.clone());
        }
        if name == header::CONNECTION
            && let Ok(list) = value.to_str()
        {
            for token in list.split(',').map(str::trim) {
                if token.is_empty()
                    || token.eq_ignore_ascii_case("close")
                    || token.eq_ignore_ascii_case("keep-alive")
                {
                    continue;
                }
                if let Ok(named) = HeaderName::from_bytes(token.as_bytes())
                    && !doomed.contains(&named)
                {
                    doomed.push(named);
                }
            }
        }
    }
    for name in doomed {
        headers.remove(name);
    }
}

/// Turns an upstream exchange failure into the error the client sees.
fn classify(error: BoxError) -> GatewayError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error.as_ref());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Resolved {
        Resolved::Text(s.into())
    }

    #[test]
    fn plain_http_origins_are_pooled_with_origin_form_paths() {
        let target = Target::for_url(vec![
            text("http://127.0.0.1:9000/pets/"),
            Resolved::Param(0),
        ])
        .expect("valid");
        match target {
            Target::Pooled { origin, host, path } => {
                assert_eq!(&*origin.authority, "127.0.0.1:9000");
                assert_eq!(host, "127.0.0.1:9000");
                assert_eq!(path, vec![text("/pets/"), Resolved::Param(0)]);
            }
            other => panic!("{other:?}"),
        }
        match Target::for_url(vec![text("http://example.com")]).expect("valid") {
            Target::Pooled { origin, host, path } => {
                assert_eq!(&*origin.authority, "example.com:80");
                assert_eq!(host, "example.com");
                assert_eq!(path, vec![text("/")]);
            }
            other => panic!("{other:?}"),
        }
        match Target::for_url(vec![text("http://example.com?x=1")]).expect("valid") {
            Target::Pooled { path, .. } => assert_eq!(path, vec![text("/?x=1")]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn https_and_request_dependent_hosts_use_the_general_client() {
        assert!(matches!(
            Target::for_url(vec![text("https://example.com/")]),
            Ok(Target::General { .. })
        ));
        assert!(matches!(
            Target::for_url(vec![
                text("http://"),
                Resolved::Param(0),
                text(".example.com/")
            ]),
            Ok(Target::General { .. })
        ));
    }

    #[test]
    fn hop_by_hop_headers_go_in_one_pass() {
        let mut headers = HeaderMap::new();
        for (n, v) in [
            ("connection", "keep-alive, x-secret"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("te", "trailers"),
            ("x-kept", "yes"),
            ("transfer-encoding", "chunked"),
        ] {
            headers.append(HeaderName::from_static(n), HeaderValue::from_static(v));
        }
        strip_hop_by_hop(&mut headers);
        let left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, vec!["x-kept"]);
    }
}
