// Stand-in for `turnpike:gateway/log`: records what the plugin logged.
export const records = [];
export function log(level, message) {
  records.push({ level, message });
}
