//! The client side of the admin API, for the `turnpike plugin push|list|rm`
//! commands: one request, a JSON answer.

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// Where the admin API is and how to authenticate.
#[derive(Debug, Clone)]
pub struct AdminTarget {
    /// Base URL, e.g. `http://127.0.0.1:9901`.
    pub url: String,
    /// Bearer token, if the API has one.
    pub token: Option<String>,
}

/// Sends one admin request; returns the status and the JSON body, or a
/// message saying why the call could not be made.
pub fn call(
    target: &AdminTarget,
    method: Method,
    path: &str,
    body: Vec<u8>,
) -> Result<(u16, Value), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    let url = format!("{}{path}", target.url.trim_end_matches('/'));
    let mut request = Request::builder()
        .method(method)
        .uri(&url)
        .header(header::CONTENT_TYPE, "application/octet-stream");
    if let Some(token) = &target.token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("invalid admin URL `{url}`: {e}"))?;
    runtime.block_on(async {
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let response = client
            .request(request)
            .await
            .map_err(|e| format!("cannot reach the admin API at {url}: {e}"))?;
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("cannot read the admin API's answer: {e}"))?
            .to_bytes();
        let json = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| serde_json::json!({"message": String::from_utf8_lossy(&bytes)}));
        Ok((status, json))
    })
}
