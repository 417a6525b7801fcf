//! `@connections`: API Gateway's management API for WebSocket
//! connections, on the admin listener. `POST /@connections/ID` sends the
//! body to the client (a text message if it is UTF-8, else binary), `GET`
//! describes the connection, `DELETE` closes it; `410 Gone` (API Gateway's
//! `GoneException`) for a connection that is not open. The stage may be
//! given as API Gateway's URLs have it: `/STAGE/@connections/ID`.

use bytes::Bytes;
use http::{Method, StatusCode, header};

use std::sync::Arc;

use futures_util::FutureExt;
use http::Response;
use http_body_util::{BodyExt, Full};

use super::api::{ConnectionIdentity, ConnectionInfo};
use super::{Answer, respond};
use crate::control::cluster::relay::LocalHandler;
use crate::control::connections::{CLOSE_DELETED, PushError};
use crate::control::{Control, Gateway};

/// Largest message `POST @connections` sends, as API Gateway's 128 KB.
pub const MAX_POST_BYTES: usize = 128 * 1024;

/// Splits `/STAGE/@connections/ID` (or `/@connections/ID`) into the stage
/// and the id, percent-decoded (SDKs encode ids' `=` and `-`).
pub fn parse(path: &str) -> Option<(Option<&str>, String)> {
    let (before, id) = path.split_once("/@connections/")?;
    if id.is_empty() || id.contains('/') {
        return None;
    }
    let stage = before
        .strip_prefix('/')
        .filter(|s| !s.is_empty() && !s.contains('/'));
    if !before.is_empty() && stage.is_none() {
        return None;
    }
    let id = percent_encoding::percent_decode_str(id)
        .decode_utf8()
        .ok()?
        .into_owned();
    Some((stage, id))
}

/// Serves one `@connections` call; `body` is read for `POST` only. A
/// connection another node of the fleet holds is reached through the
/// cluster's relay.
pub async fn handle(
    gateway: &Gateway,
    method: &Method,
    stage: Option<&str>,
    id: &str,
    body: Bytes,
) -> Answer {
    if let Some(answer) = local(gateway, method, stage, id, body.clone()) {
        return answer;
    }
    let Some(relay) = gateway.relay() else {
        return gone(id);
    };
    match relay.call(method.as_str(), stage, id, body).await {
        Ok(Some((status, body))) => {
            let mut answer = Response::new(Full::new(body.clone()));
            *answer.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            if !body.is_empty() {
                answer.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("application/json"),
                );
            }
            answer
        }
        Ok(None) => gone(id),
        Err(error) => super::refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "connection `{id}` is not on this node and the other nodes cannot be asked: {error}"
            ),
        ),
    }
}

/// The call answered by a connection this node holds; `None` when it
/// holds none by that id.
pub fn local(
    gateway: &Gateway,
    method: &Method,
    stage: Option<&str>,
    id: &str,
    body: Bytes,
) -> Option<Answer> {
    let found = gateway
        .connections()
        .get(id)
        .filter(|c| !c.is_closing() && stage.is_none_or(|s| s == c.stage));
    let conn = found?;
    Some(match *method {
        Method::POST => {
            let text = std::str::from_utf8(&body).is_ok();
            match conn.push(body, text) {
                Ok(()) => respond(StatusCode::OK, &serde_json::json!({})),
                Err(PushError::Gone) => gone(id),
                Err(PushError::SlowReader) => {
                    tracing::info!(
                        connection_id = id,
                        "closing a WebSocket client that does not read (send queue full)"
                    );
                    gone(id)
                }
            }
        }
        Method::GET => respond(
            StatusCode::OK,
            &ConnectionInfo {
                connected_at: humantime::format_rfc3339_millis(conn.connected_at).to_string(),
                last_active_at: humantime::format_rfc3339_millis(conn.last_active()).to_string(),
                identity: ConnectionIdentity {
                    source_ip: conn.source_ip.to_string(),
                    user_agent: conn.user_agent.clone(),
                },
                api: conn.api.clone(),
                stage: conn.stage.clone(),
            },
        ),
        Method::DELETE => {
            conn.close(CLOSE_DELETED);
            let mut answer = respond(StatusCode::NO_CONTENT, &());
            *answer.body_mut() = http_body_util::Full::new(Bytes::new());
            answer.headers_mut().remove(header::CONTENT_TYPE);
            answer
        }
        _ => super::method_not_allowed("GET, POST, DELETE"),
    })
}

/// Answers relayed calls for the connections this node holds.
pub fn relay_handler(control: Arc<Control>) -> LocalHandler {
    Arc::new(move |method, stage, id, body| {
        let method = Method::from_bytes(method.as_bytes()).ok()?;
        let answer = local(control.gateway(), &method, stage, id, body)?;
        let status = answer.status().as_u16();
        // A `Full` body is ready at once.
        let body = answer
            .into_body()
            .collect()
            .now_or_never()
            .and_then(Result::ok)
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        Some((status, body))
    })
}

/// API Gateway's `410 Gone`, `GoneException`.
fn gone(id: &str) -> Answer {
    let mut answer = super::refuse(
        StatusCode::GONE,
        format!("no open WebSocket connection `{id}`"),
    );
    answer.headers_mut().insert(
        "x-amzn-errortype",
        header::HeaderValue::from_static("GoneException"),
    );
    answer
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn paths_name_an_id_and_perhaps_a_stage() {
        assert_eq!(parse("/@connections/abc"), Some((None, "abc".to_owned())));
        assert_eq!(
            parse("/prod/@connections/a%2Db%3D"),
            Some((Some("prod"), "a-b=".to_owned()))
        );
        assert_eq!(parse("/a/b/@connections/abc"), None);
        assert_eq!(parse("/@connections/"), None);
        assert_eq!(parse("/@connections/a/b"), None);
    }
}
