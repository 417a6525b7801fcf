// A `token` authorizer in JavaScript: admits requests whose bearer token is on
// a list from the plugin's configuration.
//
// Configuration (`[plugins.NAME.config]`):
// - `tokens`: comma-separated `token:principal` pairs, e.g. "s3cret:alice, t0ken:bob".
//
// The token `raise` makes the plugin throw, to show what the gateway does with
// a failing plugin (a clean 500, like a Rust trap).
import { get } from 'turnpike:gateway/config@0.1.0';
import { log } from 'turnpike:gateway/log@0.1.0';

/** The token with a `Bearer ` prefix removed (any case), or undefined. */
function bearerToken(request) {
  if (request.token === undefined) return undefined;
  const token = request.token.trim();
  return token.slice(0, 7).toLowerCase() === 'bearer ' ? token.slice(7).trim() : token;
}

/** The decision for `token` given the `tokens` setting. */
export function decide(token, tokensSetting) {
  if (token === undefined) return { tag: 'unauthorized' };
  if (token === 'raise') throw new Error('asked to fail');
  for (const pair of tokensSetting.split(',')) {
    const [known, principal] = pair.trim().split(':').map((s) => s.trim());
    if (known && known === token) {
      return {
        tag: 'allow',
        val: {
          principalId: principal || 'anonymous',
          context: [['tokenSource', 'static-list'], ['language', 'javascript']],
        },
      };
    }
  }
  return { tag: 'deny' };
}

// The component's export: `turnpike:gateway/authorize`. Returning a value is
// `ok`; throwing a `ComponentError` would be `err`; any other exception traps.
export const authorize = {
  authorize(request) {
    const decision = decide(bearerToken(request), get('tokens') ?? '');
    if (decision.tag === 'deny') log('info', `unknown token for ${request.request.path}`);
    return decision;
  },
};
