import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { sql } from 'kysely'
import type { InjectOptions } from 'fastify'
import type { Address, Customer, Session } from '@his-her/contract'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { bearer, expectError } from '../../test/helpers/requests.js'
import { sentToken } from '../../test/helpers/sent-tokens.js'

let hub: TestHub
let seq = 0
const password = 'correct horse battery'

beforeAll(async () => {
  hub = await createTestHub({ customer: { requireEmailVerification: false }, auth: { loginLimitPerEmail: 1000, loginLimitPerAddress: 1000 } })
})
afterAll(async () => {
  await hub?.close()
})

interface Account {
  customer: Customer
  email: string
  headers: Record<string, string>
}

async function account(): Promise<Account> {
  const email = `me${++seq}@example.com`
  const created = await hub.app.inject({ method: 'POST', url: '/customer', headers: hub.admin, payload: { email, password, firstName: 'Ada' } })
  expect(created.statusCode, created.body).toBe(201)
  const res = await hub.app.inject({ method: 'POST', url: '/auth/login', payload: { email, password } })
  expect(res.statusCode, res.body).toBe(200)
  return { customer: created.json<Customer>(), email, headers: bearer(res.json<Session>().accessToken) }
}

const address = { line1: '1 Main St', city: 'Springfield', country: 'US' }

