// Lets Node load a plugin that imports the gateway's WIT interfaces
// (`turnpike:gateway/config@0.1.0`, `.../log@0.1.0`): the specifiers resolve
// to the small stand-ins in ./stubs, so the plugin's logic runs under
// `node --test` without a build. Use: `node --import ./test/gateway-imports.js --test`.
import { register } from 'node:module';

register(new URL('./resolve-gateway-imports.js', import.meta.url));
