import { sql } from 'kysely'
import type { Tx } from '../db/executor.js'
import type { Redaction } from '../redaction.js'
import { createSealer } from '../secrets.js'

const SEALED = 'sealed:'

/**
 * Rewrites a person's data out of the kept Idempotency-Key answers (an erase): every answer that
 * holds one of the person's ids or identifiers — in the clear, or sealed (those are opened, and
 * sealed again once rewritten) — is rewritten as {@link Redaction.redact} says. A retry of such a
 * request then replays the rewritten answer; the key and the request's fingerprint stay.
 *
 * @example
 * ```ts
 * await createAnswerRedaction(config.secret).redact(tx, redaction)
 * ```
 */
export function createAnswerRedaction(secret: string) {
  // the unit of work seals answers under the same purpose (unit-of-work.ts)
  const answers = createSealer(secret, 'idempotency answers')
  return {
    async redact(tx: Tx, redaction: Redaction): Promise<number> {
      const { rows } = await sql<{ scope: string; key: string; response: string }>`
        SELECT scope, key, response FROM idempotency_keys
        WHERE response IS NOT NULL AND (response LIKE ${`${SEALED}%`} OR ${redaction.mayHold(sql`response`)})
        FOR UPDATE`.execute(tx)
      let changed = 0
      for (const row of rows) {
        const sealed = row.response.startsWith(SEALED)
        const text = sealed ? answers.open(row.response.slice(SEALED.length)) : row.response
        let doc: unknown
        try {
          doc = JSON.parse(text)
        } catch {
          continue // not a JSON answer: none of the hub's writes answer otherwise
        }
        const rewritten = redaction.redact(doc, false)
        if (rewritten === undefined) continue
        const body = JSON.stringify(rewritten)
        await tx.updateTable('idempotency_keys').set({ response: sealed ? SEALED + answers.seal(body) : body })
          .where('scope', '=', row.scope).where('key', '=', row.key).execute()
        changed++
      }
      return changed
    },
  }
}
export type AnswerRedaction = ReturnType<typeof createAnswerRedaction>
