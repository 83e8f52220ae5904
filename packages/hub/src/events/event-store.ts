import { sql, type RawBuilder } from 'kysely'
import { eventTypes, type EventPage, type EventPayload, type EventType, type HubEvent } from '@his-her/contract'
import type { Executor, Tx } from '../db/executor.js'
import { newId } from '../ids.js'
import { ConfigError, HubError } from '../errors.js'
import { RECORDSET_FROM, recordset } from '../db/statement.js'

/** Which events a reader of the feed wants: these types only (none when empty), this customer's only. */
export interface FeedFilter {
  types?: readonly EventType[]
  customerId?: string
}

interface FeedRow {
  seen: string | null
  position: string | null
  id: string
  type: string
  customer_id: string | null
  payload: Record<string, unknown>
  created_at: Date
}

const toEvent = (r: { position: string | null; id: string; type: string; customer_id: string | null; payload: Record<string, unknown>; created_at: Date }): HubEvent =>
  ({ id: r.id, sequence: r.position!, type: r.type, customerId: r.customer_id, payload: r.payload, createdAt: r.created_at.toISOString() }) as HubEvent

/**
 * The event types a `type` filter names: each entry an event type, or `<prefix>.*` for every type
 * that starts with `<prefix>.`. An entry that names none is refused (`EVENT_TYPE_UNKNOWN`).
 *
 * @example
 * ```ts
 * eventTypesOf(['customer.*', 'order.recorded']) // ['customer.created', …, 'order.recorded']
 * ```
 */
export function eventTypesOf(filters: readonly string[]): EventType[] {
  const chosen = new Set<EventType>()
  for (const filter of filters) {
    const matches = filter.endsWith('.*') ? eventTypes.filter((t) => t.startsWith(filter.slice(0, -1))) : eventTypes.filter((t) => t === filter)
    if (matches.length === 0) throw new HubError('EVENT_TYPE_UNKNOWN', undefined, { type: filter })
    for (const t of matches) chosen.add(t)
  }
  return [...chosen]
}

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
  checkOrdinal(ordinal)
  return sql<string>`((pg_current_xact_id()::text::bigint << 16) | ${sql.lit(ordinal)})`
}

function checkOrdinal(ordinal: number): void {
  if (!Number.isInteger(ordinal) || ordinal < 1 || ordinal > 0xffff) throw new Error(`event ordinal out of range: ${ordinal}`)
}

function eventRow(ordinal: number, event: EventInput): RawBuilder<unknown> {
  return sql`(${position(ordinal)}, ${newId('evt')}, ${event.type}, ${event.customerId}, ${JSON.stringify(event.payload)}::jsonb)`
}

/**
 * The same insert as one part of a larger statement (a data-modifying CTE), so a change and its
 * events are one round trip. With `when`, the rows are written only if it holds (e.g.
 * `EXISTS (SELECT 1 FROM u)`: only when the guarded update of the statement changed a row).
 */
function insertSql(tx: Tx, events: EventInput[], when?: RawBuilder<unknown>): RawBuilder<unknown> {
  const first = takeOrdinals(tx, events.length)
  if (events.length >= RECORDSET_FROM) {
    checkOrdinal(first + events.length - 1)
    const rows = events.map((e, n) => ({ ordinal: first + n, id: newId('evt'), type: e.type, customer_id: e.customerId, payload: e.payload }))
    return sql`
      INSERT INTO events (position, id, type, customer_id, payload)
      SELECT (pg_current_xact_id()::text::bigint << 16) | v.ordinal, v.id, v.type, v.customer_id, v.payload
      FROM ${recordset(rows, 'ordinal bigint, id text, type text, customer_id text, payload jsonb')}${when ? sql` WHERE ${when}` : sql``}`
  }
  const rows = sql.join(events.map((e, n) => eventRow(first + n, e)))
  return when
    ? sql`INSERT INTO events (position, id, type, customer_id, payload) SELECT * FROM (VALUES ${rows}) v WHERE ${when}`
    : sql`INSERT INTO events (position, id, type, customer_id, payload) VALUES ${rows}`
}

/**
 * The events of a change, written in the change's transaction (the outbox): each gets a stable
 * id and a position that orders it after every event of earlier transactions, so a consumer of
 * the feed sees them in commit order, per customer and overall.
 */
