import type { SubscriberArgs, SubscriberConfig } from '@medusajs/framework'
import { reportOrder } from '../lib/sync'

/**
 * An order placed by a registered customer is reported to the hub, keyed by the order's id: the
 * customer's order count and total follow, and the hub's ledger earns the order's points. A
 * guest's order (no customer) is left out.
 */
export default async function orderPlaced({ event, container }: SubscriberArgs<{ id: string }>) {
  await reportOrder(container, event.data.id)
}

export const config: SubscriberConfig = { event: 'order.placed' }
