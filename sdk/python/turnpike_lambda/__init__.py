"""Runs an AWS Lambda handler, unchanged, as a Turnpike `lambda` component.

The component's entry module names the handler the way Lambda's `Handler`
setting does::

    import turnpike_lambda
    LambdaHandler = turnpike_lambda.handler("lambda_function.lambda_handler")

and `componentize-py -w turnpike:gateway/lambda componentize app` builds it.
The handler gets the event API Gateway would send (a dict) and a context
object with Lambda's attributes and `get_remaining_time_in_millis()`; its
return value is sent back as JSON. An exception is reported as Lambda reports
it (`errorType`, `errorMessage`, the traceback in the gateway's log);
raising `Exception("Unauthorized")` from an authorizer means 401.

`os.environ` holds the plugin's `[plugins.NAME.config]` settings and
Lambda's `AWS_LAMBDA_FUNCTION_*` variables while the handler runs. The
handler's module is imported when the component is built, so that each
request starts warm; a module that cannot be imported then (say it reads
a setting from the environment at import time) is imported on the first
request instead.

This module imports the component's bindings only when `handler()` is
called (inside the component build), so it also imports natively, for
unit tests that build a `LambdaContext`.
"""

import importlib
import json
import logging
import os
import sys
import time
import traceback

__all__ = ["LambdaContext", "handler"]

# Lambda's Python runtime gives the root logger a handler (its level stays
# WARNING until the handler code sets one), so `logging.getLogger().info(...)`
# after `setLevel(logging.INFO)` reaches the logs; here, the gateway's.
if not logging.getLogger().handlers:
    _log_handler = logging.StreamHandler(sys.stdout)
    _log_handler.setFormatter(logging.Formatter("[%(levelname)s]\t%(message)s"))
    logging.getLogger().addHandler(_log_handler)


class LambdaContext:
    """What Lambda's Python runtime passes as `context`, from the
    invocation context the gateway gives (or any object with its fields)."""

    def __init__(self, invocation):
        self.aws_request_id = invocation.aws_request_id
        self.function_name = invocation.function_name
        self.function_version = invocation.function_version
        self.invoked_function_arn = invocation.invoked_function_arn
        # A string, as the Lambda runtime reads it from its environment.
        self.memory_limit_in_mb = str(invocation.memory_limit_in_mb)
        self.log_group_name = f"/aws/lambda/{invocation.function_name}"
        self.log_stream_name = "turnpike"
        self.identity = None
        self.client_context = None
        self._deadline_ms = invocation.deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left of the plugin's time budget."""
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _set_environment(invocation, settings, handler_name) -> None:
    os.environ.update(dict(settings))
    os.environ["AWS_LAMBDA_FUNCTION_NAME"] = invocation.function_name
    os.environ["AWS_LAMBDA_FUNCTION_VERSION"] = invocation.function_version
    os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = str(invocation.memory_limit_in_mb)
    os.environ["AWS_REGION"] = invocation.invoked_function_arn.split(":")[3]
    os.environ.setdefault("AWS_DEFAULT_REGION", os.environ["AWS_REGION"])
    os.environ["_HANDLER"] = handler_name


def _resolve(name: str):
    module_name, _, function = name.rpartition(".")
    if not module_name or not function:
        raise ValueError(f"handler `{name}` is not MODULE.FUNCTION")
    return getattr(importlib.import_module(module_name), function)


def handler(name_or_function):
    """The class to export as `LambdaHandler`, calling the handler named
    `MODULE.FUNCTION` (or the function itself)."""
    # The bindings exist only inside the component build.
    from componentize_py_types import Err
    from wit_world import exports
    from wit_world.exports.lambda_handler import HandlerError
    from wit_world.imports import config

    if callable(name_or_function):
        resolved = [name_or_function]
        name = f"{name_or_function.__module__}.{name_or_function.__name__}"
    else:
        name = name_or_function
        try:
            resolved = [_resolve(name)]
        except Exception:
            resolved = [None]

    class LambdaHandler(exports.LambdaHandler):
        def handle(self, event: str, invocation) -> str:
            try:
                _set_environment(invocation, config.get_all(), name)
                if resolved[0] is None:
                    resolved[0] = _resolve(name)
                result = resolved[0](json.loads(event), LambdaContext(invocation))
                return json.dumps(result)
            except Exception as error:
                traceback.print_exc(file=sys.stderr)
                raise Err(HandlerError(type(error).__name__, str(error)))

    return LambdaHandler
