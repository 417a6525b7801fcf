"""Unit tests, run natively: `python3 -m unittest` (after `./build.sh`, which
generates the `wit_world` bindings into bindings/)."""

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "bindings"))

from app import decide  # noqa: E402
from wit_world.exports.authorize import Decision_Allow, Decision_Deny, Decision_Unauthorized  # noqa: E402


class DecideTest(unittest.TestCase):
    def test_the_configured_token_is_allowed(self):
        decision = decide("let-me-in", "let-me-in", "alice")
        self.assertIsInstance(decision, Decision_Allow)
        self.assertEqual(decision.value.principal_id, "alice")

    def test_another_token_is_denied(self):
        self.assertIsInstance(decide("nope", "let-me-in", None), Decision_Deny)

    def test_no_token_is_unauthorized(self):
        self.assertIsInstance(decide(None, "let-me-in", None), Decision_Unauthorized)


if __name__ == "__main__":
    unittest.main()
