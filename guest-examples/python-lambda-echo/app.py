"""The component's entry point: Turnpike's Lambda shim around the handler in
lambda_function.py, which is plain Lambda code."""

import turnpike_lambda

LambdaHandler = turnpike_lambda.handler("lambda_function.lambda_handler")
