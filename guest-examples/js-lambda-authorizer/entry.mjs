// The component's entry point: Turnpike's Lambda shim around the CommonJS
// handler in index.js (`exports.handler`), which is plain Lambda code.
// esbuild turns the CommonJS module into part of one ES module.
import { lambda } from 'turnpike-lambda'; // first: it sets up Buffer and process.env
import * as code from './index.js';

export const lambdaHandler = lambda(code.handler);
