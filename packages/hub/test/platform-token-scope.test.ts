import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'kysely'
import type { CreatedToken } from '@his-her/contract'
import { createTestHub, type TestHub } from './helpers/test-hub.js'
import { bearer, client, expectError, unique, type Call } from './helpers/requests.js'

// Two stores share one hub. Store A's token names A's identity component and A's platform name;
// whatever it sends, it may not write into store B's namespace or report orders as store B.
const A = { component: 'identity.store-a', platform: 'store-a' }
const B = { component: 'identity.store-b', platform: 'store-b' }

let hub: TestHub
let call: Call
let storeA: Record<string, string>

async function createToken(payload: Record<string, unknown>): Promise<CreatedToken> {
  const res = await call('POST', '/tokens', payload)
  expect(res.status, res.raw).toBe(201)
  return res.body
}

/** Row counts of everything a sync, a link or an order report writes, and the last event's position. */
async function snapshot() {
  const { rows } = await sql<{ customers: number; identities: number; orders: number; cancelled: number; events: number; transactions: number }>`
    SELECT (SELECT count(*)::int FROM customers) AS customers,
           (SELECT count(*)::int FROM identities) AS identities,
           (SELECT count(*)::int FROM orders) AS orders,
           (SELECT count(*)::int FROM orders WHERE cancelled_at IS NOT NULL) AS cancelled,
           (SELECT count(*)::int FROM events) AS events,
           (SELECT count(*)::int FROM ledger_transactions) AS transactions`.execute(hub.database.db)
  return rows[0]!
}

async function newCustomer(): Promise<{ id: string; email: string }> {
  const res = await call('POST', '/customer', { email: `${unique('buyer')}@example.com`, currency: 'USD' })
  expect(res.status, res.raw).toBe(201)
  return res.body
}

const order = (customerId: string, platform: string, fields: Record<string, unknown> = {}) => ({
  platform,
  externalId: unique('order'),
  customerId,
  total: 2500,
  currency: 'USD',
  placedAt: '2026-01-05T10:00:00.000Z',
  ...fields,
})

beforeAll(async () => {
  hub = await createTestHub()
  call = client(hub)
  const created = await createToken({ name: 'store-a', role: 'platform', components: [A.component], platforms: [A.platform] })
  storeA = bearer(created.token)
})
afterAll(async () => hub?.close())

