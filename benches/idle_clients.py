#!/usr/bin/env python3
"""Opens N keep-alive connections to HOST:PORT, sends one request on each,
reads the answer, and keeps them all open and idle until stdin closes.

  idle_clients.py PORT N [--tls]

Prints "ready" once every connection has had its answer, then waits.
"""
import socket
import ssl
import sys

port, count = int(sys.argv[1]), int(sys.argv[2])
tls = "--tls" in sys.argv
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
context.set_alpn_protocols(["http/1.1"])
request = b"GET /bench HTTP/1.1\r\nHost: localhost\r\n\r\n"
held = []
for i in range(count):
    raw = socket.create_connection(("127.0.0.1", port))
    conn = context.wrap_socket(raw, server_hostname="localhost") if tls else raw
    conn.sendall(request)
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = conn.recv(4096)
        if not chunk:
            raise SystemExit(f"connection {i} closed before answering")
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += conn.recv(4096)
    if not head.startswith(b"HTTP/1.1 200"):
        raise SystemExit(f"connection {i}: {head[:40]!r}")
    held.append(conn)
print("ready", flush=True)
sys.stdin.read()
for conn in held:
    conn.close()
print("closed", flush=True)
