#!/usr/bin/env bash
# Builds python_http_function.wasm with componentize-py (pip install
# componentize-py==0.25.1) for the standard `wasi:http/proxy` world.
#
# It needs the WASI 0.2 WIT files (wasi:http and what it uses). Pass a folder
# holding them as WASI_HTTP_WIT (`world.wit` plus `deps/`); by default it
# takes the ones the gateway itself is built with, from the
# wasmtime-wasi-http crate in cargo's registry.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/../target/polyglot"}
wit=${WASI_HTTP_WIT:-}
if [[ -z "$wit" ]]; then
  manifest=$(cargo metadata --format-version 1 --locked --manifest-path "$here/../../Cargo.toml" |
    python3 -c 'import json, sys
print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"] == "wasmtime-wasi-http"))')
  wit="$(dirname "$manifest")/wit"
fi
world=$(grep -rhoE '^package wasi:http@0\.2\.[0-9]+' "$wit/deps" | sed 's/.*@//' | sort -u | tail -n 1 || true)
[[ -n "$world" ]] || { echo "no wasi:http 0.2 package in $wit/deps" >&2; exit 1; }
mkdir -p "$out"
cd "$here"
componentize-py -d "$wit" -w "wasi:http/proxy@$world" componentize app -o "$out/python_http_function.wasm"
