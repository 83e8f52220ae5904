import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { createCommerceClient, HubApiError, isHubApiError, type CommerceClient, type CustomerInput, type CustomerMePatch, type ServiceAccount } from './index.js'
import { closedPort, startListeningHub, type ListeningHub } from '../test/helpers/listening-hub.js'
import { failure } from '../test/helpers/failure.js'

const missingId = 'cus_00000000000000000000000000'
let hub: ListeningHub
let commerce: CommerceClient
let n = 0
const unique = (tag: string) => `${tag}-${Date.now().toString(36)}-${++n}@example.com`

beforeAll(async () => {
  hub = await startListeningHub()
  commerce = createCommerceClient({ baseUrl: hub.baseUrl, token: hub.adminToken })
})
afterAll(async () => {
  await hub?.close()
})

describe('the source document example', () => {
  it('registers Jane as written', async () => {
    const commerce = createCommerceClient({ baseUrl: hub.baseUrl, token: hub.adminToken })

    const customer = await commerce.customers.create({
      email: 'jane@example.com',
      firstName: 'Jane',
      lastName: 'Doe',
      password: 'securePassword123',
    })

    expect(customer).toMatchObject({ email: 'jane@example.com', firstName: 'Jane', lastName: 'Doe', hasAccount: true, addresses: [], groups: [] })
    expect(customer.id).toMatch(/^cus_[0-9A-Z]{26}$/)
    expect(customer).not.toHaveProperty('password')
    expect(await commerce.customers.get(customer.id)).toEqual(customer)
  })
})

describe('customers', () => {
  it('create makes a guest without a password', async () => {
    const email = unique('guest')
    const guest = await commerce.customers.create({ email, firstName: 'Gus' })
    expect(guest).toMatchObject({ email, firstName: 'Gus', hasAccount: false })
  })

  it('create of a taken email throws EMAIL_TAKEN 409 with the request id', async () => {
    const email = unique('taken')
    await commerce.customers.create({ email, password: 'securePassword123' })
    const err = await failure(commerce.customers.create({ email: email.toUpperCase(), password: 'securePassword123' }))
    expect(err).toMatchObject({ status: 409, code: 'EMAIL_TAKEN', name: 'HubApiError' })
    expect(err.message).toMatch(/email/i)
    expect(err.requestId).toMatch(/^req_[0-9a-f]{16}$/)
    expect(isHubApiError(err, 'EMAIL_TAKEN')).toBe(true)
    expect(isHubApiError(err, 'CUSTOMER_NOT_FOUND')).toBe(false)
  })

  it('create with an unknown field throws VALIDATION_FAILED and creates nothing', async () => {
    const email = unique('invalid')
    const input = { email, password: 'securePassword123', nickname: 'JJ' } as unknown as CustomerInput
    const err = await failure(commerce.customers.create(input))
    expect(err).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' })
    expect(err.message).toContain('nickname')
    expect((await commerce.customers.list({ email })).data).toEqual([])
  })

  it('create with a short password throws PASSWORD_TOO_SHORT', async () => {
    const err = await failure(commerce.customers.create({ email: unique('short'), password: 'short' }))
    expect(err).toMatchObject({ status: 400, code: 'PASSWORD_TOO_SHORT' })
  })

  it('get throws CUSTOMER_NOT_FOUND for an unknown id and for a malformed one alike', async () => {
    expect(await failure(commerce.customers.get(missingId))).toMatchObject({ status: 404, code: 'CUSTOMER_NOT_FOUND' })
    expect(await failure(commerce.customers.get('not-an-id'))).toMatchObject({ status: 404, code: 'CUSTOMER_NOT_FOUND' })
  })

  it('get refuses an id that would name another route, sending nothing', async () => {
    for (const id of ['', '.', '..']) {
      expect(await failure(commerce.customers.get(id))).toMatchObject({ status: 0, code: 'INVALID_ARGUMENT' })
    }
  })

  it('update changes the given fields and merges metadata', async () => {
    const created = await commerce.customers.create({ email: unique('upd'), firstName: 'Old', metadata: { a: 1, b: 2 } })
    const updated = await commerce.customers.update(created.id, { firstName: 'New', phone: '(415) 555-1234', metadata: { b: null, c: 3 } })
    expect(updated).toMatchObject({ id: created.id, firstName: 'New', phone: '+14155551234', metadata: { a: 1, c: 3 } })
    expect(updated.metadata).not.toHaveProperty('b')
    expect(await commerce.customers.get(created.id)).toEqual(updated)
  })

  it('update throws CUSTOMER_NOT_FOUND, EMPTY_PATCH and EMAIL_TAKEN', async () => {
    expect(await failure(commerce.customers.update(missingId, { firstName: 'X' }))).toMatchObject({ status: 404, code: 'CUSTOMER_NOT_FOUND' })
    const a = await commerce.customers.create({ email: unique('a') })
    const b = await commerce.customers.create({ email: unique('b') })
    expect(await failure(commerce.customers.update(a.id, {}))).toMatchObject({ status: 400, code: 'EMPTY_PATCH' })
    expect(await failure(commerce.customers.update(a.id, { email: b.email! }))).toMatchObject({ status: 409, code: 'EMAIL_TAKEN' })
    expect((await commerce.customers.get(a.id)).email).toBe(a.email)
  })

  it('delete removes the customer and frees the email', async () => {
    const email = unique('del')
    const created = await commerce.customers.create({ email, password: 'securePassword123' })
    expect(await commerce.customers.delete(created.id)).toEqual({ deleted: true, id: created.id })
    expect(await failure(commerce.customers.get(created.id))).toMatchObject({ status: 404, code: 'CUSTOMER_NOT_FOUND' })
    expect(await failure(commerce.customers.delete(created.id))).toMatchObject({ status: 404, code: 'CUSTOMER_NOT_FOUND' })
    const again = await commerce.customers.create({ email, password: 'securePassword123' })
    expect(again.id).not.toBe(created.id)
  })
})

