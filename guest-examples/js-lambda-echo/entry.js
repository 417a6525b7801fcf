// The component's entry point: Turnpike's Lambda shim around the handler in
// index.mjs, which is plain Lambda code. esbuild bundles the two (and any
// npm packages the handler imports) into one module for componentize-js.
import { lambda } from 'turnpike-lambda'; // first: it sets up Buffer and process.env
import * as code from './index.mjs';

export const lambdaHandler = lambda(code.handler);
