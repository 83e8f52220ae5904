import { createHash } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import type { Database } from '../db/database.js'
import { RetryTransaction, type Executor, type Tx } from '../db/executor.js'
import { isRetryable } from '../db/pg-errors.js'
import { DEFERRED, DEFERRED_RESULT } from '../db/create-database.js'
import { HubError } from '../errors.js'
import { createSealer, fingerprint } from '../secrets.js'
import { toErrorBody } from './error-handler.js'

/** An answer as sent: its status and its body, serialized. */
export interface Answer {
  status: number
  body: string
}

/** The Idempotency-Key of a request: whose (the caller), which, and a fingerprint of the request. */
export interface KeyClaim {
  scope: string
  key: string
  /** HMAC of method, URL and body under the hub's secret. */
  hash: string
  /** The SHA-256 the hub kept before the HMAC (a retry across an upgrade still matches). */
  legacyHash: string
  /** The success answer holds a secret: it is kept encrypted. */
  secret: boolean
}

export type Outcome = { answer: Answer; replayed: boolean }

/** How often a request that lost a race runs again before it answers 503 `CONTENTION`. */
const MAX_ATTEMPTS = 12
/** How long a request waits for another with the same Idempotency-Key before 409 `IDEMPOTENCY_IN_PROGRESS`. */
const KEY_WAIT = '10s'
const SEALED = 'sealed:'

