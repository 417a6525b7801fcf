// The component's entry point: Turnpike's Lambda shim around the handler in
// index.mjs, which is plain Lambda code.
import { handler } from './index.mjs';
import { lambda } from './node_modules/turnpike-lambda/index.js';

export const lambdaHandler = lambda(handler);
