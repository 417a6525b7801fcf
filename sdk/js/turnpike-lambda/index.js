// turnpike-lambda: runs an AWS Lambda handler for Node.js, unchanged, as a
// Turnpike `lambda` component (built with componentize-js).
//
// The component's entry module wraps the handler:
//
//   import { handler } from './index.mjs';
//   import { lambda } from 'turnpike-lambda';
//   export const lambdaHandler = lambda(handler);
//
// The handler gets the event API Gateway would send and a context with
// Lambda's fields and methods; it may be `async`, return a promise, or call
// `callback(error, result)` or `context.succeed/fail/done`, as on Lambda.
// A thrown error or a rejection is reported as Lambda reports it
// (`errorType`, `errorMessage`; the stack goes to the gateway's log), and
// `throw new Error('Unauthorized')` (or `callback('Unauthorized')`) from an
// authorizer means 401. `process.env` holds the plugin's settings and
// Lambda's `AWS_LAMBDA_FUNCTION_*` variables; `Buffer` is the npm `buffer`
// package's.
import { getAll } from 'turnpike:gateway/config@0.1.0';
// Node's Buffer, which Lambda code uses freely (base64 bodies above all);
// the component's JavaScript engine has none. Import this module before the
// handler's so that its top-level code finds it too.
import { Buffer } from 'buffer';

globalThis.Buffer ??= Buffer;
// process.env exists from the start, for handler modules that read it at
// the top level (filled in before each invocation).
globalThis.process ??= {};
globalThis.process.env ??= {};

/** Lambda's error shape, as the `lambda` world's `handler-error`. */
class HandlerFailure extends Error {
  constructor(error) {
    const message = typeof error === 'string' ? error : (error?.message ?? String(error));
    super(message);
    const type =
      typeof error === 'string' ? 'string' : (error?.name ?? error?.constructor?.name ?? 'Error');
    // componentize-js turns an exception with a `payload` into the result's `err`.
    this.payload = { errorType: type, errorMessage: message };
  }
}

function setEnvironment(invocation) {
  for (const [key, value] of getAll()) process.env[key] = value;
  process.env.AWS_LAMBDA_FUNCTION_NAME = invocation.functionName;
  process.env.AWS_LAMBDA_FUNCTION_VERSION = invocation.functionVersion;
  process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE = String(invocation.memoryLimitInMb);
  process.env.AWS_REGION = invocation.invokedFunctionArn.split(':')[3] ?? '';
  process.env.AWS_DEFAULT_REGION ??= process.env.AWS_REGION;
}

function lambdaContext(invocation, finish) {
  const deadline = Number(invocation.deadlineMs);
  return {
    awsRequestId: invocation.awsRequestId,
    functionName: invocation.functionName,
    functionVersion: invocation.functionVersion,
    invokedFunctionArn: invocation.invokedFunctionArn,
    memoryLimitInMB: String(invocation.memoryLimitInMb),
    logGroupName: `/aws/lambda/${invocation.functionName}`,
    logStreamName: 'turnpike',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    succeed: (result) => finish(null, result),
    fail: (error) => finish(error ?? new Error('failed')),
    done: (error, result) => finish(error, result),
  };
}

/** The `lambda-handler` export calling `handler`. */
export function lambda(handler) {
  if (typeof handler !== 'function') {
    throw new TypeError('turnpike-lambda: the handler is not a function');
  }
  return {
    handle(event, invocation) {
      setEnvironment(invocation);
      return new Promise((resolve, reject) => {
        let settled = false;
        const finish = (error, result) => {
          if (settled) return;
          settled = true;
          if (error !== null && error !== undefined) {
            console.error(error?.stack ?? String(error));
            reject(new HandlerFailure(error));
          } else {
            resolve(JSON.stringify(result === undefined ? null : result));
          }
        };
        try {
          const returned = handler(JSON.parse(event), lambdaContext(invocation, finish), finish);
          if (returned && typeof returned.then === 'function') {
            returned.then(
              (result) => finish(null, result),
              (error) => finish(error ?? new Error('the handler rejected')),
            );
          } else if (returned !== undefined) {
            // Neither a promise nor a callback: what it returned is the answer.
            finish(null, returned);
          } else if (handler.length < 3) {
            // Returned nothing and takes no callback: an old-style handler
            // that calls context.succeed/fail/done, perhaps after pending
            // promises settle. As Lambda waits for the event loop to empty,
            // answer null once they have had their turn.
            setTimeout(() => finish(null, null), 0);
          }
        } catch (error) {
          finish(error);
        }
      });
    },
  };
}
