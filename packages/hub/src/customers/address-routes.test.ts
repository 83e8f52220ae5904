import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'kysely'
import { createTestDatabase, createTestHub, type TestDatabase, type TestHub } from '../../test/helpers/test-hub.js'
import { client, expectError } from '../../test/helpers/requests.js'
import { newId } from '../ids.js'

let seq = 0
const office = (extra: Record<string, unknown> = {}) => ({ label: `Office ${++seq}`, line1: `${seq} Market St`, city: 'San Francisco', state: 'CA', postalCode: '94105', country: 'US', ...extra })

let database: TestDatabase
let hub: TestHub
let call: ReturnType<typeof client>
beforeAll(async () => {
  database = await createTestDatabase()
  hub = await createTestHub({ database })
  call = client(hub)
})
afterAll(async () => {
  await hub?.close()
  await database?.close()
})

async function newCustomer(on: TestHub = hub): Promise<string> {
  const res = await client(on)('POST', '/customer', { email: `addr-${++seq}-${Date.now().toString(36)}@example.com` })
  expect(res.status, res.raw).toBe(201)
  return res.body.id
}

/** The customer's addresses as stored, oldest first. */
async function stored(customerId: string) {
  return database.db.selectFrom('addresses').selectAll().where('customer_id', '=', customerId).orderBy('created_at').orderBy('id').execute()
}

async function addressCount(customerId: string) {
  const row = await database.db.selectFrom('customers').select('address_count').where('id', '=', customerId).executeTakeFirstOrThrow()
  return row.address_count
}

async function eventTypes(customerId: string) {
  const { rows } = await sql<{ type: string }>`SELECT type FROM events WHERE customer_id = ${customerId} ORDER BY position`.execute(database.db)
  return rows.map((r) => r.type)
}

describe('POST /customer/:id/address', () => {
  it('adds an address: 201, the first is the default, and the customer shows it', async () => {
    const id = await newCustomer()
    const input = office({ firstName: 'Jane', lastName: 'Doe', line2: 'Floor 3', phone: '(415) 736-5000' })
    const res = await call('POST', `/customer/${id}/address`, input)
    expect(res.status, res.raw).toBe(201)
    expect(res.body).toMatchObject({ ...input, phone: '+14157365000', isDefault: true })
    expect(res.body.id).toMatch(/^addr_[0-9A-Z]{26}$/)
    const customer = await call('GET', `/customer/${id}`)
    expect(customer.body.addresses).toEqual([res.body])
    expect(await addressCount(id)).toBe(1)
    expect(await eventTypes(id)).toEqual(['customer.created', 'customer.address_added'])
  })

  it('keeps the first default when later ones are added without isDefault, and moves it on isDefault: true', async () => {
    const id = await newCustomer()
    const a = (await call('POST', `/customer/${id}/address`, office())).body
    const b = (await call('POST', `/customer/${id}/address`, office())).body
    const c = (await call('POST', `/customer/${id}/address`, office({ isDefault: false }))).body
    expect([a.isDefault, b.isDefault, c.isDefault]).toEqual([true, false, false])
    const d = await call('POST', `/customer/${id}/address`, office({ isDefault: true }))
    expect(d.status).toBe(201)
    expect(d.body.isDefault).toBe(true)
    const rows = await stored(id)
    expect(rows.map((r) => [r.id, r.is_default])).toEqual([[a.id, false], [b.id, false], [c.id, false], [d.body.id, true]])
    const customer = (await call('GET', `/customer/${id}`)).body
    expect(customer.addresses.map((x: { id: string }) => x.id)).toEqual([a.id, b.id, c.id, d.body.id])
    expect(customer.addresses.filter((x: { isDefault: boolean }) => x.isDefault)).toHaveLength(1)
  })

  it('upper-cases the country and refuses codes that are not ISO 3166-1 alpha-2', async () => {
    const id = await newCustomer()
    const lower = await call('POST', `/customer/${id}/address`, office({ country: 'us' }))
    expect(lower.status, lower.raw).toBe(201)
    expect(lower.body.country).toBe('US')
    const th = await call('POST', `/customer/${id}/address`, office({ country: 'Th' }))
    expect(th.body.country).toBe('TH')
    const before = await stored(id)
    for (const country of ['XX', 'ZZ', 'zz', 'UK']) {
      expectError(await call('POST', `/customer/${id}/address`, office({ country })), 400, 'INVALID_COUNTRY')
    }
    for (const country of ['USA', 'U', '12', '']) {
      expectError(await call('POST', `/customer/${id}/address`, office({ country })), 400, 'VALIDATION_FAILED')
    }
    expect(await stored(id)).toEqual(before)
    expect(await addressCount(id)).toBe(2)
  })

  it('refuses an invalid address phone and leaves the count alone', async () => {
    const id = await newCustomer()
    expectError(await call('POST', `/customer/${id}/address`, office({ phone: '12345' })), 400, 'INVALID_PHONE')
    expect(await stored(id)).toEqual([])
    expect(await addressCount(id)).toBe(0)
  })

  it('answers 404 for an unknown or deleted customer and 400 for a malformed id', async () => {
    expectError(await call('POST', `/customer/${newId('cus')}/address`, office()), 404, 'CUSTOMER_NOT_FOUND')
    expectError(await call('POST', '/customer/nope/address', office()), 404, 'CUSTOMER_NOT_FOUND')
    const id = await newCustomer()
    expect((await call('DELETE', `/customer/${id}`)).status).toBe(200)
    expectError(await call('POST', `/customer/${id}/address`, office()), 404, 'CUSTOMER_NOT_FOUND')
    expect(await stored(id)).toEqual([])
  })

  it('lets a platform token manage addresses', async () => {
    const platform = await hub.platform()
    const id = await newCustomer()
    const a = await call('POST', `/customer/${id}/address`, office(), platform)
    expect(a.status).toBe(201)
    const b = await call('POST', `/customer/${id}/address`, office(), platform)
    expect((await call('PATCH', `/customer/${id}/address/${b.body.id}`, { isDefault: true }, platform)).status).toBe(200)
    expect((await call('DELETE', `/customer/${id}/address/${a.body.id}`, undefined, platform)).status).toBe(200)
  })
})

