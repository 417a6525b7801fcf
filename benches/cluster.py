#!/usr/bin/env python3
"""Cluster mode, measured with the release build and a real redis-server.

    cargo build --release
    ./scripts/test                       # builds the guest examples
    benches/cluster.py propagation       # Rust plugin, 100 pushes
    PLUGIN=python PUSHES=10 benches/cluster.py propagation
    benches/cluster.py throughput        # one node standalone vs in a fleet

propagation: three nodes (each its own data_dir and compiled-plugin cache,
so each compiles every version itself) and one Redis on a Unix socket.
Each push uploads a new version of the `tokens` authorizer to node A (the
component with a custom section naming the push, so every push is a new
digest and a real compile); it is timed from A's answer (the push
acknowledged: validated, compiled and committed) until B and C both report
the version active in `GET /plugins` (polled every millisecond). Prints
percentiles of that propagation time and of the push call itself.

throughput: wrk (on CPU 0) against the same configuration served by one
node standalone and by one node of a three-node fleet (each one worker,
pinned to CPU 1), alternating rounds; prints requests per second and the
ratio (1.0: no cost).

Env: PUSHES (100), PLUGIN (rust|python), ROUNDS (5), DURATION (5s),
CONNS (32).
"""

import hashlib
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target/release/turnpike")
COMPONENTS = {
    "rust": os.path.join(
        ROOT, "guest-examples/target/wasm32-wasip2/release/rust_token_authorizer.wasm"
    ),
    "python": os.path.join(
        ROOT, "guest-examples/target/polyglot/python_token_authorizer.wasm"
    ),
}
TOKEN = "bench-admin-token"


def custom_section(name: bytes, payload: bytes) -> bytes:
    """A WebAssembly custom section (id 0): allowed anywhere at the top
    level of a component, ignored by the runtime, changes the digest."""

    def leb(n: int) -> bytes:
        out = bytearray()
        while True:
            byte = n & 0x7F
            n >>= 7
            if n:
                out.append(byte | 0x80)
            else:
                out.append(byte)
                return bytes(out)

    body = leb(len(name)) + name + payload
    return b"\x00" + leb(len(body)) + body


class Redis:
    def __init__(self, work):
        self.socket = os.path.join(work, "redis.sock")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", "0", "--save", "", "--appendonly", "no",
             "--unixsocket", self.socket, "--dir", work],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while not os.path.exists(self.socket):
            if time.time() > deadline:
                sys.exit("redis-server did not start")
            time.sleep(0.02)

    def url(self):
        return f"redis+unix://{self.socket}"

    def stop(self):
        self.proc.kill()
        self.proc.wait()


class Node:
    """A turnpike process; learns its ports from the `listening` lines."""

    def __init__(self, work, name, component, redis=None, workers=None):
        data = os.path.join(work, name)
        os.makedirs(data, exist_ok=True)
        token_file = os.path.join(work, "token")
        with open(token_file, "w") as f:
            f.write(TOKEN)
        cluster = ""
        if redis:
            cluster = f"""
[cluster]
redis_url = "{redis.url()}"
name = "bench"
node_id = "{name}"
"""
        config = f"""
[admin]
address = "127.0.0.1:0"
token_file = "{token_file}"

[server]
access_log = "off"
{f"workers = {workers}" if workers else ""}
data_dir = "{data}/data"
cache_dir = "{data}/compiled"
{cluster}
[[listeners]]
name = "main"
address = "127.0.0.1:0"

[plugins.tokens]
component = "{component}"
world = "authorizer"
config = {{ tokens = "s3cret:alice" }}

[[apis]]
name = "bench"

[apis.authorizers.bearer]
type = "wasm"
plugin = "tokens"
identity_sources = ["$request.header.Authorization"]

[[apis.routes]]
key = "GET /hello"
integration = {{ type = "mock", body = "hello" }}

[[apis.routes]]
key = "GET /private"
authorizer = "bearer"
integration = {{ type = "mock", body = "private" }}
"""
        path = os.path.join(data, "turnpike.toml")
        with open(path, "w") as f:
            f.write(config)
        self.proc = subprocess.Popen(
            [BIN, "serve", "--config", path], stdout=subprocess.PIPE,
            stderr=open(os.path.join(data, "stderr.log"), "w"), text=True)
        self.ports = {}
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "listening":
                self.ports[event["listener"]] = int(event["address"].rsplit(":", 1)[1])
            if event.get("event") == "ready":
                break
        else:
            sys.exit(f"node {name} did not start; see {data}/stderr.log")
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()

    def admin(self):
        return http.client.HTTPConnection("127.0.0.1", self.ports["@admin"], timeout=60)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def active_version(conn):
    conn.request("GET", "/plugins", headers={"authorization": f"Bearer {TOKEN}"})
    body = json.loads(conn.getresponse().read())
    for plugin in body["plugins"]:
        if plugin["name"] == "tokens":
            return plugin.get("active")
    return None


