//! Authorizer plugins: components of the `authorizer` world.

use wasmtime::Store;
use wasmtime::component::InstancePre;

use super::PluginError;
use super::host::HostState;
use super::instances::{Plugin, World};

/// Host bindings of the `authorizer` world, generated from `wit/`.
#[allow(missing_docs, clippy::all)]
pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "turnpike:gateway/authorizer",
        imports: { "turnpike:gateway/outbound-http.send": async },
        exports: { default: async },
    });
}

pub use bindings::exports::turnpike::gateway::authorize::{
    Allow, AuthorizationRequest as AuthorizeInput, Decision,
};
pub use bindings::turnpike::gateway::types::RequestInfo;

/// A loaded authorizer.
pub type AuthorizerPlugin = Plugin<bindings::Authorizer>;

impl World for bindings::Authorizer {
    type Pre = bindings::AuthorizerPre<HostState>;
    const NAME: &'static str = "authorizer";

    fn pre(instance: InstancePre<HostState>) -> wasmtime::Result<Self::Pre> {
        bindings::AuthorizerPre::new(instance)
    }

    async fn instantiate(pre: &Self::Pre, store: &mut Store<HostState>) -> wasmtime::Result<Self> {
        pre.instantiate_async(store).await
    }
}

impl Plugin<bindings::Authorizer> {
    /// Asks the plugin for a decision.
    pub async fn authorize(
        &self,
        request_id: &str,
        input: &AuthorizeInput,
    ) -> Result<Decision, PluginError> {
        let mut lease = self.lease(request_id).await?;
        let outcome = lease
            .instance
            .turnpike_gateway_authorize()
            .call_authorize(&mut lease.store, input)
            .await;
        self.finish(lease, outcome)
    }
}
