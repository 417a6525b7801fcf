//! `http_proxy`: pass the request through to an HTTP upstream, like API
//! Gateway's HTTP_PROXY integration.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{self, HeaderName, HeaderValue};
use http::request::Parts;
use http::{HeaderMap, Request, Response, Uri, Version};
use smallvec::SmallVec;

use super::{Forwarding, Measured, RequestParts, render};
use crate::body::ClientBodyError;
use crate::body::{RequestBody, ResponseBody};
use crate::config::template::Resolved;
use crate::config::{HttpProxyConfig, StageConfig};
use crate::error::{BoxError, ErrorKind, GatewayError};
use crate::upstream::{
    BodyTooLarge, Cluster, ClusterError, DownstreamBodyError, Exchange, UpstreamClient,
};
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
    /// A host fixed at load time — the URL's own, or a named upstream's
    /// targets: origin-form URI rendered from `path`, sent through the
    /// cluster (which sets `Host` to the target's).
    Cluster {
        cluster: Arc<Cluster>,
        path: Vec<Resolved>,
    },
    /// A host that depends on the request: absolute URI through the
    /// general client.
    General { url: Vec<Resolved> },
}

/// The named upstreams' clusters, by name.
pub type Clusters = std::collections::HashMap<String, Arc<Cluster>>;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

impl HttpProxy {
    /// Fills in `stage`'s variables and works out how the origin is reached.
    pub fn compile(
        config: &HttpProxyConfig,
        stage: &StageConfig,
        param_names: &[&str],
        clusters: &Clusters,
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
            target: Target::for_url(url, clusters)?,
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
        if !self.request_headers.is_empty() {
            // Every value is rendered from the client's headers before any
            // is replaced, so that one mapping cannot feed another.
            let rendered: Vec<(HeaderName, String)> = self
                .request_headers
                .iter()
                .map(|(name, pieces)| {
                    let mut text = String::new();
                    let request = RequestParts {
                        headers: Some(&parts.headers),
                        query: parts.uri.query(),
                        in_url: false,
                    };
                    render(pieces, params, forwarding.authorized, request, &mut text);
                    (name.clone(), text)
                })
                .collect();
            for (name, text) in rendered {
                if let Ok(value) = HeaderValue::try_from(text) {
                    parts.headers.insert(name, value);
                }
            }
        }
        let query = parts.uri.query();
        let (pieces, cluster) = match &self.target {
            Target::Cluster { cluster, path } => (path, Some(cluster)),
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
            match cluster {
                Some(cluster) => cluster.send(request).await,
                None => upstream
                    .send_general(request)
                    .await
                    .map(|response| Exchange {
                        response,
                        connection: None,
                        target: Arc::from(""),
                        attempts: 1,
                    })
                    .map_err(|error| ClusterError::Failed {
                        error,
                        target: None,
                        attempts: 1,
                    }),
            }
        };
        let sent = tokio::time::timeout(self.timeout, exchange).await;
        measured.latency = Some(started.elapsed());
        let Exchange {
            response,
            connection,
            target,
            attempts,
        } = match sent {
            Err(_elapsed) => {
                return Err(GatewayError::with_source(
                    ErrorKind::UpstreamTimeout,
                    format!("no response within {:?}", self.timeout),
                ));
            }
            Ok(Err(ClusterError::Overloaded(limit))) => {
                return Err(GatewayError::with_source(
                    ErrorKind::UpstreamOverloaded,
                    format!(
                        "upstream `{}` is at its {limit}",
                        cluster.map_or("", |c| c.name())
                    ),
                ));
            }
            Ok(Err(ClusterError::Failed {
                error,
                target,
                attempts,
            })) => {
                measured.upstream = target;
                measured.attempts = attempts;
                return Err(classify(error));
            }
            Ok(Ok(exchanged)) => exchanged,
        };
        if !target.is_empty() {
            measured.upstream = Some(target);
        }
        measured.attempts = attempts;
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
        let request = RequestParts {
            headers: None,
            query,
            in_url: true,
        };
        render(pieces, params, None, request, &mut url);
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
    fn for_url(url: Vec<Resolved>, clusters: &Clusters) -> Result<Target, String> {
        let Some(Resolved::Text(first)) = url.first() else {
            return Err("the URL must start with its scheme and host".into());
        };
        let (https, rest) = match (
            first.strip_prefix("http://"),
            first.strip_prefix("https://"),
        ) {
            (Some(rest), _) => (false, rest),
            (_, Some(rest)) => (true, rest),
            _ => return Ok(Target::General { url }),
        };
        // The host is fixed only if the first literal piece holds the whole authority.
        let (authority, path) = match rest.find(['/', '?']) {
            None if url.len() == 1 => (rest, vec![Resolved::Text("/".into())]),
            None => return Ok(Target::General { url }),
            Some(end) => {
                let mut path = Vec::with_capacity(url.len());
                let first_path = &rest[end..];
                if first_path.starts_with('?') {
                    path.push(Resolved::Text(format!("/{first_path}")));
                } else {
                    path.push(Resolved::Text(first_path.to_owned()));
                }
                path.extend(url.iter().skip(1).cloned());
                (&rest[..end], path)
            }
        };
        let cluster = match clusters.get(authority) {
            Some(named) => named.clone(),
            None => Arc::new(Cluster::single(authority, https)?),
        };
        Ok(Target::Cluster { cluster, path })
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
/// names, in one pass over the map (also from a Lambda-style function's
/// answer).
pub(super) fn strip_hop_by_hop(headers: &mut HeaderMap) {
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
        if let Some(DownstreamBodyError(why)) = e.downcast_ref::<DownstreamBodyError>() {
            let kind = match why {
                ClientBodyError::TimedOut(_) => ErrorKind::RequestTimeout,
                ClientBodyError::Read(_) | ClientBodyError::Http3(_) => ErrorKind::BadRequest,
            };
            return GatewayError::with_source(kind, error);
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
    fn fixed_hosts_get_a_cluster_and_origin_form_paths() {
        let none = Clusters::new();
        let target = Target::for_url(
            vec![text("http://127.0.0.1:9000/pets/"), Resolved::Param(0)],
            &none,
        )
        .expect("valid");
        match target {
            Target::Cluster { cluster, path } => {
                assert_eq!(cluster.name(), "127.0.0.1:9000");
                assert_eq!(path, vec![text("/pets/"), Resolved::Param(0)]);
            }
            other => panic!("{other:?}"),
        }
        match Target::for_url(vec![text("https://example.com")], &none).expect("valid") {
            Target::Cluster { path, .. } => assert_eq!(path, vec![text("/")]),
            other => panic!("{other:?}"),
        }
        match Target::for_url(vec![text("http://example.com?x=1")], &none).expect("valid") {
            Target::Cluster { path, .. } => assert_eq!(path, vec![text("/?x=1")]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn request_dependent_hosts_use_the_general_client() {
        assert!(matches!(
            Target::for_url(
                vec![text("http://"), Resolved::Param(0), text(".example.com/")],
                &Clusters::new()
            ),
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