/** A string literal for a statement sent as text: every quote and backslash escaped (E'…'). */
function literal(value: string): string {
  return `E'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
}

/**
 * The unit of work of a write request: one transaction holding the claim of its Idempotency-Key,
 * its effect, the effect's events and the answer kept for retries. They commit together or not at
 * all, so an effect never exists without its answer, nor an answer without its effect — whatever
 * process dies, wherever.
 *
 * - The `BEGIN` and the claim travel with the effect's first statement, the answer with the
 *   `COMMIT`: a transaction costs one round trip more than its statements, a key none.
 * - A second request with the same key blocks on the first's uncommitted claim (the primary key)
 *   until the first commits — then it answers the first's answer, `replayed` — or rolls back (a
 *   process killed mid-request: its connection closes and PostgreSQL rolls back) — then it runs.
 *   It waits at most KEY_WAIT, then answers 409 `IDEMPOTENCY_IN_PROGRESS`.
 * - A 4xx answer is kept too (its effect rolled back): a retry gets the same refusal. A 5xx is
 *   not: the retry runs again.
 * - A request that lost a race ({@link RetryTransaction}, a serialization failure or a deadlock)
 *   runs again from the start, up to MAX_ATTEMPTS times.
 */
export function createUnitOfWork(db: Kysely<Database>, options: { secret: string }) {
  const answers = createSealer(options.secret, 'idempotency answers')

  const stored = (claim: KeyClaim, answer: Answer, success: boolean) =>
    claim.secret && success ? SEALED + answers.seal(answer.body) : answer.body

  function replay(claim: KeyClaim, row: { request_hash: string; status_code: number | null; response: string | null }): Outcome {
    if (row.request_hash !== claim.hash && row.request_hash !== claim.legacyHash) throw new HubError('IDEMPOTENCY_KEY_REUSED')
    if (row.status_code === null) throw new HubError('IDEMPOTENCY_IN_PROGRESS') // a row of an older version, never completed
    const body = row.response ?? ''
    return { answer: { status: row.status_code, body: body.startsWith(SEALED) ? answers.open(body.slice(SEALED.length)) : body }, replayed: true }
  }

  async function readKey(exec: Executor, claim: KeyClaim) {
    return exec.selectFrom('idempotency_keys').select(['request_hash', 'status_code', 'response']).where('scope', '=', claim.scope).where('key', '=', claim.key).executeTakeFirst()
  }

  /**
   * One attempt: begin (and claim), run, store the answer and commit — or replay the answer of
   * the request that claimed the key first. The `BEGIN` and the claim are held by the connection
   * and ride with the effect's first statement; the answer rides with the `COMMIT`.
   */
  async function attempt(conn: Executor, claim: KeyClaim | undefined, run: (tx: Tx) => Promise<Answer>): Promise<Outcome> {
    const begin = claim
      ? `BEGIN; SET LOCAL lock_timeout = '${KEY_WAIT}'; ` +
        `INSERT INTO idempotency_keys (scope, key, request_hash) VALUES (${literal(claim.scope)}, ${literal(claim.key)}, ${literal(claim.hash)}) ` +
        `ON CONFLICT (scope, key) DO NOTHING RETURNING key; SET LOCAL lock_timeout = DEFAULT`
      : 'BEGIN'
    await sql.raw(DEFERRED + begin).execute(conn)
    // a fresh executor for each attempt: per-transaction state (event ordinals) starts over
    const tx = conn.withoutPlugins() as Tx
    const answer = await run(tx)
    if (!claim) {
      await sql.raw('COMMIT').execute(conn)
      return { answer, replayed: false }
    }
    // the effect ran after the claim, in its transaction: a key claimed by a request that committed first is that request's
    const claimed = await sql.raw<{ key: string }>(DEFERRED_RESULT).execute(conn)
    if (!claimed.rows[0]) {
      const row = await readKey(conn, claim)
      await sql.raw('ROLLBACK').execute(conn)
      if (!row) throw new RetryTransaction('the key was swept while it was read')
      return replay(claim, row)
    }
    await sql
      .raw(
        `UPDATE idempotency_keys SET status_code = ${answer.status}, response = ${literal(stored(claim, answer, true))}, completed_at = now() ` +
          `WHERE scope = ${literal(claim.scope)} AND key = ${literal(claim.key)}; COMMIT`,
      )
      .execute(conn)
    return { answer, replayed: false }
  }

  /** Keeps a 4xx answer for the key, after its transaction rolled back; answers what the key holds then. */
  async function keepRefusal(claim: KeyClaim, err: unknown): Promise<Outcome | undefined> {
    const body = toErrorBody(err)
    if (body.statusCode >= 500) return undefined
    const refusal: Answer = { status: body.statusCode, body: JSON.stringify(body) }
    const kept = await db
      .insertInto('idempotency_keys')
      .values({ scope: claim.scope, key: claim.key, request_hash: claim.hash, status_code: refusal.status, response: stored(claim, refusal, false), completed_at: new Date() })
      .onConflict((oc) => oc.columns(['scope', 'key']).doNothing())
      .returning('key')
      .executeTakeFirst()
    if (kept) return undefined // the error goes out as it is
    const row = await readKey(db, claim)
    return row ? replay(claim, row) : undefined
  }

  return {
    /**
     * Runs `run` as the unit of work of one request. Resolves with the answer to send — the
     * effect's, or the kept one of an earlier request with the same key (`replayed`); rejects with
     * the error to answer (after keeping a 4xx for the key).
     */
    async run(claim: KeyClaim | undefined, run: (tx: Tx) => Promise<Answer>): Promise<Outcome> {
      for (let n = 1; ; n++) {
        try {
          return await db.connection().execute(async (conn) => {
            try {
              return await attempt(conn, claim, run)
            } catch (err) {
              await sql.raw('ROLLBACK').execute(conn).catch(() => {})
              throw err
            }
          })
        } catch (err) {
          if (err instanceof HubError && err.afterRollback) await err.afterRollback(db).catch(() => {})
          const retry = err instanceof RetryTransaction || isRetryable(err)
          if (retry && n < MAX_ATTEMPTS) continue
          const answered = retry ? new HubError('CONTENTION') : isLockTimeout(err) ? new HubError('IDEMPOTENCY_IN_PROGRESS') : err
          // the key's own refusals (another body, still running) say nothing of the request's effect
          const aboutTheKey = answered instanceof HubError && (answered.code === 'IDEMPOTENCY_IN_PROGRESS' || answered.code === 'IDEMPOTENCY_KEY_REUSED')
          if (claim && !aboutTheKey) {
            const kept = await keepRefusal(claim, answered)
            if (kept) return kept
          }
          throw answered
        }
      }
    },

    /** The fingerprints of a request for its claim. */
    fingerprints(method: string, url: string, body: unknown): { hash: string; legacyHash: string } {
      const text = `${method} ${url}\n${body === undefined ? '' : JSON.stringify(body)}`
      return { hash: fingerprint(options.secret, 'idempotency request', text), legacyHash: createHash('sha256').update(text).digest('hex') }
    },

    /** Removes keys older than `keep` (they are kept at least 24 hours). */
    async sweep(keep = '48 hours'): Promise<void> {
      await sql`DELETE FROM idempotency_keys WHERE created_at < now() - ${keep}::interval`.execute(db)
    },
  }
}
export type UnitOfWork = ReturnType<typeof createUnitOfWork>

function isLockTimeout(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: string }).code === '55P03'
}
