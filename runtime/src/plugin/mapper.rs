//! Mapper plugins: components of the `mapper` world.

use wasmtime::Store;
use wasmtime::component::InstancePre;

use super::PluginError;
use super::host::HostState;
use super::instances::{Plugin, World};

/// Host bindings of the `mapper` world, generated from `wit/`; the
/// interfaces it shares with the authorizer world reuse those bindings.
#[allow(missing_docs, clippy::all)]
pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "turnpike:gateway/mapper",
        exports: { default: async },
        with: {
            "turnpike:gateway/types": crate::plugin::authorizer::bindings::turnpike::gateway::types,
            "turnpike:gateway/log": crate::plugin::authorizer::bindings::turnpike::gateway::log,
            "turnpike:gateway/config": crate::plugin::authorizer::bindings::turnpike::gateway::config,
            "turnpike:gateway/outbound-http": crate::plugin::authorizer::bindings::turnpike::gateway::outbound_http,
        },
    });
}

pub use bindings::exports::turnpike::gateway::mapping::{
    HttpRequest, HttpResponse, RequestOutcome,
};

/// A loaded mapper.
pub type MapperPlugin = Plugin<bindings::Mapper>;

impl World for bindings::Mapper {
    type Pre = bindings::MapperPre<HostState>;
    const NAME: &'static str = "mapper";

    fn pre(instance: InstancePre<HostState>) -> wasmtime::Result<Self::Pre> {
        bindings::MapperPre::new(instance)
    }

    async fn instantiate(pre: &Self::Pre, store: &mut Store<HostState>) -> wasmtime::Result<Self> {
        pre.instantiate_async(store).await
    }
}

impl Plugin<bindings::Mapper> {
    /// Maps a request before the integration.
    pub async fn map_request(
        &self,
        info: &super::RequestInfo,
        context: &[(String, String)],
        request: &HttpRequest,
    ) -> Result<RequestOutcome, PluginError> {
        let mut lease = self.lease(&info.request_id).await?;
        let outcome = lease
            .instance
            .turnpike_gateway_mapping()
            .call_map_request(&mut lease.store, info, context, request)
            .await;
        self.finish(lease, outcome)
    }

    /// Maps the integration's response.
    pub async fn map_response(
        &self,
        info: &super::RequestInfo,
        context: &[(String, String)],
        response: &HttpResponse,
    ) -> Result<HttpResponse, PluginError> {
        let mut lease = self.lease(&info.request_id).await?;
        let outcome = lease
            .instance
            .turnpike_gateway_mapping()
            .call_map_response(&mut lease.store, info, context, response)
            .await;
        self.finish(lease, outcome)
    }
}
