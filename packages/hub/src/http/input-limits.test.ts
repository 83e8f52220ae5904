import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'kysely'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { toErrorBody } from './error-handler.js'

// PostgreSQL cannot store U+0000 in text or jsonb: a NUL anywhere in a request used to reach the
// database and come back as 500. It is refused as 400 before anything runs.
describe('a NUL character (U+0000) in a request', () => {
  let hub: TestHub
  const inject = async (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object, headers = hub.admin) => {
    const res = await hub.app.inject({ method, url, headers, ...(payload ? { payload } : {}) })
    return { status: res.statusCode, body: res.json() }
  }
  const counts = async () =>
    (await sql<{ customers: string; events: string }>`SELECT (SELECT count(*) FROM customers) AS customers, (SELECT count(*) FROM events) AS events`.execute(hub.database.db)).rows[0]

  beforeAll(async () => {
    hub = await createTestHub()
  })
  afterAll(() => hub.close())

  it('is 400 VALIDATION_FAILED naming where it sits, and changes nothing, wherever it is', async () => {
    const before = await counts()
    const customer = (await inject('POST', '/customer', { email: 'nul-owner@example.com' })).body
    const cases: [string, () => Promise<{ status: number; body: any }>, string][] = [
      ['a login email', () => inject('POST', '/auth/login', { email: 'a\u0000@example.com', password: 'whatever-it-is' }, {}), 'body/email'],
      ['a guest email', () => inject('POST', '/customer', { email: 'nul\u0000@example.com' }), 'body/email'],
      ['a name', () => inject('PATCH', `/customer/${customer.id}`, { firstName: 'Ja\u0000ne' }), 'body/firstName'],
      ['a metadata value', () => inject('PATCH', `/customer/${customer.id}`, { metadata: { note: ['ok', 'x\u0000'] } }), 'body/metadata/note/1'],
      ['a metadata key', () => inject('PATCH', `/customer/${customer.id}`, { metadata: { 'k\u0000': 1 } }), 'body/metadata/k\\u0000'],
      ['a sync platform id', () => inject('POST', '/customer/sync', { platform: { component: 'identity.store', externalId: 'c\u0000' } }), 'body/platform/externalId'],
      ['a query string', () => inject('GET', '/customer/lookup?email=a%00%40example.com'), 'query/email'],
      ['a path', () => inject('GET', '/customer/cus_%00'), 'params/id'],
    ]
    for (const [what, send, path] of cases) {
      const res = await send()
      expect(res.status, what).toBe(400)
      expect(res.body.code, what).toBe('VALIDATION_FAILED')
      expect(res.body.message, what).toContain(`${path} contains a NUL character`)
    }
    const after = await counts()
    expect(Number(after!.customers)).toBe(Number(before!.customers) + 1)
    expect((await inject('GET', `/customer/${customer.id}`)).body).toMatchObject({ firstName: null, metadata: {} })
  })

  it('an unpaired surrogate (a "\\ud800" escape in JSON) is refused like NUL, where a pair (an emoji) is kept', async () => {
    // JSON columns refused it with 500 (22P02), text columns kept U+FFFD in its place
    const before = await counts()
    const customer = (await inject('POST', '/customer', { email: 'pair@example.com', firstName: 'Ann 😀', metadata: { '👩‍👩‍👧': 'ok' } })).body
    expect(customer).toMatchObject({ firstName: 'Ann 😀', metadata: { '👩‍👩‍👧': 'ok' } })
    const cases: [string, () => Promise<{ status: number; body: any }>, string][] = [
      ['a metadata key', () => inject('POST', '/customer', { email: 'lone-1@example.com', metadata: { 'k\udb12': 1 } }), 'body/metadata/k\\udb12'],
      ['a name', () => inject('PATCH', `/customer/${customer.id}`, { firstName: 'x\udcf4' }), 'body/firstName'],
      ['a sync name', () => inject('POST', '/customer/sync', { email: 'lone-2@example.com', firstName: '\ud800' }), 'body/firstName'],
      ['an order id', () => inject('POST', '/orders', { platform: 'shop', externalId: 'ß\udbffs', customerId: customer.id, total: 100, currency: 'THB', placedAt: '2024-01-01T00:00:00Z' }), 'body/externalId'],
    ]
    for (const [what, send, path] of cases) {
      const res = await send()
      expect(res.status, what).toBe(400)
      expect(res.body.code, what).toBe('VALIDATION_FAILED')
      expect(res.body.message, what).toContain(`${path} contains an unpaired surrogate`)
    }
    const after = await counts()
    expect(after).toEqual({ customers: String(Number(before!.customers) + 1), events: after!.events })
    expect((await inject('GET', `/customer/${customer.id}`)).body).toMatchObject({ firstName: 'Ann 😀' })
  })

  it('is ignored in the query string of a route that reads none, like any other parameter it does not read', async () => {
    // such a route declares no VALIDATION_FAILED: the NUL never reaches anything
    for (const url of ['/health?x=%00', '/openapi.json?%00=1', '/auth/session?note=a%00b', '/channels?%00']) {
      const res = await inject('GET', url)
      expect(res.status, url).toBe(200)
    }
    expect(hub.undeclared).toEqual([])
  })

  it('is answered 400, not 500, should PostgreSQL refuse a character anyway (22021, 22P05)', () => {
    for (const code of ['22021', '22P05']) {
      const answer = toErrorBody(Object.assign(new Error('invalid byte sequence'), { code }))
      expect(answer).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED' })
    }
  })
})

