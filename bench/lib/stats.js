/**
 * Latency statistics. Latencies are milliseconds; percentiles use the nearest-rank method
 * over all samples (no sampling, no histogram buckets).
 */

/**
 * Summarises one measured run.
 *
 * @param {Float64Array | number[]} latenciesMs one entry per successful request
 * @param {number} elapsedMs wall time of the whole run
 * @returns {{ count: number, opsPerSec: number, p50: number, p95: number, p99: number, max: number, mean: number }}
 */
export function summarize(latenciesMs, elapsedMs) {
  const sorted = Float64Array.from(latenciesMs).sort()
  const count = sorted.length
  const at = (p) => (count === 0 ? NaN : sorted[Math.min(count - 1, Math.max(0, Math.ceil((p / 100) * count) - 1))])
  let total = 0
  for (const v of sorted) total += v
  return {
    count,
    opsPerSec: elapsedMs > 0 ? (count * 1000) / elapsedMs : NaN,
    p50: at(50),
    p95: at(95),
    p99: at(99),
    max: count === 0 ? NaN : sorted[count - 1],
    mean: count === 0 ? NaN : total / count,
  }
}

/** Milliseconds since `start` (a `process.hrtime.bigint()` value). */
export function msSince(start) {
  return Number(process.hrtime.bigint() - start) / 1e6
}