describe('addresses', () => {
  it('add, update and remove, keeping one default', async () => {
    const customer = await commerce.customers.create({ email: unique('addr') })
    const home = await commerce.customers.addAddress(customer.id, { label: 'Home', line1: '123 Main St', city: 'San Francisco', state: 'CA', postalCode: '94102', country: 'US' })
    expect(home).toMatchObject({ label: 'Home', line1: '123 Main St', country: 'US', isDefault: true })
    expect(home.id).toMatch(/^addr_/)
    const office = await commerce.customers.addAddress(customer.id, { label: 'Office', line1: '456 Market St', city: 'San Francisco', state: 'CA', postalCode: '94105', country: 'US' })
    expect(office.isDefault).toBe(false)

    const moved = await commerce.customers.updateAddress(customer.id, office.id, { isDefault: true, line2: 'Floor 4' })
    expect(moved).toMatchObject({ id: office.id, isDefault: true, line2: 'Floor 4' })
    const afterMove = await commerce.customers.get(customer.id)
    expect(afterMove.addresses.filter((a) => a.isDefault).map((a) => a.id)).toEqual([office.id])

    expect(await commerce.customers.removeAddress(customer.id, office.id)).toEqual({ deleted: true, id: office.id })
    const after = await commerce.customers.get(customer.id)
    expect(after.addresses).toHaveLength(1)
    expect(after.addresses[0]).toMatchObject({ id: home.id, isDefault: true })
  })

  it('errors carry the hub codes', async () => {
    const customer = await commerce.customers.create({ email: unique('addrerr') })
    const input = { line1: '1 A St', city: 'Town', country: 'US' }
    expect(await failure(commerce.customers.addAddress(missingId, input))).toMatchObject({ status: 404, code: 'CUSTOMER_NOT_FOUND' })
    expect(await failure(commerce.customers.addAddress(customer.id, { ...input, country: 'USA' }))).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' })
    const only = await commerce.customers.addAddress(customer.id, input)
    const missingAddress = 'addr_00000000000000000000000000'
    expect(await failure(commerce.customers.updateAddress(customer.id, missingAddress, { city: 'X' }))).toMatchObject({ status: 404, code: 'ADDRESS_NOT_FOUND' })
    expect(await failure(commerce.customers.removeAddress(customer.id, missingAddress))).toMatchObject({ status: 404, code: 'ADDRESS_NOT_FOUND' })
    expect(await failure(commerce.customers.updateAddress(customer.id, only.id, { isDefault: false }))).toMatchObject({ status: 409, code: 'DEFAULT_ADDRESS_REQUIRED' })
    expect(await failure(commerce.customers.removeAddress(customer.id, '..'))).toMatchObject({ status: 0, code: 'INVALID_ARGUMENT' })
    expect((await commerce.customers.get(customer.id)).addresses).toHaveLength(1)
  })

  it('throws ADDRESS_LIMIT_REACHED beyond max_addresses', async () => {
    const small = await startListeningHub({ maxAddresses: 1 })
    try {
      const client = createCommerceClient({ baseUrl: small.baseUrl, token: small.adminToken })
      const customer = await client.customers.create({ email: unique('limit') })
      await client.customers.addAddress(customer.id, { line1: '1 A St', city: 'Town', country: 'US' })
      expect(await failure(client.customers.addAddress(customer.id, { line1: '2 B St', city: 'Town', country: 'US' }))).toMatchObject({ status: 422, code: 'ADDRESS_LIMIT_REACHED' })
    } finally {
      await small.close()
    }
  })
})

