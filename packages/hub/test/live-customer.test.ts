import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { routes, type RouteSpec } from '@his-her/contract'
import { newId } from '../src/ids.js'
import { createTestHub, type TestHub } from './helpers/test-hub.js'
import { bearer, client, expectError, unique, type Call } from './helpers/requests.js'

let hub: TestHub
let call: Call

const table = routes as Record<string, RouteSpec>
/** The routes that name a customer in their path, and a request to each that would succeed for a live customer. */
const named = Object.entries(table).filter(([, r]) => r.path.startsWith('/customer/:id'))
const samples: Record<string, { params?: Record<string, string>; body?: unknown }> = {
  getCustomer: {},
  updateCustomer: { body: { firstName: 'Changed' } },
  deleteCustomer: {},
  addAddress: { body: { line1: '1 Main St', city: 'Austin', country: 'US' } },
  updateAddress: { params: { addressId: newId('addr') }, body: { city: 'Dallas' } },
  removeAddress: { params: { addressId: newId('addr') } },
  addToGroup: { body: { group: 'vip' } },
  removeFromGroup: { params: { group: 'vip' } },
  listIdentities: {},
  customerHistory: {},
  linkIdentity: { body: { kind: 'email', value: 'linked-to-nobody@example.com' } },
  unlinkIdentity: { params: { identityId: newId('idn') } },
  listRewardAccounts: {},
  listCustomerOrders: {},
  ensureRewardAccount: { body: { ledger: 'reward-points' } },
  exportCustomer: {},
  eraseCustomer: {},
  mergeCustomers: { body: {} }, // sourceId filled in below
}

function url(route: RouteSpec, id: string, params: Record<string, string> = {}): string {
  return route.path.replace(/:([A-Za-z]+)/g, (_, name: string) => encodeURIComponent(name === 'id' ? id : params[name]!))
}

beforeAll(async () => {
  hub = await createTestHub({ customer: { requireEmailVerification: false } })
  call = client(hub)
})
afterAll(async () => hub?.close())

describe('one rule of "live" on every route that names a customer', () => {
  let target: string
  let merged: string
  let deleted: string
  let other: string

  beforeAll(async () => {
    const make = async () => (await call('POST', '/customer', { email: `${unique('live')}@example.com` })).body.id as string
    ;[target, merged, deleted, other] = [await make(), await make(), await make(), await make()]
    expect((await call('POST', `/customer/${target}/merge`, { sourceId: merged })).status).toBe(200)
    expect((await call('DELETE', `/customer/${deleted}`)).status).toBe(200)
  })

  it('has a request for each such route of the table (a new one must be added here)', () => {
    expect(named.length).toBeGreaterThan(10)
    for (const [id] of named) expect(samples, id).toHaveProperty(id)
  })

  it('a merged customer answers 410 CUSTOMER_MERGED naming where it went', async () => {
    for (const [id, route] of named) {
      const sample = samples[id]!
      const body = id === 'mergeCustomers' ? { sourceId: other } : sample.body
      const res = await call(route.method, url(route, merged, sample.params), body)
      expectError(res, 410, 'CUSTOMER_MERGED')
      expect(res.body.details, id).toEqual({ mergedInto: target })
    }
    const order = { platform: 'shop', externalId: unique('order'), customerId: merged, total: 100, currency: 'USD', placedAt: new Date().toISOString() }
    const res = await call('POST', '/orders', order)
    expectError(res, 410, 'CUSTOMER_MERGED')
    expect(res.body.details).toEqual({ mergedInto: target })
  })

  it('a deleted customer, an unknown id and an id of the wrong shape all answer 404 CUSTOMER_NOT_FOUND', async () => {
    for (const missing of [deleted, newId('cus'), 'nope', 'cus_1', 'addr_01JDA9Q3C7M2ZK8V4T6N1R5XWE']) {
      for (const [id, route] of named) {
        // a deleted customer can still be erased (erase-person.test.ts): its row holds its personal fields
        if (id === 'eraseCustomer' && missing === deleted) continue
        const sample = samples[id]!
        const body = id === 'mergeCustomers' ? { sourceId: other } : sample.body
        expectError(await call(route.method, url(route, missing, sample.params), body), 404, 'CUSTOMER_NOT_FOUND')
      }
    }
  })

  it('an erased customer answers 410 CUSTOMER_ERASED, and erasing it again answers as the first time', async () => {
    const erased = (await call('POST', '/customer', { email: `${unique('erased')}@example.com` })).body.id as string
    const first = await call('POST', `/customer/${erased}/erase`)
    expect(first.status, first.raw).toBe(200)
    for (const [id, route] of named) {
      const sample = samples[id]!
      const body = id === 'mergeCustomers' ? { sourceId: other } : sample.body
      const res = await call(route.method, url(route, erased, sample.params), body)
      if (id === 'eraseCustomer') expect(res.body, id).toEqual(first.body)
      else expectError(res, 410, 'CUSTOMER_ERASED')
    }
    const order = { platform: 'shop', externalId: unique('order'), customerId: erased, total: 100, currency: 'USD', placedAt: new Date().toISOString() }
    expectError(await call('POST', '/orders', order), 410, 'CUSTOMER_ERASED')
  })

  it('the /customer/me routes answer the same to a customer whose record was merged or deleted after it logged in', async () => {
    const password = 'a long enough password'
    const session = async (email: string) => (await call('POST', '/auth/login', { email, password }, {})).body.accessToken as string
    const a = `${unique('me-merged')}@example.com`
    const b = `${unique('me-deleted')}@example.com`
    const aId = (await call('POST', '/customer', { email: a, password })).body.id
    const bId = (await call('POST', '/customer', { email: b, password })).body.id
    const [aToken, bToken] = [await session(a), await session(b)]
    expect((await call('POST', `/customer/${other}/merge`, { sourceId: aId })).status).toBe(200)
    expect((await call('DELETE', `/customer/${bId}`)).status).toBe(200)
    const me = Object.entries(table).filter(([, r]) => r.path.startsWith('/customer/me') && r.access !== 'public')
    expect(me.length).toBeGreaterThan(5)
    const meBody: Record<string, unknown> = {
      updateMe: { firstName: 'X' },
      addMyAddress: { line1: '1 Main St', city: 'Austin', country: 'US' },
      updateMyAddress: { city: 'Dallas' },
    }
    for (const [id, route] of me) {
      const path = route.path.replace(':addressId', newId('addr'))
      const gone = await call(route.method, path, meBody[id], bearer(aToken))
      expectError(gone, 410, 'CUSTOMER_MERGED')
      expect(gone.body.details, id).toEqual({ mergedInto: other })
      expectError(await call(route.method, path, meBody[id], bearer(bToken)), 404, 'CUSTOMER_NOT_FOUND')
    }
  })
})
