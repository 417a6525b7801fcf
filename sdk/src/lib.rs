//! Write Turnpike plugins in Rust.
//!
//! A plugin is a WebAssembly component of one of the worlds in Turnpike's WIT
//! package (`wit/gateway.wit`, `turnpike:gateway@0.1.0`). This crate generates
//! the bindings from that file (nothing here restates the contract by hand)
//! and adds what makes them pleasant: re-exported plain types, one export
//! macro per role, host calls that return `Result` instead of panicking, and
//! stand-ins for the host calls so that plugin logic runs under a plain
//! `cargo test` on the development machine.
//!
//! ```ignore
//! use turnpike_sdk::authorizer::{Authorizer, AuthorizationRequest, Decision, Allow};
//!
//! struct Tokens;
//!
//! impl Authorizer for Tokens {
//!     fn authorize(request: AuthorizationRequest) -> Result<Decision, String> {
//!         match request.token.as_deref() {
//!             Some("Bearer let-me-in") => Ok(Decision::Allow(Allow::principal("me"))),
//!             Some(_) => Ok(Decision::Deny),
//!             None => Ok(Decision::Unauthorized),
//!         }
//!     }
//! }
//!
//! turnpike_sdk::export_authorizer!(Tokens);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`; the `.wasm`
//! file in `target/wasm32-wasip2/release/` is the component to configure.

/// Bindings of the `authorizer` world, generated from `wit/`.
#[allow(missing_docs, clippy::all)]
pub mod authorizer_bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "turnpike:gateway/authorizer",
        pub_export_macro: true,
        export_macro_name: "export_authorizer_world",
        default_bindings_module: "turnpike_sdk::authorizer_bindings",
        generate_all,
    });
}

/// Bindings of the `mapper` world, generated from `wit/`; the interfaces it
/// shares with the authorizer world are the authorizer bindings' types.
#[allow(missing_docs, clippy::all)]
pub mod mapper_bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "turnpike:gateway/mapper",
        pub_export_macro: true,
        export_macro_name: "export_mapper_world",
        default_bindings_module: "turnpike_sdk::mapper_bindings",
        with: {
            "turnpike:gateway/types@0.1.0": crate::authorizer_bindings::turnpike::gateway::types,
            "turnpike:gateway/log@0.1.0": crate::authorizer_bindings::turnpike::gateway::log,
            "turnpike:gateway/config@0.1.0": crate::authorizer_bindings::turnpike::gateway::config,
            "turnpike:gateway/outbound-http@0.1.0": crate::authorizer_bindings::turnpike::gateway::outbound_http,
        },
    });
}

/// Bindings of the `lambda` world, generated from `wit/`; the interfaces
/// it shares with the authorizer world are the authorizer bindings' types.
#[allow(missing_docs, clippy::all)]
pub mod lambda_bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "turnpike:gateway/lambda",
        pub_export_macro: true,
        export_macro_name: "export_lambda_world",
        default_bindings_module: "turnpike_sdk::lambda_bindings",
        with: {
            "turnpike:gateway/types@0.1.0": crate::authorizer_bindings::turnpike::gateway::types,
            "turnpike:gateway/log@0.1.0": crate::authorizer_bindings::turnpike::gateway::log,
            "turnpike:gateway/config@0.1.0": crate::authorizer_bindings::turnpike::gateway::config,
            "turnpike:gateway/outbound-http@0.1.0": crate::authorizer_bindings::turnpike::gateway::outbound_http,
        },
    });
}

pub mod authorizer;
pub mod config;
pub mod http;
pub mod lambda;
pub mod log;
pub mod mapper;
#[cfg(not(target_family = "wasm"))]
pub mod testing;

/// A name and a value: a header, query or path parameter, stage variable or
/// context entry.
pub type Entry = (String, String);

pub use authorizer_bindings::turnpike::gateway::types::RequestInfo;

impl RequestInfo {
    /// The first value of a header (names are compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name, true)
    }

    /// The first value of a query string parameter.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        find(&self.query, name, false)
    }

    /// A path parameter of the matched route.
    pub fn path_param(&self, name: &str) -> Option<&str> {
        find(&self.path_parameters, name, false)
    }

    /// A stage variable.
    pub fn stage_variable(&self, name: &str) -> Option<&str> {
        find(&self.stage_variables, name, false)
    }
}

/// Looks a name up in a list of entries.
pub fn find<'a>(entries: &'a [Entry], name: &str, ignore_case: bool) -> Option<&'a str> {
    entries
        .iter()
        .find(|(n, _)| {
            if ignore_case {
                n.eq_ignore_ascii_case(name)
            } else {
                n == name
            }
        })
        .map(|(_, v)| v.as_str())
}
