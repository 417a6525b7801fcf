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

/** Principals by token, parsed from a `tokens` setting. */
export function parseTokens(tokensSetting) {
  const principals = new Map();
  for (const pair of tokensSetting.split(',')) {
    const [known, principal] = pair.trim().split(':').map((s) => s.trim());
    if (known) principals.set(known, principal || 'anonymous');
  }
  return principals;
}

// The settings are the same for every invocation of an instance, so they are
// parsed on its first call and kept: with `instances = "reuse"` later calls
// skip the host call and the parsing (about a fifth of a call's time).
let principals;

const CONTEXT = [['tokenSource', 'static-list'], ['language', 'javascript']];

/** The decision for `token` given the principals by token. */
export function decide(token, principalsByToken) {
  if (token === undefined) return { tag: 'unauthorized' };
  if (token === 'raise') throw new Error('asked to fail');
  const principal = principalsByToken.get(token);
  if (principal === undefined) return { tag: 'deny' };
  return { tag: 'allow', val: { principalId: principal, context: CONTEXT } };
}

// The component's export: `turnpike:gateway/authorize`. Returning a value is
// `ok`; throwing a `ComponentError` would be `err`; any other exception traps.
export const authorize = {
  authorize(request) {
    principals ??= parseTokens(get('tokens') ?? '');
    const decision = decide(bearerToken(request), principals);
    if (decision.tag === 'deny') log('info', `unknown token for ${request.request.path}`);
    return decision;
  },
};
