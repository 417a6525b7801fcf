//! The mapper role: rewrite a request before its integration, and the
//! response after it, as API Gateway mapping templates do.
//!
//! Implement [`Mapper`] and export it with [`export_mapper!`](crate::export_mapper).

pub use crate::mapper_bindings::exports::turnpike::gateway::mapping::{
    Guest as Mapper, HttpRequest, HttpResponse, RequestOutcome,
};

fn set(headers: &mut Vec<crate::Entry>, name: &str, value: String) {
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    headers.push((name.to_ascii_lowercase(), value));
}

impl HttpRequest {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::find(&self.headers, name, true)
    }

    /// Replaces a header.
    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        set(&mut self.headers, name, value.into());
    }

    /// Removes a header.
    pub fn remove_header(&mut self, name: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }
}

impl HttpResponse {
    /// A response with a status, a `content-type` and a body.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> HttpResponse {
        HttpResponse {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
        }
    }

    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::find(&self.headers, name, true)
    }

    /// Replaces a header.
    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        set(&mut self.headers, name, value.into());
    }
}

/// Exports a type implementing [`Mapper`] as the component's `mapping` interface.
#[macro_export]
macro_rules! export_mapper {
    ($ty:ident) => {
        // Native builds (the plugin's own unit tests) export nothing: the
        // component's export names are not valid native symbol names.
        #[cfg(target_family = "wasm")]
        $crate::mapper_bindings::export_mapper_world!($ty);
    };
}
