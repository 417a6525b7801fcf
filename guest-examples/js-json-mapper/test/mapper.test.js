// Unit tests of the mapper, run natively: `npm test`.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MappingError, mapRequest, mapResponse } from '../mapper.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function request(headers, body = '') {
  return { method: 'POST', path: '/pets', query: [], headers, body: encoder.encode(body) };
}

test('reshapes the body and the headers', () => {
  const outcome = mapRequest('req-1', request([['x-internal-secret', '1']], '{"name":"Rex","kind":"dog"}'));
  assert.equal(outcome.tag, 'forward');
  assert.equal(decoder.decode(outcome.val.body), '{"pet":{"name":"Rex","species":"dog"},"requestId":"req-1"}');
  assert.deepEqual(outcome.val.headers, [['content-type', 'application/json'], ['x-mapped-by', 'json-mapper']]);
  assert.deepEqual(outcome.val.query, [['mapped', 'true']]);
});

test('a teapot is answered by the mapper', () => {
  const outcome = mapRequest('req-1', request([['x-mapper-respond', 'teapot']]));
  assert.equal(outcome.tag, 'respond');
  assert.equal(outcome.val.status, 418);
});

test('a body that is not JSON is an error with a message', () => {
  assert.throws(() => mapRequest('req-1', request([], 'not json')), MappingError);
});

test('responses are wrapped', () => {
  const wrapped = mapResponse({ status: 202, headers: [], body: encoder.encode('plain words') });
  assert.deepEqual(JSON.parse(decoder.decode(wrapped.body)), { status: 202, data: 'plain words' });
});
