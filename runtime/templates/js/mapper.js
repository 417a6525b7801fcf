// __NAME__: a Turnpike mapper in JavaScript.
//
// The starting point marks both directions with an `x-mapped-by: __NAME__`
// header. Rewrite the method, path, query, headers or body (a Uint8Array) in
// `mapRequest`, or answer by itself with `{ tag: 'respond', val: response }`;
// reshape the integration's answer in `mapResponse`. `npm test` runs the tests
// in test/ natively with Node.
import { explained } from './errors.js';

/** `headers` with every `name` header replaced by one with `value`. */
function withHeader(headers, name, value) {
  return [...headers.filter(([key]) => key !== name), [name, value]];
}

/** Request mapping: returns a `request-outcome` variant of the WIT contract. */
export function mapRequest(request) {
  return { tag: 'forward', val: { ...request, headers: withHeader(request.headers, 'x-mapped-by', '__NAME__') } };
}

/** Response mapping: returns the new `http-response`. */
export function mapResponse(response) {
  return { ...response, headers: withHeader(response.headers, 'x-mapped-by', '__NAME__') };
}

// The component's export: `turnpike:gateway/mapping`.
export const mapping = {
  mapRequest(_info, _context, request) {
    return explained(() => mapRequest(request));
  },
  mapResponse(_info, _context, response) {
    return explained(() => mapResponse(response));
  },
};
