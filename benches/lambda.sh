#!/usr/bin/env bash
# The README's Python Lambda handler (guest-examples/python-lambda-hello,
# payload 1.0) served by Turnpike with `fresh` and `reuse` instances, beside
# the same handler file under a native Python HTTP server
# (benches/lambda_native.py), each on one core.
#
#   cargo build --release
#   guest-examples/python-lambda-hello/build.sh    # or ./scripts/test
#   benches/lambda.sh
#
# Turnpike runs one worker pinned to CPU 1, as does the Python server; wrk
# runs on CPU 0. Env: ROUNDS (3), DURATION (5s), CONNS (16), PORT (18086).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-3}; DURATION=${DURATION:-5s}; CONNS=${CONNS:-16}; PORT=${PORT:-18086}
BIN=$ROOT/target/release/turnpike
HELLO=$ROOT/guest-examples/target/polyglot/python_lambda_hello.wasm
for f in "$BIN" "$HELLO"; do
  [[ -f "$f" ]] || { echo "missing $f: cargo build --release; guest-examples/python-lambda-hello/build.sh" >&2; exit 2; }
done
for tool in wrk taskset python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done

WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

cat >"$WORK/lambda.toml" <<CONF
[server]
access_log = "off"
workers = 1
cache_dir = "$WORK/cache"

[[listeners]]
name = "bench"
address = "127.0.0.1:$PORT"

[plugins.fresh]
component = "$HELLO"
world = "lambda"
instances = "fresh"

[plugins.reuse]
component = "$HELLO"
world = "lambda"
instances = "reuse"

[[apis]]
name = "bench"

[[apis.routes]]
key = "GET /fresh/hello"
integration = { type = "function", plugin = "fresh", payload_format = "1.0" }

[[apis.routes]]
key = "GET /reuse/hello"
integration = { type = "function", plugin = "reuse", payload_format = "1.0" }
CONF

wait_port() {
  for _ in $(seq 1 600); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on $1" >&2; exit 1
}

taskset -c 1 "$BIN" serve --config "$WORK/lambda.toml" >"$WORK/serve.log" 2>&1 &
PIDS+=($!)
NATIVE_PORT=$((PORT + 1))
taskset -c 1 python3 "$ROOT/benches/lambda_native.py" "$NATIVE_PORT" "$ROOT/guest-examples/python-lambda-hello" 2>"$WORK/native.log" &
PIDS+=($!)
wait_port "$PORT"; wait_port "$NATIVE_PORT"

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-28s %12s %10s\n' target "req/s" "p99 ms"
for target in "turnpike fresh|$PORT/fresh/hello" "turnpike reuse|$PORT/reuse/hello" "python http.server|$NATIVE_PORT/hello"; do
  name=${target%%|*} url="http://127.0.0.1:${target#*|}?name=Ada"
  body=$(curl -s "$url")
  [[ "$body" == '{"message": "Hello, Ada!"}' ]] || { echo "$name answered $body" >&2; exit 1; }
  rates=() p99s=()
  for _ in $(seq 1 "$ROUNDS"); do
    out=$(taskset -c 0 wrk -t1 -c"$CONNS" -d"$DURATION" --latency "$url")
    if grep -q "Non-2xx\|Socket errors" <<<"$out"; then echo "$name: errors" >&2; echo "$out" >&2; exit 1; fi
    rates+=("$(awk '/Requests\/sec/ {print $2}' <<<"$out")")
    p99s+=("$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}' <<<"$out")")
  done
  printf '%-28s %12.0f %10s\n' "$name" "$(median "${rates[@]}")" "$(median "${p99s[@]}")"
done
