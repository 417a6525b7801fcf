#!/usr/bin/env bash
# Builds c_token_authorizer.wasm:
#   1. bindings from the gateway's WIT package with `wit-bindgen c`
#      (cargo install wit-bindgen-cli --version 0.61.0 --locked),
#   2. a WebAssembly core module with clang for wasm32-wasi against wasi-libc
#      (Debian: apt-get install clang-16 lld-16 wasi-libc libclang-rt-16-dev-wasm32),
#   3. wrapped into a component with `wasm-tools component new`
#      (cargo install --locked wasm-tools --version 1.263.0).
# The plugin uses no WASI function (no stdio, files or clocks), so the core
# module imports only the gateway's interfaces and needs no WASI adapter.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/../target/polyglot"}
CC=${CC:-clang-16}
SYSROOT=${WASI_SYSROOT:-/usr}
mkdir -p "$out" "$here/bindings"
cd "$here"
wit-bindgen c ../../wit --world turnpike:gateway/authorizer --out-dir bindings >/dev/null
"$CC" --target=wasm32-wasi --sysroot="$SYSROOT" -isystem "$SYSROOT/include/wasm32-wasi" \
  -L"$SYSROOT/lib/wasm32-wasi" -mexec-model=reactor -O2 -Wall -Werror -Ibindings \
  -o bindings/core.wasm token_authorizer.c bindings/authorizer.c bindings/authorizer_component_type.o
wasm-tools component new bindings/core.wasm -o "$out/c_token_authorizer.wasm"