describe('groups', () => {
  it('addToGroup and removeFromGroup are idempotent', async () => {
    const customer = await commerce.customers.create({ email: unique('grp') })
    expect((await commerce.customers.addToGroup(customer.id, 'vip')).groups).toEqual(['vip'])
    expect((await commerce.customers.addToGroup(customer.id, 'vip')).groups).toEqual(['vip'])
    expect((await commerce.customers.addToGroup(customer.id, 'wholesale')).groups.sort()).toEqual(['vip', 'wholesale'])
    expect((await commerce.customers.removeFromGroup(customer.id, 'vip')).groups).toEqual(['wholesale'])
    expect((await commerce.customers.removeFromGroup(customer.id, 'vip')).groups).toEqual(['wholesale'])
  })

  it('encodes the group as one path segment', async () => {
    const customer = await commerce.customers.create({ email: unique('grpenc') })
    await commerce.customers.addToGroup(customer.id, 'vip')
    // unencoded, these would reach other routes or none
    expect((await commerce.customers.removeFromGroup(customer.id, 'a/b')).groups).toEqual(['vip'])
    expect((await commerce.customers.removeFromGroup(customer.id, 'x?y#z')).groups).toEqual(['vip'])
    expect(await failure(commerce.customers.removeFromGroup(customer.id, '..'))).toMatchObject({ status: 0, code: 'INVALID_ARGUMENT' })
    expect((await commerce.customers.get(customer.id)).groups).toEqual(['vip'])
  })

  it('errors carry the hub codes', async () => {
    const customer = await commerce.customers.create({ email: unique('grperr') })
    expect(await failure(commerce.customers.addToGroup(customer.id, 'Not A Group'))).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' })
    expect(await failure(commerce.customers.addToGroup(missingId, 'vip'))).toMatchObject({ status: 404, code: 'CUSTOMER_NOT_FOUND' })
    expect(await failure(commerce.customers.removeFromGroup(missingId, 'vip'))).toMatchObject({ status: 404, code: 'CUSTOMER_NOT_FOUND' })
    expect((await commerce.customers.get(customer.id)).groups).toEqual([])
  })
})

describe('orders', () => {
  it('record counts an order once, corrects a changed total, and updates the customer', async () => {
    const customer = await commerce.customers.create({ email: unique('ord') })
    const order = { platform: 'shopify', externalId: `o-${n}`, customerId: customer.id, total: 4580, currency: 'USD', placedAt: '2024-06-01T08:00:00.000Z' }
    const first = await commerce.orders.record(order)
    expect(first).toMatchObject({ outcome: 'recorded', orderCount: 1, totalSpent: 4580, total: 4580, currency: 'USD', customerId: customer.id })
    expect(first.id).toMatch(/^ord_/)
    expect(await commerce.orders.record(order)).toMatchObject({ id: first.id, outcome: 'unchanged', orderCount: 1, totalSpent: 4580 })
    expect(await commerce.orders.record({ ...order, total: 5000 })).toMatchObject({ id: first.id, outcome: 'corrected', orderCount: 1, totalSpent: 5000 })
    expect(await commerce.customers.get(customer.id)).toMatchObject({ orderCount: 1, totalSpent: 5000, currency: 'USD' })
  })

  it('errors carry the hub codes', async () => {
    const customer = await commerce.customers.create({ email: unique('orderr') })
    const order = { platform: 'shopify', externalId: `e-${n}`, customerId: customer.id, total: 100, currency: 'USD', placedAt: '2024-06-01T08:00:00.000Z' }
    expect(await failure(commerce.orders.record({ ...order, customerId: missingId }))).toMatchObject({ status: 404, code: 'CUSTOMER_NOT_FOUND' })
    expect(await failure(commerce.orders.record({ ...order, total: -1 }))).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' })
    await commerce.orders.record(order)
    expect(await failure(commerce.orders.record({ ...order, externalId: `e2-${n}`, currency: 'EUR' }))).toMatchObject({ status: 422, code: 'CURRENCY_MISMATCH' })
    const other = await commerce.customers.create({ email: unique('orderr2') })
    const mismatch = await failure(commerce.orders.record({ ...order, customerId: other.id }))
    expect(mismatch).toMatchObject({ status: 409, code: 'ORDER_CUSTOMER_MISMATCH', details: { customerId: customer.id } })
    expect(await commerce.customers.get(customer.id)).toMatchObject({ orderCount: 1, totalSpent: 100 })
    expect(await commerce.customers.get(other.id)).toMatchObject({ orderCount: 0, totalSpent: 0 })
  })
})

