import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'kysely'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { expectError, type Res } from '../../test/helpers/requests.js'

type Method = 'POST' | 'PATCH'

let hub: TestHub
let customerId: string
let addressId: string

beforeAll(async () => {
  hub = await createTestHub()
  const created = await hub.app.inject({
    method: 'POST',
    url: '/customer',
    headers: hub.admin,
    payload: { email: 'target@example.com', phone: '+12127365000', firstName: 'Target', metadata: { kept: true } },
  })
  expect(created.statusCode, created.body).toBe(201)
  customerId = created.json().id
  const address = await hub.app.inject({
    method: 'POST',
    url: `/customer/${customerId}/address`,
    headers: hub.admin,
    payload: { line1: '1 Main St', city: 'Springfield', country: 'US' },
  })
  expect(address.statusCode, address.body).toBe(201)
  addressId = address.json().id
  await hub.app.inject({ method: 'POST', url: `/customer/${customerId}/group`, headers: hub.admin, payload: { group: 'vip' } })
})
afterAll(async () => hub?.close())

/** Everything a bad request could have touched. */
async function snapshot() {
  const db = hub.database.db
  const { rows } = await sql<Record<string, number>>`
    SELECT (SELECT count(*)::int FROM customers) AS customers,
           (SELECT count(*)::int FROM identities) AS identities,
           (SELECT count(*)::int FROM addresses) AS addresses,
           (SELECT count(*)::int FROM events) AS events,
           (SELECT count(*)::int FROM orders) AS orders`.execute(db)
  return {
    counts: rows[0],
    customer: await db.selectFrom('customers').selectAll().where('id', '=', customerId).executeTakeFirstOrThrow(),
    addresses: await db.selectFrom('addresses').selectAll().where('customer_id', '=', customerId).execute(),
  }
}

async function send(method: Method, url: string, payload: string, contentType: string | null = 'application/json'): Promise<Res> {
  const headers: Record<string, string> = { ...hub.admin }
  if (contentType !== null) headers['content-type'] = contentType
  const res = await hub.app.inject({ method, url, headers, payload })
  expect(res.statusCode, `${method} ${url} answered ${res.body}`).toBeLessThan(500)
  let body: any
  try {
    body = JSON.parse(res.body)
  } catch {
    throw new Error(`${method} ${url} answered ${res.statusCode} with a body that is not JSON: ${res.body.slice(0, 200)}`)
  }
  return { status: res.statusCode, body, raw: res.body }
}

const routes: { name: string; method: Method; url: () => string; valid: () => Record<string, unknown> }[] = [
  { name: 'POST /customer', method: 'POST', url: () => '/customer', valid: () => ({ email: `fresh-${Date.now()}@example.com` }) },
  { name: 'PATCH /customer/:id', method: 'PATCH', url: () => `/customer/${customerId}`, valid: () => ({ firstName: 'Changed' }) },
  { name: 'POST /customer/:id/address', method: 'POST', url: () => `/customer/${customerId}/address`, valid: () => ({ line1: '2 Side St', city: 'Springfield', country: 'US' }) },
  { name: 'PATCH /customer/:id/address/:addressId', method: 'PATCH', url: () => `/customer/${customerId}/address/${addressId}`, valid: () => ({ city: 'Shelbyville' }) },
  { name: 'POST /customer/:id/group', method: 'POST', url: () => `/customer/${customerId}/group`, valid: () => ({ group: 'wholesale' }) },
]

