#!/usr/bin/env bash
# A route with a VTL request and response template beside the same route
# without, in one run: both proxy to the same nginx backend answering a
# small JSON document; the templated route renders a request body from
# parameters and `$context`, and reshapes the backend's JSON (`#foreach`
# over its items).
#
#   cargo build --release
#   benches/vtl.sh
#
# Turnpike runs one worker pinned to CPU 1; wrk and nginx share CPU 0.
# Env: ROUNDS (3), DURATION (5s), CONNS (16), PORT (18090).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-3}; DURATION=${DURATION:-5s}; CONNS=${CONNS:-16}; PORT=${PORT:-18090}
BACKEND=$((PORT + 1))
BIN=$ROOT/target/release/turnpike
[[ -f "$BIN" ]] || { echo "missing $BIN: cargo build --release" >&2; exit 2; }
for tool in wrk taskset nginx curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done

WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

cat >"$WORK/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$BACKEND;
    location / {
      default_type application/json;
      return 200 '{"pets":[{"id":1,"name":"Rex","kind":"dog"},{"id":2,"name":"Tom","kind":"cat"},{"id":3,"name":"Bo","kind":"dog"}],"page":1}';
    }
  }
}
CONF

cat >"$WORK/vtl.toml" <<CONF
[server]
access_log = "off"
workers = 1

[[listeners]]
name = "bench"
address = "127.0.0.1:$PORT"

[[apis]]
name = "bench"

[[apis.routes]]
key = "GET /plain/pets"
integration = { type = "http_proxy", url = "http://127.0.0.1:$BACKEND/pets" }

[[apis.routes]]
key = "GET /vtl/pets"
integration = { type = "http_proxy", url = "http://127.0.0.1:$BACKEND/pets" }
[apis.routes.request_templates]
"application/json" = '''
{"tenant": "\$input.params('x-tenant')", "page": "\$input.params('page')", "stage": "\$context.stage", "caller": "\$context.identity.sourceIp"}
'''
[apis.routes.response_templates]
"application/json" = '''
#set(\$root = \$input.path('\$'))
{"count": \$root.pets.size(), "names": [#foreach(\$p in \$root.pets)"\$util.escapeJavaScript(\$p.name)"#if(\$foreach.hasNext),#end#end], "page": \$root.page}
'''
CONF

wait_port() {
  for _ in $(seq 1 600); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on $1" >&2; exit 1
}

taskset -c 0 nginx -c "$WORK/nginx.conf" -p "$WORK" >/dev/null 2>&1 &
PIDS+=($!)
taskset -c 1 "$BIN" serve --config "$WORK/vtl.toml" >"$WORK/serve.log" 2>&1 &
PIDS+=($!)
wait_port "$BACKEND"; wait_port "$PORT"

mapped=$(curl -s "http://127.0.0.1:$PORT/vtl/pets?page=2")
[[ "$mapped" == '{"count": 3, "names": ["Rex","Tom","Bo"], "page": 1}' ]] || { echo "the templated route answered: $mapped" >&2; exit 1; }

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-22s %12s %10s\n' route "req/s" "p99 ms"
declare -A RATE
for name in plain vtl; do
  url="http://127.0.0.1:$PORT/$name/pets?page=2"
  rates=() p99s=()
  for _ in $(seq 1 "$ROUNDS"); do
    out=$(taskset -c 0 wrk -t1 -c"$CONNS" -d"$DURATION" --latency -H 'x-tenant: acme' "$url")
    if grep -q "Non-2xx\|Socket errors" <<<"$out"; then echo "$name: errors" >&2; echo "$out" >&2; exit 1; fi
    rates+=("$(awk '/Requests\/sec/ {print $2}' <<<"$out")")
    p99s+=("$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}' <<<"$out")")
  done
  RATE[$name]=$(median "${rates[@]}")
  printf '%-22s %12.0f %10s\n' "$name" "${RATE[$name]}" "$(median "${p99s[@]}")"
done
awk -v v="${RATE[vtl]}" -v p="${RATE[plain]}" 'BEGIN {printf "vtl / plain: %.2fx\n", v / p}'
