//! `mock`: a response from config, like API Gateway's MOCK integration.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode};

use crate::body::ResponseBody;
use crate::config::template::Resolved;
use crate::config::{MockConfig, StageConfig};

/// What mock bodies and headers read of the client's request.
fn request_parts(request: &http::request::Parts) -> super::RequestParts<'_> {
    super::RequestParts {
        headers: Some(&request.headers),
        query: request.uri.query(),
        in_url: false,
    }
}

/// A mock integration compiled for one stage.
#[derive(Debug)]
pub struct Mock {
    status: StatusCode,
    headers: HeaderMap,
    /// Headers whose value depends on path parameters.
    param_headers: Vec<(http::HeaderName, Vec<Resolved>)>,
    body: MockBody,
}

#[derive(Debug)]
enum MockBody {
    Fixed(Bytes),
    WithParams(Vec<Resolved>),
}

impl Mock {
    /// Fills in `stage`'s variables; whatever needs no path parameter is rendered now.
    pub fn compile(
        config: &MockConfig,
        stage: &StageConfig,
        param_names: &[&str],
    ) -> Result<Mock, String> {
        let mut headers = HeaderMap::new();
        let mut param_headers = Vec::new();
        for (name, template) in &config.headers {
            let resolved = template.resolve(&stage.variables, param_names.iter().copied())?;
            match resolved.as_slice() {
                [] => {
                    headers.append(name.clone(), HeaderValue::from_static(""));
                }
                [Resolved::Text(t)] => {
                    let value = HeaderValue::try_from(t.as_str()).map_err(|_| {
                        format!("header `{name}`: `{t}` is not a valid header value")
                    })?;
                    headers.append(name.clone(), value);
                }
                _ => param_headers.push((name.clone(), resolved)),
            }
        }
        let body = config
            .body
            .resolve(&stage.variables, param_names.iter().copied())?;
        let body = match body.as_slice() {
            [] => MockBody::Fixed(Bytes::new()),
            [Resolved::Text(t)] => MockBody::Fixed(Bytes::from(t.clone())),
            _ => MockBody::WithParams(body),
        };
        Ok(Mock {
            status: config.status,
            headers,
            param_headers,
            body,
        })
    }

    /// The configured response, with path parameters filled in.
    pub fn respond(
        &self,
        params: &[&str],
        authorized: Option<&crate::auth::Authorized>,
        request: &http::request::Parts,
    ) -> Response<ResponseBody> {
        let body = match &self.body {
            MockBody::Fixed(b) => b.clone(),
            MockBody::WithParams(pieces) => {
                let mut text = String::new();
                super::render(
                    pieces,
                    params,
                    authorized,
                    request_parts(request),
                    &mut text,
                );
                Bytes::from(text)
            }
        };
        let mut response = Response::new(ResponseBody::full(body));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers.clone();
        for (name, pieces) in &self.param_headers {
            let mut text = String::new();
            super::render(
                pieces,
                params,
                authorized,
                request_parts(request),
                &mut text,
            );
            if let Ok(value) = HeaderValue::try_from(text) {
                response.headers_mut().append(name.clone(), value);
            }
        }
        response
    }
}