describe('a token bound to store A, naming store B', () => {
  it('a sync in B’s namespace is 403 PLATFORM_SCOPE and creates, links and joins nothing', async () => {
    const email = `${unique('victim')}@example.com`
    // B knows this person; A's token tries to attach its own record to B's id and email
    const known = await call('POST', '/customer/sync', { platform: { component: B.component, externalId: 'b-100' }, email })
    expect(known.status, known.raw).toBe(201)
    const before = await snapshot()
    for (const body of [
      { platform: { component: B.component, externalId: 'b-100' }, email: `${unique('attacker')}@example.com` },
      { platform: { component: B.component, externalId: 'b-new' }, email },
      { platform: { component: B.component }, email }, // no id at all: the sync still speaks as B
    ]) {
      const res = await call('POST', '/customer/sync', body, storeA)
      expectError(res, 403, 'PLATFORM_SCOPE')
      expect(res.body.message).toContain(B.component)
    }
    expect(await snapshot()).toEqual(before)
    const identities = await call('GET', `/customer/${known.body.customer.id}/identities`)
    expect(identities.body.data.map((i: { namespace: string; value: string }) => `${i.namespace}:${i.value}`).sort()).toEqual([`:${email}`, `${B.component}:b-100`])
  })

  it('linking an identity in B’s namespace is 403 PLATFORM_SCOPE and links nothing', async () => {
    const customer = await newCustomer()
    const before = await snapshot()
    const res = await call('POST', `/customer/${customer.id}/identities`, { kind: 'platform', namespace: B.component, value: 'b-200' }, storeA)
    expectError(res, 403, 'PLATFORM_SCOPE')
    expect(await snapshot()).toEqual(before)
    // the id stays free for B
    const linked = await call('POST', `/customer/${customer.id}/identities`, { kind: 'platform', namespace: B.component, value: 'b-200' })
    expect(linked.status, linked.raw).toBe(201)
  })

  it('unlinking an identity of B’s namespace is 403 PLATFORM_SCOPE and the identity stays', async () => {
    const synced = await call('POST', '/customer/sync', { platform: { component: B.component, externalId: unique('b') } })
    expect(synced.status, synced.raw).toBe(201)
    const identity = synced.body.linked[0]
    const before = await snapshot()
    expectError(await call('DELETE', `/customer/${synced.body.customer.id}/identities/${identity.id}`, undefined, storeA), 403, 'PLATFORM_SCOPE')
    expect(await snapshot()).toEqual(before)
    expect((await call('GET', `/customer/${synced.body.customer.id}/identities`)).body.data).toEqual([identity])
  })

  it('looking a customer up by B’s platform id is 403 PLATFORM_SCOPE', async () => {
    const externalId = unique('b')
    expect((await call('POST', '/customer/sync', { platform: { component: B.component, externalId } })).status).toBe(201)
    expectError(await call('GET', `/customer/lookup?component=${B.component}&externalId=${externalId}`, undefined, storeA), 403, 'PLATFORM_SCOPE')
  })

  it('reporting an order as B is 403 PLATFORM_SCOPE: no order, totals and points unchanged', async () => {
    const customer = await newCustomer()
    const before = await snapshot()
    const res = await call('POST', '/orders', order(customer.id, B.platform, { total: 999_999 }), storeA)
    expectError(res, 403, 'PLATFORM_SCOPE')
    expect(res.body.message).toContain(B.platform)
    expect(await snapshot()).toEqual(before)
    expect((await call('GET', `/customer/${customer.id}`)).body).toMatchObject({ orderCount: 0, totalSpent: 0 })
  })

  it('correcting or cancelling B’s order is 403 PLATFORM_SCOPE and the order stands', async () => {
    const customer = await newCustomer()
    const reported = order(customer.id, B.platform)
    expect((await call('POST', '/orders', reported)).status).toBe(201)
    const before = await snapshot()
    expectError(await call('POST', '/orders', { ...reported, total: 1 }, storeA), 403, 'PLATFORM_SCOPE')
    expectError(await call('POST', '/orders/cancel', { platform: B.platform, externalId: reported.externalId }, storeA), 403, 'PLATFORM_SCOPE')
    expect(await snapshot()).toEqual(before)
    expect((await call('GET', `/customer/${customer.id}`)).body).toMatchObject({ orderCount: 1, totalSpent: 2500 })
  })

  it('a refusal is kept for its Idempotency-Key like any 4xx, and the key does not open the door later', async () => {
    const customer = await newCustomer()
    const key = unique('key')
    const headers = { ...storeA, 'idempotency-key': key }
    const body = { kind: 'platform', namespace: B.component, value: unique('b') }
    expectError(await call('POST', `/customer/${customer.id}/identities`, body, headers), 403, 'PLATFORM_SCOPE')
    expectError(await call('POST', `/customer/${customer.id}/identities`, body, headers), 403, 'PLATFORM_SCOPE')
    expect((await call('GET', `/customer/${customer.id}/identities`)).body.data.filter((i: { kind: string }) => i.kind === 'platform')).toEqual([])
  })
})

