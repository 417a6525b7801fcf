"""Unit tests, run natively: `python3 -m unittest` (after `./build.sh`, which
generates the `wit_world` bindings into bindings/)."""

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "bindings"))

from app import map_request, map_response  # noqa: E402
from wit_world.exports.mapping import HttpRequest, HttpResponse, RequestOutcome_Forward  # noqa: E402


class MapperTest(unittest.TestCase):
    def test_requests_are_marked(self):
        outcome = map_request(HttpRequest("GET", "/hello", [], [], b""))
        self.assertIsInstance(outcome, RequestOutcome_Forward)
        self.assertIn(("x-mapped-by", "__NAME__"), outcome.value.headers)

    def test_responses_are_marked(self):
        response = map_response(HttpResponse(200, [("content-type", "text/plain")], b"hi"))
        self.assertIn(("x-mapped-by", "__NAME__"), response.headers)


if __name__ == "__main__":
    unittest.main()