describe('list and listAll', () => {
  it('list applies every filter, with group repeatable', async () => {
    const tag = `flt${Date.now().toString(36)}${++n}`
    const make = async (name: string, groups: string[], orders: number[], password?: string) => {
      const c = await commerce.customers.create({ email: `${name}.${tag}@example.com`, lastName: `${name} ${tag}`, ...(password ? { password } : {}) })
      for (const g of groups) await commerce.customers.addToGroup(c.id, g)
      for (const [i, total] of orders.entries()) {
        await commerce.orders.record({ platform: 'shopify', externalId: `${tag}-${name}-${i}`, customerId: c.id, total, currency: 'USD', placedAt: '2024-06-01T08:00:00.000Z' })
      }
      return c.id
    }
    const big = await make('big', ['vip', 'wholesale'], [30000, 20000, 10000], 'securePassword123')
    const mid = await make('mid', ['vip'], [5000, 5000])
    const low = await make('low', ['wholesale'], [100])
    const ids = (page: { data: { id: string }[] }) => page.data.map((c) => c.id)

    expect(ids(await commerce.customers.list({ q: tag, sort: 'totalSpent:desc' }))).toEqual([big, mid, low])
    expect(ids(await commerce.customers.list({ q: tag, group: ['vip', 'wholesale'] }))).toEqual([big])
    expect(ids(await commerce.customers.list({ q: tag, group: 'vip', sort: 'totalSpent:asc' }))).toEqual([mid, big])
    expect(ids(await commerce.customers.list({ q: tag, minOrders: 2, maxOrders: 2 }))).toEqual([mid])
    expect(ids(await commerce.customers.list({ q: tag, minSpent: 10000, sort: 'orderCount:asc' }))).toEqual([mid, big])
    expect(ids(await commerce.customers.list({ q: tag, hasAccount: true }))).toEqual([big])
    expect(ids(await commerce.customers.list({ q: tag, hasAccount: false, sort: 'lastName:asc' }))).toEqual([low, mid])
    expect(ids(await commerce.customers.list({ email: `MID.${tag}@example.com` }))).toEqual([mid])
    const everyone = await commerce.customers.list({ q: tag, sort: 'createdAt:asc' })
    const created = everyone.data.map((c) => c.createdAt)
    expect(ids(await commerce.customers.list({ q: tag, createdAfter: created[0], createdBefore: created[2], sort: 'createdAt:asc' }))).toEqual([mid])
  })

  it('list errors carry the hub codes', async () => {
    expect(await failure(commerce.customers.list({ sort: 'email:asc' }))).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' })
    expect(await failure(commerce.customers.list({ limit: 500 }))).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' })
    expect(await failure(commerce.customers.list({ cursor: 'garbage' }))).toMatchObject({ status: 400, code: 'INVALID_CURSOR' })
  })

  it('list pages with nextCursor, and listAll walks every page', async () => {
    const tag = `page${Date.now().toString(36)}${++n}`
    const made: string[] = []
    for (let i = 0; i < 7; i++) made.push((await commerce.customers.create({ email: `p${i}.${tag}@example.com`, lastName: `${tag} ${i}` })).id)

    const first = await commerce.customers.list({ q: tag, limit: 3, sort: 'lastName:asc' })
    expect(first.data.map((c) => c.id)).toEqual(made.slice(0, 3))
    expect(first.nextCursor).toEqual(expect.any(String))
    const second = await commerce.customers.list({ q: tag, limit: 3, sort: 'lastName:asc', cursor: first.nextCursor! })
    expect(second.data.map((c) => c.id)).toEqual(made.slice(3, 6))

    const calls: string[] = []
    const counting = createCommerceClient({
      baseUrl: hub.baseUrl,
      token: hub.adminToken,
      fetch: (url, init) => {
        calls.push(url)
        return fetch(url, init)
      },
    })
    const walked: string[] = []
    for await (const c of counting.customers.listAll({ q: tag, limit: 3, sort: 'lastName:asc' })) walked.push(c.id)
    expect(walked).toEqual(made)
    expect(calls).toHaveLength(3)
    expect(calls.filter((u) => u.includes('cursor='))).toHaveLength(2)

    // stopping early fetches no more pages
    calls.length = 0
    for await (const c of counting.customers.listAll({ q: tag, limit: 3, sort: 'lastName:asc' })) {
      if (c.id === made[1]) break
    }
    expect(calls).toHaveLength(1)

    const none: string[] = []
    for await (const c of counting.customers.listAll({ q: `${tag}-nobody` })) none.push(c.id)
    expect(none).toEqual([])
  })

  it('listAll rejects with the hub error of a failing page', async () => {
    const iterate = async () => {
      for await (const _ of commerce.customers.listAll({ sort: 'nope' } as never)) void _
    }
    expect(await failure(iterate())).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' })
  })
})