describe('a platform token made without naming a scope', () => {
  it('is bound to nothing: it registers customers, but a sync, a link or an order under any name is 403 PLATFORM_SCOPE', async () => {
    const created = await createToken({ name: unique('plain'), role: 'platform' })
    expect(created).toMatchObject({ role: 'platform', components: [], platforms: [] })
    const plain = bearer(created.token)
    const customer = await call('POST', '/customer', { email: `${unique('plain')}@example.com` }, plain)
    expect(customer.status, customer.raw).toBe(201)
    const before = await snapshot()
    expectError(await call('POST', '/customer/sync', { platform: { component: B.component, externalId: unique('b') } }, plain), 403, 'PLATFORM_SCOPE')
    expectError(await call('POST', `/customer/${customer.body.id}/identities`, { kind: 'platform', namespace: A.component, value: unique('a') }, plain), 403, 'PLATFORM_SCOPE')
    expectError(await call('POST', '/orders', order(customer.body.id, A.platform), plain), 403, 'PLATFORM_SCOPE')
    expect(await snapshot()).toEqual(before)
  })
})

describe('a token bound to store A, in its own scope', () => {
  it('syncs, links, unlinks, looks up and reports and cancels orders as A', async () => {
    const externalId = unique('a')
    const synced = await call('POST', '/customer/sync', { platform: { component: A.component, externalId }, email: `${unique('own')}@example.com` }, storeA)
    expect(synced.status, synced.raw).toBe(201)
    const id = synced.body.customer.id
    const lookup = await call('GET', `/customer/lookup?component=${A.component}&externalId=${externalId}`, undefined, storeA)
    expect(lookup.status, lookup.raw).toBe(200)
    expect(lookup.body).toMatchObject({ customer: { id }, matchedBy: 'platform' })
    // email and phone are nobody's namespace: a bound token links and looks them up
    const phone = await call('POST', `/customer/${id}/identities`, { kind: 'phone', value: '+14155550123' }, storeA)
    expect(phone.status, phone.raw).toBe(201)
    expect((await call('GET', `/customer/lookup?email=${synced.body.customer.email}`, undefined, storeA)).status).toBe(200)
    const second = await call('POST', `/customer/${id}/identities`, { kind: 'platform', namespace: A.component, value: unique('a2') }, storeA)
    expect(second.status, second.raw).toBe(201)
    expect((await call('DELETE', `/customer/${id}/identities/${second.body.id}`, undefined, storeA)).status).toBe(200)
    expect((await call('DELETE', `/customer/${id}/identities/${phone.body.id}`, undefined, storeA)).status).toBe(200)

    const reported = order(id, A.platform)
    const recorded = await call('POST', '/orders', reported, storeA)
    expect(recorded.status, recorded.raw).toBe(201)
    expect(recorded.body).toMatchObject({ platform: A.platform, outcome: 'recorded', orderCount: 1, totalSpent: 2500 })
    const cancelled = await call('POST', '/orders/cancel', { platform: A.platform, externalId: reported.externalId }, storeA)
    expect(cancelled.status, cancelled.raw).toBe(200)
    expect(cancelled.body).toMatchObject({ outcome: 'cancelled', orderCount: 0, totalSpent: 0 })
  })

  it('a sync that matches a customer B knows, by email, links A’s id to it', async () => {
    const email = `${unique('shared')}@example.com`
    const fromB = await call('POST', '/customer/sync', { platform: { component: B.component, externalId: unique('b') }, email })
    const fromA = await call('POST', '/customer/sync', { platform: { component: A.component, externalId: unique('a') }, email }, storeA)
    expect(fromA.status, fromA.raw).toBe(200)
    expect(fromA.body).toMatchObject({ documentId: fromB.body.customer.id, matchedBy: 'email' })
  })

  it('a token bound to several components and platforms acts for each of them', async () => {
    const both = bearer((await createToken({ name: unique('both'), role: 'platform', components: [A.component, B.component], platforms: [A.platform, B.platform] })).token)
    const customer = await newCustomer()
    for (const scope of [A, B]) {
      expect((await call('POST', '/customer/sync', { platform: { component: scope.component, externalId: unique('x') } }, both)).status).toBe(201)
      expect((await call('POST', '/orders', order(customer.id, scope.platform), both)).status).toBe(201)
    }
    expectError(await call('POST', '/orders', order(customer.id, 'store-c'), both), 403, 'PLATFORM_SCOPE')
  })
})

