import { createHash } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { sql, type RawBuilder } from 'kysely'
import type { Executor } from '../db/executor.js'
import { HubError } from '../errors.js'
import { createAfterwards } from './afterwards.js'
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
export function createRateLimiter(options: { log?: Pick<FastifyBaseLogger, 'warn'> } = {}) {
  /** The wait after `hits` failures in a row of a backoff row, as an SQL interval. */
  const wait = (hits: unknown, after: number | RawBuilder<unknown>, base: number, max: number) =>
    sql`make_interval(secs => CASE WHEN ${hits} >= ${after} THEN least(${base}::float8 * power(2::float8, least(${hits} - ${after}, 40)), ${max}::float8) ELSE 0 END)`

  /** The give-backs of this process not done yet, with the keys they touch. */
  const giveBacks = createAfterwards()
  const pendingOf = giveBacks.pendingOf

  type SignInKeys = { address: string; email: string; pair: string }
  const loginWindow = (s: AuthSettings) => sql`make_interval(secs => ${s.loginWindow})`
  /** The backoff's threshold: one failure once the email's failures from all addresses (`hits`, this attempt counted) pass their limit. */
  const backoffAfter = (emailHits: RawBuilder<unknown>, s: AuthSettings) => sql`(SELECT CASE WHEN ${emailHits} > ${s.loginFailuresPerEmail} THEN 1 ELSE ${s.loginBackoffAfter} END)`

  /**
   * The statement of {@link RateLimiter.beginSignIn}: counts the attempt on its three rows, locked
   * in the order address, email, pair (each part reads the one before, so it runs after it;
   * signInSucceeded locks them in the same order), and reads the account. The counts need not
   * wait for the disk: a crash of the database server may forget the last failures counted (a
   * throttle starting afresh), never let an attempt through that its counts refuse — each is
   * decided under its row's lock. A refusal raises an error (`sign_in_refused`, SQLSTATE HL429)
   * that rolls the statement back: a refused attempt counts nowhere.
   */
  async function countSignIn<A>(db: Executor, keys: SignInKeys, s: AuthSettings, account: RawBuilder<unknown>): Promise<{ attempt: SignInAttempt; account: A | undefined } | { refused: 'address' | 'pair' }> {
    const window = loginWindow(s)
    const expired = sql`rate_limits.window_start <= now() - ${window}`
    const counted = (limit: number) => sql`
      ON CONFLICT (key) DO UPDATE SET
        hits = CASE WHEN ${expired} THEN 1 ELSE rate_limits.hits + 1 END,
        window_start = CASE WHEN ${expired} THEN now() ELSE rate_limits.window_start END
      WHERE ${expired} OR rate_limits.hits < ${limit}
      RETURNING hits, window_start::text AS window_start`
    const after = backoffAfter(sql`(SELECT hits FROM e)`, s)
    const until = sql`rate_limits.window_start + ${wait(sql`rate_limits.hits`, after, s.loginBackoff, s.loginBackoffMax)}`
    try {
      const { rows } = await sql<{ address: { hits: number; window_start: string }; email: { hits: number; window_start: string }; account: A | null }>`
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
            hits = CASE WHEN ${until} + make_interval(secs => ${s.loginWindow}) <= now() THEN 1 ELSE rate_limits.hits + 1 END,
            window_start = now()
          WHERE NOT (rate_limits.hits >= ${after} AND ${until} > now())
          RETURNING hits
        )
        SELECT
          CASE WHEN NOT EXISTS (SELECT 1 FROM a) THEN sign_in_refused('address') WHEN NOT EXISTS (SELECT 1 FROM p) THEN sign_in_refused('pair') END AS refused,
          (SELECT row_to_json(a) FROM a) AS address, (SELECT row_to_json(e) FROM e) AS email,
          (SELECT row_to_json(x) FROM (${account}) x) AS account`.execute(db)
      const row = rows[0]!
      return {
        attempt: { address: { key: keys.address, windowStart: row.address.window_start }, email: { key: keys.email, windowStart: row.email.window_start }, pairKey: keys.pair },
        account: row.account ?? undefined,
      }
    } catch (err) {
      const refused = (err as { code?: unknown; detail?: unknown }).code === 'HL429' ? (err as { detail?: unknown }).detail : undefined
      if (refused === 'address' || refused === 'pair') return { refused }
      throw err
    }
  }

  /** Seconds until a refused sign-in may be tried again (read after the refusal: its statement counted nothing). */
  async function signInRetryAfter(db: Executor, keys: SignInKeys, refused: 'address' | 'pair', s: AuthSettings): Promise<string | undefined> {
    const window = loginWindow(s)
    if (refused === 'address') return retryAfter(db, keys.address, window)
    // the email's hits as the refused statement counted them: this attempt included
    const emailHits = sql`coalesce((SELECT hits + 1 FROM rate_limits WHERE key = ${keys.email} AND window_start > now() - ${window}), 1)`
    return retryAfter(db, keys.pair, wait(sql`hits`, backoffAfter(emailHits, s), s.loginBackoff, s.loginBackoffMax))
  }

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
     * attempt costs no hash), and reads the account `account` selects (at most one row, its
     * columns as JSON) in the same statement: one round trip before the hash. The attempt is
     * counted as a failure now and uncounted by {@link giveBackLater} once the password is found
     * right: so only failures stay counted, and concurrent guesses cannot all pass a check made
     * before any of them failed. Counted, in one statement that counts nothing when it refuses:
     * - the address's failures over all emails (`loginLimitPerAddress` per `loginWindow`, against
     *   credential stuffing): past it, 429 for every sign-in from the address;
     * - the email's failures from all addresses (`loginFailuresPerEmail` per `loginWindow`): past
     *   it, the backoff below starts after one failure instead of `loginBackoffAfter`. It never
     *   refuses on its own, so no one can lock an account out from addresses of their own;
     * - the backoff of this email at this address (`loginBackoffAfter`, `loginBackoff`,
     *   `loginBackoffMax`): 429 while it waits. It holds only this address for this email.
     *
     * Exact within this process although give-backs are made after the answer: an attempt of the
     * same email at the same address first waits for this process's give-backs of that pair (a
     * give-back resets the pair, so it must come before this attempt's count); one of another
     * pair that shares the address or the email is counted at once — a give-back in flight only
     * lowers counts, so an attempt let through before it would be let through after it — and, if
     * refused, counted again once the give-backs of its keys are done. A give-back lost with its
     * process leaves a failure counted: stricter, never looser.
     */
    async beginSignIn<A>(db: Executor, email: string, address: string, s: AuthSettings, account: RawBuilder<unknown>): Promise<{ attempt: SignInAttempt; account: A | undefined }> {
      const keys = { address: hashKey(`login:address:${address}`), email: hashKey(`login:email:${email}`), pair: hashKey(`login:pair:${email}\n${address}`) }
      const samePair = pendingOf([keys.pair])
      if (samePair.length > 0) await Promise.all(samePair)
      let counted = await countSignIn<A>(db, keys, s, account)
      const shared = 'refused' in counted ? pendingOf([keys.address, keys.email]) : []
      if (shared.length > 0) {
        await Promise.all(shared)
        counted = await countSignIn<A>(db, keys, s, account)
      }
      if ('refused' in counted) throw limited(await signInRetryAfter(db, keys, counted.refused, s))
      return counted
    },

    /**
     * Gives the counts of a sign-in whose password was right back ({@link signInSucceeded}; `also`:
     * more parts of that statement, named CTEs — the sign-in confirms its session) after the answer: the work is started once the current turn of the event loop is done (in which
     * the answer is written), and kept, so that the next attempt of the same keys in this process
     * waits for it ({@link beginSignIn}) and {@link settled} can wait for it.
     */
    giveBackLater(db: Executor, attempt: SignInAttempt, also: [string, RawBuilder<unknown>][] = []): void {
      giveBacks.later(
        () => limiter.signInSucceeded(db, attempt, also),
        // the failure stays counted: stricter, never looser
        (err) => options.log?.warn({ err }, 'a sign-in\'s attempt could not be given back; it stays counted'),
        [attempt.address.key, attempt.email.key, attempt.pairKey],
      )
    },

    /** Resolves once every give-back of this process started so far is done (tests; shutdown). */
    settled: giveBacks.settled,

    /**
     * The sign-in succeeded: its counts are given back, and its address's backoff for the email
     * starts afresh. The rows are locked in the order {@link beginSignIn} locks them (address,
     * email, pair; each part reads the one before, so it runs after it): one statement touching
     * two of them locks them in whatever order it scans, which deadlocked against a concurrent
     * sign-in of the same email from the same address. It need not wait for the disk: a give-back
     * a crash of the database server forgets leaves a failure counted (and a session it confirmed
     * ends when its confirmation would have been needed: stricter either way).
     */
    async signInSucceeded(db: Executor, attempt: SignInAttempt, also: [string, RawBuilder<unknown>][] = []): Promise<void> {
      const back = (taken: Taken) => sql`UPDATE rate_limits SET hits = hits - 1 WHERE hits > 0 AND key = ${taken.key} AND window_start = ${taken.windowStart}::timestamptz`
      await sql`
        WITH c AS (SELECT set_config('synchronous_commit', 'off', true)),
        ${sql.join(also.map(([name, part]) => sql`${sql.ref(name)} AS (${part}), `), sql``)}
        given_back_address AS (${back(attempt.address)} AND EXISTS (SELECT 1 FROM c) RETURNING 1),
        given_back_email AS (${back(attempt.email)} AND (SELECT count(*) FROM given_back_address) >= 0 RETURNING 1)
        DELETE FROM rate_limits WHERE key = ${attempt.pairKey} AND (SELECT count(*) FROM given_back_email) >= 0`.execute(db)
    },
  }
  return limiter
}
export type RateLimiter = ReturnType<typeof createRateLimiter>
