"""Unit tests of the mapping logic, run natively: `python3 -m unittest`.

Run `./build.sh` first: it generates the `wit_world` bindings into `bindings/`.
"""

import json
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "bindings"))

from app import map_request, map_response  # noqa: E402
from componentize_py_types import Err  # noqa: E402
from wit_world.exports.mapping import (  # noqa: E402
    HttpRequest,
    HttpResponse,
    RequestOutcome_Forward,
    RequestOutcome_Respond,
)


def request(headers, body=b""):
    return HttpRequest("POST", "/pets", [], headers, body)


class MapRequestTest(unittest.TestCase):
    def test_reshapes_the_body_and_headers(self):
        outcome = map_request("req-1", request([("x-internal-secret", "1")], b'{"name":"Rex","kind":"dog"}'))
        self.assertIsInstance(outcome, RequestOutcome_Forward)
        mapped = outcome.value
        self.assertEqual(mapped.body, b'{"pet":{"name":"Rex","species":"dog"},"requestId":"req-1"}')
        self.assertIn(("x-mapped-by", "json-mapper"), mapped.headers)
        self.assertNotIn("x-internal-secret", dict(mapped.headers))
        self.assertEqual(mapped.query, [("mapped", "true")])

    def test_teapot_is_answered_by_the_mapper(self):
        outcome = map_request("req-1", request([("x-mapper-respond", "teapot")]))
        self.assertIsInstance(outcome, RequestOutcome_Respond)
        self.assertEqual(outcome.value.status, 418)

    def test_a_body_that_is_not_json_is_an_error(self):
        with self.assertRaises(Err):
            map_request("req-1", request([], b"not json"))


class MapResponseTest(unittest.TestCase):
    def test_wraps_text_and_json(self):
        wrapped = map_response(HttpResponse(202, [], b"plain words"))
        self.assertEqual(json.loads(wrapped.body), {"status": 202, "data": "plain words"})
        wrapped = map_response(HttpResponse(200, [], b'{"a":1}'))
        self.assertEqual(json.loads(wrapped.body), {"status": 200, "data": {"a": 1}})


if __name__ == "__main__":
    unittest.main()
