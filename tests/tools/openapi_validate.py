"""Checks an OpenAPI document with openapi-spec-validator, an independent
implementation of the specification's rules, for the end-to-end tests.

Reads {"file": PATH} on stdin; writes {"valid": true} or
{"valid": false, "error": MESSAGE}.
"""

import json
import sys

from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

request = json.load(sys.stdin)
document, _ = read_from_filename(request["file"])
try:
    validate(document)
    print(json.dumps({"valid": True}))
except Exception as error:  # the validator raises several error types
    print(json.dumps({"valid": False, "error": str(error)}))