describe('PATCH and DELETE /customer/:id/address/:addressId', () => {
  it('changes only the given fields', async () => {
    const id = await newCustomer()
    const a = (await call('POST', `/customer/${id}/address`, office({ line2: 'Suite 1' }))).body
    const res = await call('PATCH', `/customer/${id}/address/${a.id}`, { city: 'Oakland', line2: null, country: 'ca' })
    expect(res.status, res.raw).toBe(200)
    const { city, line2, country, updatedAt, ...rest } = res.body
    const { city: _c, line2: _l, country: _k, updatedAt: _u, ...oldRest } = a
    expect({ city, line2, country }).toEqual({ city: 'Oakland', line2: null, country: 'CA' })
    expect(rest).toEqual(oldRest)
    expectError(await call('PATCH', `/customer/${id}/address/${a.id}`, { country: 'XX' }), 400, 'INVALID_COUNTRY')
    expectError(await call('PATCH', `/customer/${id}/address/${a.id}`, {}), 400, 'EMPTY_PATCH')
    expect((await stored(id))[0]!.country).toBe('CA')
  })

  it('moves the default with isDefault: true and refuses isDefault: false on the default', async () => {
    const id = await newCustomer()
    const a = (await call('POST', `/customer/${id}/address`, office())).body
    const b = (await call('POST', `/customer/${id}/address`, office())).body
    const made = await call('PATCH', `/customer/${id}/address/${b.id}`, { isDefault: true })
    expect(made.status, made.raw).toBe(200)
    expect(made.body.isDefault).toBe(true)
    expect((await stored(id)).map((r) => r.is_default)).toEqual([false, true])

    const before = await stored(id)
    expectError(await call('PATCH', `/customer/${id}/address/${b.id}`, { isDefault: false }), 409, 'DEFAULT_ADDRESS_REQUIRED')
    expectError(await call('PATCH', `/customer/${id}/address/${b.id}`, { isDefault: false, city: 'Elsewhere' }), 409, 'DEFAULT_ADDRESS_REQUIRED')
    expect(await stored(id)).toEqual(before)

    // false on a non-default and true on the default are no-ops for the default
    expect((await call('PATCH', `/customer/${id}/address/${a.id}`, { isDefault: false })).body.isDefault).toBe(false)
    expect((await call('PATCH', `/customer/${id}/address/${b.id}`, { isDefault: true })).body.isDefault).toBe(true)
    expect((await stored(id)).map((r) => r.is_default)).toEqual([false, true])
  })

  it('refuses isDefault: false on a lone address', async () => {
    const id = await newCustomer()
    const a = (await call('POST', `/customer/${id}/address`, office())).body
    expectError(await call('PATCH', `/customer/${id}/address/${a.id}`, { isDefault: false }), 409, 'DEFAULT_ADDRESS_REQUIRED')
    expect((await stored(id))[0]!.is_default).toBe(true)
  })

  it('makes the oldest remaining address the default when the default is removed', async () => {
    const id = await newCustomer()
    const a = (await call('POST', `/customer/${id}/address`, office())).body
    const b = (await call('POST', `/customer/${id}/address`, office())).body
    const c = (await call('POST', `/customer/${id}/address`, office())).body
    const d = (await call('POST', `/customer/${id}/address`, office({ isDefault: true }))).body
    const del = await call('DELETE', `/customer/${id}/address/${d.id}`)
    expect(del.status, del.raw).toBe(200)
    expect(del.body).toEqual({ deleted: true, id: d.id })
    expect((await stored(id)).map((r) => [r.id, r.is_default])).toEqual([[a.id, true], [b.id, false], [c.id, false]])

    // removing a non-default leaves the default alone
    expect((await call('DELETE', `/customer/${id}/address/${b.id}`)).status).toBe(200)
    expect((await stored(id)).map((r) => [r.id, r.is_default])).toEqual([[a.id, true], [c.id, false]])
    expect((await call('DELETE', `/customer/${id}/address/${a.id}`)).status).toBe(200)
    expect((await stored(id)).map((r) => [r.id, r.is_default])).toEqual([[c.id, true]])
    expect((await call('DELETE', `/customer/${id}/address/${c.id}`)).status).toBe(200)
    expect(await stored(id)).toEqual([])
    expect(await addressCount(id)).toBe(0)

    // with none left, the next one is the default again
    const e = await call('POST', `/customer/${id}/address`, office())
    expect(e.body.isDefault).toBe(true)
    expect(await addressCount(id)).toBe(1)
  })

  it('answers 404 ADDRESS_NOT_FOUND for an unknown address or one of another customer, 400 for a malformed one', async () => {
    const mine = await newCustomer()
    const theirs = await newCustomer()
    const other = (await call('POST', `/customer/${theirs}/address`, office())).body
    await call('POST', `/customer/${mine}/address`, office())
    expectError(await call('PATCH', `/customer/${mine}/address/${other.id}`, { city: 'Stolen' }), 404, 'ADDRESS_NOT_FOUND')
    expectError(await call('DELETE', `/customer/${mine}/address/${other.id}`), 404, 'ADDRESS_NOT_FOUND')
    expectError(await call('PATCH', `/customer/${mine}/address/${newId('addr')}`, { city: 'X' }), 404, 'ADDRESS_NOT_FOUND')
    expectError(await call('DELETE', `/customer/${mine}/address/${newId('addr')}`), 404, 'ADDRESS_NOT_FOUND')
    expectError(await call('PATCH', `/customer/${mine}/address/nope`, { city: 'X' }), 400, 'INVALID_ID')
    expectError(await call('DELETE', `/customer/${mine}/address/${newId('cus')}`), 400, 'INVALID_ID')
    expectError(await call('DELETE', `/customer/${newId('cus')}/address/${other.id}`), 404, 'CUSTOMER_NOT_FOUND')
    expect((await stored(theirs)).map((r) => [r.id, r.city, r.is_default])).toEqual([[other.id, 'San Francisco', true]])
    expect(await addressCount(mine)).toBe(1)
    expect(await addressCount(theirs)).toBe(1)
  })
})

