import { createHash } from 'node:crypto'
import { sql } from 'kysely'
import type { Executor } from '../db/executor.js'
import { HubError } from '../errors.js'

/**
 * Fixed-window counters kept in the database, so the limit holds across every hub process.
 * One statement counts the hit and reads the window (an upsert under the row lock).
 * Keys are hashed: an email never sits in the table in the clear.
 *
 * A hit is counted on the database itself (`db`), not in a request's transaction: it must stay
 * counted when the attempt it counts fails.
 */
export function createRateLimiter() {
  return {
    /** Throws 429 `RATE_LIMITED` when `key` has `limit` hits or more in its current window, counting none. */
    async check(db: Executor, key: string, limit: number, windowSeconds: number): Promise<void> {
      const hashed = createHash('sha256').update(key).digest('base64url')
      const { rows } = await sql<{ hits: number; retry_after: string }>`
        SELECT hits, ceil(extract(epoch FROM (window_start + make_interval(secs => ${windowSeconds}) - now())))::text AS retry_after
        FROM rate_limits WHERE key = ${hashed} AND window_start > now() - make_interval(secs => ${windowSeconds})`.execute(db)
      const row = rows[0]
      if (row && row.hits >= limit) {
        throw new HubError('RATE_LIMITED', 'Too many attempts; retry after the time in Retry-After.', { retryAfter: Math.max(1, Number(row.retry_after)) })
      }
    },

    /** Counts a hit on `key`; throws 429 `RATE_LIMITED` (with `retryAfter` seconds) past `limit`. */
    async hit(db: Executor, key: string, limit: number, windowSeconds: number): Promise<void> {
      const hashed = createHash('sha256').update(key).digest('base64url')
      const { rows } = await sql<{ hits: number; retry_after: string }>`
        INSERT INTO rate_limits (key, window_start, hits) VALUES (${hashed}, now(), 1)
        ON CONFLICT (key) DO UPDATE SET
          hits = CASE WHEN rate_limits.window_start <= now() - make_interval(secs => ${windowSeconds}) THEN 1 ELSE rate_limits.hits + 1 END,
          window_start = CASE WHEN rate_limits.window_start <= now() - make_interval(secs => ${windowSeconds}) THEN now() ELSE rate_limits.window_start END
        RETURNING hits, ceil(extract(epoch FROM (window_start + make_interval(secs => ${windowSeconds}) - now())))::text AS retry_after`.execute(db)
      const row = rows[0]!
      if (row.hits > limit) {
        throw new HubError('RATE_LIMITED', 'Too many attempts; retry after the time in Retry-After.', { retryAfter: Math.max(1, Number(row.retry_after)) })
      }
    },
  }
}
export type RateLimiter = ReturnType<typeof createRateLimiter>
