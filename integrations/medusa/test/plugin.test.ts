import { fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { resolve } from 'node:path'
import { medusaIntegrationTestRunner } from '@medusajs/test-utils'
import { ContainerRegistrationKeys, Modules } from '@medusajs/framework/utils'
import {
  beginReceiveReturnWorkflow, capturePaymentWorkflow, confirmReturnReceiveWorkflow, createAndCompleteReturnOrderWorkflow, createApiKeysWorkflow, createOrderCreditLinesWorkflow,
  receiveItemReturnRequestWorkflow, refundPaymentWorkflow,
} from '@medusajs/core-flows'
import { createGiftCardsWorkflow } from '@medusajs/loyalty-plugin/workflows'
import { inject } from 'vitest'
import { hubReader, until } from '../../test-helpers'

const hub = inject('hub')
const hubGet = hubReader(hub)
const secret = () => randomBytes(24).toString('base64url')
Object.assign(process.env, {
  HUB_URL: hub.url, HUB_TOKEN: hub.storeToken, JWT_SECRET: secret(), COOKIE_SECRET: secret(), MEDUSA_DISABLE_TELEMETRY: 'true',
  // the gift cards' coupons are the partner's, synced by its service account
  HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD: secret(), HIS_HER_CUSTOMER_SERVICE_ACCOUNT_ROLE_ID: '3', HIS_HER_CUSTOMER_SERVICE_ACCOUNT_ORGANIZATION_ID: '12',
  HIS_HER_CUSTOMER_SERVICE_ACCOUNT_EMAIL_DOMAIN: 'service.local', HIS_HER_CUSTOMER_LOYALTY_PROVIDER_PARTNER_HANDLE: 'hisher', LOYALTY_CHANNEL_HANDLE: 'web',
})

/**
 * A second store: another Medusa application (second-store.js), with the plugin under the second
 * store's platform identity and token, started beside this file's own store. Answers its store
 * API's address and publishable key, and how to stop it.
 */
function startSecondStore(): Promise<{ url: string; publishableKey: string; stop: () => Promise<void> }> {
  const child = fork(resolve(__dirname, 'second-store.js'), { env: { ...process.env, HUB_SECOND_STORE_TOKEN: hub.secondStoreToken }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
  let output = ''
  const keep = (chunk: Buffer) => void (output = (output + chunk.toString()).slice(-4000))
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  const exited = new Promise<void>((done) => child.once('exit', () => done()))
  return new Promise((ready, failed) => {
    // (Medusa's app sends its port to a parent too: the store's own message is the one with the address)
    child.on('message', (m: { url?: string; publishableKey?: string }) => {
      if (typeof m === 'object' && m?.url && m.publishableKey) ready({ url: m.url, publishableKey: m.publishableKey, stop: async () => { child.disconnect(); await exited } })
    })
    child.once('exit', (code) => failed(new Error(`the second store stopped (${code}) before it answered:\n${output}`)))
  })
}
const secondStore = startSecondStore()
secondStore.catch(() => {}) // awaited by the test that uses it

// the plugin as built (.medusa/server), as a store that installed it runs it
const plugin = resolve(__dirname, '../.medusa/server/src')
const { reconcileCustomers } = require(`${plugin}/jobs/reconcile-customers.js`)
const { ORDER_FIELDS } = require(`${plugin}/lib/sync.js`)

/** The hub's customers with this email. */
const hubCustomersOf = async (email: string): Promise<any[]> => (await hubGet(`/customer?email=${encodeURIComponent(email)}`)).data

medusaIntegrationTestRunner({
  cwd: resolve(__dirname, 'app'),
  testSuite: ({ api, getContainer }) => {
    let publishableKey: string
    const register = async (email: string, firstName: string) => {
      const { data: auth } = await api.post('/auth/customer/emailpass/register', { email, password: `pw-${secret()}` })
      const { data } = await api.post('/store/customers', { email, first_name: firstName, last_name: 'Doe' }, { headers: { authorization: `Bearer ${auth.token}`, 'x-publishable-api-key': publishableKey } })
      return data.customer as { id: string }
    }

    afterAll(async () => {
      await (await secondStore.catch(() => undefined))?.stop()
    })

    beforeEach(async () => {
      const { result } = await createApiKeysWorkflow(getContainer()).run({ input: { api_keys: [{ title: 'web', type: 'publishable', created_by: 'test' }] } })
      publishableKey = result[0]!.token
    })

    it('a customer registered in the store is in the hub, and the hub id in its metadata', async () => {
      const email = `jane.${secret().slice(0, 8).toLowerCase()}@example.com`
      const customer = await register(email, 'Jane')
      const [found] = await until(() => hubCustomersOf(email), (list) => list.length === 1, 'the customer in the hub')
      expect(found.firstName).toBe('Jane')
      const identities = (await hubGet(`/customer/${found.id}/identities`)).data as { kind: string; namespace: string; value: string }[]
      expect(identities).toContainEqual(expect.objectContaining({ kind: 'platform', namespace: 'identity.his-and-her-store', value: customer.id }))
      const customers = getContainer().resolve(Modules.CUSTOMER)
      const stored = await until(() => customers.retrieveCustomer(customer.id), (c) => c.metadata?.hubCustomerId !== undefined, 'the hub id in the metadata')
      expect(stored.metadata!.hubCustomerId).toBe(found.id)
      // a change in the store reaches the hub; writing the metadata did not sync for ever
      await customers.updateCustomers(customer.id, { first_name: 'Janet' })
      await getContainer().resolve(Modules.EVENT_BUS).emit({ name: 'customer.updated', data: { id: customer.id } })
      await until(() => hubCustomersOf(email), (list) => list[0]?.firstName === 'Janet', 'the new first name in the hub')
      expect(await hubCustomersOf(email)).toHaveLength(1)
    })

    it('the same person registered on a second store — another Medusa application — is one hub customer with both stores\' ids', async () => {
      const email = `ada.${secret().slice(0, 8).toLowerCase()}@example.com`
      const customer = await register(email, 'Ada')
      const [first] = await until(() => hubCustomersOf(email), (list) => list.length === 1, 'the customer in the hub')
      // the same person registers on the second store's own store API
      const second = await secondStore
      const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
        const res = await fetch(`${second.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
        expect(res.status, `${path}: ${await res.clone().text()}`).toBe(200)
        return res.json() as Promise<any>
      }
      const { token } = await post('/auth/customer/emailpass/register', { email: email.toUpperCase(), password: `pw-${secret()}` })
      const { customer: there } = await post('/store/customers', { email: email.toUpperCase(), first_name: 'Ada', last_name: 'Doe' }, { authorization: `Bearer ${token}`, 'x-publishable-api-key': second.publishableKey })
      expect(there.id).not.toBe(customer.id)
      const stores = `identity.his-and-her-store:${customer.id} identity.second-store:${there.id}`
      const identitiesOf = async (id: string) => ((await hubGet(`/customer/${id}/identities`)).data as { namespace: string; value: string }[])
        .filter((i) => i.namespace.startsWith('identity.')).map((i) => `${i.namespace}:${i.value}`).sort().join(' ')
      await until(() => identitiesOf(first.id), (ids) => ids === stores, 'both stores\' ids on the one customer')
      expect(await hubCustomersOf(email)).toHaveLength(1)
    })

    it('an order placed counts in the hub once, earns its points, and a cancellation takes both back', async () => {
      const email = `omar.${secret().slice(0, 8).toLowerCase()}@example.com`
      const customer = await register(email, 'Omar')
      const [found] = await until(() => hubCustomersOf(email), (list) => list.length === 1, 'the customer in the hub')
      const container = getContainer()
      const [order] = await container.resolve(Modules.ORDER).createOrders([
        { currency_code: 'eur', customer_id: customer.id, email, items: [{ title: 'Scarf', quantity: 2, unit_price: 30.5 }] },
      ])
      const bus = container.resolve(Modules.EVENT_BUS)
      // delivered twice, as an event bus may: counted once
      await bus.emit({ name: 'order.placed', data: { id: order!.id } })
      await bus.emit({ name: 'order.placed', data: { id: order!.id } })
      const after = await until(() => hubGet(`/customer/${found.id}`), (c) => c.orderCount === 1, 'the order in the hub')
      expect(after.totalSpent).toBe(6100)
      expect(after.currency).toBe('EUR')
      const accounts = await until(() => hubGet(`/customer/${found.id}/reward-accounts`), (a) => a.data?.[0]?.balance === 61, 'the order\'s points')
      expect(accounts.data[0].ledger).toBe('reward-points')
      expect((await hubGet(`/customer/${found.id}/orders`)).data).toHaveLength(1)

      await bus.emit({ name: 'order.canceled', data: { id: order!.id } })
      const cancelled = await until(() => hubGet(`/customer/${found.id}`), (c) => c.orderCount === 0, 'the cancellation in the hub')
      expect(cancelled.totalSpent).toBe(0)
      await until(() => hubGet(`/customer/${found.id}/reward-accounts`), (a) => a.data?.[0]?.balance === 0, 'the points taken back')
    })

    /** An order of a registered customer, placed and paid: its payment authorized and captured by Medusa's system provider. */
    const paidOrder = async (name: string, items: { title: string; quantity: number; unit_price: number }[]) => {
      const email = `${name}.${secret().slice(0, 8).toLowerCase()}@example.com`
      const customer = await register(email, name)
      const [found] = await until(() => hubCustomersOf(email), (list) => list.length === 1, 'the customer in the hub')
      const container = getContainer()
      const [order] = await container.resolve(Modules.ORDER).createOrders([{ currency_code: 'eur', customer_id: customer.id, email, items }])
      const total = items.reduce((n, i) => n + i.quantity * i.unit_price, 0)
      const payments = container.resolve(Modules.PAYMENT)
      const [collection] = await payments.createPaymentCollections([{ currency_code: 'eur', amount: total }])
      await container.resolve(ContainerRegistrationKeys.LINK).create({ [Modules.ORDER]: { order_id: order!.id }, [Modules.PAYMENT]: { payment_collection_id: collection!.id } })
      const session = await payments.createPaymentSession(collection!.id, { provider_id: 'pp_system_default', currency_code: 'eur', amount: total, data: {} })
      const payment = await payments.authorizePaymentSession(session.id, {})
      await capturePaymentWorkflow(container).run({ input: { payment_id: payment.id } })
      await container.resolve(Modules.EVENT_BUS).emit({ name: 'order.placed', data: { id: order!.id } })
      await until(() => hubGet(`/customer/${found.id}`), (c) => c.orderCount === 1, 'the order in the hub')
      // the order as the placed event's subscriber read it
      const { data: [placed] } = await container.resolve(ContainerRegistrationKeys.QUERY).graph({ entity: 'order', fields: ORDER_FIELDS, filters: { id: order!.id } })
      return { order: order!, placed, payment, hubId: found.id as string }
    }

    it('a refund lowers the order in the hub by what was refunded, and its points with it; the event delivered twice counts once', async () => {
      const { order, placed, payment, hubId } = await paidOrder('rita', [{ title: 'Coat', quantity: 1, unit_price: 80 }])
      expect(await hubGet(`/customer/${hubId}`)).toMatchObject({ orderCount: 1, totalSpent: 8000 })
      await until(() => hubGet(`/customer/${hubId}/reward-accounts`), (a) => a.data?.[0]?.balance === 80, 'the order\'s points')
      // 25 EUR refunded as a goodwill gesture: Medusa's refund workflow, which emits payment.refunded
      await refundPaymentWorkflow(getContainer()).run({ input: { payment_id: payment.id, amount: 25 } })
      await until(() => hubGet(`/customer/${hubId}`), (c) => c.totalSpent === 5500, 'the refund in the hub')
      await until(() => hubGet(`/customer/${hubId}/reward-accounts`), (a) => a.data?.[0]?.balance === 55, 'the refunded part\'s points taken back')
      // delivered again, as an event bus may: nothing changes twice
      await getContainer().resolve(Modules.EVENT_BUS).emit({ name: 'payment.refunded', data: { id: payment.id } })
      await getContainer().resolve(Modules.EVENT_BUS).emit({ name: 'order.placed', data: { id: order.id } })
      const orders = await until(() => hubGet(`/customer/${hubId}/orders`), (o) => o.data?.length === 1, 'the one order')
      expect(orders.data[0]).toMatchObject({ externalId: order.id, total: 5500 })
      expect(await hubGet(`/customer/${hubId}`)).toMatchObject({ orderCount: 1, totalSpent: 5500 })
      expect((await hubGet(`/customer/${hubId}/reward-accounts`)).data[0].balance).toBe(55)
      // the placed order's report, retried and delivered only now: an older state, it changes nothing
      expect((await getContainer().resolve('hisHerHub').recordOrder(placed, hubId)).outcome).toBe('unchanged')
      expect(await hubGet(`/customer/${hubId}`)).toMatchObject({ orderCount: 1, totalSpent: 5500 })
      // the rest refunded: the order counts, worth nothing
      await refundPaymentWorkflow(getContainer()).run({ input: { payment_id: payment.id, amount: 55 } })
      await until(() => hubGet(`/customer/${hubId}`), (c) => c.totalSpent === 0, 'the whole refund in the hub')
      await until(() => hubGet(`/customer/${hubId}/reward-accounts`), (a) => a.data?.[0]?.balance === 0, 'every point taken back')
    })

    it('a return received lowers the order in the hub by the items returned, and its points with it', async () => {
      const { order, payment, hubId } = await paidOrder('tom', [{ title: 'Scarf', quantity: 2, unit_price: 30.5 }])
      expect(await hubGet(`/customer/${hubId}`)).toMatchObject({ orderCount: 1, totalSpent: 6100 })
      // where returns go: a stock location, and a return shipping option of Medusa's manual fulfillment provider
      const container = getContainer()
      const tag = secret().slice(0, 6)
      const [location] = await container.resolve(Modules.STOCK_LOCATION).createStockLocations([{ name: `Returns ${tag}`, address: { address_1: '1 Dock Road', city: 'Hamburg', country_code: 'de' } }])
      const fulfillment = container.resolve(Modules.FULFILLMENT)
      const [profile] = await fulfillment.createShippingProfiles([{ name: `Returns ${tag}`, type: 'default' }])
      const [set] = await fulfillment.createFulfillmentSets([{ name: `Returns ${tag}`, type: 'shipping', service_zones: [{ name: `EU ${tag}`, geo_zones: [{ type: 'country', country_code: 'de' }] }] }])
      await container.resolve(ContainerRegistrationKeys.LINK).create({ [Modules.STOCK_LOCATION]: { stock_location_id: location!.id }, [Modules.FULFILLMENT]: { fulfillment_set_id: set!.id } })
      const [option] = await fulfillment.createShippingOptions([{
        name: `Return ${tag}`, service_zone_id: set!.service_zones[0]!.id, shipping_profile_id: profile!.id, provider_id: 'manual_manual', price_type: 'flat',
        type: { label: 'Return', description: 'Return to the warehouse', code: `return-${tag}` }, rules: [{ attribute: 'is_return', operator: 'eq', value: 'true' }],
      }])
      const { data: [withItems] } = await container.resolve(ContainerRegistrationKeys.QUERY).graph({ entity: 'order', fields: ['items.id'], filters: { id: order.id } })
      const item = (withItems as { items: { id: string }[] }).items[0]
      // the two scarves shipped (the order's record of the fulfillment, as Medusa's fulfillment workflow registers it)
      await container.resolve(Modules.ORDER).registerFulfillment({ order_id: order.id, items: [{ id: item!.id, quantity: 2 }] })
      // one scarf sent back, then received: Medusa's workflows, the last of which emits order.return_received
      const { result: made } = await createAndCompleteReturnOrderWorkflow(container).run({
        input: { order_id: order.id, items: [{ id: item!.id, quantity: 1 }], return_shipping: { option_id: option!.id, price: 0 }, location_id: location!.id },
      })
      await beginReceiveReturnWorkflow(container).run({ input: { return_id: made.id } })
      await receiveItemReturnRequestWorkflow(container).run({ input: { return_id: made.id, items: [{ id: item!.id, quantity: 1 }] } })
      await confirmReturnReceiveWorkflow(container).run({ input: { return_id: made.id } })
      await until(() => hubGet(`/customer/${hubId}`), (c) => c.totalSpent === 3050, 'the return in the hub')
      await until(() => hubGet(`/customer/${hubId}/reward-accounts`), (a) => a.data?.[0]?.balance === 30, 'the returned scarf\'s points taken back')
      expect((await hubGet(`/customer/${hubId}`)).orderCount).toBe(1)
      // the returned scarf refunded: what the return owed, so the order stays as the return left it (not lowered twice)
      await refundPaymentWorkflow(container).run({ input: { payment_id: payment.id, amount: 30.5 } })
      await reconcileCustomers(container) // sends the refunded order as it stands, as the subscriber does
      expect(await hubGet(`/customer/${hubId}`)).toMatchObject({ orderCount: 1, totalSpent: 3050 })
      expect((await hubGet(`/customer/${hubId}/reward-accounts`)).data[0].balance).toBe(30)
    })

    it('the reconcile job sends a refund whose event was lost', async () => {
      const { order, payment, hubId } = await paidOrder('ivo', [{ title: 'Hat', quantity: 2, unit_price: 15 }])
      await reconcileCustomers(getContainer()) // what changed before the refund is sent
      // a refund whose payment.refunded no subscriber saw: what Medusa's refund workflow writes (the
      // refund, the order's transaction, the credit line that lowers the order), without the event
      const container = getContainer()
      const [refund] = (await container.resolve(Modules.PAYMENT).refundPayment({ payment_id: payment.id, amount: 10 })).refunds!.slice(-1)
      await container.resolve(Modules.ORDER).addOrderTransactions([{ order_id: order.id, amount: -10, currency_code: 'eur', reference: 'refund', reference_id: refund!.id }])
      await createOrderCreditLinesWorkflow(container).run({ input: { id: order.id, credit_lines: [{ amount: 10, reference: 'refund', reference_id: refund!.id }] } })
      expect((await hubGet(`/customer/${hubId}`)).totalSpent).toBe(3000)
      const sent = await reconcileCustomers(getContainer())
      expect(sent.orders).toBeGreaterThanOrEqual(1)
      expect((await hubGet(`/customer/${hubId}`)).totalSpent).toBe(2000)
    })

    it('the reconcile job sends a customer and orders whose events were lost', async () => {
      const email = `lost.${secret().slice(0, 8).toLowerCase()}@example.com`
      const customers = getContainer().resolve(Modules.CUSTOMER)
      // written through the module, as a lost event leaves it: no customer.created reaches the plugin
      const [customer] = await customers.createCustomers([{ email, first_name: 'Lena' }])
      expect(await hubCustomersOf(email)).toHaveLength(0)
      // and an order of hers whose order.placed was lost
      const [order] = await getContainer().resolve(Modules.ORDER).createOrders([
        { currency_code: 'eur', customer_id: customer!.id, email, items: [{ title: 'Gloves', quantity: 1, unit_price: 19.99 }] },
      ])
      const sent = await reconcileCustomers(getContainer())
      expect(sent.customers).toBeGreaterThanOrEqual(1)
      expect(sent.orders).toBeGreaterThanOrEqual(1)
      const [found] = await hubCustomersOf(email)
      expect(found).toMatchObject({ firstName: 'Lena', orderCount: 1, totalSpent: 1999 })
      expect((await customers.retrieveCustomer(customer!.id)).metadata?.hubCustomerId).toBe(found.id)
      // its cancellation, lost too, is sent by the next run; the run after that changes nothing
      await getContainer().resolve(Modules.ORDER).cancel(order!.id)
      await reconcileCustomers(getContainer())
      expect((await hubCustomersOf(email))[0]).toMatchObject({ orderCount: 0, totalSpent: 0 })
      await reconcileCustomers(getContainer())
      expect((await hubCustomersOf(email))[0]).toMatchObject({ orderCount: 0, totalSpent: 0 })
    })

    it('a gift card issued by Medusa\'s loyalty plugin becomes the partner\'s coupon in the hub once, and its balance is the hub\'s after', async () => {
      const code = `GC-${randomBytes(4).toString('hex').toUpperCase()}-0042`
      await createGiftCardsWorkflow(getContainer()).run({ input: [{ code, value: 50, currency_code: 'eur', expires_at: null }] })
      const sent = await reconcileCustomers(getContainer())
      expect(sent.giftCards).toBeGreaterThanOrEqual(1)
      const coupons = (await hubGet('/coupons?limit=200')).data as any[]
      const made = coupons.filter((c) => c.codeLast4 === '0042')
      expect(made).toHaveLength(1)
      expect(made[0]).toMatchObject({ balance: 5000, currency: 'EUR', channel: 'web' })
      const partner = ((await hubGet('/loyalty-providers?kind=house')).data as any[])[0]
      expect(made[0].providerId).toBe(partner.id)
      // 20 EUR redeemed at a checkout; the card changes in Medusa, and the next run leaves the hub's balance alone
      const redeemed = await fetch(`${hub.url}/coupons/redeem`, {
        method: 'POST', headers: { authorization: `Bearer ${hub.storeToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ code, amount: 2000, orderRef: 'order_gc_1', idempotencyKey: `redeem-${code}` }),
      })
      expect(redeemed.status, await redeemed.text()).toBe(201)
      await getContainer().resolve('loyalty').updateGiftCards([{ id: (await getContainer().resolve('loyalty').listGiftCards({ code }))[0].id, note: 'changed in Medusa' }])
      const again = await reconcileCustomers(getContainer())
      expect(again.giftCards).toBe(0)
      const after = ((await hubGet('/coupons?limit=200')).data as any[]).filter((c) => c.codeLast4 === '0042')
      expect(after).toHaveLength(1)
      expect(after[0].balance).toBe(3000)
    })
  },
})
