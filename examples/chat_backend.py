#!/usr/bin/env python3
"""The chat example's backend (see examples/chat.toml), standard library only.

Turnpike calls POST /events for $connect, $disconnect and sendmessage, with the
connection id, event type and the authorizer's principal in x-turnpike-*
headers. The backend keeps the set of open connections and broadcasts each
message to all of them through the admin listener's @connections API, as a
Lambda function would through API Gateway's management API.

    python3 examples/chat_backend.py [--port 9000] [--admin http://127.0.0.1:9901] [--token chat-admin-token]
"""

import argparse
import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

connections = set()
lock = threading.Lock()


def post_to_connection(admin, token, connection_id, data):
    request = urllib.request.Request(
        f"{admin}/@connections/{connection_id}",
        data=data,
        method="POST",
        headers={"Authorization": f"Bearer {token}"},
    )
    try:
        urllib.request.urlopen(request, timeout=5).read()
        return True
    except urllib.error.HTTPError as error:
        if error.code == 410:  # gone: forget it, as the AWS sample does
            return False
        raise


def handler(admin, token):
    class Events(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            event = self.headers.get("x-turnpike-event-type")
            connection_id = self.headers.get("x-turnpike-connection-id")
            if event == "CONNECT":
                with lock:
                    connections.add(connection_id)
            elif event == "DISCONNECT":
                with lock:
                    connections.discard(connection_id)
            elif event == "MESSAGE":
                message = json.loads(body or b"{}")
                out = json.dumps({
                    "from": self.headers.get("x-turnpike-principal-id"),
                    "data": message.get("data"),
                }).encode()
                with lock:
                    targets = list(connections)
                for target in targets:
                    if not post_to_connection(admin, token, target, out):
                        with lock:
                            connections.discard(target)
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    return Events


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--admin", default="http://127.0.0.1:9901")
    parser.add_argument("--token", default="chat-admin-token")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(args.admin.rstrip("/"), args.token))
    print(f"chat backend listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
