import { sql, type RawBuilder } from 'kysely'
import type { EventPage, EventPayload, EventType, HubEvent } from '@his-her/contract'
import type { Executor, Tx } from '../db/executor.js'
import { newId } from '../ids.js'
import { HubError } from '../errors.js'

/** An event to write: its type, the customer it concerns, and the payload its type declares. */
export type EventInput = { [T in EventType]: { type: T; customerId: string | null; payload: EventPayload<T> } }[EventType]

// The ordinal of the last event written in each transaction.
const ordinals = new WeakMap<Tx, number>()

/** The next `count` ordinals of `tx`'s events. */
function takeOrdinals(tx: Tx, count: number): number {
  const first = (ordinals.get(tx) ?? 0) + 1
  ordinals.set(tx, first + count - 1)
  return first
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

function eventRow(ordinal: number, event: EventInput): RawBuilder<unknown> {
  return sql`(${position(ordinal)}, ${newId('evt')}, ${event.type}, ${event.customerId}, ${JSON.stringify(event.payload)}::jsonb)`
}

/**
 * The events of a change, written in the change's transaction (the outbox): each gets a stable
 * id and a position that orders it after every event of earlier transactions, so a consumer of
 * the feed sees them in commit order, per customer and overall.
 */
export function createEventService() {
  return {
    /** Writes events in `tx`, numbered after those it wrote already. */
    async emit(tx: Tx, ...events: EventInput[]): Promise<void> {
      if (events.length === 0) return
      const first = takeOrdinals(tx, events.length)
      await sql`INSERT INTO events (position, id, type, customer_id, payload) VALUES ${sql.join(events.map((e, n) => eventRow(first + n, e)))}`.execute(tx)
    },

    /**
     * The same insert as one part of a larger statement (a data-modifying CTE), so a change and its
     * events are one round trip. With `when`, the rows are written only if it holds (e.g.
     * `EXISTS (SELECT 1 FROM u)`: only when the guarded update of the statement changed a row).
     */
    insertSql(tx: Tx, events: EventInput[], when?: RawBuilder<unknown>): RawBuilder<unknown> {
      const first = takeOrdinals(tx, events.length)
      const rows = sql.join(events.map((e, n) => eventRow(first + n, e)))
      return when
        ? sql`INSERT INTO events (position, id, type, customer_id, payload) SELECT * FROM (VALUES ${rows}) v WHERE ${when}`
        : sql`INSERT INTO events (position, id, type, customer_id, payload) VALUES ${rows}`
    },

    /**
     * Reads the feed: events after `after`, in order. Only events of transactions older than the
     * oldest one still running are returned, so an event that commits late is never skipped.
     */
    async read(db: Executor, after: string, limit: number): Promise<EventPage> {
      if (!/^[0-9]{1,19}$/.test(after) || BigInt(after) > 9223372036854775807n) throw new HubError('INVALID_CURSOR')
      const rows = await db
        .selectFrom('events')
        .select([sql<string>`position::text`.as('position'), 'id', 'type', 'customer_id', 'payload', 'created_at'])
        .where(sql<boolean>`position > ${after}::bigint AND position < (pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16)`)
        .orderBy('position')
        .limit(limit)
        .execute()
      const data = rows.map(
        (r) =>
          ({
            id: r.id,
            sequence: r.position,
            type: r.type,
            customerId: r.customer_id,
            payload: r.payload,
            createdAt: r.created_at.toISOString(),
          }) as HubEvent,
      )
      return { data, nextAfter: data.at(-1)?.sequence ?? after }
    },

    /** The events of these customers of the given types, in feed order, after `after` (a position), at most `limit`. */
    async ofCustomers(db: Executor, customerIds: string[], types: EventType[], after: string | undefined, limit: number): Promise<HubEvent[]> {
      if (after !== undefined && (!/^[0-9]{1,19}$/.test(after) || BigInt(after) > 9223372036854775807n)) throw new HubError('INVALID_CURSOR')
      const rows = await db
        .selectFrom('events')
        .select([sql<string>`position::text`.as('position'), 'id', 'type', 'customer_id', 'payload', 'created_at'])
        .where('customer_id', 'in', customerIds)
        .where('type', 'in', types)
        .$if(after !== undefined, (q) => q.where(sql<boolean>`position > ${after}::bigint`))
        .orderBy('position')
        .limit(limit)
        .execute()
      return rows.map((r) => ({ id: r.id, sequence: r.position, type: r.type, customerId: r.customer_id, payload: r.payload, createdAt: r.created_at.toISOString() }) as HubEvent)
    },
  }
}
export type EventService = ReturnType<typeof createEventService>
