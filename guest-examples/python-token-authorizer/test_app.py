"""Unit tests of the decision logic, run natively: `python3 -m unittest`.

Run `./build.sh` first: it generates the `wit_world` bindings into `bindings/`.
"""

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "bindings"))

from app import decide  # noqa: E402
from wit_world.exports.authorize import Decision_Allow, Decision_Deny, Decision_Unauthorized  # noqa: E402


class DecideTest(unittest.TestCase):
    def test_listed_token_is_allowed_as_its_principal(self):
        decision = decide("s3cret", "s3cret:alice, other:bob")
        self.assertIsInstance(decision, Decision_Allow)
        self.assertEqual(decision.value.principal_id, "alice")
        self.assertIn(("language", "python"), decision.value.context)

    def test_unknown_token_is_denied(self):
        self.assertIsInstance(decide("nope", "s3cret:alice"), Decision_Deny)

    def test_missing_token_is_unauthorized(self):
        self.assertIsInstance(decide(None, "s3cret:alice"), Decision_Unauthorized)


if __name__ == "__main__":
    unittest.main()
