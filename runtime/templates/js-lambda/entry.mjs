// The component's entry point. The handler file is plain Lambda code:
// index.mjs as written here, or drop in an index.js (CommonJS
// `exports.handler = …` or ES module) or index.cjs instead, as Lambda's
// `index.handler` would find them (keep one). The turnpike-lambda module
// (shipped in this project) runs it; esbuild bundles them, and any npm
// packages the handler imports, into one module for componentize-js.
import { lambda } from 'turnpike-lambda'; // first: it sets up Buffer and process.env
import * as code from './index';

export const lambdaHandler = lambda(code.handler ?? code.default?.handler);
