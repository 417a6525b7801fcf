#!/usr/bin/env bash
# WebSocket APIs on one gateway core, beside nginx where a comparison means
# something. Four measurements, one gateway process (one worker, the whole
# process pinned to CPU 1; the clients, the backends and wrk on CPU 0):
#
#   idle      resident memory per open, idle WebSocket connection: VmRSS of
#             the gateway before and with N connections open (and after they
#             close); nginx the same for connections it proxies to an echo
#             server (it holds two sockets per connection: at most
#             (file limit - 200) / 2 of them).
#   connect   connects per second through a `$connect` route with a Wasm
#             token authorizer (a fresh instance per connect, decision cache
#             off) and a mock integration; each cycle is TCP connect,
#             upgrade, close frames both ways. The same without the
#             authorizer as the reference.
#   messages  replies per second on a two-way route answered by a mock
#             integration: CONNS connections, each sending WINDOW messages
#             at once and then reading the WINDOW replies. nginx relaying
#             the same messages to an echo server (wsload echo, CPU 0), and
#             that echo server without a proxy ("direct").
#   push      `POST /@connections/{id}` per second on the admin listener
#             (wrk, keep-alive, a Lua script rotating the ids of PUSH_CONNS
#             open connections, each push delivered as a message), against
#             the same wrk load on two plain HTTP routes of the gateway (on
#             a listener of their own): `POST /push/{id}` answered by a mock
#             integration, and `POST /proxy/{id}` proxied to wsload's
#             backend on CPU 0 (like a push: one request in, one out).
#
#   cargo build --release -p turnpike
#   cargo build --release --target wasm32-wasip2 --manifest-path guest-examples/Cargo.toml -p rust-token-authorizer
#   cargo build --release --manifest-path benches/wsload/Cargo.toml
#   benches/websocket.sh
#
# Every rate is counted by the client over DURATION seconds after WARMUP
# seconds of the same load; "CPU" is the proxy's CPU time over that window
# (all its threads, /proc/PID/task/*/schedstat) divided by its length: 1.00
# is its one core busy throughout; below that something else (usually the
# client's core) was the limit, and the CPU time per message, connect or
# request ("us/...") is the figure to compare. "client CPU" is wsload's own.
#
# Env: N (10000 idle connections), IDLE (3: seconds the connections sit before
#      the reading, past the allocator's purge delay), DURATION (5), WARMUP (1),
#      ROUNDS (1: medians over rounds), CONNS (64), WINDOW (16),
#      CONNECTORS (16 concurrent connect loops), PUSH_CONNS (64),
#      WRK_CONNS (64), ONLY (comma-separated: idle,connect,messages,push),
#      TURNPIKE (target/release/turnpike), KEEP (keep the work directory).
# Needs: nginx, wrk, taskset (apt-get install -y nginx-light wrk util-linux).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${TURNPIKE:-$ROOT/target/release/turnpike}
WSLOAD=$ROOT/benches/wsload/target/release/wsload
AUTHZ=$ROOT/guest-examples/target/wasm32-wasip2/release/rust_token_authorizer.wasm
N=${N:-10000}; IDLE=${IDLE:-3}; DURATION=${DURATION:-5}; WARMUP=${WARMUP:-1}; ROUNDS=${ROUNDS:-1}
CONNS=${CONNS:-64}; WINDOW=${WINDOW:-16}; CONNECTORS=${CONNECTORS:-16}
PUSH_CONNS=${PUSH_CONNS:-64}; WRK_CONNS=${WRK_CONNS:-64}
ONLY=${ONLY:-idle,connect,messages,push}
MESSAGE='{"action":"echo"}'
PUSH_BODY='{"event":"tick"}'

for f in "$BIN" "$WSLOAD" "$AUTHZ"; do
  [[ -x "$f" || -f "$f" ]] || { echo "missing $f: see the build commands at the top of $0" >&2; exit 2; }
done
for tool in nginx wrk taskset curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y nginx-light wrk" >&2; exit 2; }
done
want() { [[ ",$ONLY," == *",$1,"* ]]; }

