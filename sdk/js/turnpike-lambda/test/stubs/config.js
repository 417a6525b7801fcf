// Stand-in for `turnpike:gateway/config`: tests set `settings` entries.
export const settings = new Map();
export function getAll() {
  return [...settings.entries()];
}
