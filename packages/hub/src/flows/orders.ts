import type { CancelOrderInput, CancelOrderResult, OrderInput, OrderResult } from '@his-her/contract'
import type { Services } from '../module.js'
import type { Tx } from '../db/executor.js'

/**
 * An order report and what it earns: the order (recorded, corrected or unchanged) and, in each
 * ledger with an earn rule for its currency, the points its total earns now — the first report
 * earns them (pending for the ledger's return window), a correction posts the difference.
 */
export async function recordOrder(tx: Tx, { orders, ledger }: Services, input: OrderInput): Promise<OrderResult> {
  const result = await orders.record(tx, input)
  const points =
    result.outcome === 'unchanged'
      ? []
      : await ledger.settleOrder(tx, { id: result.id, customerId: result.customerId, total: result.total, currency: result.currency, cancelled: false })
  return { ...result, points }
}

/** A cancelled order leaves the totals, and what it earned is taken back (its own lots first, pending or not). */
export async function cancelOrder(tx: Tx, { orders, ledger }: Services, input: CancelOrderInput): Promise<CancelOrderResult> {
  const result = await orders.cancel(tx, input.platform, input.externalId)
  const points =
    result.outcome === 'unchanged'
      ? []
      : await ledger.settleOrder(tx, { id: result.order.id, customerId: result.order.customerId, total: result.order.total, currency: result.order.currency, cancelled: true })
  return { ...result, points }
}
