// How the plugin fails an invocation, shared by its exports.

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

/**
 * Runs `body`, turning any other exception into a PluginError with its
 * message and stack: componentize-js would report it only as "expected a
 * string, received [object]" and trap. Either way the client gets a 500.
 */
export function explained(body) {
  try {
    return body();
  } catch (e) {
    if (e instanceof PluginError) throw e;
    throw new PluginError(`${e}\n${e?.stack ?? ''}`.trim());
  }
}
