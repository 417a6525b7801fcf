"""A Lambda function for API Gateway's proxy integration that answers with
what it was given, and misbehaves on request, to show what the gateway does
with each kind of answer. Plain Lambda code: nothing here knows Turnpike.

The query parameter (1.0: `queryStringParameters`, 2.0 the same) `mode`:
- absent: 200 with the event, the remaining time, the GREETING setting;
- `raise`: raises ValueError;
- `malformed`: answers without a statusCode;
- `bare`: answers a bare JSON object (2.0: a 200 application/json);
- `binary`: answers the request body back, base64-encoded;
- `cookies`: answers two cookies (2.0);
- `spin`: never returns.
"""

import base64
import json
import logging
import os

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def lambda_handler(event, context):
    mode = (event.get("queryStringParameters") or {}).get("mode")
    print(f"mode {mode} for {context.aws_request_id}")
    logger.info("handled %s", context.aws_request_id)
    if mode == "raise":
        raise ValueError("the echo was asked to fail")
    if mode == "malformed":
        return {"body": "there is no statusCode"}
    if mode == "bare":
        return {"bare": True, "items": [1, 2]}
    if mode == "binary":
        body = event["body"]
        raw = base64.b64decode(body) if event["isBase64Encoded"] else body.encode()
        return {
            "statusCode": 200,
            "headers": {"Content-Type": "application/octet-stream"},
            "body": base64.b64encode(raw[::-1]).decode(),
            "isBase64Encoded": True,
        }
    if mode == "cookies":
        return {"statusCode": 204, "cookies": ["a=1; Path=/", "b=2"]}
    if mode == "spin":
        while True:
            pass
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "X-Echo": "python"},
        "multiValueHeaders": {"X-Multi": ["one", "two"]},
        "body": json.dumps(
            {
                "event": event,
                "remaining": context.get_remaining_time_in_millis(),
                "function": context.function_name,
                "arn": context.invoked_function_arn,
                "greeting": os.environ.get("GREETING"),
                "requestId": context.aws_request_id,
            }
        ),
    }
