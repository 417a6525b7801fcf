// Stand-in for `turnpike:gateway/config`: tests set `settings` entries.
export const settings = new Map();
export function get(key) {
  return settings.get(key);
}
export function getAll() {
  return [...settings.entries()];
}
