#!/usr/bin/env bash
# Builds python_json_mapper.wasm with componentize-py (pip install
# componentize-py==0.25.1), against the gateway's WIT package, and generates
# the typed bindings into bindings/ for the native unit tests.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
wit="$here/../../wit"
out=${1:-"$here/../target/polyglot"}
mkdir -p "$out"
cd "$here"
rm -rf bindings
componentize-py -d "$wit" -w turnpike:gateway/mapper bindings bindings >/dev/null
componentize-py -d "$wit" -w turnpike:gateway/mapper componentize app -o "$out/python_json_mapper.wasm"
