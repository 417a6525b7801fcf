//! What serves a route once it has been matched and admitted.

mod http_proxy;
mod mock;
pub mod upstream;

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
        }
    }
}

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