describe('who acts for every platform', () => {
  it('an admin token syncs, links and reports orders under any name', async () => {
    const customer = await newCustomer()
    for (const scope of [A, B, { component: 'identity.store-c', platform: 'store-c' }]) {
      expect((await call('POST', '/customer/sync', { platform: { component: scope.component, externalId: unique('x') } })).status).toBe(201)
      expect((await call('POST', `/customer/${customer.id}/identities`, { kind: 'platform', namespace: scope.component, value: unique('x') })).status).toBe(201)
      expect((await call('POST', '/orders', order(customer.id, scope.platform))).status).toBe(201)
    }
  })

  it('a platform token made before tokens had scopes stays unbound (listed with null scopes) and acts for every name', async () => {
    const legacy = await hub.platform() // a row as a database made before scopes holds it
    const customer = await newCustomer()
    expect((await call('POST', '/customer/sync', { platform: { component: B.component, externalId: unique('b') } }, legacy)).status).toBe(201)
    expect((await call('POST', '/orders', order(customer.id, B.platform), legacy)).status).toBe(201)
    const listed = (await call('GET', '/tokens')).body.data as { name: string; role: string; components: string[] | null; platforms: string[] | null }[]
    const unbound = listed.filter((t) => t.role === 'platform' && t.components === null)
    expect(unbound).toHaveLength(1)
    expect(unbound[0]!.platforms).toBeNull()
    expect(listed.find((t) => t.name === 'store-a')).toMatchObject({ components: [A.component], platforms: [A.platform] })
  })
})

describe('making a bound token', () => {
  it('answers and lists the scope; duplicates collapse, order is kept', async () => {
    const created = await createToken({ name: unique('dup'), role: 'platform', components: [B.component, A.component, B.component], platforms: [A.platform, A.platform] })
    expect(created).toMatchObject({ components: [B.component, A.component], platforms: [A.platform] })
    const listed = (await call('GET', '/tokens')).body.data.find((t: { name: string }) => t.name === created.name)
    expect(listed).toEqual({ id: created.id, name: created.name, role: 'platform', components: [B.component, A.component], platforms: [A.platform], createdAt: created.createdAt, lastUsedAt: null })
    const admin = (await call('GET', '/tokens')).body.data.find((t: { role: string }) => t.role === 'admin')
    expect(admin ?? { components: null, platforms: null }).toMatchObject({ components: null, platforms: null })
  })

  it('refuses a scope on an admin token (400 TOKEN_SCOPE_INVALID) and malformed names (400 VALIDATION_FAILED), making no token', async () => {
    const name = unique('bad')
    expectError(await call('POST', '/tokens', { name, role: 'admin', components: [A.component] }), 400, 'TOKEN_SCOPE_INVALID')
    expectError(await call('POST', '/tokens', { name, role: 'admin', platforms: [] }), 400, 'TOKEN_SCOPE_INVALID')
    for (const scope of [{ components: ['Not A Component'] }, { platforms: ['UPPER'] }, { components: 'identity.store-a' }, { platforms: [''] }, { components: Array.from({ length: 101 }, (_, i) => `c${i}`) }]) {
      expectError(await call('POST', '/tokens', { name, role: 'platform', ...scope }), 400, 'VALIDATION_FAILED')
    }
    expect((await call('GET', '/tokens')).body.data.map((t: { name: string }) => t.name)).not.toContain(name)
  })

  it('the database refuses a scope on an admin token and half a scope', async () => {
    for (const values of [sql`('tok_x1', 'x1', 'admin', 'h1', '{}', '{}')`, sql`('tok_x2', 'x2', 'platform', 'h2', '{a}', NULL)`, sql`('tok_x3', 'x3', 'platform', 'h3', NULL, '{}')`]) {
      await expect(sql`INSERT INTO api_tokens (id, name, role, token_hash, components, platforms) VALUES ${values}`.execute(hub.database.db)).rejects.toThrow(/api_tokens_scope/)
    }
  })
})
