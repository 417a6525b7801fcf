#!/usr/bin/env bash
# Memory per cached entry: the gateway serving benches/proxy-cache.toml (a
# stage cache keyed by the path) is sent ENTRIES requests for distinct paths,
# each a miss that the backend (nginx, 128-byte body) answers and the cache
# stores; the gateway's resident memory (VmRSS) before and after, divided by
# the entries stored, is what one entry costs the process. The cache's own
# accounting (its weigher: key, headers, body and a fixed 1 KiB) is
# printed beside it from the admin API.
#
#   cargo build --release -p turnpike && benches/cache-memory.sh
#
# Env: ENTRIES (100000), BODY_BYTES (128).
set -euo pipefail
cd "$(dirname "$0")/.."
ENTRIES=${ENTRIES:-100000}; BODY_BYTES=${BODY_BYTES:-128}
BIN=${BIN:-target/release/turnpike}
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
BODY=$(head -c "$BODY_BYTES" /dev/zero | tr '\0' 'x')
cat >"$WORK/backend.conf" <<CONF
daemon off; worker_processes 1; pid $WORK/backend.pid; error_log $WORK/backend.err;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:18080; location / { return 200 "$BODY"; } } }
CONF
echo -n "cache-memory-token-0123456789" >"$WORK/token"
sed -e "s|^\[server\]|[admin]\naddress = \"127.0.0.1:18099\"\ntoken_file = \"$WORK/token\"\n\n[server]|" benches/proxy-cache.toml >"$WORK/gateway.toml"
wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; return 1; }
taskset -c 0 nginx -c "$WORK/backend.conf" -e "$WORK/backend.err" & PIDS+=($!)
taskset -c 1 "$BIN" serve --config "$WORK/gateway.toml" >"$WORK/gateway.log" 2>&1 & GW=$!; PIDS+=($GW)
wait_port 18080; wait_port 18083
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$GW/status"; }
# Warm up: connections, pools, allocator arenas.
curl -s -o /dev/null "http://127.0.0.1:18083/warm/0"
taskset -c 0 wrk -t1 -c16 -d2s "http://127.0.0.1:18083/warm/1" >/dev/null
before=$(rss)
cat >"$WORK/distinct.lua" <<LUA
local n = 0
request = function()
  n = n + 1
  if n > $ENTRIES then n = 1 end
  return wrk.format("GET", "/items/" .. n)
end
LUA
# One pass over the distinct paths: wrk stops on time, so run until the
# cache holds them all.
for _ in $(seq 1 60); do
  taskset -c 0 wrk -t1 -c16 -d2s -s "$WORK/distinct.lua" "http://127.0.0.1:18083" >/dev/null
  stored=$(curl -s -H "authorization: Bearer $(cat "$WORK/token")" "http://127.0.0.1:18099/apis/bench/stages/%24default/cache")
  entries=$(sed -E 's/.*"entries":([0-9]+).*/\1/' <<<"$stored")
  ((entries >= ENTRIES)) && break
done
after=$(rss)
bytes=$(sed -E 's/.*"bytes":([0-9]+).*/\1/' <<<"$stored")
echo "entries stored: $entries (${BODY_BYTES}-byte bodies)"
echo "gateway RSS: ${before} KiB -> ${after} KiB"
awk -v b="$before" -v a="$after" -v n="$entries" -v w="$bytes" 'BEGIN {
  printf "resident memory per entry: %.0f bytes; the cache weighs each at %.0f bytes\n", (a-b)*1024/n, w/n }'
