import { randomBytes } from 'node:crypto'
import { resolve } from 'node:path'
import { medusaIntegrationTestRunner } from '@medusajs/test-utils'
import { Modules } from '@medusajs/framework/utils'
import { createSellerWorkflow, updateSellerWorkflow } from '@mercurjs/b2c-core/workflows'
import { inject } from 'vitest'
import { providerReader, useMarketplaceEnv } from '../../test/marketplace'
import { hubReader, until } from '../../../test-helpers'

const hub = inject('hub')
const hubGet = hubReader(hub)
// b2c-core makes its Stripe payout client at start-up; no payout is made here, so no real key
useMarketplaceEnv(hub, { STRIPE_SECRET_API_KEY: 'sk_test_not_used' })
const providerOf = providerReader(hubGet)

medusaIntegrationTestRunner({
  cwd: resolve(__dirname, 'app'),
  testSuite: ({ getContainer }) => {
    it('a seller created by Mercur 1.x\'s createSellerWorkflow is onboarded in the hub through its sellerCreated hook, and its store status suspends and resumes it', async () => {
      const container = getContainer()
      const handle = `brand-${randomBytes(3).toString('hex')}`
      const email = `owner.${handle}@brands.example.com`
      // the seller's owner signs up (an auth identity of the seller actor), then the seller is created as Mercur 1.x's vendor sign-up creates it
      const [identity] = await container.resolve(Modules.AUTH).createAuthIdentities([{ provider_identities: [{ provider: 'emailpass', entity_id: email }] }])
      const { result: seller } = await createSellerWorkflow(container).run({
        input: { seller: { name: `Brand ${handle}`, email: `${handle}@brands.example.com` }, member: { name: 'Owner', email }, auth_identity_id: identity!.id } as any,
      })
      const provider = await until(() => providerOf(seller.id), (p) => p?.status === 'active', 'the seller onboarded in the hub')
      expect(provider).toMatchObject({ kind: 'seller' })
      // a Mercur 1.x seller has no metadata to hold the hub's ids: the hub finds the provider by the seller's id
      expect('metadata' in (await (container.resolve('seller') as any).retrieveSeller(seller.id))).toBe(false)
      expect(((await hubGet(`/loyalty-providers?kind=seller`)).data as any[]).filter((p) => p.sellerId === seller.id)).toHaveLength(1)
      // the service account is the seller's, its owner the member Mercur made
      const accounts = (await hubGet('/service-accounts')).data as { email: string }[]
      expect(accounts.some((a) => a.email === `${seller.handle}@service.local`)).toBe(true)
      // Mercur 1.x suspends a store by its status (updateSellerWorkflow emits seller.store_status_changed)
      await updateSellerWorkflow(container).run({ input: { id: seller.id, store_status: 'SUSPENDED' } as any })
      await until(() => providerOf(seller.id), (p) => p.status === 'suspended', 'the seller suspended in the hub')
      await updateSellerWorkflow(container).run({ input: { id: seller.id, store_status: 'ACTIVE' } as any })
      await until(() => providerOf(seller.id), (p) => p.status === 'active', 'the seller resumed in the hub')
    })
  },
})
