// __NAME__: a Turnpike authorizer in JavaScript.
//
// The starting point admits a request whose bearer token equals the `token`
// setting, as the principal named by the `principal` setting (default
// `user`). Change `decide` to decide the way your API needs; `npm test` runs
// the tests in test/ natively with Node.
import { get } from 'turnpike:gateway/config@0.1.0';
import { log } from 'turnpike:gateway/log@0.1.0';

import { PluginError, explained } from './errors.js';

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
