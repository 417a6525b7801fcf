"""Runs the handler natively with API Gateway's TOKEN event: `python3 -m unittest`."""

import os
import unittest

from lambda_function import lambda_handler

ARN = "arn:aws:execute-api:us-east-1:123456789012:demo/$default/GET/hello"


class HandlerTest(unittest.TestCase):
    def setUp(self):
        os.environ["TOKEN"] = "let-me-in"

    def test_allows_the_stage_for_the_token(self):
        answer = lambda_handler({"type": "TOKEN", "authorizationToken": "Bearer let-me-in", "methodArn": ARN}, None)
        statement = answer["policyDocument"]["Statement"][0]
        self.assertEqual(statement["Effect"], "Allow")
        self.assertEqual(statement["Resource"], "arn:aws:execute-api:us-east-1:123456789012:demo/$default/*")

    def test_refuses_other_tokens(self):
        with self.assertRaisesRegex(Exception, "^Unauthorized$"):
            lambda_handler({"type": "TOKEN", "authorizationToken": "Bearer nope", "methodArn": ARN}, None)


if __name__ == "__main__":
    unittest.main()
