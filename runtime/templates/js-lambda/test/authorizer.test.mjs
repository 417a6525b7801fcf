// Runs the handler natively with API Gateway's TOKEN event: `npm test`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handler } from '../index.mjs';

const methodArn = 'arn:aws:execute-api:us-east-1:123456789012:demo/$default/GET/hello';
process.env.TOKEN = 'let-me-in';

test('allows the stage for the token', async () => {
  const answer = await handler({ type: 'TOKEN', authorizationToken: 'Bearer let-me-in', methodArn });
  assert.equal(answer.policyDocument.Statement[0].Effect, 'Allow');
  assert.equal(answer.policyDocument.Statement[0].Resource, 'arn:aws:execute-api:us-east-1:123456789012:demo/$default/*');
});

test('refuses other tokens', async () => {
  await assert.rejects(handler({ type: 'TOKEN', authorizationToken: 'Bearer nope', methodArn }), /^Error: Unauthorized$/);
});
