"""__NAME__: a Turnpike authorizer in Python.

The starting point admits a request whose bearer token equals the `token`
setting, as the principal named by the `principal` setting (default `user`).
Change `decide` to decide the way your API needs; `python3 -m unittest` runs
the tests in test_app.py natively.
"""

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.authorize import (
    Allow,
    AuthorizationRequest,
    Decision,
    Decision_Allow,
    Decision_Deny,
    Decision_Unauthorized,
)
from wit_world.imports import config, log


def bearer_token(request: AuthorizationRequest) -> str | None:
    """The token with a `Bearer ` prefix removed (any case)."""
    if request.token is None:
        return None
    token = request.token.strip()
    return token[7:].strip() if token[:7].lower() == "bearer " else token


def decide(token: str | None, expected: str | None, principal: str | None) -> Decision:
    """The decision; plain Python, so the unit tests run it natively."""
    if token is None:
        return Decision_Unauthorized()
    if expected is None:
        # `Err` is a plugin failure: the client gets a 500 and the gateway
        # logs this message with the plugin's name.
        raise Err("the `token` setting is missing")
    if token != expected:
        return Decision_Deny()
    # Context entries reach an HTTP integration as `x-turnpike-context-<name>` headers.
    return Decision_Allow(Allow(principal or "user", [("authorizer", "__NAME__")], None, None))


class Authorize(exports.Authorize):
    """The component's export: `turnpike:gateway/authorize`."""

    def authorize(self, request: AuthorizationRequest) -> Decision:
        decision = decide(bearer_token(request), config.get("token"), config.get("principal"))
        if isinstance(decision, Decision_Deny):
            log.log(log.Level.INFO, f"wrong token for {request.request.path}")
        return decision
