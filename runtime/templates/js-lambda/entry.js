// The component's entry point. index.mjs is plain Lambda code; the
// turnpike-lambda module (shipped in this project) runs its handler. esbuild
// bundles them, and any npm packages the handler imports, into one module
// for componentize-js. A CommonJS handler (`exports.handler = ...`) works
// too: name its file index.cjs and import that instead.
import { lambda } from 'turnpike-lambda'; // first: it sets up Buffer and process.env
import * as code from './index.mjs';

export const lambdaHandler = lambda(code.handler ?? code.default?.handler);
