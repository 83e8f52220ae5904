import { createHash } from 'node:crypto'
import { sql } from 'kysely'
import { withTransaction, type Executor, type Tx } from '../db/executor.js'
import { HubError } from '../errors.js'
import type { AuthSettings } from './settings.js'

const hashKey = (key: string) => createHash('sha256').update(key).digest('base64url')

const limited = (retryAfter: string | number | undefined) =>
  new HubError('RATE_LIMITED', 'Too many attempts; retry after the time in Retry-After.', { retryAfter: Math.max(1, Number(retryAfter ?? 1)) })

/** A hit counted by {@link RateLimiter.take}, to be given back when the attempt turns out well. */
export interface Taken {
  key: string
  /** The window the hit was counted in, as PostgreSQL wrote it (exact to the microsecond). */
  windowStart: string
}

/** What {@link RateLimiter.beginSignIn} counted: given back by {@link RateLimiter.signInSucceeded}. */
export interface SignInAttempt {
  address: Taken
  email: Taken
  pairKey: string
}

/**
 * Counters kept in the database (`rate_limits`), so a limit holds across every hub process.
 * Each count is one statement that reads and writes its row under the row lock. Keys are
 * hashed: an email or a client address never sits in the table in the clear.
 *
 * Two kinds of row share the table:
 * - a fixed window: `hits` in the window that began at `window_start`;
 * - a backoff: `hits` failures in a row, the last at `window_start`; past `after` of them, the
 *   next attempt waits `base · 2^(hits − after)` seconds (at most `max`) from the last one. The
 *   count starts afresh once `forget` seconds have passed after that wait with no attempt.
 *
 * A hit is counted on the database itself (`db`), not in a request's transaction: it must stay
 * counted when the attempt it counts fails.
 */
