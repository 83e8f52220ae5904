import type { SubscriberArgs, SubscriberConfig } from '@medusajs/framework'
import { hubOf } from '../lib/sync'

/** A canceled order leaves the customer's totals in the hub, and the points it earned are taken back. */
export default async function orderCanceled({ event, container }: SubscriberArgs<{ id: string }>) {
  await hubOf(container).cancelOrder(event.data.id)
}

export const config: SubscriberConfig = { event: 'order.canceled' }
