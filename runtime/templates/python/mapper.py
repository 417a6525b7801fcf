"""__NAME__: a Turnpike mapper in Python.

The starting point marks both directions with an `x-mapped-by: __NAME__`
header. Rewrite the method, path, query, headers or body in `map_request`, or
answer by itself with `RequestOutcome_Respond`; reshape the integration's
answer in `map_response`. Raising `Err(message)` fails the invocation with
that message (the client gets a 500). `python3 -m unittest` runs the tests
in test_app.py natively.
"""

from typing import List, Tuple

from wit_world import exports
from wit_world.exports.mapping import HttpRequest, HttpResponse, RequestOutcome, RequestOutcome_Forward
from wit_world.imports.types import RequestInfo

Entries = List[Tuple[str, str]]


def with_header(headers: Entries, name: str, value: str) -> Entries:
    """`headers` with every `name` header replaced by one with `value`."""
    return [(k, v) for k, v in headers if k != name] + [(name, value)]


def map_request(request: HttpRequest) -> RequestOutcome:
    """Request mapping; plain Python, so the unit tests run it natively."""
    request.headers = with_header(request.headers, "x-mapped-by", "__NAME__")
    return RequestOutcome_Forward(request)


def map_response(response: HttpResponse) -> HttpResponse:
    """Response mapping; plain Python, so the unit tests run it natively."""
    response.headers = with_header(response.headers, "x-mapped-by", "__NAME__")
    return response


class Mapping(exports.Mapping):
    """The component's export: `turnpike:gateway/mapping`."""

    def map_request(self, info: RequestInfo, context: Entries, request: HttpRequest) -> RequestOutcome:
        return map_request(request)

    def map_response(self, info: RequestInfo, context: Entries, response: HttpResponse) -> HttpResponse:
        return map_response(response)
