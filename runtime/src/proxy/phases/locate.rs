//! Phase 2: find the API (listener and `Host`), the stage (the first path
//! segment, else `$default`) and the version serving the request (the
//! stage's deployment, or its canary for the canary's share of requests —
//! chosen once per request, so every later phase sees the same one).

use http::request::Parts;

use crate::error::{ErrorKind, GatewayError};
use crate::proxy::{Cx, Flow, Verdict};

/// Selects the API, the stage and its version; 404 when no API answers
/// the host. A path no stage serves is answered after the API's policy has
/// had its say (phase 4), so it is not refused here.
pub async fn run(cx: &mut Cx<'_>) -> Verdict {
    let snapshot = cx.snapshot;
    let host = if snapshot.listener_uses_hosts(cx.conn.listener) {
        request_host(&cx.parts)
    } else {
        None
    };
    let api = snapshot
        .api_for(cx.conn.listener, host.as_deref())
        .ok_or_else(|| GatewayError::new(ErrorKind::NotFound))?;
    cx.api = Some(api);
    if let Some((stage, within)) = api.stage_for(cx.path) {
        let (version, canary) = stage.pick();
        cx.stage = Some((stage, within));
        cx.version = Some(version);
        cx.canary = canary;
    }
    Ok(Flow::Continue)
}

/// The host the client addressed, lower case and without port.
pub fn request_host(parts: &Parts) -> Option<String> {
    let raw = match parts.headers.get(http::header::HOST) {
        Some(h) => h.to_str().ok()?,
        None => parts.uri.host()?,
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
