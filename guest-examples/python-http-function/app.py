"""A `wasi:http/proxy` component serving the items API of `items.py`.

Nothing here is Turnpike-specific: the component runs unchanged on any
wasi-http host (`wasmtime serve`, Spin, ...). The gateway passes what it
knows about the request as `x-turnpike-*` headers.
"""

import json

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports.types import (
    Fields,
    IncomingBody,
    IncomingRequest,
    Method_Get,
    Method_Post,
    OutgoingBody,
    OutgoingResponse,
    ResponseOutparam,
)

from items import answer

# The request body is read in chunks of this size.
CHUNK = 64 * 1024


def method_name(method):
    if isinstance(method, Method_Get):
        return "GET"
    if isinstance(method, Method_Post):
        return "POST"
    return "OTHER"


def read_body(request: IncomingRequest) -> bytes:
    chunks = []
    body: IncomingBody = request.consume()
    with body.stream() as stream:
        while True:
            try:
                chunks.append(stream.blocking_read(CHUNK))
            except Err:
                # The stream is closed: the whole body has been read.
                break
    return b"".join(chunks)


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        headers = {}
        for name, value in request.headers().entries():
            headers.setdefault(name, value.decode("utf-8", "replace"))
        method = method_name(request.method())
        body = read_body(request) if method == "POST" else b""
        status, response_headers, value = answer(method, headers, body)

        fields = Fields.from_list([(n, v.encode()) for n, v in response_headers])
        response = OutgoingResponse(fields)
        response.set_status_code(status)
        outgoing = response.body()
        ResponseOutparam.set(response_out, Ok(response))
        # The stream must be closed before the body is finished.
        with outgoing.write() as stream:
            payload = json.dumps(value).encode()
            for start in range(0, len(payload), 4096):
                stream.blocking_write_and_flush(payload[start : start + 4096])
        OutgoingBody.finish(outgoing, None)
