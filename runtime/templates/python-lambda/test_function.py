"""Runs the handler natively with an API Gateway event: `python3 -m unittest`."""

import json
import unittest

from lambda_function import lambda_handler


class HandlerTest(unittest.TestCase):
    def test_greets_by_name(self):
        answer = lambda_handler({"queryStringParameters": {"name": "Ada"}}, None)
        self.assertEqual(answer["statusCode"], 200)
        self.assertEqual(json.loads(answer["body"]), {"message": "Hello, Ada!"})

    def test_greets_the_world_without_a_name(self):
        answer = lambda_handler({"queryStringParameters": None}, None)
        self.assertEqual(json.loads(answer["body"]), {"message": "Hello, World!"})


if __name__ == "__main__":
    unittest.main()
