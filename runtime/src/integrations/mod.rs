//! What serves a route once it has been matched and admitted.

mod function;
mod http_proxy;
mod mock;
pub mod upstream;

pub use function::Function;
pub use http_proxy::HttpProxy;
pub use mock::Mock;
pub use upstream::UpstreamClient;

use crate::body::RequestBody;
use http::Response;
use http::request::Parts;

use crate::body::ResponseBody;
use crate::config::{IntegrationConfig, StageConfig};
use crate::error::GatewayError;
use crate::pipeline::RequestContext;

/// An integration compiled for one stage: stage variables already filled in.
#[derive(Debug)]
pub enum Integration {
    /// `http_proxy`.
    HttpProxy(HttpProxy),
    /// `mock`.
    Mock(Mock),
    /// `function`.
    Function(Function),
}

impl Integration {
    /// Compiles `config` for `stage`; `param_names` are the route's path parameters.
    pub fn compile(
        config: &IntegrationConfig,
        stage: &StageConfig,
        param_names: &[&str],
    ) -> Result<Integration, String> {
        Ok(match config {
            IntegrationConfig::HttpProxy(c) => {
                Integration::HttpProxy(HttpProxy::compile(c, stage, param_names)?)
            }
            IntegrationConfig::Mock(c) => Integration::Mock(Mock::compile(c, stage, param_names)?),
            // Needs the loaded plugin: built by the snapshot.
            IntegrationConfig::Function { .. } => {
                return Err("a function integration is compiled with its plugin".into());
            }
        })
    }

    /// Serves the request.
    pub async fn invoke(
        &self,
        upstream: &UpstreamClient,
        ctx: &mut RequestContext,
        parts: Parts,
        body: &mut Option<RequestBody>,
        params: &[&str],
    ) -> Result<Response<ResponseBody>, GatewayError> {
        match self {
            Integration::HttpProxy(p) => p.invoke(upstream, ctx, parts, body.take(), params).await,
            Integration::Mock(m) => Ok(m.respond(params)),
            Integration::Function(f) => f.invoke(ctx, parts, body.take(), params).await,
        }
    }
}

/// Drops client-sent `x-turnpike-*` headers (the prefix belongs to the
/// gateway, so a client cannot forge what an authorizer said) and adds the
/// authorizer's principal and context.
pub(crate) fn apply_gateway_headers(headers: &mut http::HeaderMap, ctx: &RequestContext) {
    use http::{HeaderName, HeaderValue};
    use smallvec::SmallVec;
    if headers
        .keys()
        .any(|k| k.as_str().starts_with(GATEWAY_PREFIX))
    {
        let forged: SmallVec<[HeaderName; 4]> = headers
            .keys()
            .filter(|k| k.as_str().starts_with(GATEWAY_PREFIX))
            .cloned()
            .collect();
        for name in forged {
            headers.remove(name);
        }
    }
    if let Some(authorized) = &ctx.authorized {
        if let Ok(value) = HeaderValue::try_from(authorized.principal_id.as_str()) {
            headers.insert(PRINCIPAL_HEADER, value);
        }
        for (key, value) in &authorized.context {
            let name = format!("{GATEWAY_PREFIX}context-{}", key.to_ascii_lowercase());
            if let (Ok(name), Ok(value)) = (
                HeaderName::try_from(name),
                HeaderValue::try_from(value.as_str()),
            ) {
                headers.insert(name, value);
            }
        }
    }
}

/// Prefix of the headers the gateway adds for the upstream.
pub(crate) const GATEWAY_PREFIX: &str = "x-turnpike-";
/// The authorizer's principal id.
const PRINCIPAL_HEADER: http::HeaderName = http::HeaderName::from_static("x-turnpike-principal-id");

/// Renders resolved template pieces with the request's path parameter values.
pub(crate) fn render(
    pieces: &[crate::config::template::Resolved],
    params: &[&str],
    out: &mut String,
) {
    use crate::config::template::Resolved;
    for piece in pieces {
        match piece {
            Resolved::Text(t) => out.push_str(t),
            Resolved::Param(i) => out.push_str(params.get(*i).copied().unwrap_or("")),
        }
    }
}
