import type { SubscriberArgs, SubscriberConfig } from '@medusajs/framework'
import { reportOrder } from '../lib/sync'

/**
 * A return received, an exchange, a claim or a confirmed order edit changes what the order is
 * worth: it is reported again with its current total, and the hub corrects the customer's total
 * and the points the order earned by the difference.
 */
export default async function orderChanged({ event, container }: SubscriberArgs<{ order_id: string }>) {
  await reportOrder(container, event.data.order_id)
}

export const config: SubscriberConfig = { event: ['order.return_received', 'order.exchange_created', 'order.claim_created', 'order-edit.confirmed'] }
