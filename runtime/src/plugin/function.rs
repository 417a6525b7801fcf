//! Function plugins: components of the standard `wasi:http/proxy` world
//! serving a route, so components built for other wasi-http hosts run
//! unchanged.

use std::sync::Arc;

use wasmtime::Store;
use wasmtime::component::InstancePre;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::Proxy;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::host::HostState;
use super::instances::{Plugin, World};
use super::{PluginError, PluginErrorKind};
use crate::upstream::ForwardedBody;

/// A loaded `wasi:http/proxy` component.
pub type FunctionPlugin = Plugin<Proxy>;

impl World for Proxy {
    type Pre = wasmtime_wasi_http::p2::bindings::ProxyPre<HostState>;
    const NAME: &'static str = "wasi:http/proxy";

    fn pre(instance: InstancePre<HostState>) -> wasmtime::Result<Self::Pre> {
        wasmtime_wasi_http::p2::bindings::ProxyPre::new(instance)
    }

    async fn instantiate(pre: &Self::Pre, store: &mut Store<HostState>) -> wasmtime::Result<Self> {
        pre.instantiate_async(store).await
    }
}

impl Plugin<Proxy> {
    /// Serves one request on its own instance. Returns once the component
    /// has set the response head; the body streams on while the instance
    /// keeps running, within the plugin's deadline.
    pub async fn serve(
        self: &Arc<Self>,
        request_id: &str,
        request: http::Request<ForwardedBody>,
    ) -> Result<http::Response<HyperOutgoingBody>, PluginError> {
        use http_body_util::BodyExt;
        let mut lease = self.lease(request_id).await?;
        let unavailable =
            |e: wasmtime::Error| self.error(PluginErrorKind::Unavailable, format!("{e:#}"));
        let request = request.map(|body| {
            body.map_err(|e| wasmtime_wasi_http::Error::InternalError(Some(e.to_string())))
        });
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let (incoming, outparam) = {
            let mut http = lease.store.data_mut().http();
            let incoming = http
                .new_incoming_request(Scheme::Http, request)
                .map_err(unavailable)?;
            let outparam = http.new_response_outparam(sender).map_err(unavailable)?;
            (incoming, outparam)
        };
        let plugin = self.clone();
        let task = tokio::spawn(async move {
            let outcome = lease
                .instance
                .wasi_http_incoming_handler()
                .call_handle(&mut lease.store, incoming, outparam)
                .await;
            plugin.finish(lease, outcome.map(Ok))
        });
        match receiver.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(code)) => Err(self.error(
                PluginErrorKind::Failed,
                format!("answered with an error: {code:?}"),
            )),
            Err(_) => Err(match task.await {
                Ok(Err(failure)) => failure,
                Ok(Ok(())) => self.error(
                    PluginErrorKind::Failed,
                    "returned without setting a response".into(),
                ),
                Err(join) => self.error(PluginErrorKind::Trap, format!("{join}")),
            }),
        }
    }
}
