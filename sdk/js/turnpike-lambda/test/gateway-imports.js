// Lets Node load the shim, which imports `turnpike:gateway/config@0.1.0`:
// the specifier resolves to ./stubs/config.js, so `npm test` runs the shim
// natively. Use: `node --import ./test/gateway-imports.js --test test/`.
import { register } from 'node:module';

register(new URL('./resolve-gateway-imports.js', import.meta.url));