describe('max_addresses', () => {
  let limited: TestHub
  let callLimited: ReturnType<typeof client>
  beforeAll(async () => {
    limited = await createTestHub({ database, customer: { maxAddresses: 3 } })
    callLimited = client(limited)
  })
  afterAll(async () => limited?.close())

  it('refuses the 4th address with 422 ADDRESS_LIMIT_REACHED when max_addresses is 3; a removal frees a place', async () => {
    const id = await newCustomer(limited)
    for (let i = 0; i < 3; i++) expect((await callLimited('POST', `/customer/${id}/address`, office())).status).toBe(201)
    const before = await stored(id)
    const events = await eventTypes(id)
    expectError(await callLimited('POST', `/customer/${id}/address`, office()), 422, 'ADDRESS_LIMIT_REACHED')
    expectError(await callLimited('POST', `/customer/${id}/address`, office({ isDefault: true })), 422, 'ADDRESS_LIMIT_REACHED')
    expect(await stored(id)).toEqual(before)
    expect(await eventTypes(id)).toEqual(events)
    expect(await addressCount(id)).toBe(3)

    expect((await callLimited('DELETE', `/customer/${id}/address/${before[1]!.id}`)).status).toBe(200)
    expect((await callLimited('POST', `/customer/${id}/address`, office())).status).toBe(201)
    expectError(await callLimited('POST', `/customer/${id}/address`, office()), 422, 'ADDRESS_LIMIT_REACHED')
    expect((await stored(id)).length).toBe(3)
  })

  it('still answers 404 (not 422) for an unknown customer', async () => {
    expectError(await callLimited('POST', `/customer/${newId('cus')}/address`, office()), 404, 'CUSTOMER_NOT_FOUND')
  })
})

