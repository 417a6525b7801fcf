// Runs the handler natively with an API Gateway event: `npm test`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handler } from '../index.mjs';

test('greets by name', async () => {
  const answer = await handler({ queryStringParameters: { name: 'Ada' } });
  assert.equal(answer.statusCode, 200);
  assert.deepEqual(JSON.parse(answer.body), { message: 'Hello, Ada!' });
});

test('greets the world without a name', async () => {
  const answer = await handler({ queryStringParameters: null });
  assert.deepEqual(JSON.parse(answer.body), { message: 'Hello, World!' });
});
