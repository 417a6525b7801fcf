// Unit tests of the authorizer, run natively: `npm test`.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { authorize, parseTokens } from '../authorizer.js';
import { settings } from './stubs/config.js';
import { records } from './stubs/log.js';

settings.set('tokens', 's3cret:alice, t0ken:bob');

function request(token) {
  return { token, request: { path: '/pets' } };
}

test('a listed token is allowed as its principal', () => {
  const decision = authorize.authorize(request('Bearer s3cret'));
  assert.equal(decision.tag, 'allow');
  assert.equal(decision.val.principalId, 'alice');
  assert.deepEqual(decision.val.context[1], ['language', 'javascript']);
});

test('an unknown token is denied and logged', () => {
  assert.deepEqual(authorize.authorize(request('Bearer nope')), { tag: 'deny' });
  assert.equal(records.at(-1).message, 'unknown token for /pets');
});

test('a missing token is unauthorized', () => {
  assert.deepEqual(authorize.authorize(request(undefined)), { tag: 'unauthorized' });
});

test('settings are parsed into principals by token', () => {
  const principals = parseTokens(' a:alice ,b, :nobody,');
  assert.deepEqual([...principals], [['a', 'alice'], ['b', 'anonymous']]);
});