# Every process holds up to N sockets (nginx twice that).
ulimit -n "$(ulimit -Hn)"
LIMIT=$(ulimit -n)
((LIMIT >= N + 512)) || { echo "the file limit ($LIMIT) is too low for N=$N connections" >&2; exit 2; }
NG_N=$(( N < (LIMIT - 200) / 2 ? N : (LIMIT - 200) / 2 ))

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ -n "${KEEP:-}" ]]; then echo "work directory: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'; }
field() { { grep -o "$1=[^ ]*" <<<"$2" || true; } | head -1 | cut -d= -f2; } # KEY LINE
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
wait_line() { # FILE PATTERN PID: waits for a line matching PATTERN in FILE
  for _ in $(seq 1 600); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || { echo "process $3 ended:" >&2; cat "$1" "$1.err" >&2 2>/dev/null; exit 1; }
    sleep 0.1
  done
  echo "timed out waiting for '$2' in $1" >&2; exit 1
}
start_server() { # NAME: starts `wsload NAME` on CPU 0; PORT is its port
  taskset -c 0 "$WSLOAD" "$1" >"$WORK/$1.out" 2>"$WORK/$1.out.err" & PIDS+=($!)
  wait_line "$WORK/$1.out" '^listening' $!
  PORT=$(sed -n 's/^listening .*:\([0-9]*\)$/\1/p' "$WORK/$1.out")
}

start_server echo; ECHO_PORT=$PORT
start_server backend; BACKEND_PORT=$PORT

cat >"$WORK/turnpike.toml" <<CONF
[server]
access_log = "off"
workers = 1
cache_dir = "$WORK/cache"

[admin]
address = "127.0.0.1:0"

# One listener per API: no Host matching in the way.
[[listeners]]
name = "ws"
address = "127.0.0.1:0"
[[listeners]]
name = "auth"
address = "127.0.0.1:0"
[[listeners]]
name = "push"
address = "127.0.0.1:0"
[[listeners]]
name = "http"
address = "127.0.0.1:0"

[plugins.tokens]
component = "$AUTHZ"
world = "authorizer"
config = { tokens = "s3cret:alice" }

# Idle connections and messages: \$connect and the two-way route answered
# by mock integrations (the reply is the message's own bytes, as the echo
# server behind nginx answers).
[[apis]]
name = "chat"
protocol = "websocket"
listeners = ["ws"]
[apis.stages.prod]
[[apis.routes]]
key = "\$connect"
integration = { type = "mock", status = 200 }
[[apis.routes]]
key = "echo"
return_response = true
integration = { type = "mock", body = '$MESSAGE' }

# Connects through a Wasm token authorizer, every connect a fresh instance.
[[apis]]
name = "authed"
protocol = "websocket"
listeners = ["auth"]
[apis.stages.prod]
[apis.authorizers.tokens]
type = "wasm"
plugin = "tokens"
identity_sources = ["\$request.header.Authorization"]
cache_ttl = "0s"
[[apis.routes]]
key = "\$connect"
authorizer = "tokens"
integration = { type = "mock", status = 200 }

# @connections: \$connect goes to wsload's backend, which records the ids.
[[apis]]
name = "pushed"
protocol = "websocket"
listeners = ["push"]
[apis.stages.prod]
[[apis.routes]]
key = "\$connect"
integration = { type = "http_proxy", url = "http://127.0.0.1:$BACKEND_PORT/connect" }
[[apis.routes]]
key = "\$disconnect"
integration = { type = "http_proxy", url = "http://127.0.0.1:$BACKEND_PORT/disconnect" }

# The plain HTTP routes the pushes are compared with: a mock answer, and
# a proxy to wsload's backend (one request in and one out, as a push).
[[apis]]
name = "plain"
listeners = ["http"]
[[apis.routes]]
key = "POST /push/{id}"
integration = { type = "mock", status = 200, body = "{}" }
[[apis.routes]]
key = "POST /proxy/{id}"
integration = { type = "http_proxy", url = "http://127.0.0.1:$BACKEND_PORT/proxy/{id}" }
CONF

"$BIN" validate --config "$WORK/turnpike.toml" >/dev/null
taskset -c 1 "$BIN" serve --config "$WORK/turnpike.toml" >"$WORK/turnpike.out" 2>"$WORK/turnpike.out.err" & PIDS+=($!)
TP=$!
wait_line "$WORK/turnpike.out" '"event":"ready"' $TP
addr() { grep '"event":"listening"' "$WORK/turnpike.out" | grep "\"listener\":\"$1\"" | sed 's/.*"address":"\([^"]*\)".*/\1/' | head -1; }
WS=$(addr ws); AUTH=$(addr auth); PUSH=$(addr push); HTTP=$(addr http); ADMIN=$(addr @admin)
for a in WS AUTH PUSH HTTP ADMIN; do [[ -n "${!a}" ]] || { echo "no listening line for $a" >&2; cat "$WORK/turnpike.out" >&2; exit 1; }; done

