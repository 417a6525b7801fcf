"""A Lambda authorizer written the way AWS's blueprint writes them: an
AuthPolicy builder turning allowed and denied methods into an IAM policy for
the caller's API and stage. Plain Lambda code: nothing here knows Turnpike.

Tokens (`Authorization: Bearer TOKEN`, or the TOKEN event's token):
- `alice`: every method of the stage allowed;
- `bob`: only GET on /pets and below (anything else: no statement allows it);
- `carol`: everything allowed, but /admin explicitly denied;
- `nested`: a context with a nested object (API Gateway refuses it);
- `simple-yes`, `simple-no`: an HTTP API simple response;
- anything else: raise Exception("Unauthorized").
"""

import re


class HttpVerb:
    GET = "GET"
    POST = "POST"
    ALL = "*"


class AuthPolicy:
    """Builds the policy document for one API and stage."""

    path_regex = r"^[/.a-zA-Z0-9-\*]+$"

    def __init__(self, principal, aws_account_id):
        self.principal_id = principal
        self.aws_account_id = aws_account_id
        self.rest_api_id = "*"
        self.region = "*"
        self.stage = "*"
        self.allow_methods = []
        self.deny_methods = []

    def _add_method(self, effect, verb, resource, conditions=None):
        if verb != "*" and not hasattr(HttpVerb, verb):
            raise NameError("Invalid HTTP verb " + verb)
        if not re.match(self.path_regex, resource):
            raise NameError("Invalid resource path: " + resource)
        resource = resource[1:] if resource[:1] == "/" else resource
        arn = "arn:aws:execute-api:{}:{}:{}/{}/{}/{}".format(
            self.region, self.aws_account_id, self.rest_api_id, self.stage, verb, resource
        )
        method = {"resourceArn": arn, "conditions": conditions}
        (self.allow_methods if effect == "Allow" else self.deny_methods).append(method)

    def allow_all_methods(self):
        self._add_method("Allow", HttpVerb.ALL, "*")

    def allow_method(self, verb, resource):
        self._add_method("Allow", verb, resource)

    def deny_method(self, verb, resource):
        self._add_method("Deny", verb, resource)

    def _statements(self, effect, methods):
        statements = []
        if methods:
            statement = {"Action": "execute-api:Invoke", "Effect": effect, "Resource": []}
            for method in methods:
                statement["Resource"].append(method["resourceArn"])
            statements.append(statement)
        return statements

    def build(self):
        return {
            "principalId": self.principal_id,
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": self._statements("Allow", self.allow_methods)
                + self._statements("Deny", self.deny_methods),
            },
        }


def token_of(event):
    if "authorizationToken" in event:
        token = event["authorizationToken"]
    else:
        headers = event.get("headers") or {}
        token = headers.get("authorization") or headers.get("Authorization") or ""
    return token[7:] if token.lower().startswith("bearer ") else token


def lambda_handler(event, context):
    token = token_of(event)
    if token == "simple-yes":
        return {"isAuthorized": True, "context": {"user": "simple", "level": 3, "nested": {"a": 1}}}
    if token == "simple-no":
        return {"isAuthorized": False}
    if token not in ("alice", "bob", "carol", "nested"):
        raise Exception("Unauthorized")

    arn = event.get("methodArn") or event.get("routeArn")
    tmp = arn.split(":")
    api_gateway_arn = tmp[5].split("/")
    policy = AuthPolicy(token, tmp[4])
    policy.rest_api_id = api_gateway_arn[0]
    policy.region = tmp[3]
    policy.stage = api_gateway_arn[1]
    if token == "alice":
        policy.allow_all_methods()
    elif token == "bob":
        policy.allow_method(HttpVerb.GET, "/pets")
        policy.allow_method(HttpVerb.GET, "/pets/*")
    elif token == "carol":
        policy.allow_all_methods()
        policy.deny_method(HttpVerb.ALL, "/admin*")
    response = policy.build()
    response["context"] = {"stringKey": "value", "numberKey": 1, "booleanKey": True}
    if token == "nested":
        policy.allow_all_methods()
        response = policy.build()
        response["context"] = {"user": {"id": 3}}
    return response