describe('tokens', () => {
  it('setToken switches the token of later calls', async () => {
    const client = createCommerceClient({ baseUrl: hub.baseUrl, token: hub.adminToken })
    expect(Array.isArray((await client.customers.list({ limit: 1 })).data)).toBe(true)

    client.setToken(await hub.platformToken())
    const forbidden = await failure(client.customers.list({ limit: 1 }))
    expect(forbidden).toMatchObject({ status: 403, code: 'FORBIDDEN' })
    // a platform token may still create and read
    const made = await client.customers.create({ email: unique('platform') })
    expect((await client.customers.get(made.id)).id).toBe(made.id)
    expect(await failure(client.customers.delete(made.id))).toMatchObject({ status: 403, code: 'FORBIDDEN' })

    client.setToken('not-a-real-token')
    expect(await failure(client.customers.get(made.id))).toMatchObject({ status: 401, code: 'UNAUTHORIZED' })
    client.setToken(undefined)
    expect(await failure(client.customers.get(made.id))).toMatchObject({ status: 401, code: 'UNAUTHORIZED' })

    client.setToken(hub.adminToken)
    expect(await client.customers.delete(made.id)).toEqual({ deleted: true, id: made.id })
  })

  it('a client made without a token can be given one later', async () => {
    const client = createCommerceClient({ baseUrl: hub.baseUrl })
    expect(await failure(client.customers.list())).toMatchObject({ status: 401, code: 'UNAUTHORIZED' })
    client.setToken(hub.adminToken)
    expect((await client.customers.list({ limit: 1 })).data.length).toBeLessThanOrEqual(1)
  })
})

describe('network', () => {
  it('an unreachable hub throws NETWORK_ERROR with status 0', async () => {
    const port = await closedPort()
    const client = createCommerceClient({ baseUrl: `http://127.0.0.1:${port}`, token: hub.adminToken })
    const err = await failure(client.customers.create({ email: unique('net') }))
    expect(err).toMatchObject({ status: 0, code: 'NETWORK_ERROR', requestId: undefined, details: undefined })
    expect(err.message).toContain(`127.0.0.1:${port}/customer`)
    expect(err.message).toContain('ECONNREFUSED')
    expect(err.cause).toBeInstanceOf(Error)
  })
})

describe('login', () => {
  it('a customer who has not verified the email gets EMAIL_NOT_VERIFIED (the hub requires verification by default)', async () => {
    const email = unique('unverified')
    await commerce.customers.create({ email, password: 'securePassword123' })
    const storefront = createCommerceClient({ baseUrl: hub.baseUrl })
    expect(await failure(storefront.auth.login({ email, password: 'securePassword123' }))).toMatchObject({ status: 403, code: 'EMAIL_NOT_VERIFIED' })
  })
})

