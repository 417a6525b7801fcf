"""WebSocket clients for the end-to-end tests, written with PyPI `websockets`
(an independent implementation). Reads one JSON command on stdin, prints one
JSON answer.

- {"command": "fragments", "url", "fragments", "size"}: sends one text message
  as `fragments` frames of `size` bytes; answers the close code received.
- {"command": "chat", "url", "tokens": [alice, bob]}: the chat example's
  story: a connection without a token is refused; two clients connect with
  their tokens, the first sends {"action":"sendmessage","data":"hi"}, and
  both receive the backend's broadcast. Answers what each received.
- {"command": "manage", "endpoint", "region", "access_key", "secret",
  "connection_id"}: @connections through botocore's apigatewaymanagementapi
  client, as a migrated backend calls it.
- {"command": "h2", "address", "path", "send"}: one message over HTTP/2's
  extended CONNECT (RFC 8441); answers the status and the reply.
"""

import asyncio
import json
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus


async def fragments(command):
    async with connect(command["url"], max_size=None) as ws:
        chunks = ["f" * command["size"]] * command["fragments"]
        try:
            await ws.send(chunks)
            await asyncio.wait_for(ws.recv(), 10)
        except ConnectionClosed:
            pass
        await asyncio.wait_for(ws.wait_closed(), 10)
        code = ws.close_code
        return {"close_code": code}


async def chat(command):
    answer = {"received": {}}
    try:
        async with connect(command["url"]):
            answer["refused_without_token"] = None
    except InvalidStatus as refused:
        answer["refused_without_token"] = refused.response.status_code
    alice_token, bob_token = command["tokens"]
    auth = lambda token: {"Authorization": f"Bearer {token}"}
    async with connect(command["url"], additional_headers=auth(alice_token)) as alice, \
            connect(command["url"], additional_headers=auth(bob_token)) as bob:
        await alice.send(json.dumps({"action": "sendmessage", "data": "hi"}))
        for name, ws in (("alice", alice), ("bob", bob)):
            answer["received"][name] = json.loads(await asyncio.wait_for(ws.recv(), 10))
    return answer


async def manage(command):
    """API Gateway's management API through botocore's own
    `apigatewaymanagementapi` client (what a migrated Lambda function uses),
    SigV4-signed: post, get, delete; then a call signed with a wrong secret."""
    import botocore.session
    from botocore.exceptions import ClientError

    def client(secret):
        return botocore.session.get_session().create_client(
            "apigatewaymanagementapi",
            endpoint_url=command["endpoint"],
            region_name=command["region"],
            aws_access_key_id=command["access_key"],
            aws_secret_access_key=secret,
        )

    good = client(command["secret"])
    cid = command["connection_id"]
    answer = {}
    good.post_to_connection(ConnectionId=cid, Data=b"hello from botocore")
    info = good.get_connection(ConnectionId=cid)
    answer["source_ip"] = info["Identity"]["SourceIp"]
    answer["connected_at"] = info["ConnectedAt"].isoformat()
    try:
        client("x" * 40).post_to_connection(ConnectionId=cid, Data=b"forged")
    except ClientError as error:
        answer["forged"] = error.response["ResponseMetadata"]["HTTPStatusCode"]
    good.delete_connection(ConnectionId=cid)
    try:
        good.get_connection(ConnectionId=cid)
    except ClientError as error:
        answer["after_delete"] = error.response["Error"]["Code"]
    return answer


def h2(command):
    """A WebSocket over HTTP/2 (RFC 8441) with PyPI h2 and hand-made RFC 6455
    frames: waits for SETTINGS_ENABLE_CONNECT_PROTOCOL, sends the extended
    CONNECT, then one masked text message; answers the status and the
    first message received."""
    import os
    import socket
    import struct

    import h2.config
    import h2.connection
    import h2.events
    from h2.settings import SettingCodes

    host, port = command["address"].rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=10)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    answer = {"enable_connect_protocol": None, "status": None, "message": None}
    stream = None
    buffered = b""
    while answer["message"] is None:
        data = sock.recv(65536)
        if not data:
            break
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.RemoteSettingsChanged):
                changed = event.changed_settings.get(SettingCodes.ENABLE_CONNECT_PROTOCOL)
                if changed is not None and stream is None:
                    answer["enable_connect_protocol"] = changed.new_value
                    stream = conn.get_next_available_stream_id()
                    conn.send_headers(stream, [
                        (":method", "CONNECT"), (":protocol", "websocket"),
                        (":scheme", "http"), (":path", command["path"]),
                        (":authority", command["address"]),
                        ("sec-websocket-version", "13"),
                    ])
            elif isinstance(event, h2.events.ResponseReceived):
                answer["status"] = int(dict(event.headers)[b":status"])
                if answer["status"] == 200:
                    payload = command["send"].encode()
                    mask = os.urandom(4)
                    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                    frame = bytes([0x81, 0x80 | len(payload)]) + mask + masked
                    conn.send_data(stream, frame)
            elif isinstance(event, h2.events.DataReceived):
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                buffered += event.data
                if len(buffered) >= 2:
                    length = buffered[1] & 0x7F
                    if len(buffered) >= 2 + length:
                        answer["opcode"] = buffered[0] & 0x0F
                        answer["message"] = buffered[2:2 + length].decode()
            elif isinstance(event, h2.events.StreamEnded):
                answer["ended"] = True
        sock.sendall(conn.data_to_send())
        if answer.get("ended") or (answer["status"] not in (None, 200)):
            break
    sock.close()
    return answer


async def h2_command(command):
    return await asyncio.get_running_loop().run_in_executor(None, h2, command)


COMMANDS = {"fragments": fragments, "chat": chat, "manage": manage, "h2": h2_command}

if __name__ == "__main__":
    request = json.load(sys.stdin)
    print(json.dumps(asyncio.run(COMMANDS[request["command"]](request))))