describe.each(routes)('$name refuses bad bodies and changes nothing', (route) => {
  it('malformed JSON → 400 INVALID_JSON', async () => {
    const before = await snapshot()
    const valid = JSON.stringify(route.valid())
    for (const payload of [valid.slice(0, -1), `${valid} trailing`, "{'single': 'quotes'}", '{"a":1,}', '{"a":undefined}', 'not json', '\u0000', '{"a":"\\x41"}']) {
      expectError(await send(route.method, route.url(), payload), 400, 'INVALID_JSON')
    }
    expectError(await send(route.method, route.url(), ''), 400, 'INVALID_JSON')
    expect(await snapshot()).toEqual(before)
  })

  it('a body that is not an object → 400 VALIDATION_FAILED', async () => {
    const before = await snapshot()
    for (const payload of ['null', '[]', `[${JSON.stringify(route.valid())}]`, '"text"', '42', 'true']) {
      expectError(await send(route.method, route.url(), payload), 400, 'VALIDATION_FAILED')
    }
    expect(await snapshot()).toEqual(before)
  })

  it('an unknown field → 400 VALIDATION_FAILED naming it', async () => {
    const before = await snapshot()
    for (const field of ['nickname', 'id', 'createdAt', 'hasAccount', 'isAdmin']) {
      const res = await send(route.method, route.url(), JSON.stringify({ ...route.valid(), [field]: 'x' }))
      expectError(res, 400, 'VALIDATION_FAILED')
      expect(res.body.message).toContain(`"${field}"`)
    }
    expect(await snapshot()).toEqual(before)
  })

  it('prototype-polluting keys → 400', async () => {
    const before = await snapshot()
    const valid = JSON.stringify(route.valid()).slice(1)
    for (const payload of [`{"__proto__":{"isAdmin":true},${valid}`, `{"constructor":{"prototype":{"isAdmin":true}},${valid}`]) {
      const res = await send(route.method, route.url(), payload)
      expect(res.status, res.raw).toBe(400)
      expect(['INVALID_JSON', 'VALIDATION_FAILED']).toContain(res.body.code)
    }
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined()
    expect(await snapshot()).toEqual(before)
  })

  it('a body over 1 MiB → 413 BODY_TOO_LARGE', async () => {
    const before = await snapshot()
    const big = JSON.stringify({ ...route.valid(), padding: 'x'.repeat(1024 * 1024) })
    expectError(await send(route.method, route.url(), big), 413, 'BODY_TOO_LARGE')
    expect(await snapshot()).toEqual(before)
  })

  it('a body that is not JSON by its content type → 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const before = await snapshot()
    const json = JSON.stringify(route.valid())
    for (const type of ['text/plain', 'application/xml', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream', 'text/html']) {
      expectError(await send(route.method, route.url(), json, type), 415, 'UNSUPPORTED_MEDIA_TYPE')
    }
    expectError(await send(route.method, route.url(), json, null), 415, 'UNSUPPORTED_MEDIA_TYPE')
    expect(await snapshot()).toEqual(before)
  })

  it('JSON nested absurdly deep → 400, not a crash', async () => {
    const before = await snapshot()
    for (const depth of [40, 5000, 100_000]) {
      const deep = `${'['.repeat(depth)}${']'.repeat(depth)}`
      const payload = JSON.stringify(route.valid()).replace(/}$/, `,"deep":${deep}}`)
      expectError(await send(route.method, route.url(), payload), 400, 'VALIDATION_FAILED')
    }
    expect(await snapshot()).toEqual(before)
  })
})

