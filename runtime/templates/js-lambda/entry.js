// The component's entry point. index.mjs is plain Lambda code; the
// turnpike-lambda module (shipped in this project: componentize-js loads
// modules from the project's own folder) runs its handler.
import { handler } from './index.mjs';
import { lambda } from './turnpike-lambda/index.js';

export const lambdaHandler = lambda(handler);
