// The shim's contract with Lambda-style handlers, natively: every handler
// style Node.js Lambda accepts, errors as Lambda reports them, the context
// object and the environment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lambda } from '../index.js';
import { settings } from './stubs/config.js';

const invocation = (deadlineMs = BigInt(Date.now() + 2000)) => ({
  awsRequestId: 'req-1',
  functionName: 'echo',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:echo',
  memoryLimitInMb: 64,
  deadlineMs,
});
const call = (handler, event = {}) => lambda(handler).handle(JSON.stringify(event), invocation());

test('async handlers answer with what they resolve to', async () => {
  const answer = await call(async (event) => ({ statusCode: 200, body: event.name }), { name: 'Ada' });
  assert.deepEqual(JSON.parse(answer), { statusCode: 200, body: 'Ada' });
});

test('callback handlers answer through the callback', async () => {
  const answer = await call((event, context, callback) => {
    setTimeout(() => callback(null, { ok: true }), 1);
  });
  assert.deepEqual(JSON.parse(answer), { ok: true });
});

test('context.succeed, also after pending promises settle', async () => {
  assert.deepEqual(JSON.parse(await call((event, context) => { context.succeed({ now: 1 }); })), { now: 1 });
  const later = await call((event, context) => {
    Promise.resolve().then(() => context.succeed({ later: 2 }));
  });
  assert.deepEqual(JSON.parse(later), { later: 2 });
});

test('errors are reported with Lambda type and message', async () => {
  const thrown = await call(async () => { throw new TypeError('boom'); }).catch((e) => e.payload);
  assert.deepEqual(thrown, { errorType: 'TypeError', errorMessage: 'boom' });
  const unauthorized = await call((e, c, callback) => callback('Unauthorized')).catch((e) => e.payload);
  assert.deepEqual(unauthorized, { errorType: 'string', errorMessage: 'Unauthorized' });
  const failed = await call((e, context) => context.fail(new Error('Unauthorized'))).catch((e) => e.payload);
  assert.equal(failed.errorMessage, 'Unauthorized');
});

test('the context and the environment are Lambda', async () => {
  settings.set('TABLE', 'pets');
  const answer = JSON.parse(
    await call((event, context) => ({
      id: context.awsRequestId,
      left: context.getRemainingTimeInMillis(),
      memory: context.memoryLimitInMB,
      table: process.env.TABLE,
      region: process.env.AWS_REGION,
      name: process.env.AWS_LAMBDA_FUNCTION_NAME,
    })),
  );
  assert.equal(answer.id, 'req-1');
  assert.ok(answer.left > 0 && answer.left <= 2000, `${answer.left}`);
  assert.equal(answer.memory, '64');
  assert.deepEqual([answer.table, answer.region, answer.name], ['pets', 'eu-west-1', 'echo']);
});

test('undefined answers are null, as on Lambda', async () => {
  assert.equal(await call(async () => undefined), 'null');
});