describe('free-form metadata', () => {
  const nested = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`

  it('takes reasonably nested metadata', async () => {
    const created = await send('POST', '/customer', `{"email":"nested@example.com","metadata":{"x":${nested(20)}}}`)
    expect(created.status, created.raw).toBe(201)
    let node = created.body.metadata.x
    for (let i = 0; i < 20; i++) node = node.a
    expect(node).toBe(1)
  })

  it('refuses metadata nested absurdly deep with 400 on create and update, changing nothing', async () => {
    const before = await snapshot()
    for (const depth of [40, 5000, 100_000]) {
      expectError(await send('POST', '/customer', `{"email":"deep-${depth}@example.com","metadata":{"x":${nested(depth)}}}`), 400, 'VALIDATION_FAILED')
      expectError(await send('PATCH', `/customer/${customerId}`, `{"metadata":{"x":${nested(depth)}}}`), 400, 'VALIDATION_FAILED')
      expectError(await send('PATCH', `/customer/${customerId}`, `{"metadata":{"x":${'['.repeat(depth)}${']'.repeat(depth)}}}`), 400, 'VALIDATION_FAILED')
    }
    expect(await snapshot()).toEqual(before)
  })
})

describe('wrong types are refused, never coerced', () => {
  const cases: { route: string; method: Method; url: () => string; bodies: Record<string, unknown>[] }[] = [
    {
      route: 'POST /customer',
      method: 'POST',
      url: () => '/customer',
      bodies: [
        { email: 'types@example.com', firstName: 123 },
        { email: 'types@example.com', firstName: '' },
        { email: 'types@example.com', firstName: 'x'.repeat(201) },
        { email: 'types@example.com', firstName: { first: 'Jane' } },
        { email: 'types@example.com', lastName: ['Doe'] },
        { email: 'types@example.com', metadata: [] },
        { email: 'types@example.com', metadata: 'yes' },
        { email: 'types@example.com', metadata: null },
        { email: 'types@example.com', metadata: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, i])) },
        { email: 123 },
        { email: true },
        { email: ['types@example.com'] },
        { email: null, phone: '+12127365999' },
        { email: 'x'.repeat(250) + '@example.com' },
        { email: 'types@example.com', password: 12345678 },
        { email: 'types@example.com', password: 'x'.repeat(257) },
        { email: 'types@example.com', phone: 2127365999 },
        { email: 'types@example.com', currency: 'usd' },
        { email: 'types@example.com', currency: 'US' },
        { email: 'types@example.com', currency: 840 },
      ],
    },
    {
      route: 'PATCH /customer/:id',
      method: 'PATCH',
      url: () => `/customer/${customerId}`,
      bodies: [
        { firstName: 123 },
        { firstName: true },
        { metadata: [] },
        { metadata: null },
        { metadata: 'replace' },
        { email: null },
        { email: 42 },
        { phone: 2127365999 },
        { lastName: '' },
        { metadata: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, i])) },
      ],
    },
    {
      route: 'POST /customer/:id/address',
      method: 'POST',
      url: () => `/customer/${customerId}/address`,
      bodies: [
        { city: 'Springfield', country: 'US' },
        { line1: '2 Side St', country: 'US' },
        { line1: '2 Side St', city: 'Springfield' },
        { line1: '', city: 'Springfield', country: 'US' },
        { line1: 2, city: 'Springfield', country: 'US' },
        { line1: '2 Side St', city: 'Springfield', country: 'US', isDefault: 'true' },
        { line1: '2 Side St', city: 'Springfield', country: 'US', isDefault: 1 },
        { line1: '2 Side St', city: 'Springfield', country: 1 },
        { line1: '2 Side St', city: 'Springfield', country: 'USA' },
        { line1: '2 Side St', city: 'Springfield', country: 'US', postalCode: 12345 },
        { line1: '2 Side St', city: 'Springfield', country: 'US', postalCode: 'x'.repeat(21) },
      ],
    },
    {
      route: 'PATCH /customer/:id/address/:addressId',
      method: 'PATCH',
      url: () => `/customer/${customerId}/address/${addressId}`,
      bodies: [{ isDefault: 'false' }, { city: 7 }, { line1: null }, { city: null }, { country: null }, { label: 5 }],
    },
    {
      route: 'POST /customer/:id/group',
      method: 'POST',
      url: () => `/customer/${customerId}/group`,
      bodies: [{ group: 1 }, { group: null }, { group: ['vip'] }, { group: { name: 'vip' } }, {}],
    },
  ]

  for (const c of cases) {
    it(`${c.route}`, async () => {
      const before = await snapshot()
      for (const body of c.bodies) {
        const res = await send(c.method, c.url(), JSON.stringify(body))
        expect(res.status, `${JSON.stringify(body).slice(0, 100)} → ${res.raw}`).toBe(400)
        expect(res.body.code, JSON.stringify(body).slice(0, 100)).toBe('VALIDATION_FAILED')
      }
      expect(await snapshot()).toEqual(before)
    })
  }
})

describe('bad paths and methods', () => {
  it('answers unknown routes and methods with 404 ROUTE_NOT_FOUND in the one shape', async () => {
    const before = await snapshot()
    for (const [method, url] of [
      ['GET', '/customers'],
      ['PUT', `/customer/${customerId}`],
      ['POST', `/customer/${customerId}`],
      ['GET', `/customer/${customerId}/address`],
      ['PATCH', `/customer/${customerId}/group/vip`],
    ] as const) {
      const res = await hub.app.inject({ method, url, headers: { ...hub.admin, 'content-type': 'application/json' }, payload: '{}' })
      expect(res.statusCode, `${method} ${url}: ${res.body}`).toBe(404)
      expect(res.json()).toMatchObject({ statusCode: 404, code: 'ROUTE_NOT_FOUND' })
    }
    expect(await snapshot()).toEqual(before)
  })

  it('a DELETE with a JSON content type and no body still works or is refused cleanly', async () => {
    const res = await hub.app.inject({ method: 'DELETE', url: `/customer/${customerId}/group/never`, headers: { ...hub.admin, 'content-type': 'application/json' } })
    expect(res.statusCode, res.body).toBeLessThan(500)
    if (res.statusCode !== 200) expect(res.json().code).toBe('INVALID_JSON')
  })

  it('leaves the target customer as it was after all of the above', async () => {
    const res = await hub.app.inject({ method: 'GET', url: `/customer/${customerId}`, headers: hub.admin })
    expect(res.json()).toMatchObject({
      email: 'target@example.com',
      firstName: 'Target',
      phone: '+12127365000',
      metadata: { kept: true },
      groups: ['vip'],
      addresses: [{ id: addressId, city: 'Springfield', isDefault: true }],
    })
  })
})
