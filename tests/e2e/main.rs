//! End-to-end tests: the real `turnpike` binary, real clients, a real origin.
//!
//! One test binary for the whole suite, so that it links once.

mod harness;
mod pki;
mod upstream;

mod admin;
mod caching;
mod cli;
mod clusters;
mod config_errors;
mod cors;
mod errors;
mod fleet;
mod h1_differential;
mod h2_floods;
mod http3;
mod jwt;
mod lambda;
mod lifecycle;
mod observability;
mod openapi;
mod plugins;
mod policies;
mod polyglot;
mod portal;
mod proxy;
mod releases;
mod routing;
mod scaffold;
mod shared_limits;
mod sigv4;
mod slow_clients;
mod tls;
mod uploads;
mod usage;
mod validation;
mod websocket;