describe('customer login and the logged-in customer', () => {
  // customers log in without verifying their email first
  let open: ListeningHub
  let admin: CommerceClient
  let jane: Awaited<ReturnType<CommerceClient['customers']['create']>>

  beforeAll(async () => {
    open = await startListeningHub({ requireEmailVerification: false })
    admin = createCommerceClient({ baseUrl: open.baseUrl, token: open.adminToken })
    jane = await admin.customers.create({ email: 'jane@example.com', firstName: 'Jane', lastName: 'Doe', password: 'securePassword123' })
  })
  afterAll(async () => {
    await open?.close()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it("the second source document's login example runs as written", async () => {
    const commerce = createCommerceClient({ baseUrl: open.baseUrl })

    // Storefront login
    const session = await commerce.auth.login({
      email: 'jane@example.com',
      password: 'securePassword123',
    })
    // Use the session token for subsequent requests
    commerce.setToken(session.accessToken)

    expect(session).toMatchObject({ tokenType: 'Bearer', expiresIn: 900 })
    expect(session.accessToken.split('.')).toHaveLength(3)
    expect(session.refreshToken).toMatch(/^rft_/)
    expect(await commerce.auth.session()).toEqual({ kind: 'customer', role: 'customer', customerId: jane.id })
    expect(await commerce.customers.me()).toEqual({ ...(await admin.customers.get(jane.id)), pending: { email: null, phone: null } })
  })

  it('login takes the email in any case and ignores a stale token the client holds', async () => {
    const commerce = createCommerceClient({ baseUrl: open.baseUrl, token: 'aaa.bbb.ccc' })
    const session = await commerce.auth.login({ email: 'JANE@Example.com', password: 'securePassword123' })
    commerce.setToken(session.accessToken)
    expect((await commerce.customers.me()).id).toBe(jane.id)
  })

  it('a wrong password and an unknown email both throw INVALID_CREDENTIALS', async () => {
    const commerce = createCommerceClient({ baseUrl: open.baseUrl })
    const wrong = await failure(commerce.auth.login({ email: 'jane@example.com', password: 'wrongPassword123' }))
    const unknown = await failure(commerce.auth.login({ email: 'nobody@example.com', password: 'securePassword123' }))
    for (const err of [wrong, unknown]) expect(err).toMatchObject({ status: 401, code: 'INVALID_CREDENTIALS' })
    expect(wrong.message).toBe(unknown.message)
  })

  it('me and updateMe read and change the logged-in customer only', async () => {
    const email = unique('me')
    const customer = await admin.customers.create({ email, firstName: 'Mia', password: 'securePassword123' })
    const other = await admin.customers.create({ email: unique('other'), password: 'securePassword123' })
    const commerce = createCommerceClient({ baseUrl: open.baseUrl })
    commerce.setToken((await commerce.auth.login({ email, password: 'securePassword123' })).accessToken)

    expect(await commerce.customers.me()).toMatchObject({ id: customer.id, email, firstName: 'Mia' })
    const { pending, ...changed } = await commerce.customers.updateMe({ firstName: 'Maya', lastName: 'Lee' })
    expect(changed).toMatchObject({ id: customer.id, firstName: 'Maya', lastName: 'Lee', email })
    expect(pending).toEqual({ email: null, phone: null })
    expect(await admin.customers.get(customer.id)).toEqual(changed)
    expect(await admin.customers.get(other.id)).toEqual(other)

    // what a customer may not change about itself; a new phone or email needs the password and waits for its token
    const refused = await failure(commerce.customers.updateMe({ groups: ['vip'] } as unknown as CustomerMePatch))
    expect(refused).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' })
    expect(await failure(commerce.customers.updateMe({ phone: '+14155550101' }))).toMatchObject({ status: 403, code: 'CURRENT_PASSWORD_REQUIRED' })
    const waiting = await commerce.customers.updateMe({ email: other.email!, phone: '+14155550101', currentPassword: 'securePassword123' })
    expect(waiting.pending).toEqual({ email: other.email, phone: '+14155550101' })
    expect(await admin.customers.get(customer.id)).toEqual(changed)

    const address = await commerce.customers.addMyAddress({ line1: '1 Main St', city: 'Austin', state: 'TX', postalCode: '73301', country: 'US' })
    expect(address).toMatchObject({ line1: '1 Main St', isDefault: true })
    expect((await commerce.customers.me()).addresses.map((a) => a.id)).toEqual([address.id])
    expect((await commerce.customers.myIdentities()).data.map((i) => [i.kind, i.value]).sort()).toEqual([
      ['email', email],
    ])
    expect((await commerce.customers.myRewardAccounts()).data).toEqual([])
  })

  it('me needs a customer token: none is UNAUTHORIZED, an API token or a service account FORBIDDEN', async () => {
    expect(await failure(createCommerceClient({ baseUrl: open.baseUrl }).customers.me())).toMatchObject({ status: 401, code: 'UNAUTHORIZED' })
    expect(await failure(admin.customers.me())).toMatchObject({ status: 403, code: 'FORBIDDEN' })
    const account = await fetch(`${open.baseUrl}/service-accounts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${open.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ handle: 'brand_me', password: 'service-user-password', roleId: '3', organizationId: '12' }),
    }).then((r) => r.json() as Promise<ServiceAccount>)
    const seller = createCommerceClient({ baseUrl: open.baseUrl })
    seller.setToken((await seller.auth.login({ email: account.email, password: 'service-user-password' })).accessToken)
    expect(await seller.auth.session()).toMatchObject({ kind: 'service', serviceAccountId: account.id })
    expect(await failure(seller.customers.me())).toMatchObject({ status: 403, code: 'FORBIDDEN' })
    expect(await failure(seller.customers.updateMe({ firstName: 'X' }))).toMatchObject({ status: 403, code: 'FORBIDDEN' })
  })

  it('refresh trades the refresh token for a new session once; using it again revokes the session', async () => {
    const commerce = createCommerceClient({ baseUrl: open.baseUrl })
    const first = await commerce.auth.login({ email: 'jane@example.com', password: 'securePassword123' })
    const second = await commerce.auth.refresh(first.refreshToken)
    expect(second).toMatchObject({ tokenType: 'Bearer', expiresIn: 900 })
    expect(second.accessToken).not.toBe(first.accessToken)
    expect(second.refreshToken).not.toBe(first.refreshToken)
    commerce.setToken(second.accessToken)
    expect((await commerce.customers.me()).id).toBe(jane.id)

    expect(await failure(commerce.auth.refresh(first.refreshToken))).toMatchObject({ status: 401, code: 'REFRESH_TOKEN_REUSED' })
    // the reuse revoked the whole family, the refresh token given by the rotation too
    expect(await failure(commerce.auth.refresh(second.refreshToken))).toMatchObject({ status: 401, code: 'INVALID_REFRESH_TOKEN' })
  })

  it('logout ends the session: its refresh token is refused, another session goes on', async () => {
    const commerce = createCommerceClient({ baseUrl: open.baseUrl })
    const ending = await commerce.auth.login({ email: 'jane@example.com', password: 'securePassword123' })
    const staying = await commerce.auth.login({ email: 'jane@example.com', password: 'securePassword123' })
    expect(await commerce.auth.logout(ending.refreshToken)).toEqual({ loggedOut: true })
    expect(await failure(commerce.auth.refresh(ending.refreshToken))).toMatchObject({ status: 401, code: 'INVALID_REFRESH_TOKEN' })
    expect((await commerce.auth.refresh(staying.refreshToken)).tokenType).toBe('Bearer')
    // logging out an unknown token changes nothing and says so the same way
    expect(await commerce.auth.logout('rft_unknown_token_value')).toEqual({ loggedOut: true })
  })

  it('an expired access token throws TOKEN_EXPIRED; a refresh gives a working one', async () => {
    const commerce = createCommerceClient({ baseUrl: open.baseUrl })
    const session = await commerce.auth.login({ email: 'jane@example.com', password: 'securePassword123' })
    commerce.setToken(session.accessToken)
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.now() + (session.expiresIn + 1) * 1000)
    expect(await failure(commerce.customers.me())).toMatchObject({ status: 401, code: 'TOKEN_EXPIRED' })
    commerce.setToken((await commerce.auth.refresh(session.refreshToken)).accessToken)
    expect((await commerce.customers.me()).id).toBe(jane.id)
  })
})
