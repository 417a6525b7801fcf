"""The items API itself, in plain Python: what to answer for a request.

Kept apart from the `wasi:http` plumbing in `app.py` so that it runs (and is
unit-tested) natively, without the component's bindings.
"""

import json

JSON = [("content-type", "application/json")]


def answer(method, headers, body):
    """The (status, headers, JSON value) for a request.

    `headers` maps lower-case names to the first value, as `str`; the
    gateway adds `x-turnpike-route-key`, `x-turnpike-stage`,
    `x-turnpike-path-NAME`, `x-turnpike-stage-variable-NAME`, `x-request-id`
    and, after an allowing authorizer, `x-turnpike-principal-id`.
    """
    if method == "GET":
        item_id = headers.get("x-turnpike-path-id")
        if item_id is None:
            return 400, JSON, {"message": "no item id"}
        if item_id == "missing":
            return 404, JSON, {"message": "no such item"}
        return 200, JSON, {
            "id": item_id,
            "name": f"item {item_id}",
            "routeKey": headers.get("x-turnpike-route-key", ""),
            "stage": headers.get("x-turnpike-stage", ""),
            "region": headers.get("x-turnpike-stage-variable-region"),
            "principal": headers.get("x-turnpike-principal-id"),
        }
    if method == "POST":
        try:
            created = json.loads(body)
        except ValueError:
            created = None
        return 201, JSON + [("location", "/items/new")], {
            "created": created,
            "requestId": headers.get("x-request-id"),
            "bytes": len(body),
        }
    return 405, JSON, {"message": "Method Not Allowed"}
