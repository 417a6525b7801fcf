"""An HTTP/3 client for the end-to-end tests, built on aioquic (an
independent QUIC and HTTP/3 implementation): one QUIC connection, requests
sent on it one after another (or all at once with "concurrent").

Reads a JSON spec on stdin:
  {"port": PORT, "server_name": NAME, "ca": PEM_FILE (or null: no
   verification), "concurrent": bool,
   "requests": [{"method", "path", "headers": {NAME: VALUE}, "body": TEXT}]}
Writes {"responses": [{"status", "headers": {NAME: VALUE}, "body"}]} or
{"error": TEXT} when the connection fails.
"""

import asyncio
import json
import ssl
import sys

from aioquic.asyncio import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import QuicEvent


class Client(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.http = H3Connection(self._quic)
        self.pending = {}

    def quic_event_received(self, event: QuicEvent) -> None:
        for h3_event in self.http.handle_event(event):
            if isinstance(h3_event, (HeadersReceived, DataReceived)):
                entry = self.pending.get(h3_event.stream_id)
                if entry is None:
                    continue
                response, done = entry
                if isinstance(h3_event, HeadersReceived):
                    for name, value in h3_event.headers:
                        name, value = name.decode(), value.decode()
                        if name == ":status":
                            response["status"] = int(value)
                        else:
                            response["headers"][name] = value
                else:
                    response["body"] += h3_event.data
                if h3_event.stream_ended and not done.done():
                    done.set_result(None)

    async def request(self, authority: str, spec: dict) -> dict:
        stream_id = self._quic.get_next_available_stream_id()
        body = spec.get("body", "").encode()
        headers = [
            (b":method", spec.get("method", "GET").encode()),
            (b":scheme", b"https"),
            (b":authority", authority.encode()),
            (b":path", spec["path"].encode()),
        ]
        for name, value in spec.get("headers", {}).items():
            headers.append((name.lower().encode(), value.encode()))
        if body:
            headers.append((b"content-length", str(len(body)).encode()))
        response = {"status": None, "headers": {}, "body": b""}
        done = asyncio.get_running_loop().create_future()
        self.pending[stream_id] = (response, done)
        self.http.send_headers(stream_id, headers, end_stream=not body)
        if body:
            self.http.send_data(stream_id, body, end_stream=True)
        self.transmit()
        await asyncio.wait_for(done, timeout=10)
        response["body"] = response["body"].decode(errors="replace")
        return response


async def main(spec: dict) -> dict:
    configuration = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN)
    if spec.get("ca"):
        configuration.load_verify_locations(spec["ca"])
    else:
        configuration.verify_mode = ssl.CERT_NONE
    configuration.server_name = spec["server_name"]
    authority = f'{spec["server_name"]}:{spec["port"]}'
    try:
        async with connect(
            "127.0.0.1",
            spec["port"],
            configuration=configuration,
            create_protocol=Client,
            wait_connected=True,
        ) as client:
            if spec.get("concurrent"):
                responses = await asyncio.gather(
                    *(client.request(authority, r) for r in spec["requests"])
                )
            else:
                responses = [await client.request(authority, r) for r in spec["requests"]]
            return {"responses": list(responses)}
    except Exception as error:  # the test reports what failed
        return {"error": f"{type(error).__name__}: {error}"}


if __name__ == "__main__":
    result = asyncio.run(asyncio.wait_for(main(json.load(sys.stdin)), timeout=30))
    json.dump(result, sys.stdout)
