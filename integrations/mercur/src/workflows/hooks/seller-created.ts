import { Modules } from '@medusajs/framework/utils'

/**
 * Mercur 1.x (`@mercurjs/b2c-core`) creates a seller with its `createSellerWorkflow`, whose
 * `sellerCreated` hook is where a plugin learns of it (its seller module emits no `seller.created`
 * a subscriber receives). The hook announces the seller as `seller.created` `{ ids }` on the event
 * bus, which the onboarding subscriber takes when `onboardOnCreate` is set: the seller's creation
 * never waits for the hub, nor fails with it. In a Mercur 2 marketplace there is no such workflow
 * and nothing is registered.
 */
type SellerCreatedHook = (handler: (input: { sellerId: string }, context: { container: { resolve(key: string): any } }) => Promise<void>) => void

let sellerCreated: SellerCreatedHook | undefined
try {
  sellerCreated = require('@mercurjs/b2c-core/workflows').createSellerWorkflow?.hooks?.sellerCreated
} catch {
  sellerCreated = undefined // not a Mercur 1.x marketplace
}

sellerCreated?.(async ({ sellerId }, { container }) => {
  await container.resolve(Modules.EVENT_BUS).emit({ name: 'seller.created', data: { ids: [sellerId] } })
})
