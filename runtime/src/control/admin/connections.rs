//! `@connections`: API Gateway's management API for WebSocket
//! connections, on the admin listener. `POST /@connections/ID` sends the
//! body to the client (a text message if it is UTF-8, else binary), `GET`
//! describes the connection, `DELETE` closes it; `410 Gone` (API Gateway's
//! `GoneException`) for a connection that is not open. The stage may be
//! given as API Gateway's URLs have it: `/STAGE/@connections/ID`.

use bytes::Bytes;
use http::{Method, StatusCode, header};

use super::api::{ConnectionIdentity, ConnectionInfo};
use super::{Answer, respond};
use crate::control::Gateway;
use crate::control::connections::{CLOSE_DELETED, PushError};

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

/// Serves one `@connections` call; `body` is read for `POST` only.
pub fn handle(
    gateway: &Gateway,
    method: &Method,
    stage: Option<&str>,
    id: &str,
    body: Bytes,
) -> Answer {
    let found = gateway
        .connections()
        .get(id)
        .filter(|c| !c.is_closing() && stage.is_none_or(|s| s == c.stage));
    let Some(conn) = found else {
        return gone(id);
    };
    match *method {
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
    }
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
