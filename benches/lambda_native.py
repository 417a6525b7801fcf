"""The same Lambda handler under a native Python HTTP server, for
benches/lambda.sh: http.server's ThreadingHTTPServer (keep-alive, a thread
per connection, one core by the GIL and taskset) builds a payload 1.0 event for each request the way API Gateway would, calls
lambda_handler(event, context) from the handler's own file, and writes the
proxy response. This is the handler "without the gateway": the comparison
prices the Wasm sandbox and Turnpike's event plumbing against running the
same Python code natively.

    python3 benches/lambda_native.py PORT HANDLER_DIR
"""

import importlib
import json
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

PORT = int(sys.argv[1])
sys.path.insert(0, sys.argv[2])
handler = importlib.import_module("lambda_function").lambda_handler


class Context:
    function_name = "hello"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:hello"
    memory_limit_in_mb = 64

    def __init__(self):
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.time() + 3

    def get_remaining_time_in_millis(self):
        return int((self._deadline - time.time()) * 1000)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without this, Nagle's
    # algorithm and delayed ACKs stall each keep-alive response ~40 ms.
    disable_nagle_algorithm = True

    def do_GET(self):
        url = urlsplit(self.path)
        query = parse_qsl(url.query)
        multi = {}
        for name, value in query:
            multi.setdefault(name, []).append(value)
        headers = {name.lower(): value for name, value in self.headers.items()}
        context = Context()
        event = {
            "resource": "/hello",
            "path": url.path,
            "httpMethod": "GET",
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": dict(query) or None,
            "multiValueQueryStringParameters": multi or None,
            "pathParameters": None,
            "stageVariables": None,
            "requestContext": {
                "requestId": context.aws_request_id,
                "stage": "$default",
                "identity": {"sourceIp": self.client_address[0]},
            },
            "body": None,
            "isBase64Encoded": False,
        }
        # Through JSON both ways, as the event and the answer travel.
        answer = json.loads(json.dumps(handler(json.loads(json.dumps(event)), context)))
        body = answer.get("body", "").encode()
        self.send_response(answer["statusCode"])
        for name, value in (answer.get("headers") or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
