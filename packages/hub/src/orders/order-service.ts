import { sql, type Kysely } from 'kysely'
import type { OrderInput, OrderResult } from '@his-her/contract'
import type { Database } from '../db/schema.js'
import { HubError } from '../errors.js'
import { newId } from '../ids.js'
import { createEventWriter } from '../events/event-store.js'

interface OrderRow {
  id: string
  customer_id: string
  total: string
  currency: string
  placed_at: Date
}

/**
 * Orders reported by platforms, kept as facts so that `orderCount` and `totalSpent` stay right.
 *
 * Idempotency: `(platform, externalId)` is unique in the database. The first report inserts the
 * order and adds it to the customer's sums; a repeat with the same total changes nothing; a
 * repeat with another total corrects the sums by the difference. Each runs in one transaction
 * holding the order's row lock, so concurrent reports of one order count it once.
 */
export function createOrderService({ db }: { db: Kysely<Database> }) {
  async function recordOnce(input: OrderInput): Promise<OrderResult> {
    return db.transaction().execute(async (tx) => {
      const events = createEventWriter(tx)
      const inserted = await sql<OrderRow>`
        INSERT INTO orders (id, platform, external_id, customer_id, total, currency, placed_at)
        VALUES (${newId('ord')}, ${input.platform}, ${input.externalId}, ${input.customerId}, ${input.total}, ${input.currency}, ${input.placedAt}::timestamptz)
        ON CONFLICT ON CONSTRAINT orders_platform_external_key DO NOTHING
        RETURNING id, customer_id, total::text AS total, currency, placed_at`.execute(tx)

      let order: OrderRow
      let outcome: OrderResult['outcome']
      let countDelta = 0
      let spentDelta = 0
      if (inserted.rows[0]) {
        order = inserted.rows[0]
        outcome = 'recorded'
        countDelta = 1
        spentDelta = input.total
      } else {
        const existing = await sql<OrderRow>`
          SELECT id, customer_id, total::text AS total, currency, placed_at FROM orders
          WHERE platform = ${input.platform} AND external_id = ${input.externalId} FOR UPDATE`.execute(tx)
        const prior = existing.rows[0]
        if (!prior) throw new Error('order vanished between insert and select') // orders are never deleted
        if (prior.customer_id !== input.customerId) {
          throw new HubError('ORDER_CUSTOMER_MISMATCH', `Order ${input.platform}/${input.externalId} was recorded for another customer.`, {
            customerId: prior.customer_id,
          })
        }
        if (prior.currency !== input.currency) throw new HubError('CURRENCY_MISMATCH', `Order ${input.platform}/${input.externalId} is in ${prior.currency}.`)
        spentDelta = input.total - Number(prior.total)
        outcome = spentDelta === 0 && prior.placed_at.getTime() === new Date(input.placedAt).getTime() ? 'unchanged' : 'corrected'
        order = prior
        if (outcome === 'corrected') {
          const updated = await sql<OrderRow>`
            UPDATE orders SET total = ${input.total}, placed_at = ${input.placedAt}::timestamptz, updated_at = now()
            WHERE id = ${prior.id}
            RETURNING id, customer_id, total::text AS total, currency, placed_at`.execute(tx)
          order = updated.rows[0]!
        }
      }

      // The guarded update: only a live customer whose currency is unset or the same.
      const sums = await sql<{ order_count: number; total_spent: string }>`
        UPDATE customers
        SET order_count = order_count + ${countDelta}, total_spent = total_spent + ${spentDelta},
            currency = coalesce(currency, ${input.currency}),
            updated_at = CASE WHEN ${countDelta} <> 0 OR ${spentDelta} <> 0 THEN now() ELSE updated_at END
        WHERE id = ${input.customerId} AND deleted_at IS NULL AND (currency IS NULL OR currency = ${input.currency})
        RETURNING order_count, total_spent::text AS total_spent`.execute(tx)
      if (!sums.rows[0]) {
        const customer = await tx.selectFrom('customers').select('currency').where('id', '=', input.customerId).where('deleted_at', 'is', null).executeTakeFirst()
        if (!customer) throw new HubError('CUSTOMER_NOT_FOUND', `No live customer has the id ${input.customerId}.`)
        throw new HubError('CURRENCY_MISMATCH', `The customer's totals are kept in ${customer.currency}; this order is in ${input.currency}.`)
      }

      const result: OrderResult = {
        id: order.id,
        platform: input.platform,
        externalId: input.externalId,
        customerId: order.customer_id,
        total: Number(order.total),
        currency: order.currency,
        placedAt: order.placed_at.toISOString(),
        outcome,
        orderCount: sums.rows[0].order_count,
        totalSpent: Number(sums.rows[0].total_spent),
      }
      if (outcome !== 'unchanged') {
        const { outcome: _o, orderCount: _c, totalSpent: _s, ...fact } = result
        await events.emit({
          type: outcome === 'recorded' ? 'order.recorded' : 'order.corrected',
          customerId: input.customerId,
          payload: { order: fact, orderCount: result.orderCount, totalSpent: result.totalSpent },
        })
      }
      return result
    })
  }

  return {
    /** Records an order report; see the idempotency rule above. */
    async record(input: OrderInput): Promise<OrderResult> {
      try {
        return await recordOnce(input)
      } catch (err) {
        // a foreign key failure means the customer id does not exist at all
        if (typeof err === 'object' && err && (err as { code?: string }).code === '23503') {
          throw new HubError('CUSTOMER_NOT_FOUND', `No live customer has the id ${input.customerId}.`)
        }
        throw err
      }
    },
  }
}
export type OrderService = ReturnType<typeof createOrderService>
