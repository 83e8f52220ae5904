/**
 * A positive whole number from the environment variable `name`, or `fallback` when it is unset
 * or empty; anything else stops the benchmark with a message naming it.
 *
 * @param {string} name
 * @param {number} fallback
 */
export function envInt(name, fallback) {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive whole number, got ${JSON.stringify(raw)}`)
  return n
}
