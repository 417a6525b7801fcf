#!/usr/bin/env python3
"""A terminal chat client for examples/chat.toml (PyPI `websockets`).

    python3 examples/chat_client.py TOKEN [ws://127.0.0.1:8080/prod]

Each line typed is sent as {"action":"sendmessage","data":LINE}; every
message received is printed.
"""

import asyncio
import json
import sys

from websockets.asyncio.client import connect


async def main(token, url):
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        async def printer():
            async for message in ws:
                print(message, flush=True)

        printing = asyncio.create_task(printer())
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            await ws.send(json.dumps({"action": "sendmessage", "data": line.rstrip("\n")}))
        printing.cancel()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "ws://127.0.0.1:8080/prod"))
