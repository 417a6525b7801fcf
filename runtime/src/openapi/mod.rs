//! OpenAPI in and out: Amazon API Gateway definitions imported into
//! Turnpike configuration ([`import`]), and Turnpike APIs exported as
//! OpenAPI 3.0 ([`export`]).

pub mod export;
pub mod import;
pub mod source;

pub use source::{Source, SyntaxError};

#[cfg(test)]
mod tests;
