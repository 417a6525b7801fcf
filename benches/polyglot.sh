#!/usr/bin/env bash
# Authorizations per second through the gateway on one core, for the same
# token authorizer in Rust, C, Python and JavaScript, with `fresh` and
# `reuse` instances (decision cache off, mock integration: every request is
# one plugin invocation plus the gateway's own work). The route `none` is the
# same without an authorizer: the gateway's share.
#
#   cargo build --release
#   ./scripts/test            # or build guest-examples as it does
#   benches/polyglot.sh
#
# The gateway runs with one worker pinned to CPU 1, wrk on CPU 0.
# Env: ROUNDS (3), DURATION (5s), CONNS (16), PORT (18084),
#      ONLY (comma-separated route names, e.g. "js-reuse,python-fresh").
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-3}; DURATION=${DURATION:-5s}; CONNS=${CONNS:-16}; PORT=${PORT:-18084}
BIN=$ROOT/target/release/turnpike
RUST=$ROOT/guest-examples/target/wasm32-wasip2/release/rust_token_authorizer.wasm
POLY=$ROOT/guest-examples/target/polyglot
for f in "$BIN" "$RUST" "$POLY/c_token_authorizer.wasm" "$POLY/python_token_authorizer.wasm" "$POLY/js_token_authorizer.wasm"; do
  [[ -f "$f" ]] || { echo "missing $f: cargo build --release, then ./scripts/test builds the examples" >&2; exit 2; }
done
for tool in wrk taskset; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done

WORK=$(mktemp -d)
PID=
cleanup() { [[ -n "$PID" ]] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

ROUTES=(rust-fresh rust-reuse c-fresh c-reuse python-fresh python-reuse js-fresh js-reuse)
component() {
  case $1 in
    rust) echo "$RUST" ;;
    c) echo "$POLY/c_token_authorizer.wasm" ;;
    python) echo "$POLY/python_token_authorizer.wasm" ;;
    js) echo "$POLY/js_token_authorizer.wasm" ;;
  esac
}

{
  cat <<CONF
[server]
access_log = "off"
workers = 1
cache_dir = "$WORK/cache"

[[listeners]]
name = "bench"
address = "127.0.0.1:$PORT"

[[apis]]
name = "bench"
CONF
  cat <<CONF

[[apis.routes]]
key = "GET /none"
integration = { type = "mock", body = "ok" }
CONF
  for route in "${ROUTES[@]}"; do
    cat <<CONF

[apis.authorizers.$route]
type = "wasm"
plugin = "$route"
cache_ttl = "0s"

[[apis.routes]]
key = "GET /$route"
authorizer = "$route"
integration = { type = "mock", body = "ok" }
CONF
  done
  for route in "${ROUTES[@]}"; do
    lang=${route%-*} mode=${route#*-}
    cat <<CONF

[plugins.$route]
component = "$(component "$lang")"
world = "authorizer"
instances = "$mode"
config = { tokens = "bench:bench" }
CONF
  done
} >"$WORK/polyglot.toml"

[[ -n "${KEEP_CONFIG:-}" ]] && cp "$WORK/polyglot.toml" "$KEEP_CONFIG"
"$BIN" validate --config "$WORK/polyglot.toml" >/dev/null
taskset -c 1 "$BIN" serve --config "$WORK/polyglot.toml" >"$WORK/serve.log" 2>&1 &
PID=$!
for _ in $(seq 1 600); do
  (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break
  kill -0 "$PID" 2>/dev/null || { cat "$WORK/serve.log" >&2; exit 1; }
  sleep 0.1
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-14s %12s %10s\n' route "req/s" "p99 ms"
for route in none "${ROUTES[@]}"; do
  if [[ -n "${ONLY:-}" && ",$ONLY," != *",$route,"* ]]; then continue; fi
  status=$(curl -s -o /dev/null -w '%{http_code}' -H 'authorization: Bearer bench' "http://127.0.0.1:$PORT/$route")
  [[ "$status" == 200 ]] || { echo "$route answered $status" >&2; exit 1; }
  rates=() p99s=()
  for _ in $(seq 1 "$ROUNDS"); do
    out=$(taskset -c 0 wrk -t1 -c"$CONNS" -d"$DURATION" --latency -H 'authorization: Bearer bench' "http://127.0.0.1:$PORT/$route")
    if grep -q "Non-2xx" <<<"$out"; then echo "$route: non-2xx answers" >&2; echo "$out" >&2; exit 1; fi
    rates+=("$(awk '/Requests\/sec/ {print $2}' <<<"$out")")
    p99s+=("$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}' <<<"$out")")
  done
  printf '%-14s %12.0f %10s\n' "$route" "$(median "${rates[@]}")" "$(median "${p99s[@]}")"
done
