import { sql } from 'kysely'
import type { Tx } from '../db/executor.js'
import type { Redaction } from '../redaction.js'

/**
 * Rewrites a person's data out of the outbox (an erase): first the events about the person (its
 * customer ids), whole — what they hold teaches the redaction the person's older emails and
 * names —, then every other event whose payload holds one of the person's ids or identifiers (a
 * merge or a conflict naming it). Events keep their id, type, position and time: the feed's order
 * and its consumers' cursors stand; a delivery not yet made carries the rewritten payload.
 *
 * Reads the payloads that may hold the person with a scan of the table (`ILIKE`): an erase is
 * rare, and a missed copy is worse than a slow one.
 *
 * @example
 * ```ts
 * const { about, others } = await redactEvents(tx, redaction)
 * ```
 */
export async function redactEvents(tx: Tx, redaction: Redaction): Promise<{ about: number; others: number }> {
  const ids = redaction.ids
  const rewrite = async (rows: { position: string; payload: unknown }[], about: boolean) => {
    let changed = 0
    for (const row of rows) {
      const payload = redaction.redact(typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload, about)
      if (payload === undefined) continue
      await sql`UPDATE events SET payload = ${JSON.stringify(payload)}::jsonb WHERE position = ${row.position}::bigint`.execute(tx)
      changed++
    }
    return changed
  }
  const own = await sql<{ position: string; payload: unknown }>`
    SELECT position::text AS position, payload FROM events WHERE customer_id = ANY (${ids}::text[]) ORDER BY position`.execute(tx)
  const about = await rewrite(own.rows, true)
  const others = await sql<{ position: string; payload: unknown }>`
    SELECT position::text AS position, payload FROM events
    WHERE (customer_id IS NULL OR NOT customer_id = ANY (${ids}::text[])) AND ${redaction.mayHold(sql`payload`)}
    ORDER BY position`.execute(tx)
  return { about, others: await rewrite(others.rows, false) }
}