def percentile(values, p):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def propagation():
    plugin = os.environ.get("PLUGIN", "rust")
    pushes = int(os.environ.get("PUSHES", "100"))
    component = COMPONENTS[plugin]
    base = open(component, "rb").read()
    work = tempfile.mkdtemp()
    redis = Redis(work)
    nodes = []
    try:
        nodes = [Node(work, name, component, redis) for name in "abc"]
        a = nodes[0].admin()
        followers = nodes[1:]
        spread, acked = [], []
        for push in range(pushes):
            nonce = f"push-{push}-{time.time_ns()}".encode()
            body = base + custom_section(b"turnpike-bench", nonce)
            digest = hashlib.sha256(body).hexdigest()
            seen = {}

            def watch(node, key):
                conn = node.admin()
                while True:
                    if active_version(conn) == digest:
                        seen[key] = time.perf_counter()
                        return
                    time.sleep(0.001)

            started = time.perf_counter()
            a.request("PUT", "/plugins/tokens", body=body,
                      headers={"authorization": f"Bearer {TOKEN}"})
            answer = a.getresponse()
            text = answer.read()
            ack = time.perf_counter()
            if answer.status != 200:
                sys.exit(f"push {push}: {answer.status} {text[:300]!r}")
            threads = [threading.Thread(target=watch, args=(n, i)) for i, n in enumerate(followers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=120)
            if len(seen) != len(followers):
                sys.exit(f"push {push}: not every node served {digest} within 120 s")
            spread.append((max(seen.values()) - ack) * 1000)
            acked.append((ack - started) * 1000)
        print(f"plugin: {plugin} ({len(base)} bytes), pushes: {pushes}, nodes: 3")
        for label, values in (
            ("push acknowledged -> third node serving (ms)", spread),
            ("push call on node A: upload, validate, compile, commit (ms)", acked),
        ):
            print(f"{label}: p50 {percentile(values, 50):.1f}  p90 {percentile(values, 90):.1f}  "
                  f"p99 {percentile(values, 99):.1f}  max {max(values):.1f}  mean {statistics.mean(values):.1f}")
    finally:
        for node in nodes:
            node.stop()
        redis.stop()
        shutil.rmtree(work, ignore_errors=True)


def wrk(port, duration, conns, path):
    out = subprocess.run(
        ["taskset", "-c", "0", "wrk", "-t1", f"-c{conns}", f"-d{duration}", "-H", "authorization: Bearer s3cret",
         f"http://127.0.0.1:{port}{path}"],
        capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    sys.exit(f"no rate in wrk output:\n{out}")


def throughput():
    rounds = int(os.environ.get("ROUNDS", "5"))
    duration = os.environ.get("DURATION", "5s")
    conns = int(os.environ.get("CONNS", "32"))
    component = COMPONENTS["rust"]
    work = tempfile.mkdtemp()
    redis = Redis(work)
    nodes = []
    try:
        standalone = Node(work, "standalone", component, workers=1)
        fleet = [Node(work, name, component, redis, workers=1) for name in "abc"]
        nodes = [standalone] + fleet
        # The measured nodes on CPU 1, wrk on CPU 0 (the idle nodes anywhere).
        for node in (standalone, fleet[0]):
            subprocess.run(["taskset", "-apc", "1", str(node.proc.pid)],
                           check=True, stdout=subprocess.DEVNULL)
        for path in ("/hello", "/private"):
            rates = {"standalone": [], "cluster": []}
            for _ in range(rounds):
                rates["standalone"].append(wrk(standalone.ports["main"], duration, conns, path))
                rates["cluster"].append(wrk(fleet[0].ports["main"], duration, conns, path))
            s, c = statistics.mean(rates["standalone"]), statistics.mean(rates["cluster"])
            print(f"{path}: standalone {s:,.0f} req/s, cluster node {c:,.0f} req/s, "
                  f"ratio {c / s:.3f}  (rounds: {rates})")
    finally:
        for node in nodes:
            node.stop()
        redis.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    for path in [BIN] + [COMPONENTS[os.environ.get("PLUGIN", "rust")]]:
        if not os.path.exists(path):
            sys.exit(f"missing {path}: cargo build --release, then ./scripts/test builds the examples")
    mode = sys.argv[1] if len(sys.argv) > 1 else "propagation"
    {"propagation": propagation, "throughput": throughput}[mode]()
