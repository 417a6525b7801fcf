//! The `turnpike` command: parses its arguments and runs them; everything
//! else lives in the library (`turnpike::cli`).

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: fewer instructions per allocation than glibc's on the request
/// path, and no lock contention between worker threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (mimalloc v3 as libmimalloc-sys
/// 0.1.49 builds it: `mimalloc.h` lists it 16th; `MIMALLOC_PURGE_DELAY=0`
/// in the environment is seen there, default 1000 ms).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // Give memory back to the kernel as soon as it is free, instead of
    // after a delay that only passes when the allocator runs again: once
    // thousands of idle connections close, a quiet gateway otherwise keeps
    // their memory resident. Measured: no throughput cost
    // (benches/idle-connections.sh, ../shared/bench/proxy-compare.sh).
    // An operator's own MIMALLOC_PURGE_DELAY wins.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        #[allow(unsafe_code)]
        // SAFETY: sets one of mimalloc's integer options; no memory is touched.
        unsafe {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0)
        };
    }
    turnpike::cli::run(turnpike::cli::Cli::parse())
}
