import { createHash } from 'node:crypto'
import { sql, type RawBuilder } from 'kysely'
import { withTransaction, type Executor } from '../db/executor.js'
import { HubError } from '../errors.js'
import type { AuthSettings } from './settings.js'

const hashKey = (key: string) => createHash('sha256').update(key).digest('base64url')

const limited = (retryAfter: string | number | undefined) =>
  new HubError('RATE_LIMITED', 'Too many attempts; retry after the time in Retry-After.', { retryAfter: Math.max(1, Number(retryAfter ?? 1)) })

/** A hit counted by {@link RateLimiter.beginSignIn}, to be given back when the attempt turns out well. */
export interface Taken {
  key: string
  /** The window the hit was counted in, as PostgreSQL wrote it (exact to the microsecond). */
  windowStart: string
}

/** Seconds until `key`'s row is free again: `wait` (an interval, which may read the row's `hits`) after its `window_start`. */
async function retryAfter(db: Executor, key: string, wait: RawBuilder<unknown>): Promise<string | undefined> {
  const { rows } = await sql<{ retry_after: string }>`
    SELECT ceil(extract(epoch FROM (window_start + ${wait} - now())))::text AS retry_after FROM rate_limits WHERE key = ${key}`.execute(db)
  return rows[0]?.retry_after
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
  const wait = (hits: unknown, after: number | RawBuilder<unknown>, base: number, max: number) =>
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
      const keys = { address: hashKey(`login:address:${address}`), email: hashKey(`login:email:${email}`), pair: hashKey(`login:pair:${email}\n${address}`) }
      const window = sql`make_interval(secs => ${s.loginWindow})`
      const expired = sql`rate_limits.window_start <= now() - ${window}`
      const counted = (limit: number) => sql`
        ON CONFLICT (key) DO UPDATE SET
          hits = CASE WHEN ${expired} THEN 1 ELSE rate_limits.hits + 1 END,
          window_start = CASE WHEN ${expired} THEN now() ELSE rate_limits.window_start END
        WHERE ${expired} OR rate_limits.hits < ${limit}
        RETURNING hits, window_start::text AS window_start`
      const o = { base: s.loginBackoff, max: s.loginBackoffMax, forget: s.loginWindow }
      // the backoff starts after one failure once the email's failures from all addresses pass their limit
      const after = sql`(SELECT CASE WHEN e.hits > ${s.loginFailuresPerEmail} THEN 1 ELSE ${s.loginBackoffAfter} END FROM e)`
      const until = sql`rate_limits.window_start + ${wait(sql`rate_limits.hits`, after, o.base, o.max)}`
      return withTransaction(db, async (tx) => {
        // One statement, its three rows locked in the order address, email, pair (each part reads
        // the one before, so it runs after it; giveBack locks them in the same order). The counts
        // need not wait for the disk: a crash of the database server may forget the last failures
        // counted (a throttle starting afresh), never let an attempt through that its counts
        // refuse — each is decided under its row's lock. A refusal rolls the transaction back:
        // a refused attempt counts nowhere.
        const { rows } = await sql<{ address: { hits: number; window_start: string } | null; email: { hits: number; window_start: string } | null; pair: number | null }>`
          WITH c AS (SELECT set_config('synchronous_commit', 'off', true)),
          a AS (
            INSERT INTO rate_limits (key, window_start, hits) SELECT ${keys.address}, now(), 1 FROM c
            ${counted(s.loginLimitPerAddress)}
          ),
          e AS (
            INSERT INTO rate_limits (key, window_start, hits) SELECT ${keys.email}, now(), 1 WHERE EXISTS (SELECT 1 FROM a)
            ${counted(2_147_483_647)}
          ),
          p AS (
            INSERT INTO rate_limits (key, window_start, hits) SELECT ${keys.pair}, now(), 1 WHERE EXISTS (SELECT 1 FROM e)
            ON CONFLICT (key) DO UPDATE SET
              hits = CASE WHEN ${until} + make_interval(secs => ${o.forget}) <= now() THEN 1 ELSE rate_limits.hits + 1 END,
              window_start = now()
            WHERE NOT (rate_limits.hits >= ${after} AND ${until} > now())
            RETURNING hits
          )
          SELECT (SELECT row_to_json(a) FROM a) AS address, (SELECT row_to_json(e) FROM e) AS email, (SELECT hits FROM p) AS pair`.execute(tx)
        const { address: perAddress, email: perEmail, pair } = rows[0]!
        if (!perAddress) throw limited(await retryAfter(tx, keys.address, window))
        if (pair === null) throw limited(await retryAfter(tx, keys.pair, wait(sql`hits`, perEmail!.hits > s.loginFailuresPerEmail ? 1 : s.loginBackoffAfter, o.base, o.max)))
        return {
          address: { key: keys.address, windowStart: perAddress.window_start },
          email: { key: keys.email, windowStart: perEmail!.window_start },
          pairKey: keys.pair,
        }
      })
    },

    /**
     * The sign-in succeeded: its counts are given back, and its address's backoff for the email
     * starts afresh. The rows are locked in the order {@link beginSignIn} locks them (address,
     * email, pair): one statement touching two of them locks them in whatever order it scans,
     * which deadlocked against a concurrent sign-in of the same email from the same address.
     */
    async signInSucceeded(db: Executor, attempt: SignInAttempt): Promise<void> {
      const parts = limiter.giveBackParts(attempt)
      await sql`WITH ${sql.join(parts.slice(0, -1).map(([name, part]) => sql`${sql.ref(name)} AS (${part})`), sql`, `)} ${parts.at(-1)![1]}`.execute(db)
    },

    /**
     * {@link signInSucceeded} as parts of a statement of the caller's (the one that stores the
     * session): named CTEs locking address, email, pair in that order (each part reads the one
     * before, so it runs after it).
     */
    giveBackParts(attempt: SignInAttempt): [string, RawBuilder<unknown>][] {
      const back = (taken: Taken) => sql`UPDATE rate_limits SET hits = hits - 1 WHERE hits > 0 AND key = ${taken.key} AND window_start = ${taken.windowStart}::timestamptz`
      return [
        ['given_back_address', sql`${back(attempt.address)} RETURNING 1`],
        ['given_back_email', sql`${back(attempt.email)} AND (SELECT count(*) FROM given_back_address) >= 0 RETURNING 1`],
        ['given_back_pair', sql`DELETE FROM rate_limits WHERE key = ${attempt.pairKey} AND (SELECT count(*) FROM given_back_email) >= 0 RETURNING 1`],
      ]
    },
  }
  return limiter
}
export type RateLimiter = ReturnType<typeof createRateLimiter>
