import type { SubscriberArgs, SubscriberConfig } from '@medusajs/framework'
import { syncStoreCustomer } from '../lib/sync'

/** A customer created or changed in the store is synced to the hub (platform id → email → phone). */
export default async function customerSync({ event, container }: SubscriberArgs<{ id: string }>) {
  await syncStoreCustomer(container, event.data.id)
}

export const config: SubscriberConfig = { event: ['customer.created', 'customer.updated'] }