/** The customer's row as stored (admin view) and how many events it has: to show that nothing changed. */
async function snapshot(id: string) {
  const read = await hub.app.inject({ method: 'GET', url: `/customer/${id}`, headers: hub.admin })
  expect(read.statusCode).toBe(200)
  const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM events WHERE customer_id = ${id}`.execute(hub.database.db)
  const row = await sql<Record<string, unknown>>`SELECT * FROM customers WHERE id = ${id}`.execute(hub.database.db)
  return { customer: read.json<Customer>(), events: rows[0]!.n, row: JSON.stringify(row.rows[0]) }
}

describe('/customer/me', () => {
  test('reads and changes the own record', async () => {
    const me = await account()
    const read = await hub.app.inject({ method: 'GET', url: '/customer/me', headers: me.headers })
    expect(read.statusCode, read.body).toBe(200)
    expect(read.json<Customer>()).toMatchObject({ id: me.customer.id, email: me.email, firstName: 'Ada', hasAccount: true, pending: { email: null, phone: null } })

    const patched = await hub.app.inject({ method: 'PATCH', url: '/customer/me', headers: me.headers, payload: { firstName: 'Grace', lastName: 'Hopper' } })
    expect(patched.statusCode, patched.body).toBe(200)
    expect(patched.json<Customer>()).toMatchObject({ id: me.customer.id, firstName: 'Grace', lastName: 'Hopper' })
    expect((await snapshot(me.customer.id)).customer.firstName).toBe('Grace')
  })

  test('a new email waits for its token and is verified by it', async () => {
    const me = await account()
    await sql`UPDATE customers SET email_verified = true WHERE id = ${me.customer.id}`.execute(hub.database.db)
    const moved = `moved${++seq}@example.com`
    const patched = await hub.app.inject({ method: 'PATCH', url: '/customer/me', headers: me.headers, payload: { email: moved, currentPassword: password } })
    expect(patched.statusCode, patched.body).toBe(200)
    expect(patched.json()).toMatchObject({ email: me.email, emailVerified: true, pending: { email: moved, phone: null } })
    const token = await sentToken(hub, me.customer.id, 'customer.email_change_requested')
    const verified = await hub.app.inject({ method: 'POST', url: '/auth/verify-email', payload: { token } })
    expect(verified.statusCode, verified.body).toBe(200)
    expect((await snapshot(me.customer.id)).customer).toMatchObject({ email: moved, emailVerified: true })
  })

  const forbiddenPatches: Record<string, unknown>[] = [
    { role: 'admin' },
    { hasAccount: false },
    { emailVerified: true },
    { totalSpent: 1_000_000 },
    { orderCount: 5 },
    { groups: ['vip'] },
    { metadata: { tier: 'gold' } },
    { id: 'cus_01AAAAAAAAAAAAAAAAAAAAAAAA' },
    { firstName: 'Eve', emailVerified: true },
    { password: 'a new password here' },
  ]
  for (const payload of forbiddenPatches) {
    test(`PATCH /customer/me with ${JSON.stringify(payload)} is 400 and changes nothing`, async () => {
      const me = await account()
      const before = await snapshot(me.customer.id)
      const res = await hub.app.inject({ method: 'PATCH', url: '/customer/me', headers: me.headers, payload })
      expectError(res, 400, 'VALIDATION_FAILED')
      const after = await snapshot(me.customer.id)
      expect(after).toEqual(before)
    })
  }

  test('an empty patch is 400 EMPTY_PATCH', async () => {
    const me = await account()
    expectError(await hub.app.inject({ method: 'PATCH', url: '/customer/me', headers: me.headers, payload: {} }), 400, 'EMPTY_PATCH')
  })

  test('identities and reward accounts of the own record', async () => {
    const me = await account()
    const identities = await hub.app.inject({ method: 'GET', url: '/customer/me/identities', headers: me.headers })
    expect(identities.statusCode, identities.body).toBe(200)
    const admins = await hub.app.inject({ method: 'GET', url: `/customer/${me.customer.id}/identities`, headers: hub.admin })
    expect(identities.json()).toEqual(admins.json())
    expect(identities.json<{ data: unknown[] }>().data.length).toBeGreaterThan(0)

    const rewards = await hub.app.inject({ method: 'GET', url: '/customer/me/reward-accounts', headers: me.headers })
    expect(rewards.statusCode, rewards.body).toBe(200)
    const adminRewards = await hub.app.inject({ method: 'GET', url: `/customer/${me.customer.id}/reward-accounts`, headers: hub.admin })
    expect(rewards.json()).toEqual(adminRewards.json())
  })
})

describe('/customer/me/address', () => {
  test('adds, changes and removes the own addresses', async () => {
    const me = await account()
    const added = await hub.app.inject({ method: 'POST', url: '/customer/me/address', headers: me.headers, payload: address })
    expect(added.statusCode, added.body).toBe(201)
    const a = added.json<Address>()
    expect(a).toMatchObject({ ...address, isDefault: true })

    const patched = await hub.app.inject({ method: 'PATCH', url: `/customer/me/address/${a.id}`, headers: me.headers, payload: { city: 'Shelbyville' } })
    expect(patched.statusCode, patched.body).toBe(200)
    expect(patched.json<Address>().city).toBe('Shelbyville')
    expect((await snapshot(me.customer.id)).customer.addresses.map((x) => x.city)).toEqual(['Shelbyville'])

    const removed = await hub.app.inject({ method: 'DELETE', url: `/customer/me/address/${a.id}`, headers: me.headers })
    expect(removed.statusCode, removed.body).toBe(200)
    expect(removed.json()).toEqual({ deleted: true, id: a.id })
    expect((await snapshot(me.customer.id)).customer.addresses).toEqual([])
  })

  test("another customer's address is 404 ADDRESS_NOT_FOUND and stays as it was", async () => {
    const me = await account()
    const other = await account()
    const theirs = await hub.app.inject({ method: 'POST', url: '/customer/me/address', headers: other.headers, payload: address })
    expect(theirs.statusCode).toBe(201)
    const id = theirs.json<Address>().id
    const before = await snapshot(other.customer.id)

    expectError(await hub.app.inject({ method: 'PATCH', url: `/customer/me/address/${id}`, headers: me.headers, payload: { city: 'Stolen' } }), 404, 'ADDRESS_NOT_FOUND')
    expectError(await hub.app.inject({ method: 'DELETE', url: `/customer/me/address/${id}`, headers: me.headers }), 404, 'ADDRESS_NOT_FOUND')
    expect(await snapshot(other.customer.id)).toEqual(before)
    expect((await snapshot(me.customer.id)).customer.addresses).toEqual([])
  })
})

describe('what a customer token may not do', () => {
  test('every route outside /customer/me answers 403 and changes nothing', async () => {
    const me = await account()
    const other = await account()
    const before = [await snapshot(me.customer.id), await snapshot(other.customer.id)]
    const requests: InjectOptions[] = []
    for (const id of [me.customer.id, other.customer.id]) {
      requests.push(
        { method: 'GET', url: `/customer/${id}` },
        { method: 'PATCH', url: `/customer/${id}`, payload: { firstName: 'Mallory' } },
        { method: 'DELETE', url: `/customer/${id}` },
        { method: 'POST', url: `/customer/${id}/address`, payload: address },
        { method: 'POST', url: `/customer/${id}/group`, payload: { group: 'vip' } },
        { method: 'DELETE', url: `/customer/${id}/group/vip` },
        { method: 'GET', url: `/customer/${id}/identities` },
        { method: 'POST', url: `/customer/${id}/identities`, payload: { kind: 'email', value: `x${++seq}@example.com` } },
        { method: 'GET', url: `/customer/${id}/reward-accounts` },
        { method: 'POST', url: `/customer/${id}/reward-accounts`, payload: { ledger: 'reward-points' } },
      )
    }
    requests.push(
      { method: 'GET', url: '/customer' },
      { method: 'POST', url: '/customer', payload: { email: `new${++seq}@example.com`, password } },
      { method: 'GET', url: `/customer/lookup?email=${encodeURIComponent(other.email)}` },
      { method: 'POST', url: '/customer/sync', payload: { platform: 'shop', email: me.email } },
      { method: 'GET', url: '/events' },
      { method: 'GET', url: '/tokens' },
      { method: 'POST', url: '/tokens', payload: { name: `mine${++seq}`, role: 'admin' } },
      { method: 'DELETE', url: '/tokens/admin' },
      { method: 'POST', url: '/orders', payload: { platform: 'shop', externalId: `o${++seq}`, customerId: me.customer.id, total: 100, currency: 'USD', placedAt: new Date().toISOString() } },
      { method: 'POST', url: `/customer/${other.customer.id}/merge`, payload: { sourceId: me.customer.id } },
      { method: 'GET', url: '/merges/mrg_01AAAAAAAAAAAAAAAAAAAAAAAA' },
      { method: 'POST', url: '/merges/mrg_01AAAAAAAAAAAAAAAAAAAAAAAA/undo' },
      { method: 'POST', url: '/keys/rotate' },
      { method: 'GET', url: '/service-accounts' },
      { method: 'POST', url: '/service-accounts', payload: { handle: `evil${++seq}`, password, roleId: 'r', organizationId: 'o' } },
    )
    for (const request of requests) {
      const res = await hub.app.inject({ ...request, headers: me.headers })
      expect(res.statusCode, `${request.method} ${request.url}: ${res.body}`).toBe(403)
      expect(res.json()).toMatchObject({ statusCode: 403, code: 'FORBIDDEN' })
    }
    expect([await snapshot(me.customer.id), await snapshot(other.customer.id)]).toEqual(before)
    const { rows } = await sql<{ n: number }>`SELECT (SELECT count(*) FROM orders)::int + (SELECT count(*) FROM merges)::int + (SELECT count(*) FROM service_accounts)::int AS n`.execute(hub.database.db)
    expect(rows[0]!.n).toBe(0)
  })

  test('API tokens and no token may not use /customer/me', async () => {
    for (const headers of [hub.admin, await hub.platform()]) {
      expectError(await hub.app.inject({ method: 'GET', url: '/customer/me', headers }), 403, 'FORBIDDEN')
      expectError(await hub.app.inject({ method: 'POST', url: '/customer/me/address', headers, payload: address }), 403, 'FORBIDDEN')
    }
    expectError(await hub.app.inject({ method: 'GET', url: '/customer/me' }), 401, 'UNAUTHORIZED')
  })

  test('a token of a customer deleted since reads 404 CUSTOMER_NOT_FOUND', async () => {
    const me = await account()
    expect((await hub.app.inject({ method: 'DELETE', url: `/customer/${me.customer.id}`, headers: hub.admin })).statusCode).toBe(200)
    expectError(await hub.app.inject({ method: 'GET', url: '/customer/me', headers: me.headers }), 404, 'CUSTOMER_NOT_FOUND')
    expectError(await hub.app.inject({ method: 'PATCH', url: '/customer/me', headers: me.headers, payload: { firstName: 'Ghost' } }), 404, 'CUSTOMER_NOT_FOUND')
  })
})
