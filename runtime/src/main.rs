//! The `turnpike` command: parses its arguments and runs them; everything
//! else lives in the library (`turnpike::cli`).

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: fewer instructions per allocation than glibc's on the request
/// path, and no lock contention between worker threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    turnpike::cli::run(turnpike::cli::Cli::parse())
}
