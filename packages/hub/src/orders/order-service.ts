import { sql, type RawBuilder, type Selectable } from 'kysely'
import { recordset } from '../db/statement.js'
import type { CustomerOrder, CustomerOrderQuery, Order, OrderInput, OrderResult } from '@his-her/contract'
import { RetryTransaction, type Executor, type Tx } from '../db/executor.js'
import { HubError } from '../errors.js'
import { newId } from '../ids.js'
import { moveAllRows, moveRowsBack } from '../db/moves.js'
import type { EventInput, EventService } from '../events/event-store.js'
import type { CustomerService } from '../customers/customer-service.js'
import type { OrdersTable } from './tables.js'

/**
 * The condition `orders o` holds one of these keys (platform and external id), as index lookups
 * whatever the statistics: per platform, its external ids as one array (a join with a list of
 * keys was planned as a scan of every order once the table outgrew its statistics).
 */
function keyed(keys: { platform: string; externalId: string }[]): RawBuilder<boolean> {
  const byPlatform = new Map<string, string[]>()
  for (const k of keys) {
    const ids = byPlatform.get(k.platform)
    if (ids) ids.push(k.externalId)
    else byPlatform.set(k.platform, [k.externalId])
  }
  return sql<boolean>`(${sql.join([...byPlatform].map(([platform, ids]) => sql`(o.platform = ${platform} AND o.external_id = ANY (${ids}::text[]))`), sql` OR `)})`
}

/** An order as the raw statements below read it (`total::text`: a bigint, exact). */
type OrderRecord = Pick<Selectable<OrdersTable>, 'id' | 'customer_id' | 'total' | 'currency' | 'placed_at' | 'cancelled_at' | 'order_count'>

/**
 * Orders reported by platforms, kept as facts so that `orderCount` and `totalSpent` stay right.
 *
 * Idempotency: `(platform, externalId)` is unique in the database. The first report inserts the
 * order and adds it to the customer's sums; a repeat with the same total changes nothing; a
 * repeat with another total corrects the sums by the difference. A report that says when the
 * platform's order was in its state (`reportedAt`) and is older than the newest such report
 * changes nothing: reports delivered out of order end with the newest state. Each holds the
 * order's row lock until its transaction ends, so concurrent reports of one order count it once.
 */