// The 50-key limit of the schema held for one patch only: patches added up without bound.
describe("a customer's metadata, merged", () => {
  let hub: TestHub
  beforeAll(async () => {
    hub = await createTestHub()
  })
  afterAll(() => hub.close())

  const keys = (from: number, count: number, value: unknown = 1) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${from + i}`, value]))

  it('holds at most 50 keys and 16 KiB after merging, through PATCH and sync alike; a refused patch changes nothing', async () => {
    const created = await hub.app.inject({ method: 'POST', url: '/customer', headers: hub.admin, payload: { email: 'meta-bounds@example.com', metadata: keys(0, 40) } })
    const id = created.json().id
    const patch = (metadata: object) => hub.app.inject({ method: 'PATCH', url: `/customer/${id}`, headers: hub.admin, payload: { metadata } })
    const refused = await patch(keys(40, 11))
    expect(refused.statusCode).toBe(422)
    expect(refused.json()).toMatchObject({ code: 'METADATA_TOO_LARGE', details: { keys: 51, maxKeys: 50 } })
    expect(Object.keys((await hub.app.inject({ method: 'GET', url: `/customer/${id}`, headers: hub.admin })).json().metadata)).toHaveLength(40)

    // removing keys in the same patch makes room
    expect((await patch({ ...keys(40, 11), k0: null, k1: null })).statusCode).toBe(200)
    const sync = await hub.app.inject({ method: 'POST', url: '/customer/sync', headers: hub.admin, payload: { platform: { component: 'identity.store' }, email: 'meta-bounds@example.com', metadata: keys(100, 5) } })
    expect(sync.json()).toMatchObject({ code: 'METADATA_TOO_LARGE' })

    const big = 'x'.repeat(4000)
    const other = await hub.app.inject({ method: 'POST', url: '/customer', headers: hub.admin, payload: { email: 'meta-bytes@example.com', metadata: { a: big, b: big, c: big } } })
    expect(other.statusCode).toBe(201)
    const tooBig = await hub.app.inject({ method: 'PATCH', url: `/customer/${other.json().id}`, headers: hub.admin, payload: { metadata: { d: big, e: big } } })
    expect(tooBig.statusCode).toBe(422)
    expect(tooBig.json().details.bytes).toBeGreaterThan(16 * 1024)
    const fresh = await hub.app.inject({ method: 'POST', url: '/customer', headers: hub.admin, payload: { email: 'meta-big@example.com', metadata: { a: big, b: big, c: big, d: big, e: big } } })
    expect(fresh.json()).toMatchObject({ code: 'METADATA_TOO_LARGE' })
  })
})
