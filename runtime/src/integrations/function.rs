//! `function`: a `wasi:http/proxy` component serves the route, like API
//! Gateway's Lambda proxy integration.
//!
//! The component receives the request as it arrived (method, path, query,
//! headers, body), plus what the gateway knows, as headers:
//! `x-turnpike-route-key`, `x-turnpike-stage`, `x-turnpike-path-NAME` per path
//! parameter, `x-turnpike-stage-variable-NAME` per stage variable, and from
//! an allowing authorizer `x-turnpike-principal-id` and
//! `x-turnpike-context-KEY`. Client-sent `x-turnpike-*` headers are dropped.

use std::sync::Arc;
use std::time::Instant;

use http::request::Parts;
use http::{HeaderName, HeaderValue, Request, Response};

use super::{Forwarding, Measured};
use crate::body::{RequestBody, ResponseBody};
use crate::config::StageConfig;
use crate::error::{ErrorKind, GatewayError};
use crate::plugin::FunctionPlugin;

/// A `function` integration compiled for one stage.
pub struct Function {
    plugin: Arc<FunctionPlugin>,
    /// `x-turnpike-path-NAME`, in the route key's parameter order.
    param_headers: Vec<HeaderName>,
    /// Route key, stage and stage variables, ready to add.
    fixed_headers: Vec<(HeaderName, HeaderValue)>,
}

impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Function")
            .field("plugin", &self.plugin.name())
            .finish()
    }
}

fn gateway_header(suffix: &str) -> Result<HeaderName, String> {
    HeaderName::try_from(format!("x-turnpike-{}", suffix.to_ascii_lowercase()))
        .map_err(|_| format!("`{suffix}` cannot be part of a header name"))
}

impl Function {
    /// Prepares the headers the component receives on `stage` for a route
    /// with `param_names`.
    pub fn compile(
        plugin: Arc<FunctionPlugin>,
        stage: &StageConfig,
        route_key: &str,
        param_names: &[&str],
    ) -> Result<Function, String> {
        let param_headers = param_names
            .iter()
            .map(|n| gateway_header(&format!("path-{n}")))
            .collect::<Result<_, _>>()?;
        let value = |v: &str| {
            HeaderValue::try_from(v).map_err(|_| format!("`{v}` cannot be a header value"))
        };
        let mut fixed_headers = vec![
            (gateway_header("route-key")?, value(route_key)?),
            (gateway_header("stage")?, value(stage.name.as_str())?),
        ];
        for (name, v) in &stage.variables {
            fixed_headers.push((
                gateway_header(&format!("stage-variable-{name}"))?,
                value(v)?,
            ));
        }
        Ok(Function {
            plugin,
            param_headers,
            fixed_headers,
        })
    }

    /// Serves the request from a fresh instance of the component.
    pub async fn invoke(
        &self,
        forwarding: Forwarding<'_>,
        mut parts: Parts,
        body: Option<RequestBody>,
        params: &[&str],
        measured: &mut Measured,
    ) -> Result<Response<ResponseBody>, GatewayError> {
        super::apply_gateway_headers(&mut parts.headers, &forwarding);
        for (name, value) in &self.fixed_headers {
            parts.headers.insert(name.clone(), value.clone());
        }
        for (name, value) in self.param_headers.iter().zip(params) {
            if let Ok(value) = HeaderValue::try_from(*value) {
                parts.headers.insert(name.clone(), value);
            }
        }
        parts.headers.insert(
            forwarding.request_id_header.clone(),
            forwarding.request_id.clone(),
        );
        if let Some(path) = forwarding.mapped_path {
            let query = parts
                .uri
                .query()
                .map(|q| format!("?{q}"))
                .unwrap_or_default();
            parts.uri = format!("{path}{query}")
                .parse()
                .map_err(|e| GatewayError::with_source(ErrorKind::PluginFailed, e))?;
        }
        let request =
            Request::from_parts(parts, RequestBody::forward(body, forwarding.max_body_bytes));
        let request_id = forwarding.request_id.to_str().unwrap_or_default();
        let started = Instant::now();
        let served = self.plugin.serve(request_id, request).await;
        measured.latency = Some(started.elapsed());
        let response = served.map_err(|failure| {
            tracing::error!(plugin = %failure.plugin, error = %failure, "function failed");
            GatewayError::with_source(ErrorKind::PluginFailed, failure)
        })?;
        measured.status = Some(response.status());
        Ok(response.map(ResponseBody::wasi))
    }
}
