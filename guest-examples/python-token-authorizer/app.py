"""A `token` authorizer in Python: admits requests whose bearer token is on a
list from the plugin's configuration.

Configuration (`[plugins.NAME.config]`):
- `tokens`: comma-separated `token:principal` pairs, e.g. "s3cret:alice, t0ken:bob".

The token `raise` makes the plugin raise an exception, to show what the
gateway does with a failing plugin (a clean 500, like a Rust trap).
"""

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
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    return token


def decide(token: str | None, tokens_setting: str) -> Decision:
    """The decision for `token` given the `tokens` setting; plain Python, testable natively."""
    if token is None:
        return Decision_Unauthorized()
    if token == "raise":
        raise RuntimeError("asked to fail")
    for pair in tokens_setting.split(","):
        known, _, principal = pair.strip().partition(":")
        if known and known.strip() == token:
            context = [("tokenSource", "static-list"), ("language", "python")]
            return Decision_Allow(Allow(principal.strip() or "anonymous", context, None, None))
    return Decision_Deny()


class Authorize(exports.Authorize):
    """The component's export: `turnpike:gateway/authorize`."""

    def authorize(self, request: AuthorizationRequest) -> Decision:
        decision = decide(bearer_token(request), config.get("tokens") or "")
        if isinstance(decision, Decision_Deny):
            log.log(log.Level.INFO, f"unknown token for {request.request.path}")
        return decision
