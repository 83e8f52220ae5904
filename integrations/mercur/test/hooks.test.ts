import { randomBytes } from 'node:crypto'
import { resolve } from 'node:path'
import { medusaIntegrationTestRunner } from '@medusajs/test-utils'
import { Modules } from '@medusajs/framework/utils'
import { approveSellerWorkflow, suspendSellerWorkflow, terminateSellerWorkflow, unsuspendSellerWorkflow } from '@mercurjs/core/workflows'
import { inject } from 'vitest'
import { providerReader, useMarketplaceEnv } from './marketplace'
import { hubReader, until } from '../../test-helpers'

const hub = inject('hub')
const hubGet = hubReader(hub)
useMarketplaceEnv(hub)
const providerOf = providerReader(hubGet)

medusaIntegrationTestRunner({
  cwd: resolve(__dirname, 'app'),
  testSuite: ({ getContainer }) => {
    /** A seller as Mercur keeps it, with its owner, pending approval. */
    const newSeller = async (handle: string) => {
      const sellers = getContainer().resolve('seller') as any
      const [seller] = await sellers.createSellers([{ name: `Brand ${handle}`, handle, email: `${handle}@brands.example.com`, currency_code: 'eur' }])
      const [member] = await sellers.createMembers([{ email: `owner.${handle}@brands.example.com` }])
      await sellers.createSellerMembers([{ seller_id: seller.id, member_id: member.id, is_owner: true }])
      return { seller: seller as { id: string }, member: member as { id: string } }
    }
    const sellerRecord = async (id: string) => ((await (getContainer().resolve('seller') as any).retrieveSeller(id)) as { metadata: Record<string, unknown> | null })

    it('an approved seller is onboarded in the hub, and the metadata the hub returns is on the seller', async () => {
      const handle = `brand-${randomBytes(3).toString('hex')}`
      const { seller } = await newSeller(handle)
      expect(await providerOf(seller.id)).toBeUndefined() // created, not approved: nothing in the hub yet
      await approveSellerWorkflow(getContainer()).run({ input: { seller_id: seller.id } })
      const provider = await until(() => providerOf(seller.id), (p) => p !== undefined, 'the seller\'s provider in the hub')
      expect(provider).toMatchObject({ kind: 'seller', status: 'active' })
      const stored = await until(() => sellerRecord(seller.id), (s) => s.metadata !== null && Object.keys(s.metadata).length > 0, 'the hub\'s metadata on the seller')
      expect(JSON.stringify(stored.metadata)).toContain(provider.id)
      expect(JSON.stringify(stored.metadata)).not.toMatch(/password|secret|hash/i)
      const accounts = (await hubGet('/service-accounts')).data as { email: string; memberId?: string }[]
      expect(accounts.some((a) => a.email === `${handle}@service.local`)).toBe(true)
    })

    it('with onboardOnCreate, a created seller is onboarded from the { ids } payload the Mercur 1.x hook announces', async () => {
      const container = getContainer()
      const hooks = container.resolve('hisHerMercur') as { onboardOnCreate: boolean }
      hooks.onboardOnCreate = true
      try {
        const a = await newSeller(`brand-${randomBytes(3).toString('hex')}`)
        const b = await newSeller(`brand-${randomBytes(3).toString('hex')}`)
        // the seller-created announcement names its sellers as { ids }
        await container.resolve(Modules.EVENT_BUS).emit({ name: 'seller.created', data: { ids: [a.seller.id, b.seller.id] } })
        for (const { seller } of [a, b]) await until(() => providerOf(seller.id), (p) => p?.status === 'active', `seller ${seller.id} onboarded`)
      } finally {
        hooks.onboardOnCreate = false
      }
    })

    it('a suspended seller is suspended in the hub, resumed when unsuspended, and a terminated one is terminated', async () => {
      const handle = `brand-${randomBytes(3).toString('hex')}`
      const { seller } = await newSeller(handle)
      await approveSellerWorkflow(getContainer()).run({ input: { seller_id: seller.id } })
      await until(() => providerOf(seller.id), (p) => p?.status === 'active', 'the seller onboarded')
      await suspendSellerWorkflow(getContainer()).run({ input: { seller_id: seller.id, reason: 'documents expired' } })
      await until(() => providerOf(seller.id), (p) => p.status === 'suspended', 'the seller suspended in the hub')
      await unsuspendSellerWorkflow(getContainer()).run({ input: { seller_id: seller.id } })
      await until(() => providerOf(seller.id), (p) => p.status === 'active', 'the seller resumed in the hub')
      // Mercur terminates a suspended seller only
      await suspendSellerWorkflow(getContainer()).run({ input: { seller_id: seller.id, reason: 'closing' } })
      await until(() => providerOf(seller.id), (p) => p.status === 'suspended', 'the seller suspended again')
      await terminateSellerWorkflow(getContainer()).run({ input: { seller_id: seller.id, reason: 'closed' } })
      await until(() => providerOf(seller.id), (p) => p.status === 'terminated', 'the seller terminated in the hub')
    })
  },
})
