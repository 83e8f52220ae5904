/** Plain-text tables for the terminal. */

const fmt = {
  ops: (v) => (Number.isFinite(v) ? v.toFixed(v >= 100 ? 0 : 1) : '-'),
  ms: (v) => (Number.isFinite(v) ? `${v.toFixed(2)} ms` : '-'),
  mib: (v) => (Number.isFinite(v) ? `${v.toFixed(0)} MiB` : '-'),
  pct: (v) => (Number.isFinite(v) ? `${v.toFixed(0)}%` : '-'),
}
export { fmt }

/**
 * Renders rows as an aligned table; numbers-looking cells are right-aligned.
 *
 * @param {string[]} headers
 * @param {string[][]} rows
 */
export function table(headers, rows) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i] ?? '').length)))
  const right = headers.map((_, i) => rows.length > 0 && rows.every((r) => /^[-\d.,]+( ms| MiB|\/s|%)?$|^-$/.test(String(r[i] ?? ''))))
  const line = (cells) => cells.map((c, i) => (right[i] ? String(c).padStart(widths[i]) : String(c).padEnd(widths[i]))).join(' | ')
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('-+-'), ...rows.map(line)].join('\n')
}
