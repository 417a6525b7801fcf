"""A mapper in Python that reshapes JSON, as an API Gateway mapping template
would. It behaves exactly like `rust-json-mapper`.

Request mapping:
- a JSON body `{"name": N, "kind": K}` becomes
  `{"pet": {"name": N, "species": K}, "requestId": ID}`;
- `x-mapped-by: json-mapper` is added, `x-internal-secret` removed;
- the query gets `mapped=true`;
- a request with `x-mapper-respond: teapot` is answered by the mapper itself
  (418), without calling the integration.

Response mapping: the body is wrapped as `{"status": S, "data": BODY}` (BODY
as JSON if it is JSON, else as a string), with `x-response-mapped: true`.

Returning a value is the WIT result's `ok`; raising `Err(message)` is its
`err` (the gateway answers 500 and logs the message); any other exception
traps the invocation, which the gateway also answers with a clean 500.
"""

import json
from typing import List, Tuple

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.mapping import (
    HttpRequest,
    HttpResponse,
    RequestOutcome,
    RequestOutcome_Forward,
    RequestOutcome_Respond,
)
from wit_world.imports.types import RequestInfo

Headers = List[Tuple[str, str]]


def header(headers: Headers, name: str) -> str | None:
    """The first value of header `name` (names are lower case)."""
    return next((value for key, value in headers if key == name), None)


def set_header(headers: Headers, name: str, value: str) -> Headers:
    """`headers` with every `name` header replaced by one with `value`."""
    return [(k, v) for k, v in headers if k != name] + [(name, value)]


def to_json(value) -> bytes:
    """Compact JSON, the same bytes serde_json writes for these shapes."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def map_request(request_id: str, request: HttpRequest) -> RequestOutcome:
    """Request mapping; plain Python, testable natively."""
    if header(request.headers, "x-mapper-respond") == "teapot":
        body = b"short-circuited by the mapper"
        return RequestOutcome_Respond(HttpResponse(418, [("content-type", "text/plain")], body))
    headers = request.headers
    body = request.body
    if body:
        try:
            pet = json.loads(body)
        except ValueError as error:
            raise Err(f"request body is not JSON: {error}")
        if not isinstance(pet, dict):
            pet = {}
        body = to_json(
            {"pet": {"name": pet.get("name"), "species": pet.get("kind")}, "requestId": request_id}
        )
        headers = set_header(headers, "content-type", "application/json")
    headers = set_header(headers, "x-mapped-by", "json-mapper")
    headers = [(k, v) for k, v in headers if k != "x-internal-secret"]
    query = request.query + [("mapped", "true")]
    return RequestOutcome_Forward(HttpRequest(request.method, request.path, query, headers, body))


def map_response(response: HttpResponse) -> HttpResponse:
    """Response mapping; plain Python, testable natively."""
    try:
        data = json.loads(response.body)
    except ValueError:
        data = response.body.decode("utf-8", errors="replace")
    body = to_json({"status": response.status, "data": data})
    headers = [("content-type", "application/json"), ("x-response-mapped", "true")]
    return HttpResponse(response.status, headers, body)


class Mapping(exports.Mapping):
    """The component's export: `turnpike:gateway/mapping`."""

    def map_request(self, info: RequestInfo, context: Headers, request: HttpRequest) -> RequestOutcome:
        return map_request(info.request_id, request)

    def map_response(self, info: RequestInfo, context: Headers, response: HttpResponse) -> HttpResponse:
        return map_response(response)
