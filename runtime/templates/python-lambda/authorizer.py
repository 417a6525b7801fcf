import os


def lambda_handler(event, context):
    """A TOKEN authorizer: the token from the TOKEN setting is allowed to call
    every method of the stage; any other token is refused with 401."""
    token = event.get("authorizationToken", "")
    if token.lower().startswith("bearer "):
        token = token[7:]
    if token != os.environ.get("TOKEN"):
        raise Exception("Unauthorized")
    # arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/PATH
    arn, stage = event["methodArn"].split("/")[:2]
    return {
        "principalId": os.environ.get("PRINCIPAL", "me"),
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": f"{arn}/{stage}/*"}
            ],
        },
        "context": {"tokenSource": "lambda"},
    }
