#!/usr/bin/env bash
# Builds __NAME__.wasm with componentize-py (pip install componentize-py==0.25.1)
# for the gateway's `lambda` world (wit/), from app.py: the turnpike_lambda
# shim around the handler in lambda_function.py.
set -euo pipefail
cd "$(dirname "$0")"
componentize-py -d wit -w turnpike:gateway/lambda componentize app -o __NAME__.wasm
