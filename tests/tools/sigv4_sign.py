"""Signs HTTP requests with botocore's SigV4 signer (the one the AWS CLI
and boto3 use), so that the gateway's SigV4 authorizer is checked against
an independent implementation.

Reads a JSON list on stdin, one object per request:
  {"method", "url", "headers": {}, "body": "", "access_key", "secret",
   "region", "service", "presign": false, "expires": 300, "skew": SECONDS}
("skew" signs as if the clock were that many seconds ahead). Writes a JSON
list of {"url", "headers"} to send.
"""

import datetime
import json
import sys

import botocore.auth
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

_now = botocore.auth.get_current_datetime


def clock(skew: int):
    return lambda *args, **kwargs: _now(*args, **kwargs) + datetime.timedelta(seconds=skew)


out = []
for spec in json.load(sys.stdin):
    botocore.auth.get_current_datetime = clock(spec.get("skew", 0))
    request = AWSRequest(
        method=spec["method"],
        url=spec["url"],
        data=spec.get("body", "").encode(),
        headers=spec.get("headers", {}),
    )
    credentials = Credentials(spec["access_key"], spec["secret"])
    if spec.get("presign"):
        SigV4QueryAuth(
            credentials, spec["service"], spec["region"], expires=spec.get("expires", 300)
        ).add_auth(request)
    else:
        SigV4Auth(credentials, spec["service"], spec["region"]).add_auth(request)
    out.append({"url": request.url, "headers": dict(request.headers.items())})
json.dump(out, sys.stdout)
