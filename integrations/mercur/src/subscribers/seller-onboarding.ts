import type { SubscriberArgs, SubscriberConfig } from '@medusajs/framework'
import { sellerIdsOf } from '@his-her/connect'
import { mercurOf, onboardSeller } from '../lib/sellers'

/**
 * An approved seller (Mercur 2's `seller.approved`, `{ id }`) is onboarded in the hub. With
 * `onboardOnCreate` (Mercur 1.x, whose seller-created event carries `{ ids }` or `{ id }`), a
 * created seller is.
 */
export default async function sellerOnboarding({ event, container }: SubscriberArgs<{ id?: string; ids?: string[] }>) {
  if (event.name === 'seller.created' && !mercurOf(container).onboardOnCreate) return
  for (const id of sellerIdsOf(event.data)) await onboardSeller(container, id)
}

export const config: SubscriberConfig = { event: ['seller.approved', 'seller.created'] }
