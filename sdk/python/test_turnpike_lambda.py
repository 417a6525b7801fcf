"""The shim's contract with Lambda handlers, natively (`python3 -m unittest`
in sdk/python): the component bindings componentize-py generates are stood
in for, so the shim runs under plain CPython."""

import contextlib
import io
import json
import os
import sys
import time
import types
import unittest


class Err(Exception):
    """Stand-in for componentize_py_types.Err: the result's `err`."""

    def __init__(self, value):
        super().__init__(value)
        self.value = value


class HandlerError:
    def __init__(self, error_type, error_message):
        self.error_type = error_type
        self.error_message = error_message


SETTINGS = [("TABLE", "pets")]


def _install_bindings():
    modules = {
        "componentize_py_types": types.SimpleNamespace(Err=Err),
        "wit_world": types.ModuleType("wit_world"),
        "wit_world.exports": types.SimpleNamespace(LambdaHandler=object),
        "wit_world.exports.lambda_handler": types.SimpleNamespace(HandlerError=HandlerError),
        "wit_world.imports": types.ModuleType("wit_world.imports"),
        "wit_world.imports.config": types.SimpleNamespace(get_all=lambda: SETTINGS),
    }
    modules["wit_world"].exports = modules["wit_world.exports"]
    modules["wit_world.imports"].config = modules["wit_world.imports.config"]
    sys.modules.update(modules)


_install_bindings()
import turnpike_lambda  # noqa: E402


def invocation(deadline_in_ms=2000):
    return types.SimpleNamespace(
        aws_request_id="req-1",
        function_name="echo",
        function_version="$LATEST",
        invoked_function_arn="arn:aws:lambda:eu-west-1:123456789012:function:echo",
        memory_limit_in_mb=64,
        deadline_ms=int(time.time() * 1000) + deadline_in_ms,
    )


def call(handler, event=None):
    return turnpike_lambda.handler(handler)().handle(json.dumps(event or {}), invocation())


class ShimTest(unittest.TestCase):
    def test_answers_what_the_handler_returns_as_json(self):
        answer = call(lambda event, context: {"statusCode": 200, "body": event["name"]}, {"name": "Ada"})
        self.assertEqual(json.loads(answer), {"statusCode": 200, "body": "Ada"})
        self.assertEqual(call(lambda event, context: None), "null")

    def test_exceptions_are_reported_as_lambda_reports_them(self):
        def unauthorized(event, context):
            raise Exception("Unauthorized")

        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr), self.assertRaises(Err) as raised:
            call(unauthorized)
        self.assertEqual(raised.exception.value.error_type, "Exception")
        self.assertEqual(raised.exception.value.error_message, "Unauthorized")
        # The traceback goes to stderr, which the gateway logs.
        self.assertIn("Exception: Unauthorized", stderr.getvalue())

        with contextlib.redirect_stderr(io.StringIO()), self.assertRaises(Err) as raised:
            call(lambda event, context: {"not": {1, 2}})  # a set is not JSON
        self.assertEqual(raised.exception.value.error_type, "TypeError")

    def test_context_and_environment_are_lambda(self):
        def handler(event, context):
            return {
                "id": context.aws_request_id,
                "left": context.get_remaining_time_in_millis(),
                "memory": context.memory_limit_in_mb,
                "table": os.environ["TABLE"],
                "region": os.environ["AWS_REGION"],
                "name": os.environ["AWS_LAMBDA_FUNCTION_NAME"],
            }

        answer = json.loads(call(handler))
        self.assertEqual(answer["id"], "req-1")
        self.assertTrue(0 < answer["left"] <= 2000, answer["left"])
        self.assertEqual(
            [answer["memory"], answer["table"], answer["region"], answer["name"]],
            ["64", "pets", "eu-west-1", "echo"],
        )

    def test_a_module_that_cannot_import_at_build_is_imported_on_first_use(self):
        exported = turnpike_lambda.handler("no_such_module_yet.handler")
        sys.modules["no_such_module_yet"] = types.SimpleNamespace(handler=lambda event, context: "late")
        try:
            self.assertEqual(exported().handle("{}", invocation()), '"late"')
        finally:
            del sys.modules["no_such_module_yet"]


if __name__ == "__main__":
    unittest.main()
