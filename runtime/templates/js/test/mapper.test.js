// Unit tests, run natively: `npm test`.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { mapRequest, mapResponse, mapping } from '../mapper.js';

test('requests are marked', () => {
  const outcome = mapRequest({ method: 'GET', path: '/hello', query: [], headers: [], body: new Uint8Array() });
  assert.equal(outcome.tag, 'forward');
  assert.deepEqual(outcome.val.headers, [['x-mapped-by', '__NAME__']]);
});

test('responses are marked', () => {
  const response = mapResponse({ status: 200, headers: [['content-type', 'text/plain']], body: new Uint8Array() });
  assert.deepEqual(response.headers.at(-1), ['x-mapped-by', '__NAME__']);
});

test('a bug fails the invocation with its message', () => {
  // A request without headers makes `withHeader` throw a TypeError.
  assert.throws(() => mapping.mapRequest({}, [], { method: 'GET' }), (e) => {
    assert.match(e.payload, /TypeError/);
    return true;
  });
});
