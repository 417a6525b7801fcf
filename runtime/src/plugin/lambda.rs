//! Lambda-style plugins: components of the `lambda` world, whose shim calls
//! a handler written for AWS Lambda with API Gateway's event JSON. What the
//! JSON holds is built and read in the `lambda` module; this file only invokes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wasmtime::Store;
use wasmtime::component::InstancePre;

use super::PluginError;
use super::host::HostState;
use super::instances::{Plugin, World};

/// Host bindings of the `lambda` world, generated from `wit/`; the
/// interfaces it shares with the authorizer world reuse those bindings.
#[allow(missing_docs, clippy::all)]
pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "turnpike:gateway/lambda",
        exports: { default: async },
        with: {
            "turnpike:gateway/types": crate::plugin::authorizer::bindings::turnpike::gateway::types,
            "turnpike:gateway/log": crate::plugin::authorizer::bindings::turnpike::gateway::log,
            "turnpike:gateway/config": crate::plugin::authorizer::bindings::turnpike::gateway::config,
            "turnpike:gateway/outbound-http": crate::plugin::authorizer::bindings::turnpike::gateway::outbound_http,
        },
    });
}

pub use bindings::exports::turnpike::gateway::lambda_handler::HandlerError;
use bindings::exports::turnpike::gateway::lambda_handler::InvocationContext;

/// A loaded Lambda-style handler.
pub type LambdaPlugin = Plugin<bindings::Lambda>;

impl World for bindings::Lambda {
    type Pre = bindings::LambdaPre<HostState>;
    const NAME: &'static str = "lambda";

    fn pre(instance: InstancePre<HostState>) -> wasmtime::Result<Self::Pre> {
        bindings::LambdaPre::new(instance)
    }

    async fn instantiate(pre: &Self::Pre, store: &mut Store<HostState>) -> wasmtime::Result<Self> {
        pre.instantiate_async(store).await
    }
}

impl Plugin<bindings::Lambda> {
    /// Runs the handler on `event` (JSON). `Ok(Err(..))` is the handler's
    /// own error (it raised or threw); `Err` is the plugin failing (trap,
    /// timeout, memory).
    pub async fn handle(
        &self,
        request_id: &str,
        invoked_function_arn: &str,
        event: &str,
    ) -> Result<Result<String, HandlerError>, PluginError> {
        let mut lease = self.lease(request_id).await?;
        let settings = &lease.store.data().settings;
        let deadline = SystemTime::now() + settings.timeout;
        let context = InvocationContext {
            aws_request_id: request_id.to_owned(),
            function_name: settings.name.to_string(),
            function_version: "$LATEST".to_owned(),
            invoked_function_arn: invoked_function_arn.to_owned(),
            memory_limit_in_mb: u32::try_from(settings.memory_limit >> 20).unwrap_or(u32::MAX),
            deadline_ms: deadline
                .duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::ZERO)
                .as_millis() as u64,
        };
        let outcome = lease
            .instance
            .turnpike_gateway_lambda_handler()
            .call_handle(&mut lease.store, event, &context)
            .await;
        self.finish(lease, outcome.map(Ok))
    }
}
