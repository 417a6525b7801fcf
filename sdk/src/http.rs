//! Outbound HTTP, to the hosts the plugin's configuration allows.

pub use crate::authorizer_bindings::turnpike::gateway::outbound_http::{Error, Request, Response};

/// Sends `request` and waits for the whole response. Outside the gateway this
/// always fails with [`Error::NotAllowed`].
pub fn send(request: &Request) -> Result<Response, Error> {
    #[cfg(target_family = "wasm")]
    return crate::authorizer_bindings::turnpike::gateway::outbound_http::send(request);
    #[cfg(not(target_family = "wasm"))]
    return Err(Error::NotAllowed(format!(
        "{}: no outbound HTTP outside the gateway",
        request.url
    )));
}

/// A `GET` of `url`.
pub fn get(url: &str) -> Result<Response, Error> {
    send(&Request {
        method: "GET".into(),
        url: url.into(),
        headers: Vec::new(),
        body: None,
    })
}
