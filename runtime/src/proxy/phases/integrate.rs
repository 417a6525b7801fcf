//! Phase 11: the route's integration serves the request — `http_proxy`,
//! `mock` or `function`, compiled for the stage when the snapshot was built.

use http::Response;
use http::request::Parts;

use crate::body::{RequestBody, ResponseBody};
use crate::control::snapshot::CompiledRoute;
use crate::error::{ErrorKind, GatewayError};
use crate::integrations::Integration;
use crate::proxy::{Cx, Flow, Verdict};

/// Hands the request to the integration; its response goes on to the
/// response mapper and then to the client.
pub async fn run(cx: &mut Cx<'_>) -> Verdict {
    if cx.websocket.is_some() {
        return crate::proxy::websocket::connect(cx).await;
    }
    let Some(route) = cx.route else {
        return Err(GatewayError::new(ErrorKind::NotFound));
    };
    let parts = std::mem::replace(&mut cx.parts, http::Request::new(()).into_parts().0);
    // Taken out for the call and put back: what the integration leaves
    // unread is drained when the request ends.
    let mut body: Option<RequestBody> = cx.body.take();
    let outcome = call(cx, route, parts, &mut body).await;
    cx.body = body;
    cx.response = Some(outcome?);
    Ok(Flow::Continue)
}

/// Calls `route`'s integration with `parts` and `body` (what it leaves of
/// the body stays there), recording how it went in `cx.integration`. A
/// WebSocket `$connect` is called this way too.
pub async fn call(
    cx: &mut Cx<'_>,
    route: &CompiledRoute,
    parts: Parts,
    body: &mut Option<RequestBody>,
) -> Result<Response<ResponseBody>, GatewayError> {
    let mut measured = std::mem::take(&mut cx.integration);
    cx.marks.integration = Some(std::time::Instant::now());
    // Built only for what leaves the gateway: a mock answers itself.
    if !matches!(route.integration, Integration::Mock(_)) {
        cx.traceparent = Some(cx.trace.traceparent());
    }
    let invocation = route.integration.invoke(
        cx.gateway.upstream(),
        cx.forwarding(),
        parts,
        body,
        &cx.params,
        &mut measured,
    );
    // A function's own outbound calls carry the request's trace.
    let outcome = match route.integration {
        Integration::Function(_) | Integration::Lambda(_) => {
            crate::observe::trace::within(&cx.trace, invocation).await
        }
        _ => invocation.await,
    };
    cx.integration = measured;
    outcome
}