describe('addresses under concurrency', () => {
  let limited: TestHub
  let callLimited: ReturnType<typeof client>
  beforeAll(async () => {
    limited = await createTestHub({ database, customer: { maxAddresses: 5 } })
    callLimited = client(limited)
  })
  afterAll(async () => limited?.close())

  async function invariants(id: string) {
    const rows = await stored(id)
    const defaults = rows.filter((r) => r.is_default)
    expect(defaults, 'exactly one default while there are addresses').toHaveLength(rows.length === 0 ? 0 : 1)
    expect(await addressCount(id), 'address_count matches the rows').toBe(rows.length)
    const customer = (await callLimited('GET', `/customer/${id}`)).body
    expect(customer.addresses.map((a: { id: string }) => a.id)).toEqual(rows.map((r) => r.id))
    return rows
  }

  it('20 concurrent adds with max_addresses 5: exactly 5 succeed, the rest ADDRESS_LIMIT_REACHED, one default', async () => {
    const id = await newCustomer(limited)
    const results = await Promise.all(Array.from({ length: 20 }, () => callLimited('POST', `/customer/${id}/address`, office())))
    const ok = results.filter((r) => r.status === 201)
    const refused = results.filter((r) => r.status !== 201)
    expect(ok).toHaveLength(5)
    expect(refused).toHaveLength(15)
    for (const r of refused) expectError(r, 422, 'ADDRESS_LIMIT_REACHED')
    expect(ok.filter((r) => r.body.isDefault)).toHaveLength(1)
    const rows = await invariants(id)
    expect(rows.map((r) => r.id).sort()).toEqual(ok.map((r) => r.body.id).sort())
    expect((await eventTypes(id)).filter((t) => t === 'customer.address_added')).toHaveLength(5)
  })

  it('20 concurrent adds each asking to be the default: 5 succeed and exactly one default remains', async () => {
    const id = await newCustomer(limited)
    const results = await Promise.all(Array.from({ length: 20 }, () => callLimited('POST', `/customer/${id}/address`, office({ isDefault: true }))))
    expect(results.filter((r) => r.status === 201)).toHaveLength(5)
    for (const r of results.filter((x) => x.status !== 201)) expectError(r, 422, 'ADDRESS_LIMIT_REACHED')
    const rows = await invariants(id)
    expect(rows).toHaveLength(5)
  })

  it('concurrent "make default" PATCHes on different addresses end with exactly one default', async () => {
    const id = await newCustomer(limited)
    const added: string[] = []
    for (let i = 0; i < 5; i++) added.push((await callLimited('POST', `/customer/${id}/address`, office())).body.id)
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all(
        [...added, ...added].map((addressId) => callLimited('PATCH', `/customer/${id}/address/${addressId}`, { isDefault: true })),
      )
      for (const r of results) {
        expect(r.status, r.raw).toBe(200)
        expect(r.body.isDefault).toBe(true)
      }
      await invariants(id)
    }
  })

  it('concurrent removals and adds keep one default and the count right', async () => {
    const id = await newCustomer(limited)
    const added: string[] = []
    for (let i = 0; i < 5; i++) added.push((await callLimited('POST', `/customer/${id}/address`, office())).body.id)
    const results = await Promise.all([
      ...added.slice(0, 3).map((a) => callLimited('DELETE', `/customer/${id}/address/${a}`)),
      ...Array.from({ length: 6 }, () => callLimited('POST', `/customer/${id}/address`, office({ isDefault: true }))),
      ...added.slice(3).map((a) => callLimited('PATCH', `/customer/${id}/address/${a}`, { isDefault: true })),
    ])
    for (const r of results) expect([200, 201, 422], r.raw).toContain(r.status)
    const rows = await invariants(id)
    expect(rows.length).toBeLessThanOrEqual(5)
    for (const removed of added.slice(0, 3)) expect(rows.map((r) => r.id)).not.toContain(removed)
  })
})
