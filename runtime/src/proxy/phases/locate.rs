//! Phase 2: find the API and stage — a custom domain's base path mapping,
//! else the API answering the listener and `Host` and the stage its first
//! path segment names (else `$default`) — and the version serving the
//! request (the stage's deployment, or its canary for the canary's share of
//! requests — chosen once per request, so every later phase sees the same
//! one). A listener that only redirects to HTTPS answers here.

use http::request::Parts;
use http::{HeaderValue, Response, StatusCode};

use crate::body::ResponseBody;
use crate::error::{ErrorKind, GatewayError};
use crate::proxy::{Cx, Flow, Verdict};

/// Selects the API, the stage and its version. No API for the host is 404,
/// or 403 on a listener that serves custom domains (as API Gateway answers
/// an unknown domain); a base path no mapping covers is 403 too. A path no
/// stage serves is answered after the API's policy has had its say (phase
/// 4), so it is not refused here.
pub async fn run(cx: &mut Cx<'_>) -> Verdict {
    let snapshot = cx.snapshot;
    let listener = cx.conn.listener;
    if let Some(&Some(target)) = snapshot.redirects.get(listener) {
        return redirect(cx, target);
    }
    let host = if snapshot.listener_uses_hosts(listener) {
        request_host(&cx.parts)
    } else {
        None
    };
    let domains = snapshot.serves_domains(listener);
    if domains
        && let Some(domain) = host
            .as_deref()
            .and_then(|h| snapshot.domain_for(listener, h))
    {
        // A domain that requires client certificates is served only on a
        // connection whose handshake was for it and verified one (HTTP/3
        // handshakes for it carry none).
        let tls = cx.conn.tls.as_ref();
        let verified_for_it =
            tls.is_some_and(|t| t.domain == Some(domain.index) && t.client_cert.is_some());
        if domain.mtls_required && !verified_for_it {
            return Err(GatewayError::with_source(
                ErrorKind::Forbidden,
                format!(
                    "domain `{}` requires a client certificate; this connection did not present one for it",
                    domain.name
                ),
            ));
        }
        let Some((mapping, within)) = domain.map(cx.path) else {
            return Err(GatewayError::with_source(
                ErrorKind::Forbidden,
                format!("no base path mapping of `{}` covers the path", domain.name),
            ));
        };
        let api = &snapshot.apis[mapping.api];
        let stage = &api.stages[mapping.stage];
        let (version, canary) = stage.pick();
        cx.api = Some(api);
        cx.domain = Some(domain);
        cx.stage = Some((stage, within));
        cx.version = Some(version);
        cx.canary = canary;
        return Ok(Flow::Continue);
    }
    let api = snapshot.api_for(listener, host.as_deref()).ok_or_else(|| {
        if domains {
            GatewayError::with_source(
                ErrorKind::Forbidden,
                "no custom domain or API answers the host",
            )
        } else {
            GatewayError::new(ErrorKind::NotFound)
        }
    })?;
    cx.api = Some(api);
    if let Some((stage, within)) = api.stage_for(cx.path) {
        let (version, canary) = stage.pick();
        cx.stage = Some((stage, within));
        cx.version = Some(version);
        cx.canary = canary;
    }
    Ok(Flow::Continue)
}

/// `308 Permanent Redirect` to the same host, path and query on the TLS
/// listener `target`.
fn redirect(cx: &mut Cx<'_>, target: usize) -> Verdict {
    let Some(host) = request_host(&cx.parts) else {
        return Err(GatewayError::with_source(
            ErrorKind::BadRequest,
            "no Host to redirect to",
        ));
    };
    let port = cx.gateway.bound(target).map_or(443, |a| a.port());
    let authority = if port == 443 {
        host
    } else if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let path_and_query = cx.parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let location = HeaderValue::try_from(format!("https://{authority}{path_and_query}"))
        .map_err(|e| GatewayError::with_source(ErrorKind::BadRequest, e))?;
    let mut response = Response::new(ResponseBody::empty());
    *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
    response
        .headers_mut()
        .insert(http::header::LOCATION, location);
    Ok(Flow::Respond(response))
}

/// The host the client addressed, lower case and without port: the
/// request target's authority when it has one (HTTP/2's `:authority`, an
/// HTTP/1.1 absolute form, where RFC 9112 section 3.2.2 has `Host`
/// ignored), else `Host`.
pub fn request_host(parts: &Parts) -> Option<String> {
    let raw = match parts.uri.host() {
        Some(host) => host,
        None => parts.headers.get(http::header::HOST)?.to_str().ok()?,
    };
    let host = if let Some(v6) = raw.strip_prefix('[') {
        v6.split(']').next().unwrap_or(v6)
    } else {
        raw.split(':').next().unwrap_or(raw)
    };
    Some(host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use crate::proxy::testing::{Harness, request};

    const CONFIG: &str = r#"
[[apis]]
name = "shop"
hosts = ["shop.example"]
[apis.stages."$default"]
variables = { who = "default" }
[apis.stages.prod]
variables = { who = "prod" }
[[apis.routes]]
key = "GET /who"
integration = { type = "mock", body = "shop ${stageVariables.who}" }

[[apis]]
name = "fallback"
[[apis.routes]]
key = "GET /who"
integration = { type = "mock", body = "fallback" }
"#;

    #[tokio::test]
    async fn hosts_select_apis_and_prefixes_select_stages() {
        let harness = Harness::new(CONFIG);
        let cases = [
            ("shop.example", "/who", 200, "shop default"),
            ("SHOP.example:8080", "/prod/who", 200, "shop prod"),
            (
                "shop.example",
                "/staging/who",
                404,
                r#"{"message":"Not Found"}"#,
            ),
            ("other.example", "/who", 200, "fallback"),
            (
                "other.example",
                "/prod/who",
                404,
                r#"{"message":"Not Found"}"#,
            ),
        ];
        for (host, path, status, body) in cases {
            let got = harness
                .send(request("GET", path).header("host", host).body(""))
                .await;
            assert_eq!(got, (status, body.to_owned()), "{host}{path}");
        }
    }
}
