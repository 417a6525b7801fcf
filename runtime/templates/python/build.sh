#!/usr/bin/env bash
# Builds __NAME__.wasm with componentize-py (pip install componentize-py==0.25.1)
# against the WIT contract in wit/, and generates the typed bindings into
# bindings/ for the native unit tests.
set -euo pipefail
cd "$(dirname "$0")"
rm -rf bindings
componentize-py -d wit -w turnpike:gateway/__ROLE__ bindings bindings >/dev/null
componentize-py -d wit -w turnpike:gateway/__ROLE__ componentize app -o __NAME__.wasm
