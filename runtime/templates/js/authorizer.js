// __NAME__: a Turnpike authorizer in JavaScript.
//
// The starting point admits a request whose bearer token equals the `token`
// setting, as the principal named by the `principal` setting (default
// `user`). Change `decide` to decide the way your API needs; `npm test` runs
// the tests in test/ natively with Node.
import { get } from 'turnpike:gateway/config@0.1.0';
import { log } from 'turnpike:gateway/log@0.1.0';

/**
 * Thrown to fail the invocation with a message (the WIT result's `err`): the
 * client gets a 500 and the gateway logs the message with the plugin's name.
 */
export class PluginError extends Error {
  constructor(message) {
    super(message);
    this.payload = message;
  }
}

/** The token with a `Bearer ` prefix removed (any case), or undefined. */
function bearerToken(request) {
  if (request.token === undefined) return undefined;
  const token = request.token.trim();
  return token.slice(0, 7).toLowerCase() === 'bearer ' ? token.slice(7).trim() : token;
}

/** The decision: a `decision` variant of the WIT contract. */
export function decide(token, expected, principal) {
  if (token === undefined) return { tag: 'unauthorized' };
  if (expected === undefined) throw new PluginError('the `token` setting is missing');
  if (token !== expected) return { tag: 'deny' };
  // Context entries reach an HTTP integration as `x-turnpike-context-<name>` headers.
  return { tag: 'allow', val: { principalId: principal ?? 'user', context: [['authorizer', '__NAME__']] } };
}

/**
 * Runs `body`, turning any other exception into a PluginError with its
 * message and stack: componentize-js would report it only as "expected a
 * string, received [object]" and trap. Either way the client gets a 500.
 */
function explained(body) {
  try {
    return body();
  } catch (e) {
    if (e instanceof PluginError) throw e;
    throw new PluginError(`${e}\n${e?.stack ?? ''}`.trim());
  }
}

// The component's export: `turnpike:gateway/authorize`.
export const authorize = {
  authorize(request) {
    return explained(() => {
      const decision = decide(bearerToken(request), get('token'), get('principal'));
      if (decision.tag === 'deny') log('info', `wrong token for ${request.request.path}`);
      return decision;
    });
  },
};
