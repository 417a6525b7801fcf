// A mapper in JavaScript that reshapes JSON, as an API Gateway mapping
// template would. It behaves exactly like `rust-json-mapper`.
//
// Request mapping:
// - a JSON body `{"name": N, "kind": K}` becomes
//   `{"pet": {"name": N, "species": K}, "requestId": ID}`;
// - `x-mapped-by: json-mapper` is added, `x-internal-secret` removed;
// - the query gets `mapped=true`;
// - a request with `x-mapper-respond: teapot` is answered by the mapper
//   itself (418), without calling the integration.
//
// Response mapping: the body is wrapped as `{"status": S, "data": BODY}`
// (BODY as JSON if it is JSON, else as a string), with
// `x-response-mapped: true`.

/**
 * Thrown to return the WIT result's `err`: the component glue turns an
 * exception with an own `payload` property into `err(payload)`. Any other
 * exception traps the invocation (the gateway answers a clean 500 either way).
 */
export class MappingError extends Error {
  constructor(message) {
    super(message);
    this.payload = message;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The first value of header `name` (names are lower case). */
function header(headers, name) {
  return headers.find(([key]) => key === name)?.[1];
}

/** `headers` with every `name` header replaced by one with `value`. */
function setHeader(headers, name, value) {
  return [...headers.filter(([key]) => key !== name), [name, value]];
}

/** Request mapping: returns a `request-outcome`. */
export function mapRequest(requestId, request) {
  if (header(request.headers, 'x-mapper-respond') === 'teapot') {
    return {
      tag: 'respond',
      val: {
        status: 418,
        headers: [['content-type', 'text/plain']],
        body: encoder.encode('short-circuited by the mapper'),
      },
    };
  }
  let { headers, body } = request;
  if (body.length > 0) {
    let pet;
    try {
      pet = JSON.parse(decoder.decode(body));
    } catch (e) {
      throw new MappingError(`request body is not JSON: ${e.message}`);
    }
    const reshaped = { pet: { name: pet?.name ?? null, species: pet?.kind ?? null }, requestId };
    body = encoder.encode(JSON.stringify(reshaped));
    headers = setHeader(headers, 'content-type', 'application/json');
  }
  headers = setHeader(headers, 'x-mapped-by', 'json-mapper').filter(([key]) => key !== 'x-internal-secret');
  const query = [...request.query, ['mapped', 'true']];
  return { tag: 'forward', val: { method: request.method, path: request.path, query, headers, body } };
}

/** Response mapping: returns the new `http-response`. */
export function mapResponse(response) {
  const text = decoder.decode(response.body);
  let data;
  try {
    data = JSON.parse(text);
  } catch {
    data = text;
  }
  return {
    status: response.status,
    headers: [['content-type', 'application/json'], ['x-response-mapped', 'true']],
    body: encoder.encode(JSON.stringify({ status: response.status, data })),
  };
}

// The component's export: `turnpike:gateway/mapping`.
export const mapping = {
  mapRequest(info, _context, request) {
    return mapRequest(info.requestId, request);
  },
  mapResponse(_info, _context, response) {
    return mapResponse(response);
  },
};
