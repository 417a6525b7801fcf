//! The phases of the request path, one file each, in the order
//! [`crate::proxy`] runs them. Each is `async fn(&mut Cx) -> Verdict`.

pub mod authorize;
pub mod cache;
pub mod integrate;
pub mod limits;
pub mod locate;
pub mod mapping;
pub mod policy;
pub mod preflight;
pub mod route;
pub mod templates;
pub mod usage;
pub mod validate;
