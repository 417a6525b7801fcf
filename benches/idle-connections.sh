#!/usr/bin/env bash
# Memory an idle keep-alive connection costs: N clients each send one request
# and then sit idle; the proxy's resident memory is read before, with them
# open, and after they close. Turnpike and nginx side by side in one run,
# plain and TLS, both proxying to the same nginx backend on loopback.
#
#   benches/idle-connections.sh [TURNPIKE_BINARY]     (default target/release/turnpike)
#
# Env: N (5000 connections), IDLE (seconds the connections sit idle before
# the reading, 3: past Turnpike's 0.5 s parking delay and the allocator's
# 1 s purge delay). Needs nginx, python3, openssl.
set -euo pipefail
cd "$(dirname "$0")/.."
TURNPIKE=${1:-target/release/turnpike}
N=${N:-5000}
IDLE=${IDLE:-3}
ulimit -n $((N * 2 + 1024))
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=localhost -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

cat >"$WORK/backend.conf" <<CONF
daemon off; worker_processes 1; pid $WORK/backend.pid; error_log $WORK/backend.err;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:19080; location / { return 200 "idle"; } } }
CONF
cat >"$WORK/nginx.conf" <<CONF
daemon off; worker_processes 1; pid $WORK/nginx.pid; error_log $WORK/nginx.err;
worker_rlimit_nofile $((N * 2 + 1024));
events { worker_connections $((N + 1024)); }
http { access_log off; keepalive_timeout 600s; keepalive_requests 1000000;
  upstream backend { server 127.0.0.1:19080; keepalive 64; }
  server { listen 127.0.0.1:19081;
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; } }
  server { listen 127.0.0.1:19082 ssl; ssl_certificate $WORK/cert.pem; ssl_certificate_key $WORK/key.pem;
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
CONF
cat >"$WORK/turnpike.toml" <<CONF
[server]
access_log = "off"
workers = 1
[[listeners]]
name = "plain"
address = "127.0.0.1:19083"
[[listeners]]
name = "tls"
address = "127.0.0.1:19084"
tls = { certificates = [{ cert = "cert.pem", key = "key.pem" }], alpn = ["http/1.1"] }
[[apis]]
name = "bench"
[[apis.routes]]
key = "ANY /{proxy+}"
integration = { type = "http_proxy", url = "http://127.0.0.1:19080/{proxy}" }
CONF

nginx -c "$WORK/backend.conf" & PIDS+=($!)
# A fresh process per measurement, so that one does not reuse memory the
# previous one freed.
# Each sets PID to the process whose memory counts (nginx: its one worker).
start_nginx() {
  nginx -c "$WORK/nginx.conf" & PIDS+=($!)
  for _ in $(seq 100); do [[ -s $WORK/nginx.pid ]] && pgrep -P "$(cat "$WORK/nginx.pid")" >/dev/null && break; sleep 0.1; done
  sleep 0.3
  PID=$(pgrep -P "$(cat "$WORK/nginx.pid")" | head -1)
}
stop_nginx() { kill "$(cat "$WORK/nginx.pid")"; while [[ -e $WORK/nginx.pid ]]; do sleep 0.1; done; }
start_turnpike() {
  : >"$WORK/turnpike.out"
  "$TURNPIKE" serve --config "$WORK/turnpike.toml" >"$WORK/turnpike.out" 2>&1 & PIDS+=($!)
  PID=$!
  for _ in $(seq 100); do grep -q '"ready"' "$WORK/turnpike.out" 2>/dev/null && break; sleep 0.1; done
  sleep 0.3
}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# measure NAME PID PORT [--tls]: KiB resident before, with N idle, after close.
measure() {
  local name=$1 pid=$2 port=$3 tls=${4:-}
  local before with after
  before=$(rss_kib "$pid")
  coproc CLIENTS { python3 benches/idle_clients.py "$port" "$N" $tls; }
  read -r line <&"${CLIENTS[0]}"
  [[ $line == ready ]] || { echo "clients failed: $line" >&2; exit 1; }
  sleep "$IDLE"
  with=$(rss_kib "$pid")
  exec {w}>&"${CLIENTS[1]}"; exec {w}>&-
  exec {CLIENTS[1]}>&-
  read -r line <&"${CLIENTS[0]}" || true
  wait "$CLIENTS_PID" 2>/dev/null || true
  sleep 2
  after=$(rss_kib "$pid")
  printf '%-16s %10d %12d %12d %14.0f\n' "$name" "$before" "$with" "$after" \
    "$(awk -v a="$before" -v b="$with" -v n="$N" 'BEGIN {print (b - a) * 1024 / n}')"
}

printf '%-16s %10s %12s %12s %14s   (%s idle keep-alive connections, one request each)\n' \
  target 'KiB before' 'KiB idle' 'KiB after' 'bytes/conn' "$N"
start_nginx; measure "nginx plain" "$PID" 19081; stop_nginx
start_turnpike; measure "turnpike plain" "$PID" 19083; kill "$PID"
start_nginx; measure "nginx tls" "$PID" 19082 --tls; stop_nginx
start_turnpike; measure "turnpike tls" "$PID" 19084 --tls; kill "$PID"
