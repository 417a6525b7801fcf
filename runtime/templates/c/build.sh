#!/usr/bin/env bash
# Builds __NAME__.wasm:
#   1. bindings from the WIT contract in wit/ with `wit-bindgen c`
#      (cargo install wit-bindgen-cli --version 0.61.0 --locked),
#   2. a WebAssembly module with clang for wasm32-wasi against wasi-libc
#      (Debian: apt-get install clang-16 lld-16 wasi-libc libclang-rt-16-dev-wasm32),
#   3. wrapped into a component with `wasm-tools component new`
#      (cargo install --locked wasm-tools --version 1.263.0).
set -euo pipefail
cd "$(dirname "$0")"
CC=${CC:-clang-16}
SYSROOT=${WASI_SYSROOT:-/usr}
mkdir -p bindings
wit-bindgen c wit --world turnpike:gateway/__ROLE__ --out-dir bindings >/dev/null
"$CC" --target=wasm32-wasi --sysroot="$SYSROOT" -isystem "$SYSROOT/include/wasm32-wasi" \
  -L"$SYSROOT/lib/wasm32-wasi" -mexec-model=reactor -O2 -Wall -Werror -Ibindings \
  -o bindings/core.wasm plugin.c bindings/__ROLE__.c bindings/__ROLE___component_type.o
wasm-tools component new bindings/core.wasm -o __NAME__.wasm