NG_PORT=19191
cat >"$WORK/nginx.conf" <<CONF
daemon off; worker_processes 1; pid $WORK/nginx.pid; error_log $WORK/nginx.err;
worker_rlimit_nofile $LIMIT;
# Two per relayed connection, and nginx closes "reusable" ones (those still
# waiting for their request) once fewer than 1/16 are free.
events { worker_connections $((3 * NG_N)); }
http { access_log off;
  upstream echo { server 127.0.0.1:$ECHO_PORT; }
  server { listen 127.0.0.1:$NG_PORT;
    location / { proxy_pass http://echo; proxy_http_version 1.1;
      proxy_set_header Upgrade \$http_upgrade; proxy_set_header Connection "upgrade";
      proxy_read_timeout 600s; proxy_send_timeout 600s; } } }
CONF
NGINX=
start_nginx() {
  taskset -c 1 nginx -c "$WORK/nginx.conf" -e "$WORK/nginx.err" & PIDS+=($!)
  for _ in $(seq 100); do [[ -s $WORK/nginx.pid ]] && pgrep -P "$(cat "$WORK/nginx.pid")" >/dev/null && break; sleep 0.1; done
  sleep 0.3
  NGINX=$(pgrep -P "$(cat "$WORK/nginx.pid")" | head -1)
}

# hold URL COUNT [wsload args...]: opens COUNT connections in the
# background; HOLD_PID, and HOLD_FD to close to let them go (a process
# started meanwhile inherits HOLD_FD: only short-lived ones are).
hold() {
  local url=$1 count=$2; shift 2
  rm -f "$WORK/hold.in"; mkfifo "$WORK/hold.in"
  taskset -c 0 "$WSLOAD" hold --url "$url" --connections "$count" "$@" <"$WORK/hold.in" >"$WORK/hold.out" 2>"$WORK/hold.out.err" &
  HOLD_PID=$!; PIDS+=("$HOLD_PID")
  exec {HOLD_FD}>"$WORK/hold.in"
  wait_line "$WORK/hold.out" '^ready' "$HOLD_PID"
}
release() { exec {HOLD_FD}>&-; wait "$HOLD_PID" || true; cat "$WORK/hold.out.err" >&2; }

echo "# WebSocket benchmarks: gateway (workers = 1) and nginx on CPU 1, clients and backends on CPU 0; $(date -u +%F)"

if want idle; then
  # measure NAME PID URL COUNT: KiB before, with COUNT open, after they close
  measure_idle() {
    local name=$1 pid=$2 url=$3 count=$4 before with after
    sleep "$IDLE" # what the process frees after starting (it collects once a second) is not the connections'
    before=$(rss_kib "$pid")
    hold "$url" "$count"
    sleep "$IDLE"
    with=$(rss_kib "$pid")
    release
    sleep 2
    after=$(rss_kib "$pid")
    IDLE_ROWS+=("$(printf '%-26s %7d %11d %11d %11d %10.2f   (%s)' "$name" "$count" "$before" "$with" "$after" \
      "$(awk -v a="$before" -v b="$with" -v n="$count" 'BEGIN {print (b - a) / n}')" "$(tail -1 "$WORK/hold.out")")")
  }
  IDLE_ROWS=()
  measure_idle "turnpike (terminates)" "$TP" "ws://$WS/prod" "$N"
  start_nginx
  measure_idle "nginx (relays to echo)" "$NGINX" "ws://127.0.0.1:$NG_PORT/" "$NG_N"
  echo
  echo "## Idle connections: resident KiB of the process (VmRSS), $IDLE s after the last opened"
  printf '%-26s %7s %11s %11s %11s %10s\n' target conns before open closed 'KiB/conn'
  printf '%s\n' "${IDLE_ROWS[@]}"
fi
[[ -z "$NGINX" ]] && start_nginx

