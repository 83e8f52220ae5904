import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'kysely'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'

// The Customer Module document's API examples, run in its order over real HTTP, with the
// bodies as written there (its example address is elided in the document; jane@example.com here).
let hub: TestHub
let base: string
let token: string

beforeAll(async () => {
  hub = await createTestHub()
  token = hub.adminToken
  await hub.app.listen({ port: 0, host: '127.0.0.1' })
  const address = hub.app.server.address()
  if (!address || typeof address === 'string') throw new Error('the hub is not listening on a TCP port')
  base = `http://127.0.0.1:${address.port}`
})
afterAll(async () => hub?.close())

/** What `curl -X <method> <url> -H "Authorization: Bearer $TOKEN" [-H "Content-Type: application/json" -d '<body>']` does. */
async function curl(method: string, path: string, body?: string) {
  const headers: Record<string, string> = { Authorization: `Bearer ${token}` }
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  const res = await fetch(`${base}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) })
  const text = await res.text()
  expect(res.status, `${method} ${path} answered ${text}`).toBeLessThan(500)
  expect(res.headers.get('content-type')).toMatch(/^application\/json/)
  return { status: res.status, body: JSON.parse(text), raw: text }
}

async function recordOrders(customerId: string, totals: number[], prefix: string) {
  for (const [i, total] of totals.entries()) {
    const res = await curl('POST', '/orders', JSON.stringify({ platform: 'storefront', externalId: `${prefix}-${i}`, customerId, total, currency: 'USD', placedAt: `2024-06-0${i + 1}T08:00:00Z` }))
    expect(res.status, res.raw).toBe(201)
  }
}

describe("the Customer Module document's examples", () => {
  let jane: { id: string }

  it('Register a Customer', async () => {
    const res = await curl('POST', '/customer', `{
"email": "jane@example.com",
"firstName": "Jane",
"lastName": "Doe",
"password": "securePassword123"
}`)
    expect(res.status, res.raw).toBe(201)
    expect(res.body).toMatchObject({ email: 'jane@example.com', firstName: 'Jane', lastName: 'Doe', hasAccount: true, addresses: [], groups: [], orderCount: 0, totalSpent: 0 })
    expect(res.raw).not.toContain('securePassword123')
    jane = res.body
  })

  it('Add an Address', async () => {
    const res = await curl('POST', `/customer/${jane.id}/address`, `{
"label": "Office",
"line1": "456 Market St",
"city": "San Francisco",
"state": "CA",
"postalCode": "94105",
"country": "US"
}`)
    expect(res.status, res.raw).toBe(201)
    expect(res.body).toMatchObject({ label: 'Office', line1: '456 Market St', city: 'San Francisco', state: 'CA', postalCode: '94105', country: 'US', isDefault: true })
    expect(res.body.id).toMatch(/^addr_/)
  })

  it('Assign to a Group', async () => {
    const res = await curl('POST', `/customer/${jane.id}/group`, '{"group": "vip"}')
    expect(res.status, res.raw).toBe(200)
    expect(res.body.groups).toEqual(['vip'])
  })

  it('List Customers with Filters (after Jane has 5 orders)', async () => {
    await recordOrders(jane.id, [9800, 12000, 4500, 15000, 4500], 'jane')
    // others around her: a bigger vip spender, a vip with too few orders, a non-vip with many
    const others: Record<string, string> = {}
    for (const [name, groups, totals] of [
      ['big', ['vip'], [50000, 1, 1, 1, 1, 1]],
      ['few', ['vip'], [99999, 1, 1, 1]],
      ['plain', [], [1000, 1000, 1000, 1000, 1000, 1000]],
    ] as const) {
      const created = await curl('POST', '/customer', JSON.stringify({ email: `${name}@example.com`, firstName: name }))
      expect(created.status).toBe(201)
      others[name] = created.body.id
      for (const group of groups) expect((await curl('POST', `/customer/${created.body.id}/group`, JSON.stringify({ group }))).status).toBe(200)
      await recordOrders(created.body.id, [...totals], name)
    }

    const res = await curl('GET', '/customer?group=vip&minOrders=5&sort=totalSpent:desc')
    expect(res.status, res.raw).toBe(200)
    expect(res.body.nextCursor).toBeNull()
    expect(res.body.data.map((c: { id: string }) => c.id)).toEqual([others.big, jane.id])
    const listed = res.body.data[1]
    // the document's data model, field by field
    expect(listed).toMatchObject({
      id: jane.id,
      email: 'jane@example.com',
      firstName: 'Jane',
      lastName: 'Doe',
      phone: null,
      addresses: [{ label: 'Office', line1: '456 Market St', city: 'San Francisco', state: 'CA', postalCode: '94105', country: 'US', isDefault: true }],
      groups: ['vip'],
      metadata: {},
      orderCount: 5,
      totalSpent: 45800,
      currency: 'USD',
    })
    expect(new Date(listed.createdAt).toISOString()).toBe(listed.createdAt)
    expect(listed.addresses[0].id).toMatch(/^addr_/)
    expect(res.raw).not.toContain('securePassword123')
    expect(res.raw).not.toContain('$argon2')
  })

  it('recorded the events the document names, in order', async () => {
    // read from the outbox table: the feed holds back events while any transaction in the
    // database is older than them, which other work on a shared server can make last
    const { rows } = await sql<{ type: string }>`SELECT type FROM events WHERE customer_id = ${jane.id} ORDER BY position`.execute(hub.database.db)
    expect(rows.map((r) => r.type)).toEqual(['customer.created', 'customer.address_added', 'customer.group_added', ...Array(5).fill('order.recorded')])
  })
})
