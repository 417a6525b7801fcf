//! The client side of the admin API: one request per command, the answer
//! read into the same [`api`] types the server writes, and one line (or the
//! JSON) printed.

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::control::admin::api::{self, ErrorBody};

/// Where the admin API is and how to authenticate.
#[derive(Debug, Clone)]
pub struct AdminTarget {
    /// Base URL, e.g. `http://127.0.0.1:9901`.
    pub url: String,
    /// Bearer token, if the API has one.
    pub token: Option<String>,
}

/// Why an admin call did not succeed.
#[derive(Debug)]
pub enum CallError {
    /// The API answered with a refusal.
    Refused(u16, ErrorBody),
    /// No answer could be had (or read).
    Unreachable(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Refused(status, body) => {
                write!(f, "admin API answered {status}: {}", body.message)?;
                for detail in body.reason.iter().chain(&body.problems) {
                    write!(f, "\n  {detail}")?;
                }
                Ok(())
            }
            CallError::Unreachable(why) => f.write_str(why),
        }
    }
}

/// A request body: JSON, or raw bytes (a component).
pub enum Body {
    /// No body.
    None,
    /// A JSON document.
    Json(Vec<u8>),
    /// Bytes sent as they are.
    Raw(Vec<u8>),
}

impl Body {
    /// `value` as JSON.
    pub fn json(value: &impl Serialize) -> Body {
        Body::Json(serde_json::to_vec(value).unwrap_or_default())
    }
}

/// Sends one admin request and reads the answer as `T`.
pub fn call<T: DeserializeOwned>(
    target: &AdminTarget,
    method: Method,
    path: &str,
    body: Body,
) -> Result<T, CallError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CallError::Unreachable(format!("cannot start a runtime: {e}")))?;
    let url = format!("{}{path}", target.url.trim_end_matches('/'));
    let (content_type, bytes) = match body {
        Body::None => (None, Vec::new()),
        Body::Json(bytes) => (Some("application/json"), bytes),
        Body::Raw(bytes) => (Some("application/octet-stream"), bytes),
    };
    let mut request = Request::builder().method(method).uri(&url);
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    if let Some(token) = &target.token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request
        .body(Full::new(Bytes::from(bytes)))
        .map_err(|e| CallError::Unreachable(format!("invalid admin URL `{url}`: {e}")))?;
    runtime.block_on(async {
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let response = client.request(request).await.map_err(|e| {
            CallError::Unreachable(format!("cannot reach the admin API at {url}: {e}"))
        })?;
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| {
                CallError::Unreachable(format!("cannot read the admin API's answer: {e}"))
            })?
            .to_bytes();
        if !(200..300).contains(&status) {
            let body = serde_json::from_slice::<ErrorBody>(&bytes)
                .unwrap_or_else(|_| ErrorBody::message(String::from_utf8_lossy(&bytes)));
            return Err(CallError::Refused(status, body));
        }
        // An empty answer (204) reads as JSON `null`.
        let json: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        serde_json::from_slice(json).map_err(|e| {
            CallError::Unreachable(format!(
                "the admin API's answer is not what this turnpike expects ({e}): {}",
                String::from_utf8_lossy(&bytes)
            ))
        })
    })
}

/// Quotes a name for a URL path segment.
pub fn segment(name: &str) -> String {
    percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// One line about a stage after a change.
pub fn stage_summary(stage: &api::StageView) -> String {
    let serving = stage
        .deployment
        .as_deref()
        .unwrap_or("the configuration file");
    let mut line = format!("stage {} of {} serves {serving}", stage.stage, stage.api);
    if let Some(canary) = &stage.canary {
        line.push_str(&format!(
            "; canary {} takes {}% of requests",
            canary.deployment, canary.percent
        ));
    }
    line
}

/// An answer as indented JSON, for the list commands.
pub fn pretty(value: &impl Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}