if want connect; then
  echo
  echo "## Connects/s ($CONNECTORS connect+close loops; handshake = TCP connect to 101)"
  printf '%-46s %11s %8s %8s %7s %7s %14s %7s\n' route 'connects/s' 'p50 ms' 'p99 ms' CPU 'client CPU' 'gateway us/conn' errors
  for spec in "\$connect mock, no authorizer|ws://$WS/prod|" \
              "\$connect wasm token authorizer + mock|ws://$AUTH/prod|Authorization: Bearer s3cret"; do
    IFS='|' read -r name url header <<<"$spec"
    args=(); [[ -n "$header" ]] && args=(--header "$header")
    rates=() p50s=() p99s=() cpus=() ccpus=() errs=0
    for _ in $(seq 1 "$ROUNDS"); do
      line=$(taskset -c 0 "$WSLOAD" connect --url "$url" "${args[@]}" --concurrency "$CONNECTORS" \
        --duration "$DURATION" --warmup "$WARMUP" --cpu-pid "$TP")
      rates+=("$(field 'connects/s' "$line")"); p50s+=("$(field p50_ms "$line")"); p99s+=("$(field p99_ms "$line")")
      cpus+=("$(field cpu "$line")"); ccpus+=("$(field client_cpu "$line")"); errs=$((errs + $(field errors "$line")))
    done
    rate=$(median "${rates[@]}"); cpu=$(median "${cpus[@]}")
    printf '%-46s %11.0f %8.2f %8.2f %7.2f %7.2f %14.1f %7d\n' "$name" "$rate" "$(median "${p50s[@]}")" \
      "$(median "${p99s[@]}")" "$cpu" "$(median "${ccpus[@]}")" "$(awk -v c="$cpu" -v r="$rate" 'BEGIN {print c * 1e6 / r}')" "$errs"
  done
  # A refused token must be refused (the authorizer is really on the path).
  line=$(taskset -c 0 "$WSLOAD" connect --url "ws://$AUTH/prod" --header 'Authorization: Bearer wrong' \
    --concurrency 1 --duration 0.2 --warmup 0 2>&1)
  [[ $(field connects "$line") == 0 && $line == *"HTTP error: 403"* ]] \
    || { echo "a wrong token was not refused with 403: $line" >&2; exit 1; }
fi

if want messages; then
  echo
  echo "## Messages/s ($CONNS connections x window $WINDOW, ${#MESSAGE}-byte text messages, replies of the same bytes)"
  printf '%-46s %11s %7s %11s %14s %7s\n' target 'msg/s' CPU 'client CPU' 'proxy us/msg' errors
  declare -A MSG_RATE MSG_CPU
  for spec in "direct: client -> wsload echo (no proxy)|ws://127.0.0.1:$ECHO_PORT/|" \
              "nginx -> wsload echo|ws://127.0.0.1:$NG_PORT/|$NGINX" \
              "turnpike, two-way route, mock integration|ws://$WS/prod|$TP"; do
    IFS='|' read -r name url pid <<<"$spec"
    args=(); [[ -n "$pid" ]] && args=(--cpu-pid "$pid")
    rates=() cpus=() ccpus=() errs=0
    for _ in $(seq 1 "$ROUNDS"); do
      line=$(taskset -c 0 "$WSLOAD" messages --url "$url" --connections "$CONNS" --window "$WINDOW" \
        --message "$MESSAGE" --duration "$DURATION" --warmup "$WARMUP" "${args[@]}")
      rates+=("$(field 'msg/s' "$line")"); cpus+=("$(field cpu "$line")"); ccpus+=("$(field client_cpu "$line")")
      errs=$((errs + $(field errors "$line")))
    done
    rate=$(median "${rates[@]}"); ccpu=$(median "${ccpus[@]}")
    if [[ -n "$pid" ]]; then
      cpu=$(median "${cpus[@]}")
      printf '%-46s %11.0f %7.2f %11.2f %14.2f %7d\n' "$name" "$rate" "$cpu" "$ccpu" "$(awk -v c="$cpu" -v r="$rate" 'BEGIN {print c * 1e6 / r}')" "$errs"
    else
      cpu=
      printf '%-46s %11.0f %7s %11.2f %14s %7d\n' "$name" "$rate" - "$ccpu" - "$errs"
    fi
    MSG_RATE[$name]=$rate; MSG_CPU[$name]=$cpu
  done
  ng="nginx -> wsload echo"; tp="turnpike, two-way route, mock integration"
  awk -v t="${MSG_RATE[$tp]}" -v n="${MSG_RATE[$ng]}" -v tc="${MSG_CPU[$tp]}" -v nc="${MSG_CPU[$ng]}" 'BEGIN {
    printf "turnpike / nginx: %.2f by rate, %.2f by proxy CPU per message\n", t / n, (nc / n) / (tc / t) }'
fi

if want push; then
  cat >"$WORK/push.lua" <<'LUA'
