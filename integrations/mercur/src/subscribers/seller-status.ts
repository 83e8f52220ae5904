import type { SubscriberArgs, SubscriberConfig } from '@medusajs/framework'
import { sellerIdsOf } from '@his-her/connect'
import { mercurOf } from '../lib/sellers'

/**
 * A seller suspended, resumed or terminated in the marketplace is in the hub too: a suspended
 * seller's service account cannot log in, its tokens stop and its coupons are not redeemed; a
 * terminated one is so for good. Repeats change nothing.
 */
export default async function sellerStatus({ event, container }: SubscriberArgs<{ id?: string; ids?: string[] }>) {
  const sellers = mercurOf(container).hisHer.features.mercurSeller
  const change = ({ 'seller.suspended': 'suspend', 'seller.unsuspended': 'resume', 'seller.terminated': 'terminate' } as const)[event.name as 'seller.suspended']
  for (const id of sellerIdsOf(event.data)) await sellers[change](id)
}

export const config: SubscriberConfig = { event: ['seller.suspended', 'seller.unsuspended', 'seller.terminated'] }