export function createOrderService({ customers, events }: { customers: CustomerService; events: EventService }) {
  return {
    /** Records an order report; see the idempotency rule above. */
    async record(tx: Tx, input: OrderInput): Promise<Omit<OrderResult, 'points'>> {
      await customers.requireLive(tx, input.customerId)
      const inserted = await sql<OrderRecord>`
        INSERT INTO orders (id, platform, external_id, customer_id, total, currency, placed_at, reported_at)
        VALUES (${newId('ord')}, ${input.platform}, ${input.externalId}, ${input.customerId}, ${input.total}, ${input.currency}, ${input.placedAt}::timestamptz, ${input.reportedAt ?? null}::timestamptz)
        ON CONFLICT ON CONSTRAINT orders_platform_external_key DO NOTHING
        RETURNING id, customer_id, total::text AS total, currency, placed_at, cancelled_at, order_count`.execute(tx)

      let order: OrderRecord
      let outcome: OrderResult['outcome']
      let countDelta = 0
      let spentDelta = 0
      if (inserted.rows[0]) {
        order = inserted.rows[0]
        outcome = 'recorded'
        countDelta = 1
        spentDelta = input.total
      } else {
        const existing = await sql<OrderRecord & { reported_at: Date | null }>`
          SELECT id, customer_id, total::text AS total, currency, placed_at, cancelled_at, order_count, reported_at FROM orders
          WHERE platform = ${input.platform} AND external_id = ${input.externalId} FOR UPDATE`.execute(tx)
        const prior = existing.rows[0]
        if (!prior) throw new Error('order vanished between insert and select') // orders are never deleted
        if (prior.customer_id !== input.customerId) {
          throw new HubError('ORDER_CUSTOMER_MISMATCH', `Order ${input.platform}/${input.externalId} was recorded for another customer.`, {
            customerId: prior.customer_id,
          })
        }
        if (prior.currency !== input.currency) throw new HubError('CURRENCY_MISMATCH', `Order ${input.platform}/${input.externalId} is in ${prior.currency}.`)
        if (prior.cancelled_at) throw new HubError('ORDER_CANCELLED', `Order ${input.platform}/${input.externalId} was cancelled at ${prior.cancelled_at.toISOString()}.`)
        // a report of an older state than the one applied last, delivered late: nothing changes
        const stale = input.reportedAt !== undefined && prior.reported_at !== null && new Date(input.reportedAt).getTime() < prior.reported_at.getTime()
        spentDelta = stale ? 0 : input.total - Number(prior.total)
        outcome = stale || (spentDelta === 0 && prior.placed_at.getTime() === new Date(input.placedAt).getTime()) ? 'unchanged' : 'corrected'
        order = prior
        const newer = !stale && input.reportedAt !== undefined && (prior.reported_at === null || new Date(input.reportedAt).getTime() > prior.reported_at.getTime())
        // the newest state given is kept even when it changed nothing, so that an older one delivered after it is known as such
        if (outcome === 'unchanged' && newer) await sql`UPDATE orders SET reported_at = ${input.reportedAt!}::timestamptz WHERE id = ${prior.id}`.execute(tx)
        if (outcome === 'corrected') {
          const updated = await sql<OrderRecord>`
            UPDATE orders SET total = ${input.total}, placed_at = ${input.placedAt}::timestamptz, updated_at = now(),
              reported_at = greatest(reported_at, ${input.reportedAt ?? null}::timestamptz)
            WHERE id = ${prior.id}
            RETURNING id, customer_id, total::text AS total, currency, placed_at, cancelled_at, order_count`.execute(tx)
          order = updated.rows[0]!
        }
      }

      const sums = await customers.addToTotals(tx, input.customerId, { count: countDelta, spent: spentDelta, currency: input.currency })
      const fact: Order = {
        id: order.id,
        platform: input.platform,
        externalId: input.externalId,
        customerId: order.customer_id,
        total: Number(order.total),
        currency: order.currency,
        placedAt: order.placed_at.toISOString(),
      }
      if (outcome !== 'unchanged') {
        await events.emit(tx, {
          type: outcome === 'recorded' ? 'order.recorded' : 'order.corrected',
          customerId: input.customerId,
          payload: { order: fact, ...sums },
        })
      }
      return { ...fact, outcome, ...sums, cancelledAt: null }
    },

    /**
     * Cancels an order: it leaves its customer's totals and stays as a fact with `cancelled_at`.
     * A repeat changes nothing (`unchanged`). The order's row lock orders it with reports of it.
     */
    async cancel(tx: Tx, platform: string, externalId: string): Promise<{ order: Order; outcome: 'cancelled' | 'unchanged'; orderCount: number; totalSpent: number }> {
      const { rows } = await sql<OrderRecord>`
        SELECT id, customer_id, total::text AS total, currency, placed_at, cancelled_at, order_count FROM orders
        WHERE platform = ${platform} AND external_id = ${externalId} FOR UPDATE`.execute(tx)
      const prior = rows[0]
      if (!prior) throw new HubError('ORDER_NOT_FOUND', `No order ${platform}/${externalId} was recorded.`)
      const order: Order = {
        id: prior.id, platform, externalId, customerId: prior.customer_id, total: Number(prior.total), currency: prior.currency, placedAt: prior.placed_at.toISOString(),
      }
      if (prior.cancelled_at) {
        const totals = await this.totalsOf(tx, prior.customer_id)
        return { order, outcome: 'unchanged', orderCount: totals.count, totalSpent: totals.spent }
      }
      await sql`UPDATE orders SET cancelled_at = now(), updated_at = now() WHERE id = ${prior.id}`.execute(tx)
      const sums = await customers.addToTotals(tx, prior.customer_id, { count: -prior.order_count, spent: -Number(prior.total), currency: prior.currency })
      await events.emit(tx, { type: 'order.cancelled', customerId: prior.customer_id, payload: { order, ...sums } })
      return { order, outcome: 'cancelled', ...sums }
    },

    /**
     * An erase: the order histories an import brought for these customers are keyed by the
     * platform's customer id (`import:<component>:<id>`), an identifier of the person. The key
     * becomes `import:erased:<order id>`; the order, its totals and its currency stay. A later
     * import of the same row finds no history and brings it to the customer it then makes.
     */
    async redactImportKeys(tx: Tx, customerIds: string[]): Promise<number> {
      const { rows } = await sql<{ id: string }>`
        UPDATE orders SET external_id = 'import:erased:' || id
        WHERE customer_id = ANY (${customerIds}::text[]) AND external_id LIKE 'import:%' AND external_id NOT LIKE 'import:erased:%'
        RETURNING id`.execute(tx)
      return rows.length
    },

    /** Which of these keys an order holds (`platform\u0000externalId`), cancelled ones too: one index lookup per key. */
    async heldKeys(exec: Executor, keys: { platform: string; externalId: string }[]): Promise<Set<string>> {
      if (keys.length === 0) return new Set()
      const { rows } = await sql<{ platform: string; external_id: string }>`SELECT o.platform, o.external_id FROM orders o WHERE ${keyed(keys)}`.execute(exec)
      return new Set(rows.map((r) => `${r.platform}\u0000${r.external_id}`))
    },

    /**
     * Records platforms' order histories as summary rows (each `orderCount` orders, `total` in
     * all), for a bulk import's batch, in a few statements for the whole batch: the first report
     * of a summary inserts it and adds it to its customer's sums; a repeat with the same numbers
     * changes nothing; one with other numbers corrects the row and the sums by the difference.
     * Emits `order.recorded` / `order.corrected` as a reported order does (with the sums after
     * it). An item that cannot be recorded writes nothing and gets its reason in the answer
     * instead (the others go on): `CURRENCY_MISMATCH` (not the customer's currency, nor the
     * summary's), `ORDER_CUSTOMER_MISMATCH` (the summary is another customer's),
     * `ORDER_CANCELLED`, or the customer is not live. The customers' rows are locked (id order)
     * before anything is read, so the checks hold until the transaction ends; a summary another
     * transaction inserted meanwhile makes the batch start again ({@link RetryTransaction}).
     *
     * An item `counted` has this history's sums and currency in its customer's row already,
     * written in this transaction: the order is written and its event emitted, the sums are not
     * added a second time (nor is the customer locked or its key looked up first: the insert
     * finds out).
     * - A customer the import created (no `before`) has no other order. If an order holds the
     *   key already — another customer's — the history is taken back from the new customer's row
     *   (sums 0, no currency, as it would have been) and the item answers `ORDER_CUSTOMER_MISMATCH`.
     * - A customer the import matched had the sums `before` and no order with the key when the
     *   batch looked (its update, guarded by the version read, added the history). An order
     *   written with the key since makes the batch start again ({@link RetryTransaction}): it
     *   then finds the order and corrects it as a repeat.
     */
    async recordSummaries(
      tx: Tx,
      items: {
        platform: string; externalId: string; customerId: string; orderCount: number; total: number; currency: string
        counted?: boolean; before?: { orderCount: number; totalSpent: number } | undefined
      }[],
    ): Promise<(HubError | null)[]> {
      const answers: (HubError | null)[] = items.map(() => null)
      if (items.length === 0) return answers
      const looked = items.filter((i) => !i.counted)
      const live = looked.length ? await customers.lockMany(tx, [...new Set(looked.map((i) => i.customerId))]) : new Map<string, never>() // merged and deleted ones are left out
      const currency = new Map([...live].map(([id, c]) => [id, c.currency]))
      const found = looked.length
        ? await sql<OrderRecord & { platform: string; external_id: string }>`
            SELECT o.id, o.platform, o.external_id, o.customer_id, o.total::text AS total, o.currency, o.placed_at, o.cancelled_at, o.order_count
            FROM orders o WHERE ${keyed(looked)}
            ORDER BY o.id FOR UPDATE OF o`.execute(tx)
        : { rows: [] }
      const priorOf = new Map(found.rows.map((r) => [`${r.platform}\u0000${r.external_id}`, r]))

      const inserts: { item: (typeof items)[number]; id: string; n: number }[] = []
      const updates: { item: (typeof items)[number]; prior: OrderRecord; n: number }[] = []
      const deltas = new Map<string, { id: string; count: number; spent: number; currency: string }>()
      const seen = new Set<string>()
      for (const [n, item] of items.entries()) {
        const name = `${item.platform}/${item.externalId}`
        const key = `${item.platform}\u0000${item.externalId}`
        const prior = priorOf.get(key)
        const fail = (err: HubError) => void (answers[n] = err)
        if (seen.has(key)) throw new Error(`order summary ${name} given twice in one batch`) // row keys are unique per batch
        seen.add(key)
        if (item.counted) {
          inserts.push({ item, id: newId('ord'), n })
          continue
        }
        if (!live.has(item.customerId)) {
          fail(new HubError('CUSTOMER_NOT_FOUND', `No live customer has the id ${item.customerId}.`))
          continue
        }
        if (prior && prior.customer_id !== item.customerId) {
          fail(new HubError('ORDER_CUSTOMER_MISMATCH', `Order ${name} was recorded for another customer.`, { customerId: prior.customer_id }))
          continue
        }
        if (prior && prior.currency !== item.currency) {
          fail(new HubError('CURRENCY_MISMATCH', `Order ${name} is in ${prior.currency}.`))
          continue
        }
        if (prior?.cancelled_at) {
          fail(new HubError('ORDER_CANCELLED', `Order ${name} was cancelled at ${prior.cancelled_at.toISOString()}.`))
          continue
        }
        const kept = currency.get(item.customerId)
        if (kept && kept !== item.currency) {
          fail(new HubError('CURRENCY_MISMATCH', `The customer's totals are kept in ${kept}; this order is in ${item.currency}.`))
          continue
        }
        const count = item.orderCount - (prior?.order_count ?? 0)
        const spent = item.total - Number(prior?.total ?? 0)
        if (prior && count === 0 && spent === 0) continue
        currency.set(item.customerId, item.currency) // the first order sets the customer's currency
        const d = deltas.get(item.customerId) ?? { id: item.customerId, count: 0, spent: 0, currency: item.currency }
        deltas.set(item.customerId, { ...d, count: d.count + count, spent: d.spent + spent })
        if (prior) updates.push({ item, prior, n })
        else inserts.push({ item, id: newId('ord'), n })
      }

      const written = new Map<number, OrderRecord>()
      if (inserts.length) {
        const values = inserts.map(({ item, id }) => ({ id, platform: item.platform, external_id: item.externalId, customer_id: item.customerId, total: item.total, currency: item.currency, order_count: item.orderCount }))
        const { rows } = await sql<OrderRecord>`
          INSERT INTO orders (id, platform, external_id, customer_id, total, currency, placed_at, order_count)
          SELECT id, platform, external_id, customer_id, total, currency, now(), order_count
          FROM ${recordset(values, 'id text, platform text, external_id text, customer_id text, total bigint, currency text, order_count integer')}
          ON CONFLICT ON CONSTRAINT orders_platform_external_key DO NOTHING
          RETURNING id, customer_id, total::text AS total, currency, placed_at, cancelled_at, order_count`.execute(tx)
        const byId = new Map(rows.map((r) => [r.id, r]))
        const refused = inserts.filter((i) => !byId.has(i.id))
        // another transaction recorded one it looked up since: decide again on what it wrote
        if (refused.some((i) => !i.item.counted || i.item.before)) throw new RetryTransaction('an imported order summary was recorded concurrently')
        if (refused.length) {
          // a new customer's history whose key another customer's order holds: taken back from its row, reported
          const holders = await sql<{ platform: string; external_id: string; customer_id: string }>`
            SELECT o.platform, o.external_id, o.customer_id FROM orders o WHERE ${keyed(refused.map((i) => i.item))}`.execute(tx)
          const holderOf = new Map(holders.rows.map((h) => [`${h.platform}\u0000${h.external_id}`, h.customer_id]))
          await customers.takeBackTotals(tx, refused.map(({ item }) => ({ id: item.customerId, count: item.orderCount, spent: item.total })))
          for (const { item, n } of refused) {
            const holder = holderOf.get(`${item.platform}\u0000${item.externalId}`)
            if (holder === undefined) throw new RetryTransaction(`order summary ${item.platform}/${item.externalId} was refused but is not there`)
            answers[n] = new HubError('ORDER_CUSTOMER_MISMATCH', `Order ${item.platform}/${item.externalId} was recorded for another customer.`, { customerId: holder })
          }
        }
        for (const i of inserts) if (byId.has(i.id)) written.set(i.n, byId.get(i.id)!)
      }
      if (updates.length) {
        const { rows } = await sql<OrderRecord>`
          UPDATE orders o SET total = v.total, order_count = v.order_count, updated_at = now()
          FROM (VALUES ${sql.join(updates.map(({ item, prior }) => sql`(${prior.id}, ${item.total}::bigint, ${item.orderCount}::integer)`))}) v (id, total, order_count)
          WHERE o.id = v.id
          RETURNING o.id, o.customer_id, o.total::text AS total, o.currency, o.placed_at, o.cancelled_at, o.order_count`.execute(tx)
        const byId = new Map(rows.map((r) => [r.id, r]))
        for (const u of updates) written.set(u.n, byId.get(u.prior.id)!)
      }
      const sums = await customers.addToTotalsMany(tx, [...deltas.values()])
      if (sums.size !== deltas.size) throw new RetryTransaction('a customer of an import batch changed while its orders were recorded')

      // each event carries the sums after its own change: walk back from the final sums (a
      // counted summary's customer had none before it)
      const running = new Map([...sums].map(([id, s]) => [id, { ...s, orderCount: s.orderCount - deltas.get(id)!.count, totalSpent: s.totalSpent - deltas.get(id)!.spent }]))
      for (const item of items) if (item.counted) running.set(item.customerId, { ...(item.before ?? { orderCount: 0, totalSpent: 0 }) })
      const emitted: EventInput[] = []
      for (const [n, order] of [...written].sort(([a], [b]) => a - b)) {
        const item = items[n]!
        const prior = priorOf.get(`${item.platform}\u0000${item.externalId}`)
        const now = running.get(item.customerId)!
        now.orderCount += item.orderCount - (prior?.order_count ?? 0)
        now.totalSpent += item.total - Number(prior?.total ?? 0)
        const fact: Order = {
          id: order.id, platform: item.platform, externalId: item.externalId, customerId: order.customer_id,
          total: Number(order.total), currency: order.currency, placedAt: order.placed_at.toISOString(),
        }
        emitted.push({ type: prior ? 'order.corrected' : 'order.recorded', customerId: item.customerId, payload: { order: fact, orderCount: now.orderCount, totalSpent: now.totalSpent } })
      }
      await events.emit(tx, ...emitted)
      return answers
    },

    /** The count and sum of a customer's orders not cancelled, from the orders themselves (a summary row counts its `order_count`). */
    async totalsOf(exec: Executor, customerId: string): Promise<{ count: number; spent: number }> {
      const row = await exec.selectFrom('orders').select([sql<number>`coalesce(sum(order_count), 0)::int`.as('count'), sql<string>`coalesce(sum(total), 0)::text`.as('spent')])
        .where('customer_id', '=', customerId).where('cancelled_at', 'is', null).executeTakeFirstOrThrow()
      return { count: row.count, spent: Number(row.spent) }
    },

    /**
     * A page of one customer's orders, newest placed first (then by id), cancelled ones too; the
     * cursor is the last row's placed time and id.
     */
    async pageOf(exec: Executor, customerId: string, query: CustomerOrderQuery): Promise<{ data: CustomerOrder[]; nextCursor: string | null }> {
      const limit = query.limit ?? 50
      let after: { us: string; id: string } | undefined
      if (query.cursor !== undefined) {
        const m = /^([0-9]{1,16})\.(ord_[0-9A-Z]{26})$/.exec(Buffer.from(query.cursor, 'base64url').toString('utf8'))
        if (!m) throw new HubError('INVALID_CURSOR')
        after = { us: m[1]!, id: m[2]! }
      }
      const rows = await exec
        .selectFrom('orders')
        .select(['id', 'platform', 'external_id', 'customer_id', sql<string>`total::text`.as('total'), 'currency', 'placed_at', 'cancelled_at', 'order_count', sql<string>`(extract(epoch from placed_at) * 1000000)::bigint::text`.as('placed_us')])
        .where('customer_id', '=', customerId)
        .$if(after !== undefined, (q) => q.where(sql<boolean>`((extract(epoch from placed_at) * 1000000)::bigint, id) < (${after!.us}::bigint, ${after!.id})`))
        .orderBy('placed_at', 'desc')
        .orderBy('id', 'desc')
        .limit(limit + 1)
        .execute()
      const last = rows.length > limit ? rows[limit - 1] : undefined
      return {
        data: rows.slice(0, limit).map((r) => ({
          id: r.id,
          platform: r.platform,
          externalId: r.external_id,
          customerId: r.customer_id,
          total: Number(r.total),
          currency: r.currency,
          placedAt: r.placed_at.toISOString(),
          orderCount: r.order_count,
          cancelledAt: r.cancelled_at?.toISOString() ?? null,
        })),
        nextCursor: last ? Buffer.from(`${last.placed_us}.${last.id}`).toString('base64url') : null,
      }
    },

    /** Every order of these customers, cancelled ones too, in the order they were placed (a privacy export). */
    async ofCustomers(exec: Executor, customerIds: string[]): Promise<(Order & { cancelledAt: string | null; recordedAt: string })[]> {
      if (customerIds.length === 0) return []
      const rows = await exec
        .selectFrom('orders')
        .select(['id', 'platform', 'external_id', 'customer_id', sql<string>`total::text`.as('total'), 'currency', 'placed_at', 'cancelled_at', 'recorded_at'])
        .where('customer_id', 'in', customerIds)
        .orderBy('placed_at')
        .orderBy('id')
        .execute()
      return rows.map((r) => ({
        id: r.id,
        platform: r.platform,
        externalId: r.external_id,
        customerId: r.customer_id,
        total: Number(r.total),
        currency: r.currency,
        placedAt: r.placed_at.toISOString(),
        cancelledAt: r.cancelled_at?.toISOString() ?? null,
        recordedAt: r.recorded_at.toISOString(),
      }))
    },

    /** Moves every order of `fromId` to `toId` (a merge); returns their ids. */
    moveAll: (tx: Tx, fromId: string, toId: string) => moveAllRows(tx, 'orders', fromId, toId),

    /** Moves exactly these orders back (undo); false when one is no longer on `fromId`. */
    moveBack: (tx: Tx, ids: string[], fromId: string, toId: string) => moveRowsBack(tx, 'orders', ids, fromId, toId),
  }
}
export type OrderService = ReturnType<typeof createOrderService>
