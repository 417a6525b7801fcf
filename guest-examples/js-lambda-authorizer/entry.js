// The component's entry point: Turnpike's Lambda shim around the handler in
// index.js, which is plain Lambda code.
import { handler } from './index.js';
import { lambda } from './node_modules/turnpike-lambda/index.js';

export const lambdaHandler = lambda(handler);
