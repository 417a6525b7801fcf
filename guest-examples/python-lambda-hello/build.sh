#!/usr/bin/env bash
# Builds python_lambda_hello.wasm with componentize-py (pip install
# componentize-py==0.25.1) for the gateway's `lambda` world, with the
# turnpike_lambda shim from sdk/python.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
wit="$here/../../wit"
out=${1:-"$here/../target/polyglot"}
mkdir -p "$out"
cd "$here"
componentize-py -d "$wit" -w turnpike:gateway/lambda componentize app \
  -p "$here" -p "$here/../../sdk/python" -o "$out/python_lambda_hello.wasm"