export function createEventService() {
  return {
    /**
     * Refuses a database whose transaction counter is behind its newest event — a `pg_dump`
     * restored into a new server, whose counter starts again near zero: every new event would be
     * positioned before events already read, so the feed, webhooks and NATS would never pass it
     * on. Read at start-up, before anything is written.
     */
    async checkPositions(db: Executor): Promise<void> {
      const { rows } = await sql<{ behind: string }>`
        SELECT greatest(0, (SELECT coalesce(max(position), 0) >> 16 FROM events) - pg_snapshot_xmax(pg_current_snapshot())::text::bigint + 1)::text AS behind`.execute(db)
      const behind = rows[0]?.behind ?? '0'
      if (behind !== '0') {
        throw new ConfigError(
          `the database's transaction counter is ${behind} transactions behind its newest event (a dump restored into a new PostgreSQL server?): ` +
            'new events would be placed before those already delivered and never reach the feed, webhooks or NATS. ' +
            'Advance the counter first, as docs/scaling.md says ("A dump restored into another server").',
        )
      }
    },

    /** Writes events in `tx`, numbered after those it wrote already. */
    async emit(tx: Tx, ...events: EventInput[]): Promise<void> {
      if (events.length === 0) return
      await insertSql(tx, events).execute(tx)
    },

    /** Writes one event in `tx` and answers its id and feed position (`sequence`). */
    async emitOne(tx: Tx, event: EventInput): Promise<{ id: string; sequence: string }> {
      const first = takeOrdinals(tx, 1)
      const { rows } = await sql<{ id: string; sequence: string }>`
        INSERT INTO events (position, id, type, customer_id, payload) VALUES ${eventRow(first, event)} RETURNING id, position::text AS sequence`.execute(tx)
      return rows[0]!
    },

    insertSql,

    /**
     * Reads the feed: events after `after`, in order, at most `limit`; with `filter`, only the
     * events of its types and customer. Only events of transactions older than the oldest one
     * still running are returned, so an event that commits late is never skipped.
     *
     * `nextAfter` is the last event of the page; when the page is not full, it is the last
     * event visible (matching or not), so a filtered reader moves past events it does not want
     * and never reads them again. Both come from one statement: its one snapshot decides which
     * events are visible, so nothing between the last match and `nextAfter` can appear later.
     */
    async read(db: Executor, after: string, limit: number, filter: FeedFilter = {}): Promise<EventPage> {
      if (!/^[0-9]{1,19}$/.test(after) || BigInt(after) > 9223372036854775807n) throw new HubError('INVALID_CURSOR')
      const conditions = [sql`e.position > ${after}::bigint`, sql`e.position < b.below`]
      if (filter.types) conditions.push(sql`e.type = ANY(${filter.types}::text[])`)
      if (filter.customerId !== undefined) conditions.push(sql`e.customer_id = ${filter.customerId}`)
      const { rows } = await sql<FeedRow>`
        WITH b AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16 AS below),
        page AS (
          SELECT e.position, e.id, e.type, e.customer_id, e.payload, e.created_at FROM events e, b
          WHERE ${sql.join(conditions, sql` AND `)} ORDER BY e.position LIMIT ${limit})
        SELECT s.seen::text AS seen, p.position::text AS position, p.id, p.type, p.customer_id, p.payload, p.created_at
        FROM (SELECT max(e.position) AS seen FROM events e, b WHERE e.position > ${after}::bigint AND e.position < b.below) s
        LEFT JOIN page p ON true
        ORDER BY p.position`.execute(db)
      const data = rows.filter((r) => r.position !== null).map(toEvent)
      const last = data.at(-1)?.sequence
      const seen = rows[0]?.seen ?? null
      const nextAfter = data.length === limit ? last! : seen ?? after
      return { data, nextAfter }
    },

    /**
     * The position of the last event visible after `after` (by the rule of `read`), or `after`
     * when there is none: where a reader that wants none of them may move on to, reading no payload.
     */
    async visibleEnd(db: Executor, after: string): Promise<string> {
      const { rows } = await sql<{ seen: string | null }>`
        SELECT max(e.position)::text AS seen FROM events e
        WHERE e.position > ${after}::bigint AND e.position < (pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16)`.execute(db)
      return rows[0]?.seen ?? after
    },

    /** The events of these ids, in feed order (ids of no event are left out). */
    async byIds(db: Executor, ids: readonly string[]): Promise<HubEvent[]> {
      if (ids.length === 0) return []
      const rows = await db
        .selectFrom('events')
        .select([sql<string>`position::text`.as('position'), 'id', 'type', 'customer_id', 'payload', 'created_at'])
        .where('id', 'in', ids)
        .orderBy('position')
        .execute()
      return rows.map(toEvent)
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
      return rows.map(toEvent)
    },
  }
}
export type EventService = ReturnType<typeof createEventService>