-- POST PUSH_PREFIX..ID with PUSH_BODY, rotating over the ids in PUSH_IDS;
-- the requests are formatted once, in init (wrk sets Host just before it).
local requests, n = {}, 0
function init(args)
  local prefix, body = os.getenv("PUSH_PREFIX"), os.getenv("PUSH_BODY")
  for id in io.lines(os.getenv("PUSH_IDS")) do
    if #id > 0 then
      requests[#requests + 1] = wrk.format("POST", prefix .. id, { ["Content-Type"] = "text/plain" }, body)
    end
  end
end
function request()
  n = n % #requests + 1
  return requests[n]
end
LUA
  hold "ws://$PUSH/prod" "$PUSH_CONNS"
  curl -sf "http://127.0.0.1:$BACKEND_PORT/ids" >"$WORK/ids.txt"
  got=$(grep -c . "$WORK/ids.txt" || true)
  ((got == PUSH_CONNS)) || { echo "the backend recorded $got connection ids, not $PUSH_CONNS" >&2; exit 1; }
  id=$(head -1 "$WORK/ids.txt")
  [[ $(curl -s -o /dev/null -w '%{http_code}' -X POST --data "$PUSH_BODY" "http://$ADMIN/@connections/$id") == 200 ]] \
    || { echo "POST @connections/$id did not answer 200" >&2; exit 1; }
  [[ $(curl -s -o /dev/null -w '%{http_code}' -X POST --data "$PUSH_BODY" "http://$ADMIN/@connections/nope") == 410 ]] \
    || { echo "POST @connections/nope did not answer 410" >&2; exit 1; }
  for route in push proxy; do
    [[ $(curl -s -o /dev/null -w '%{http_code}' -X POST --data "$PUSH_BODY" "http://$HTTP/$route/$id") == 200 ]] \
      || { echo "POST /$route/$id did not answer 200" >&2; exit 1; }
  done
  export PUSH_IDS=$WORK/ids.txt PUSH_BODY
  whole() { awk -v d="$1" 'BEGIN {printf "%d", (d < 1 ? 1 : d + 0.5)}'; } # wrk takes whole seconds
  # push PREFIX URL -> "req/s cpu requests non2xx"
  push() {
    local out c0 c1 t0 t1
    PUSH_PREFIX=$1 taskset -c 0 wrk -t1 -c"$WRK_CONNS" -d"$(whole "$WARMUP")s" -s "$WORK/push.lua" "$2" >/dev/null
    c0=$(cpu_ns "$TP"); t0=$(date +%s%N)
    out=$(PUSH_PREFIX=$1 taskset -c 0 wrk -t1 -c"$WRK_CONNS" -d"$(whole "$DURATION")s" -s "$WORK/push.lua" "$2")
    c1=$(cpu_ns "$TP"); t1=$(date +%s%N)
    echo "$(awk '/^Requests\/sec:/ {print $2}' <<<"$out") $(awk -v a="$c0" -v b="$c1" -v t0="$t0" -v t1="$t1" 'BEGIN {printf "%.3f", (b - a) / (t1 - t0)}') \
      $(awk '/requests in/ {print $1}' <<<"$out") $(awk '/Non-2xx/ {print $NF}' <<<"$out" | grep . || echo 0)"
  }
  echo
  echo "## @connections pushes/s (wrk -t1 -c$WRK_CONNS keep-alive, ${#PUSH_BODY}-byte bodies, $PUSH_CONNS open connections receiving)"
  printf '%-46s %11s %7s %14s %9s\n' target 'req/s' CPU 'gateway us/req' 'non-2xx'
  declare -A PUSH_RATE PUSH_CPU
  for spec in "POST /@connections/{id} (admin listener)|/@connections/|http://$ADMIN/" \
              "POST /push/{id}, HTTP API mock route|/push/|http://$HTTP/" \
              "POST /proxy/{id}, http_proxy to wsload backend|/proxy/|http://$HTTP/"; do
    IFS='|' read -r name prefix url <<<"$spec"
    rates=() cpus=() bad=0
    for _ in $(seq 1 "$ROUNDS"); do
      read -r rate cpu total non2xx < <(push "$prefix" "$url")
      rates+=("$rate"); cpus+=("$cpu"); bad=$((bad + non2xx))
    done
    rate=$(median "${rates[@]}"); cpu=$(median "${cpus[@]}")
    printf '%-46s %11.0f %7.2f %14.2f %9d\n' "$name" "$rate" "$cpu" "$(awk -v c="$cpu" -v r="$rate" 'BEGIN {print c * 1e6 / r}')" "$bad"
    PUSH_RATE[$prefix]=$rate; PUSH_CPU[$prefix]=$cpu
  done
  release
  echo "messages the held connections received: $(field received "$(tail -1 "$WORK/hold.out")") (lost connections: $(field lost "$(tail -1 "$WORK/hold.out")"))"
  for route in /push/ /proxy/; do
    awk -v r="$route" -v p="${PUSH_RATE[/@connections/]}" -v h="${PUSH_RATE[$route]}" -v pc="${PUSH_CPU[/@connections/]}" -v hc="${PUSH_CPU[$route]}" 'BEGIN {
      printf "pushes / %s route: %.2f by rate, %.2f by gateway CPU per request\n", (r == "/push/" ? "mock" : "proxy"), p / h, (hc / h) / (pc / p) }'
  done
fi
