import { createHmac, randomBytes } from 'node:crypto'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startListeningHub, type ListeningHub } from '../test/helpers/listening-hub.js'

// The Shopify webhook handler of docs/integrations.md ("A Shopify store"), run as it is written
// there: the ```js block after its marker is written to a module beside this file and imported,
// with the hub's address, a platform token bound to the store and the webhook secret in the
// environment it reads. Deliveries are Shopify's shapes, signed as Shopify signs them.

const marker = '<!-- example: shopify-webhooks -->'
const secret = randomBytes(24).toString('base64')
const sign = (body: string, key = secret) => createHmac('sha256', key).update(body).digest('base64')

function docBlock(): string {
  const doc = readFileSync(new URL('../../../docs/integrations.md', import.meta.url), 'utf8')
  const at = doc.indexOf(marker)
  if (at < 0) throw new Error(`docs/integrations.md has no ${marker}`)
  const block = /^\s*```js\n([\s\S]*?)\n```/.exec(doc.slice(at + marker.length))
  if (!block) throw new Error('no ```js block follows the marker in docs/integrations.md')
  return block[1]!
}

let hub: ListeningHub
let handle: (topic: string, rawBody: string, hmac: string | undefined) => Promise<number>
const modulePath = new URL(`./.shopify-example-${randomBytes(4).toString('hex')}.mjs`, import.meta.url)
const saved = { HUB_URL: process.env.HUB_URL, HUB_TOKEN: process.env.HUB_TOKEN, SHOPIFY_WEBHOOK_SECRET: process.env.SHOPIFY_WEBHOOK_SECRET }

async function hubGet(path: string): Promise<any> {
  const res = await fetch(`${hub.baseUrl}${path}`, { headers: { authorization: `Bearer ${hub.adminToken}` } })
  expect(res.status).toBe(200)
  return res.json()
}
const customersOf = async (email: string): Promise<any[]> => (await hubGet(`/customer?email=${encodeURIComponent(email)}`)).data
const deliver = (topic: string, payload: unknown) => {
  const body = JSON.stringify(payload)
  return handle(topic, body, sign(body))
}

beforeAll(async () => {
  hub = await startListeningHub()
  Object.assign(process.env, { HUB_URL: hub.baseUrl, HUB_TOKEN: await hub.platformToken({ components: ['identity.shopify-eu'], platforms: ['shopify-eu'] }), SHOPIFY_WEBHOOK_SECRET: secret })
  writeFileSync(modulePath, docBlock())
  ;({ handleShopifyWebhook: handle } = await import(/* @vite-ignore */ modulePath.href))
})
afterAll(async () => {
  rmSync(modulePath, { force: true })
  for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]
  else process.env[k] = v
  await hub?.close()
})

describe("the Shopify handler of docs/integrations.md", () => {
  const shopifyCustomer = { id: 7_100_000_001, email: 'mia@example.com', phone: null, first_name: 'Mia', last_name: 'Lind' }

  it('customers/create and customers/update sync the customer under the store\'s identity', async () => {
    expect(await deliver('customers/create', shopifyCustomer)).toBe(200)
    const [created] = await customersOf('mia@example.com')
    expect(created).toMatchObject({ firstName: 'Mia', lastName: 'Lind' })
    const identities = (await hubGet(`/customer/${created.id}/identities`)).data as { namespace: string; value: string }[]
    expect(identities).toContainEqual(expect.objectContaining({ namespace: 'identity.shopify-eu', value: '7100000001' }))
    expect(await deliver('customers/update', { ...shopifyCustomer, first_name: 'Miriam' })).toBe(200)
    const after = await customersOf('mia@example.com')
    expect(after).toHaveLength(1)
    expect(after[0].firstName).toBe('Miriam')
  })

  it('orders/create records the order once however often Shopify delivers it; orders/cancelled takes it back', async () => {
    const order = { id: 5_500_000_001, email: 'mia@example.com', total_price: '30.50', currency: 'EUR', created_at: '2026-12-01T10:00:00-05:00', customer: shopifyCustomer }
    expect(await deliver('orders/create', order)).toBe(200)
    expect(await deliver('orders/create', order)).toBe(200) // Shopify retries a delivery it saw no 200 for
    const [customer] = await customersOf('mia@example.com')
    expect(customer).toMatchObject({ orderCount: 1, totalSpent: 3050, currency: 'EUR' })
    const orders = (await hubGet(`/customer/${customer.id}/orders`)).data
    expect(orders).toEqual([expect.objectContaining({ platform: 'shopify-eu', externalId: '5500000001', total: 3050, placedAt: '2026-12-01T15:00:00.000Z' })])
    expect(await deliver('orders/cancelled', order)).toBe(200)
    expect((await customersOf('mia@example.com'))[0]).toMatchObject({ orderCount: 0, totalSpent: 0 })
  })

  it("a guest's order is left out, and its cancellation is nothing to take back", async () => {
    const guest = { id: 5_500_000_002, email: 'guest@example.com', total_price: '12.00', currency: 'EUR', created_at: '2026-12-01T10:00:00Z', customer: null }
    expect(await deliver('orders/create', guest)).toBe(200)
    expect(await deliver('orders/cancelled', guest)).toBe(200)
    expect(await customersOf('guest@example.com')).toHaveLength(0)
  })

  it('a delivery not signed with the secret answers 401 and changes nothing', async () => {
    const body = JSON.stringify({ ...shopifyCustomer, id: 7_100_000_009, email: 'forged@example.com' })
    expect(await handle('customers/create', body, sign(body, 'another secret'))).toBe(401)
    expect(await handle('customers/create', body, undefined)).toBe(401)
    expect(await handle('customers/create', body, 'not base64 at all')).toBe(401)
    expect(await customersOf('forged@example.com')).toHaveLength(0)
  })
})