export function createRateLimiter() {
  /** The wait after `hits` failures in a row of a backoff row, as an SQL interval. */
  const wait = (hits: unknown, after: number, base: number, max: number) =>
    sql`make_interval(secs => CASE WHEN ${hits} >= ${after} THEN least(${base}::float8 * power(2::float8, least(${hits} - ${after}, 40)), ${max}::float8) ELSE 0 END)`

  const limiter = {
    /**
     * Deletes rows that no limit can read any more: every window and the longest wait plus its
     * `forget` time are below 8 days (the settings cap them), so a row last touched 9 days ago
     * counts for nothing. Keeps the table from growing with every address an attack used.
     */
    async sweep(db: Executor): Promise<number> {
      const { numAffectedRows } = await sql`DELETE FROM rate_limits WHERE window_start < now() - interval '9 days'`.execute(db)
      return Number(numAffectedRows ?? 0)
    },

    /** Throws 429 `RATE_LIMITED` when `key` has `limit` hits or more in its current window, counting none. */
    async check(db: Executor, key: string, limit: number, windowSeconds: number): Promise<void> {
      const { rows } = await sql<{ hits: number; retry_after: string }>`
        SELECT hits, ceil(extract(epoch FROM (window_start + make_interval(secs => ${windowSeconds}) - now())))::text AS retry_after
        FROM rate_limits WHERE key = ${hashKey(key)} AND window_start > now() - make_interval(secs => ${windowSeconds})`.execute(db)
      const row = rows[0]
      if (row && row.hits >= limit) throw limited(row.retry_after)
    },

    /** Counts a hit on `key` and returns the hits of its window; throws 429 `RATE_LIMITED` (with `retryAfter` seconds) past `limit`. */
    async hit(db: Executor, key: string, limit: number, windowSeconds: number): Promise<number> {
      const { rows } = await sql<{ hits: number; retry_after: string }>`
        INSERT INTO rate_limits (key, window_start, hits) VALUES (${hashKey(key)}, now(), 1)
        ON CONFLICT (key) DO UPDATE SET
          hits = CASE WHEN rate_limits.window_start <= now() - make_interval(secs => ${windowSeconds}) THEN 1 ELSE rate_limits.hits + 1 END,
          window_start = CASE WHEN rate_limits.window_start <= now() - make_interval(secs => ${windowSeconds}) THEN now() ELSE rate_limits.window_start END
        RETURNING hits, ceil(extract(epoch FROM (window_start + make_interval(secs => ${windowSeconds}) - now())))::text AS retry_after`.execute(db)
      const row = rows[0]!
      if (row.hits > limit) throw limited(row.retry_after)
      return row.hits
    },

    /**
     * Counts a hit on `key` unless it has `limit` hits in its current window, in which case it
     * throws 429 `RATE_LIMITED` and counts nothing (a guarded upsert: of concurrent takes, at
     * most `limit` succeed in a window). Give it back with {@link giveBack}.
     */
    async take(db: Executor, key: string, limit: number, windowSeconds: number): Promise<Taken & { hits: number }> {
      const hashed = hashKey(key)
      const expired = sql`rate_limits.window_start <= now() - make_interval(secs => ${windowSeconds})`
      const { rows } = await sql<{ hits: number; window_start: string }>`
        INSERT INTO rate_limits (key, window_start, hits) VALUES (${hashed}, now(), 1)
        ON CONFLICT (key) DO UPDATE SET
          hits = CASE WHEN ${expired} THEN 1 ELSE rate_limits.hits + 1 END,
          window_start = CASE WHEN ${expired} THEN now() ELSE rate_limits.window_start END
        WHERE ${expired} OR rate_limits.hits < ${limit}
        RETURNING hits, window_start::text AS window_start`.execute(db)
      const row = rows[0]
      if (!row) {
        const { rows: held } = await sql<{ retry_after: string }>`
          SELECT ceil(extract(epoch FROM (window_start + make_interval(secs => ${windowSeconds}) - now())))::text AS retry_after
          FROM rate_limits WHERE key = ${hashed}`.execute(db)
        throw limited(held[0]?.retry_after)
      }
      return { key: hashed, windowStart: row.window_start, hits: row.hits }
    },

    /**
     * Counts a failure on the backoff row `key`, unless it is waiting, in which case it throws
     * 429 `RATE_LIMITED` with the rest of the wait and counts nothing (a guarded upsert: of
     * concurrent attempts, only those the count allows pass).
     */
    async takeBackoff(db: Executor, key: string, o: { after: number; base: number; max: number; forget: number }): Promise<void> {
      const hashed = hashKey(key)
      const until = sql`rate_limits.window_start + ${wait(sql`rate_limits.hits`, o.after, o.base, o.max)}`
      const { rows } = await sql<{ hits: number }>`
        INSERT INTO rate_limits (key, window_start, hits) VALUES (${hashed}, now(), 1)
        ON CONFLICT (key) DO UPDATE SET
          hits = CASE WHEN ${until} + make_interval(secs => ${o.forget}) <= now() THEN 1 ELSE rate_limits.hits + 1 END,
          window_start = now()
        WHERE NOT (rate_limits.hits >= ${o.after} AND ${until} > now())
        RETURNING hits`.execute(db)
      if (rows.length === 0) {
        const { rows: held } = await sql<{ retry_after: string }>`
          SELECT ceil(extract(epoch FROM (window_start + ${wait(sql`hits`, o.after, o.base, o.max)} - now())))::text AS retry_after
          FROM rate_limits WHERE key = ${hashed}`.execute(db)
        throw limited(held[0]?.retry_after)
      }
    },

    /**
     * Starts a sign-in of `email` from `address`, before its password is verified (a refused
     * attempt costs no hash). The attempt is counted as a failure now and uncounted by
     * {@link signInSucceeded}: so only failures stay counted, and concurrent guesses cannot all
     * pass a check made before any of them failed. In one transaction, so that a refused attempt
     * counts nowhere:
     * - the address's failures over all emails (`loginLimitPerAddress` per `loginWindow`, against
     *   credential stuffing): past it, 429 for every sign-in from the address;
     * - the email's failures from all addresses (`loginFailuresPerEmail` per `loginWindow`): past
     *   it, the backoff below starts after one failure instead of `loginBackoffAfter`. It never
     *   refuses on its own, so no one can lock an account out from addresses of their own;
     * - the backoff of this email at this address (`loginBackoffAfter`, `loginBackoff`,
     *   `loginBackoffMax`): 429 while it waits. It holds only this address for this email.
     */
    async beginSignIn(db: Executor, email: string, address: string, s: AuthSettings): Promise<SignInAttempt> {
      return withTransaction(db, async (tx) => {
        // the counts need not wait for the disk: a crash of the database server may forget the
        // last failures counted (a throttle starting afresh), never let an attempt through that
        // its counts refuse — each is decided under its row's lock
        await sql`SELECT set_config('synchronous_commit', 'off', true)`.execute(tx)
        const perAddress = await limiter.take(tx, `login:address:${address}`, s.loginLimitPerAddress, s.loginWindow)
        const perEmail = await limiter.take(tx, `login:email:${email}`, 2_147_483_647, s.loginWindow)
        const pairKey = `login:pair:${email}\n${address}`
        const after = perEmail.hits > s.loginFailuresPerEmail ? 1 : s.loginBackoffAfter
        await limiter.takeBackoff(tx, pairKey, { after, base: s.loginBackoff, max: s.loginBackoffMax, forget: s.loginWindow })
        return { address: perAddress, email: perEmail, pairKey: hashKey(pairKey) }
      })
    },

    /**
     * The sign-in succeeded: its counts are given back, and its address's backoff for the email
     * starts afresh. The rows are locked in the order {@link beginSignIn} locks them (address,
     * email, pair): one statement touching two of them locks them in whatever order it scans,
     * which deadlocked against a concurrent sign-in of the same email from the same address.
     */
    async signInSucceeded(db: Executor, attempt: SignInAttempt): Promise<void> {
      await withTransaction(db, (tx) => limiter.giveBack(tx, attempt))
    },

    /** {@link signInSucceeded} as part of a transaction of the caller's (the one that stores the session). */
    async giveBack(tx: Tx, attempt: SignInAttempt): Promise<void> {
      for (const taken of [attempt.address, attempt.email]) {
        await sql`UPDATE rate_limits SET hits = hits - 1 WHERE hits > 0 AND key = ${taken.key} AND window_start = ${taken.windowStart}::timestamptz`.execute(tx)
      }
      await sql`DELETE FROM rate_limits WHERE key = ${attempt.pairKey}`.execute(tx)
    },
  }
  return limiter
}
export type RateLimiter = ReturnType<typeof createRateLimiter>
