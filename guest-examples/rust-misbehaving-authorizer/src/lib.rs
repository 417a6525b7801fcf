//! A deliberately broken authorizer, for proving the gateway's budgets. The
//! `x-misbehave` request header picks the failure:
//!
//! - `loop`: spins forever (stopped by the time budget or fuel);
//! - `memory`: allocates without bound (stopped by the memory limit);
//! - `trap`: panics, which traps the instance;
//! - `error`: returns an error of its own;
//! - `garbage-context`: allows with a context value no header can carry;
//! - anything else (or none): allows as `well-behaved`.

use std::hint::black_box;

use turnpike_sdk::authorizer::{Allow, AuthorizationRequest, Authorizer, Decision};

/// The plugin.
pub struct Misbehaving;

impl Authorizer for Misbehaving {
    fn authorize(request: AuthorizationRequest) -> Result<Decision, String> {
        match request.request.header("x-misbehave") {
            Some("loop") => {
                let mut counter: u64 = 0;
                loop {
                    counter = black_box(counter.wrapping_add(1));
                }
            }
            Some("memory") => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1024 * 1024]);
                    black_box(&hoard);
                }
            }
            Some("trap") => panic!("the misbehaving authorizer panics on purpose"),
            Some("error") => Err("the misbehaving authorizer fails on purpose".into()),
            Some("garbage-context") => Ok(Decision::Allow(
                Allow::principal("garbage").with_context("bad", "line\nbreak\0"),
            )),
            _ => Ok(Decision::Allow(Allow::principal("well-behaved"))),
        }
    }
}

turnpike_sdk::export_authorizer!(Misbehaving);
