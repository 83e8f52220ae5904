import { sql, type Kysely, type RawBuilder } from 'kysely'
import type { EventType, HubEvent } from '@his-her/contract'
import type { Database } from '../db/schema.js'
import { newId } from '../ids.js'
import { HubError } from '../errors.js'

export interface EventInput {
  type: EventType
  customerId: string | null
  payload: Record<string, unknown>
}

/**
 * The feed position of the `ordinal`-th event of the current transaction:
 * (transaction id << 16) | ordinal. Transaction ids only grow, so positions taken by a later
 * transaction are always larger; the feed reads only below the oldest running transaction.
 */
function position(ordinal: number): RawBuilder<string> {
  if (!Number.isInteger(ordinal) || ordinal < 1 || ordinal > 0xffff) throw new Error(`event ordinal out of range: ${ordinal}`)
  return sql<string>`((pg_current_xact_id()::text::bigint << 16) | ${sql.lit(ordinal)})`
}

/**
 * The row values of one event, for an `INSERT INTO events (position, id, type, customer_id,
 * payload)` written inside the statement that makes the change (a data-modifying CTE).
 * `ordinal` numbers the events of one transaction from 1.
 */
export function eventRow(ordinal: number, event: EventInput): RawBuilder<unknown> {
  return sql`(${position(ordinal)}, ${newId('evt')}, ${event.type}, ${event.customerId}, ${JSON.stringify(event.payload)}::jsonb)`
}

/**
 * Writes events inside a transaction, numbering them. Create one per transaction:
 *
 * @example
 * ```ts
 * await db.transaction().execute(async (tx) => {
 *   const events = createEventWriter(tx)
 *   … change rows …
 *   await events.emit({ type: 'customer.updated', customerId, payload })
 * })
 * ```
 */
export function createEventWriter(tx: Kysely<Database>) {
  let ordinal = 0
  return {
    async emit(...events: EventInput[]): Promise<void> {
      if (events.length === 0) return
      const rows = events.map((e) => eventRow(++ordinal, e))
      await sql`INSERT INTO events (position, id, type, customer_id, payload) VALUES ${sql.join(rows)}`.execute(tx)
    },
  }
}
export type EventWriter = ReturnType<typeof createEventWriter>

interface EventRow {
  position: string
  id: string
  type: string
  customer_id: string | null
  payload: Record<string, unknown>
  created_at: Date
}

/**
 * Reads the feed: events after `after`, in order. Only events of transactions older than the
 * oldest one still running are returned, so an event that commits late is never skipped.
 */
export async function readEvents(db: Kysely<Database>, after: string, limit: number): Promise<{ data: HubEvent[]; nextAfter: string }> {
  if (!/^[0-9]{1,19}$/.test(after) || BigInt(after) > 9223372036854775807n) throw new HubError('INVALID_CURSOR')
  const { rows } = await sql<EventRow>`
    SELECT position::text AS position, id, type, customer_id, payload, created_at
    FROM events
    WHERE position > ${after}::bigint
      AND position < (pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16)
    ORDER BY position
    LIMIT ${limit}`.execute(db)
  const data = rows.map((r) => ({
    id: r.id,
    sequence: r.position,
    type: r.type,
    customerId: r.customer_id,
    payload: r.payload,
    createdAt: r.created_at.toISOString(),
  }))
  return { data, nextAfter: data.at(-1)?.sequence ?? after }
}
