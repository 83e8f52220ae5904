import { sql, type Selectable } from 'kysely'
import type { Order, OrderInput, OrderResult } from '@his-her/contract'
import type { Executor, Tx } from '../db/executor.js'
import { HubError } from '../errors.js'
import { newId } from '../ids.js'
import { moveAllRows, moveRowsBack } from '../db/moves.js'
import type { EventService } from '../events/event-store.js'
import type { CustomerService } from '../customers/customer-service.js'
import type { OrdersTable } from './tables.js'

/** An order as the raw statements below read it (`total::text`: a bigint, exact). */
type OrderRecord = Pick<Selectable<OrdersTable>, 'id' | 'customer_id' | 'total' | 'currency' | 'placed_at' | 'cancelled_at'>

/**
 * Orders reported by platforms, kept as facts so that `orderCount` and `totalSpent` stay right.
 *
 * Idempotency: `(platform, externalId)` is unique in the database. The first report inserts the
 * order and adds it to the customer's sums; a repeat with the same total changes nothing; a
 * repeat with another total corrects the sums by the difference. Each holds the order's row
 * lock until its transaction ends, so concurrent reports of one order count it once.
 */
export function createOrderService({ customers, events }: { customers: CustomerService; events: EventService }) {
  return {
    /** Records an order report; see the idempotency rule above. */
    async record(tx: Tx, input: OrderInput): Promise<Omit<OrderResult, 'points'>> {
      await customers.requireLive(tx, input.customerId)
      const inserted = await sql<OrderRecord>`
        INSERT INTO orders (id, platform, external_id, customer_id, total, currency, placed_at)
        VALUES (${newId('ord')}, ${input.platform}, ${input.externalId}, ${input.customerId}, ${input.total}, ${input.currency}, ${input.placedAt}::timestamptz)
        ON CONFLICT ON CONSTRAINT orders_platform_external_key DO NOTHING
        RETURNING id, customer_id, total::text AS total, currency, placed_at, cancelled_at`.execute(tx)

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
        const existing = await sql<OrderRecord>`
          SELECT id, customer_id, total::text AS total, currency, placed_at, cancelled_at FROM orders
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
        spentDelta = input.total - Number(prior.total)
        outcome = spentDelta === 0 && prior.placed_at.getTime() === new Date(input.placedAt).getTime() ? 'unchanged' : 'corrected'
        order = prior
        if (outcome === 'corrected') {
          const updated = await sql<OrderRecord>`
            UPDATE orders SET total = ${input.total}, placed_at = ${input.placedAt}::timestamptz, updated_at = now()
            WHERE id = ${prior.id}
            RETURNING id, customer_id, total::text AS total, currency, placed_at, cancelled_at`.execute(tx)
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
        SELECT id, customer_id, total::text AS total, currency, placed_at, cancelled_at FROM orders
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
      const sums = await customers.addToTotals(tx, prior.customer_id, { count: -1, spent: -Number(prior.total), currency: prior.currency })
      await events.emit(tx, { type: 'order.cancelled', customerId: prior.customer_id, payload: { order, ...sums } })
      return { order, outcome: 'cancelled', ...sums }
    },

    /** The count and sum of a customer's orders not cancelled, from the orders themselves. */
    async totalsOf(exec: Executor, customerId: string): Promise<{ count: number; spent: number }> {
      const row = await exec.selectFrom('orders').select([sql<number>`count(*)::int`.as('count'), sql<string>`coalesce(sum(total), 0)::text`.as('spent')])
        .where('customer_id', '=', customerId).where('cancelled_at', 'is', null).executeTakeFirstOrThrow()
      return { count: row.count, spent: Number(row.spent) }
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
