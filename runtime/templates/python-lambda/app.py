"""The component's entry point. lambda_function.py is plain Lambda code;
this names its handler for the turnpike_lambda shim, as Lambda's `Handler`
setting would (MODULE.FUNCTION)."""

import turnpike_lambda

LambdaHandler = turnpike_lambda.handler("lambda_function.lambda_handler")
