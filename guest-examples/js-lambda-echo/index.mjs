// A Lambda function for API Gateway's proxy integration that answers with
// what it was given, and misbehaves on request (see the `mode` query
// parameter), to show what the gateway does with each kind of answer.
// Plain Lambda code for Node.js: nothing here knows Turnpike.
export const handler = async (event, context) => {
  const mode = event.queryStringParameters?.mode;
  console.log(`mode ${mode} for ${context.awsRequestId}`);
  switch (mode) {
    case 'raise':
      throw new TypeError('the echo was asked to fail');
    case 'malformed':
      return { body: 'there is no statusCode' };
    case 'bare':
      return { bare: true, items: [1, 2] };
    case 'binary': {
      const raw = Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
      return {
        statusCode: 200,
        headers: { 'Content-Type': 'application/octet-stream' },
        body: Buffer.from(raw.reverse()).toString('base64'),
        isBase64Encoded: true,
      };
    }
    case 'cookies':
      return { statusCode: 204, cookies: ['a=1; Path=/', 'b=2'] };
    case 'spin':
      for (;;) {}
    default:
      return {
        statusCode: 200,
        headers: { 'Content-Type': 'application/json', 'X-Echo': 'javascript' },
        multiValueHeaders: { 'X-Multi': ['one', 'two'] },
        body: JSON.stringify({
          event,
          remaining: context.getRemainingTimeInMillis(),
          function: context.functionName,
          arn: context.invokedFunctionArn,
          greeting: process.env.GREETING ?? null,
          requestId: context.awsRequestId,
        }),
      };
  }
};
