import type { SubscriberArgs, SubscriberConfig } from '@medusajs/framework'
import { mercurOf } from '../lib/sellers'

/**
 * Mercur 1.x changes a seller's store status (`seller.store_status_changed`, `{ id, store_status }`)
 * where Mercur 2 suspends and unsuspends: `SUSPENDED` and `INACTIVE` suspend the seller in the hub
 * (its service account cannot log in, its coupons are not redeemed), `ACTIVE` resumes it.
 * Repeats change nothing.
 */
export default async function sellerStoreStatus({ event, container }: SubscriberArgs<{ id: string; store_status: string }>) {
  const sellers = mercurOf(container).hisHer.features.mercurSeller
  const status = event.data.store_status
  if (status === 'ACTIVE') await sellers.resume(event.data.id)
  else if (status === 'SUSPENDED' || status === 'INACTIVE') await sellers.suspend(event.data.id)
}

export const config: SubscriberConfig = { event: 'seller.store_status_changed' }
