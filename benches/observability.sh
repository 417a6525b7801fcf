#!/usr/bin/env bash
# What metrics and tracing cost on a plain proxied route: the gateway built
# from a commit before metrics existed (BASELINE_BIN, serving
# benches/proxy.toml on 18083) against this build (CANDIDATE_BIN, serving
# benches/proxy-observed.toml on 18084: metrics, trace context on every
# request, OTLP export at sampling ratio 0.0), both proxying to one nginx
# backend, measured in the same run with rounds alternating A B A B.
#
#   git worktree add /tmp/turnpike-base 04fad98
#   (cd /tmp/turnpike-base && CARGO_TARGET_DIR=/tmp/turnpike-base/target cargo build --release -p turnpike)
#   cargo build --release -p turnpike
#   BASELINE_BIN=/tmp/turnpike-base/target/release/turnpike benches/observability.sh
#
# Both gateways are pinned to CPU 1 (one worker each; only one is loaded at a
# time), wrk and the backend to CPU 0. Env: ROUNDS (5), DURATION (5s),
# CONNS (64), BODY_BYTES (128).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}; DURATION=${DURATION:-5s}; CONNS=${CONNS:-64}; BODY_BYTES=${BODY_BYTES:-128}
BASELINE_BIN=${BASELINE_BIN:?set BASELINE_BIN to a turnpike built before metrics (see the header)}
CANDIDATE_BIN=${CANDIDATE_BIN:-target/release/turnpike}
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
wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; return 1; }
taskset -c 0 nginx -c "$WORK/backend.conf" -e "$WORK/backend.err" & PIDS+=($!)
taskset -c 1 "$BASELINE_BIN" serve --config benches/proxy.toml >"$WORK/base.log" 2>&1 & PIDS+=($!)
taskset -c 1 "$CANDIDATE_BIN" serve --config benches/proxy-observed.toml >"$WORK/candidate.log" 2>&1 & PIDS+=($!)
wait_port 18080; wait_port 18083; wait_port 18084
for port in 18083 18084; do
  [[ "$(curl -s "http://127.0.0.1:$port/bench")" == "$BODY" ]] || { echo "port $port did not return the backend body" >&2; exit 1; }
done
load() { taskset -c 0 wrk -t1 -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$1/bench" | awk '/^Requests\/sec:/ {print $2}'; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
BASE=""; CAND=""
for r in $(seq 1 "$ROUNDS"); do
  BASE+="$(load 18083) "; CAND+="$(load 18084) "
done
b=$(median <<<"$BASE"); c=$(median <<<"$CAND")
printf 'baseline (no metrics)       %10.0f req/s   rounds: %s\n' "$b" "$BASE"
printf 'metrics + tracing (0.0)     %10.0f req/s   rounds: %s\n' "$c" "$CAND"
awk -v b="$b" -v c="$c" 'BEGIN { printf "ratio %.3f (cost %.1f %%)\n", c/b, (1-c/b)*100 }'
