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


COMMANDS = {"fragments": fragments, "chat": chat, "manage": manage}

if __name__ == "__main__":
    request = json.load(sys.stdin)
    print(json.dumps(asyncio.run(COMMANDS[request["command"]](request))))
