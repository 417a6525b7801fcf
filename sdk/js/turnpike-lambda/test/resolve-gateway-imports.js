// Module resolve hook: `turnpike:gateway/<interface>@<version>` -> ./stubs/<interface>.js.
export async function resolve(specifier, context, nextResolve) {
  const match = /^turnpike:gateway\/([a-z-]+)@/.exec(specifier);
  if (match) {
    return { url: new URL(`./stubs/${match[1]}.js`, import.meta.url).href, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}
