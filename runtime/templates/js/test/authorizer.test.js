// Unit tests, run natively: `npm test`. The gateway's imports are stand-ins
// from test/stubs (see test/gateway-imports.js).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { authorize } from '../authorizer.js';
import { settings } from './stubs/config.js';

settings.set('token', 'let-me-in');
settings.set('principal', 'alice');

const request = (token) => ({ token, request: { path: '/hello' } });

test('the configured token is allowed', () => {
  const decision = authorize.authorize(request('Bearer let-me-in'));
  assert.equal(decision.tag, 'allow');
  assert.equal(decision.val.principalId, 'alice');
});

test('another token is denied', () => {
  assert.deepEqual(authorize.authorize(request('Bearer nope')), { tag: 'deny' });
});

test('no token is unauthorized', () => {
  assert.deepEqual(authorize.authorize(request(undefined)), { tag: 'unauthorized' });
});

test('a bug fails the invocation with its message', () => {
  // A token that is not a string makes `bearerToken` throw a TypeError.
  assert.throws(() => authorize.authorize(request(42)), (e) => {
    assert.match(e.payload, /TypeError/);
    return true;
  });
});
