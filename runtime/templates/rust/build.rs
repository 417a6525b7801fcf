//! Link settings of the component.

fn main() {
    // A 32 KiB stack instead of Rust's default 1 MiB keeps the component's
    // linear memory small, so that a fresh instance per request is cheap.
    // Raise it if your plugin recurses deeply; an overflow traps cleanly.
    if std::env::var("CARGO_CFG_TARGET_FAMILY").as_deref() == Ok("wasm") {
        println!("cargo:rustc-link-arg-cdylib=-zstack-size=32768");
    }
}
