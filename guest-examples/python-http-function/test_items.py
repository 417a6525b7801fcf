"""Unit tests of the items API, run natively: `python3 -m unittest`."""

import json
import unittest

from items import answer


class AnswerTest(unittest.TestCase):
    def test_an_item_carries_what_the_gateway_passed(self):
        status, _, item = answer(
            "GET",
            {
                "x-turnpike-path-id": "42",
                "x-turnpike-route-key": "GET /items/{id}",
                "x-turnpike-stage": "eu",
                "x-turnpike-principal-id": "alice",
            },
            b"",
        )
        self.assertEqual(status, 200)
        self.assertEqual(item["name"], "item 42")
        self.assertEqual(item["principal"], "alice")
        self.assertIsNone(item["region"])

    def test_a_missing_item_is_404(self):
        self.assertEqual(answer("GET", {"x-turnpike-path-id": "missing"}, b"")[0], 404)

    def test_a_post_echoes_the_json_it_got(self):
        body = json.dumps({"name": "lamp"}).encode()
        status, headers, created = answer("POST", {"x-request-id": "r1"}, body)
        self.assertEqual(status, 201)
        self.assertIn(("location", "/items/new"), headers)
        self.assertEqual(created, {"created": {"name": "lamp"}, "requestId": "r1", "bytes": len(body)})

    def test_other_methods_are_405(self):
        self.assertEqual(answer("DELETE", {}, b"")[0], 405)


if __name__ == "__main__":
    unittest.main()
