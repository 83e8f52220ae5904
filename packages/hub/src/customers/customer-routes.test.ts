import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'kysely'
import { createTestDatabase, createTestHub, type TestDatabase, type TestHub } from '../../test/helpers/test-hub.js'
import { client, expectError } from '../../test/helpers/requests.js'
import { verifyPassword } from '../auth/passwords.js'
import { newId } from '../ids.js'

async function counts(hub: TestHub) {
  const { rows } = await sql<{ customers: number; identities: number; events: number }>`
    SELECT (SELECT count(*)::int FROM customers) AS customers,
           (SELECT count(*)::int FROM identities) AS identities,
           (SELECT count(*)::int FROM events) AS events`.execute(hub.database.db)
  return rows[0]!
}

let seq = 0
// one database for the file: hubs with other settings are built over it (a database takes seconds to make)
let database: TestDatabase
beforeAll(async () => {
  database = await createTestDatabase()
})
afterAll(async () => database?.close())
const uniqueEmail = (tag = 'c') => `${tag}-${++seq}-${Date.now().toString(36)}@example.com`

describe('POST /customer', () => {
  let hub: TestHub
  let call: ReturnType<typeof client>
  beforeAll(async () => {
    hub = await createTestHub({ captureLogs: true, database })
    call = client(hub)
  })
  afterAll(async () => hub?.close())

  it('registers an account: 201, argon2id hash in the row, the password and hash in no answer, event or log line', async () => {
    const password = 'correct horse battery staple'
    const email = uniqueEmail('acct')
    const created = await call('POST', '/customer', { email, password, firstName: 'Ada', lastName: 'Lovelace', currency: 'USD', metadata: { source: 'test' } })
    expect(created.status, created.raw).toBe(201)
    expect(created.body).toMatchObject({
      email,
      firstName: 'Ada',
      lastName: 'Lovelace',
      phone: null,
      addresses: [],
      groups: [],
      metadata: { source: 'test' },
      orderCount: 0,
      totalSpent: 0,
      currency: 'USD',
      hasAccount: true,
      emailVerified: false,
    })
    expect(created.body.id).toMatch(/^cus_[0-9A-Z]{26}$/)
    expect(Object.keys(created.body)).not.toContain('password')
    expect(Object.keys(created.body)).not.toContain('passwordHash')

    const row = await hub.database.db.selectFrom('customers').select(['password_hash', 'has_account']).where('id', '=', created.body.id).executeTakeFirstOrThrow()
    expect(row.has_account).toBe(true)
    expect(row.password_hash).toMatch(/^\$argon2id\$/)
    expect(row.password_hash).not.toContain(password)
    expect(await verifyPassword(row.password_hash!, password)).toBe(true)
    expect(await verifyPassword(row.password_hash!, 'wrong password')).toBe(false)

    const read = await call('GET', `/customer/${created.body.id}`)
    const patched = await call('PATCH', `/customer/${created.body.id}`, { firstName: 'Augusta' })
    const listed = await call('GET', `/customer?email=${encodeURIComponent(email)}`)
    const feed = await call('GET', '/events?limit=1000')
    expect(read.status).toBe(200)
    expect(patched.status).toBe(200)
    expect(listed.body.data).toHaveLength(1)
    expect(feed.status).toBe(200)
    const hashTail = row.password_hash!.split('$').at(-1)!
    for (const res of [created, read, patched, listed, feed]) {
      expect(res.raw).not.toContain(password)
      expect(res.raw).not.toContain('$argon2')
      expect(res.raw).not.toContain(hashTail)
      expect(res.raw).not.toMatch(/password/i)
    }
    const { rows: events } = await sql<{ payload: unknown }>`SELECT payload FROM events WHERE customer_id = ${created.body.id}`.execute(hub.database.db)
    expect(events.length).toBeGreaterThanOrEqual(2)
    for (const e of events) {
      expect(JSON.stringify(e.payload)).not.toContain(password)
      expect(JSON.stringify(e.payload)).not.toContain('$argon2')
    }
    expect(hub.logs.length).toBeGreaterThan(0)
    expect(hub.logs.join('\n')).not.toContain(password)
    expect(hub.logs.join('\n')).not.toContain('$argon2')
  })

  it('creates a guest record without a password: hasAccount false, no hash', async () => {
    const email = uniqueEmail('guest')
    const res = await call('POST', '/customer', { email, firstName: 'Guest' })
    expect(res.status, res.raw).toBe(201)
    expect(res.body).toMatchObject({ email, hasAccount: false, emailVerified: false, firstName: 'Guest' })
    const row = await hub.database.db.selectFrom('customers').select(['password_hash', 'has_account']).where('id', '=', res.body.id).executeTakeFirstOrThrow()
    expect(row).toEqual({ password_hash: null, has_account: false })
  })

  it('writes the row, its identities and one customer.created event together', async () => {
    const before = await counts(hub)
    const res = await call('POST', '/customer', { email: uniqueEmail('ev'), phone: '+1 212 736 5000' })
    expect(res.status, res.raw).toBe(201)
    const after = await counts(hub)
    expect(after).toEqual({ customers: before.customers + 1, identities: before.identities + 2, events: before.events + 1 })
    const { rows } = await sql<{ type: string; payload: { customer: { id: string; phone: string } } }>`
      SELECT type, payload FROM events WHERE customer_id = ${res.body.id}`.execute(hub.database.db)
    expect(rows).toHaveLength(1)
    expect(rows[0]!.type).toBe('customer.created')
    expect(rows[0]!.payload.customer).toMatchObject({ id: res.body.id, phone: '+12127365000' })
  })

  it('trims and lower-cases the email, keeping the raw value beside it', async () => {
    const local = `Mixed.Case-${++seq}`
    const res = await call('POST', '/customer', { email: `   ${local}@Example.COM  ` })
    expect(res.status, res.raw).toBe(201)
    expect(res.body.email).toBe(`${local.toLowerCase()}@example.com`)
    const identity = await hub.database.db.selectFrom('identities').select(['value', 'raw_value']).where('customer_id', '=', res.body.id).where('kind', '=', 'email').executeTakeFirstOrThrow()
    expect(identity.value).toBe(`${local.toLowerCase()}@example.com`)
    expect(identity.raw_value).toBe(`   ${local}@Example.COM  `)
  })

  it('stores a phone as E.164, reading national numbers in the default country (US here)', async () => {
    const res = await call('POST', '/customer', { phone: '(212) 736-5001' })
    expect(res.status, res.raw).toBe(201)
    expect(res.body.phone).toBe('+12127365001')
    expect(res.body.email).toBeNull()
  })

  it('refuses an invalid email or phone with 400 and writes nothing', async () => {
    const before = await counts(hub)
    for (const email of ['not-an-email', 'a@b', 'two@@example.com', 'sp ace@example.com', 'x@-bad.com']) {
      expectError(await call('POST', '/customer', { email }), 400, 'INVALID_EMAIL')
    }
    for (const phone of ['123', 'call me maybe', '+1 000 000 0000', '555-0000-0000-000']) {
      expectError(await call('POST', '/customer', { email: uniqueEmail('ph'), phone }), 400, 'INVALID_PHONE')
    }
    expectError(await call('POST', '/customer', { email: 'bad', password: 'long enough password' }), 400, 'INVALID_EMAIL')
    expect(await counts(hub)).toEqual(before)
  })

  it('refuses a password shorter than password_min_length (8) and accepts exactly 8', async () => {
    const before = await counts(hub)
    expectError(await call('POST', '/customer', { email: uniqueEmail('pw'), password: '1234567' }), 400, 'PASSWORD_TOO_SHORT')
    expectError(await call('POST', '/customer', { email: uniqueEmail('pw'), password: '' }), 400, 'PASSWORD_TOO_SHORT')
    expect(await counts(hub)).toEqual(before)
    const ok = await call('POST', '/customer', { email: uniqueEmail('pw'), password: '12345678' })
    expect(ok.status, ok.raw).toBe(201)
    expect(ok.body.hasAccount).toBe(true)
  })

  it('refuses an account without an email', async () => {
    const before = await counts(hub)
    const res = await call('POST', '/customer', { phone: '+12127365002', password: 'long enough password' })
    expect(res.status, res.raw).toBe(400)
    expect(res.body.code).toBe('VALIDATION_FAILED')
    expect(await counts(hub)).toEqual(before)
  })

  it('refuses a taken email with 409 EMAIL_TAKEN, whatever its case or spacing', async () => {
    const email = uniqueEmail('taken')
    expect((await call('POST', '/customer', { email, password: 'first owner pw' })).status).toBe(201)
    const before = await counts(hub)
    expectError(await call('POST', '/customer', { email }), 409, 'EMAIL_TAKEN')
    expectError(await call('POST', '/customer', { email: `  ${email.toUpperCase()} ` }), 409, 'EMAIL_TAKEN')
    expectError(await call('POST', '/customer', { email: email.toUpperCase(), password: 'second owner pw' }), 409, 'EMAIL_TAKEN')
    expect(await counts(hub)).toEqual(before)
  })

  it('refuses a taken phone with 409 PHONE_TAKEN, whatever its notation', async () => {
    expect((await call('POST', '/customer', { phone: '+1 (212) 736-5003' })).status).toBe(201)
    const before = await counts(hub)
    expectError(await call('POST', '/customer', { email: uniqueEmail('ph'), phone: '212.736.5003' }), 409, 'PHONE_TAKEN')
    expectError(await call('POST', '/customer', { phone: '+12127365003' }), 409, 'PHONE_TAKEN')
    expect(await counts(hub)).toEqual(before)
  })

  it('refuses a guest record with neither email nor phone: IDENTIFIER_REQUIRED', async () => {
    const before = await counts(hub)
    expectError(await call('POST', '/customer', { firstName: 'Nobody' }), 400, 'IDENTIFIER_REQUIRED')
    expectError(await call('POST', '/customer', {}), 400, 'IDENTIFIER_REQUIRED')
    expectError(await call('POST', '/customer', { phone: null, firstName: 'Null phone' }), 400, 'IDENTIFIER_REQUIRED')
    expect(await counts(hub)).toEqual(before)
  })

  it('answers 401 without a token and writes nothing', async () => {
    const before = await counts(hub)
    expectError(await call('POST', '/customer', { email: uniqueEmail('anon') }, {}), 401, 'UNAUTHORIZED')
    expectError(await call('POST', '/customer', { email: uniqueEmail('anon') }, { authorization: 'Bearer nope' }), 401, 'UNAUTHORIZED')
    expect(await counts(hub)).toEqual(before)
  })
})

describe('POST /customer with settings', () => {
  it('reads national numbers in default_country (TH: 081-234-5678 → +66812345678)', async () => {
    const hub = await createTestHub({ database, customer: { defaultCountry: 'TH' } })
    try {
      const call = client(hub)
      const res = await call('POST', '/customer', { email: uniqueEmail('th'), phone: '081-234-5678' })
      expect(res.status, res.raw).toBe(201)
      expect(res.body.phone).toBe('+66812345678')
      // the same number written internationally is the same identity
      expectError(await call('POST', '/customer', { phone: '+66 81 234 5678' }), 409, 'PHONE_TAKEN')
      // a number with + keeps its own country
      const us = await call('POST', '/customer', { phone: '+1 212 736 5200' })
      expect(us.body.phone).toBe('+12127365200')
    } finally {
      await hub.close()
    }
  })

  it('refuses guest records when allow_guest_checkout is false, still registering accounts', async () => {
    const hub = await createTestHub({ database, customer: { allowGuestCheckout: false } })
    try {
      const call = client(hub)
      const before = await counts(hub)
      expectError(await call('POST', '/customer', { email: uniqueEmail('g') }), 403, 'GUEST_CHECKOUT_DISABLED')
      expectError(await call('POST', '/customer', { phone: '+12127365201' }), 403, 'GUEST_CHECKOUT_DISABLED')
      expect(await counts(hub)).toEqual(before)
      const account = await call('POST', '/customer', { email: uniqueEmail('a'), password: 'long enough password' })
      expect(account.status, account.raw).toBe(201)
      expect(account.body.hasAccount).toBe(true)
    } finally {
      await hub.close()
    }
  })

  it('applies password_min_length from the settings', async () => {
    const hub = await createTestHub({ database, customer: { passwordMinLength: 12 } })
    try {
      const call = client(hub)
      expectError(await call('POST', '/customer', { email: uniqueEmail('p'), password: '12345678901' }), 400, 'PASSWORD_TOO_SHORT')
      expect((await call('POST', '/customer', { email: uniqueEmail('p'), password: '123456789012' })).status).toBe(201)
    } finally {
      await hub.close()
    }
  })
})

describe('GET, PATCH, DELETE /customer/:id', () => {
  let hub: TestHub
  let call: ReturnType<typeof client>
  beforeAll(async () => {
    hub = await createTestHub({ database })
    call = client(hub)
  })
  afterAll(async () => hub?.close())

  async function make(extra: Record<string, unknown> = {}) {
    const res = await call('POST', '/customer', { email: uniqueEmail('rw'), firstName: 'Jane', lastName: 'Doe', ...extra })
    expect(res.status, res.raw).toBe(201)
    return res.body
  }

  async function eventCount(customerId: string) {
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM events WHERE customer_id = ${customerId}`.execute(hub.database.db)
    return rows[0]!.n
  }

  it('reads a customer as it was created', async () => {
    const created = await make({ phone: '+12127365100', metadata: { tier: 'gold' }, currency: 'EUR' })
    const read = await call('GET', `/customer/${created.id}`)
    expect(read.status).toBe(200)
    expect(read.body).toEqual(created)
  })

  it('changes only the given fields, never blanking the others', async () => {
    const created = await make({ phone: '+12127365101', metadata: { a: 1 }, currency: 'USD' })
    const res = await call('PATCH', `/customer/${created.id}`, { firstName: 'Janet' })
    expect(res.status, res.raw).toBe(200)
    const { firstName, updatedAt, ...rest } = res.body
    const { firstName: _f, updatedAt: oldUpdated, ...oldRest } = created
    expect(firstName).toBe('Janet')
    expect(rest).toEqual(oldRest)
    expect(Date.parse(updatedAt)).toBeGreaterThanOrEqual(Date.parse(oldUpdated))
    expect((await call('GET', `/customer/${created.id}`)).body).toEqual(res.body)

    const cleared = await call('PATCH', `/customer/${created.id}`, { lastName: null })
    expect(cleared.body).toMatchObject({ firstName: 'Janet', lastName: null, email: created.email, phone: '+12127365101', metadata: { a: 1 } })
    expect(await eventCount(created.id)).toBe(3) // created + two updates
  })

  it('emits no event when the patch changes nothing', async () => {
    const created = await make()
    const res = await call('PATCH', `/customer/${created.id}`, { firstName: 'Jane', email: created.email.toUpperCase() })
    expect(res.status).toBe(200)
    expect(res.body).toEqual(created)
    expect(await eventCount(created.id)).toBe(1)
  })

  it('refuses an empty patch', async () => {
    const created = await make()
    expectError(await call('PATCH', `/customer/${created.id}`, {}), 400, 'EMPTY_PATCH')
  })

  it('merges metadata key by key, a null value removing the key', async () => {
    const created = await make({ metadata: { keep: 'yes', drop: 1, nested: { x: 1 } } })
    const res = await call('PATCH', `/customer/${created.id}`, { metadata: { drop: null, added: [1, 2], nested: { y: 2 } } })
    expect(res.status, res.raw).toBe(200)
    expect(res.body.metadata).toEqual({ keep: 'yes', added: [1, 2], nested: { y: 2 } })
    const again = await call('PATCH', `/customer/${created.id}`, { metadata: { missing: null } })
    expect(again.body.metadata).toEqual({ keep: 'yes', added: [1, 2], nested: { y: 2 } })
    const { rows } = await sql<{ payload: { changed: string[] } }>`
      SELECT payload FROM events WHERE customer_id = ${created.id} AND type = 'customer.updated'`.execute(hub.database.db)
    expect(rows.map((r) => r.payload.changed)).toEqual([['metadata']])
  })

  it('moves the email identity on change: the old email is free again and the new one unverified', async () => {
    const a = await make()
    await hub.database.db.updateTable('customers').set({ email_verified: true }).where('id', '=', a.id).execute()
    expect((await call('GET', `/customer/${a.id}`)).body.emailVerified).toBe(true)
    const newEmail = uniqueEmail('moved')
    const res = await call('PATCH', `/customer/${a.id}`, { email: `  ${newEmail.toUpperCase()}` })
    expect(res.status, res.raw).toBe(200)
    expect(res.body.email).toBe(newEmail)
    expect(res.body.emailVerified).toBe(false)
    const identities = await hub.database.db.selectFrom('identities').select(['kind', 'value']).where('customer_id', '=', a.id).execute()
    expect(identities).toEqual([{ kind: 'email', value: newEmail }])

    const b = await call('POST', '/customer', { email: a.email, password: 'takes the old one' })
    expect(b.status, b.raw).toBe(201)
    expectError(await call('POST', '/customer', { email: newEmail }), 409, 'EMAIL_TAKEN')
  })

  it('refuses a patch to a taken email with 409 and changes nothing', async () => {
    const a = await make({ phone: '+12127365102' })
    const b = await make()
    const before = await counts(hub)
    const res = await call('PATCH', `/customer/${a.id}`, { email: b.email.toUpperCase(), firstName: 'Changed', metadata: { x: 1 } })
    expectError(res, 409, 'EMAIL_TAKEN')
    expect((await call('GET', `/customer/${a.id}`)).body).toEqual(a)
    expect((await call('GET', `/customer/${b.id}`)).body).toEqual(b)
    expect(await counts(hub)).toEqual(before)
    const identities = await hub.database.db.selectFrom('identities').select(['kind', 'value']).where('customer_id', '=', a.id).orderBy('kind').execute()
    expect(identities).toEqual([{ kind: 'email', value: a.email }, { kind: 'phone', value: '+12127365102' }])
  })

  it('refuses a patch to a taken phone with 409 PHONE_TAKEN; a phone set to null frees it', async () => {
    const a = await make({ phone: '+12127365103' })
    const b = await make()
    expectError(await call('PATCH', `/customer/${b.id}`, { phone: '(212) 736-5103' }), 409, 'PHONE_TAKEN')
    expect((await call('GET', `/customer/${b.id}`)).body.phone).toBeNull()
    const cleared = await call('PATCH', `/customer/${a.id}`, { phone: null })
    expect(cleared.body.phone).toBeNull()
    const moved = await call('PATCH', `/customer/${b.id}`, { phone: '(212) 736-5103' })
    expect(moved.status, moved.raw).toBe(200)
    expect(moved.body.phone).toBe('+12127365103')
  })

  it('refuses an invalid email or phone in a patch and changes nothing', async () => {
    const a = await make()
    expectError(await call('PATCH', `/customer/${a.id}`, { email: 'nope' }), 400, 'INVALID_EMAIL')
    expectError(await call('PATCH', `/customer/${a.id}`, { phone: '12345' }), 400, 'INVALID_PHONE')
    expect((await call('GET', `/customer/${a.id}`)).body).toEqual(a)
  })

  it('soft-deletes: GET answers 404, the row stays, the email and phone are free again', async () => {
    const a = await make({ phone: '+12127365104' })
    const del = await call('DELETE', `/customer/${a.id}`)
    expect(del.status, del.raw).toBe(200)
    expect(del.body).toEqual({ deleted: true, id: a.id })
    expectError(await call('GET', `/customer/${a.id}`), 404, 'CUSTOMER_NOT_FOUND')
    expectError(await call('PATCH', `/customer/${a.id}`, { firstName: 'Ghost' }), 404, 'CUSTOMER_NOT_FOUND')
    expectError(await call('DELETE', `/customer/${a.id}`), 404, 'CUSTOMER_NOT_FOUND')
    expectError(await call('POST', `/customer/${a.id}/group`, { group: 'vip' }), 404, 'CUSTOMER_NOT_FOUND')

    const row = await hub.database.db.selectFrom('customers').select(['deleted_at', 'email', 'first_name']).where('id', '=', a.id).executeTakeFirstOrThrow()
    expect(row.deleted_at).toBeInstanceOf(Date)
    expect(row.first_name).toBe('Jane')
    const { rows } = await sql<{ type: string }>`SELECT type FROM events WHERE customer_id = ${a.id} ORDER BY position`.execute(hub.database.db)
    expect(rows.map((r) => r.type)).toEqual(['customer.created', 'customer.deleted'])

    const again = await call('POST', '/customer', { email: a.email, phone: '+12127365104', password: 'new owner password' })
    expect(again.status, again.raw).toBe(201)
    expect(again.body.id).not.toBe(a.id)
    const list = await call('GET', `/customer?email=${encodeURIComponent(a.email)}`)
    expect(list.body.data.map((c: { id: string }) => c.id)).toEqual([again.body.id])
  })

  it('answers 404 CUSTOMER_NOT_FOUND for a malformed id exactly as for an unknown one', async () => {
    // a client cannot tell which ids are well-formed: every id no live customer has is a 404
    for (const bad of ['nope', 'cus_', 'addr_01JDA9Q3C7M2ZK8V4T6N1R5XWE', 'cus_01jda9q3c7m2zk8v4t6n1r5xwe', "cus_1' OR '1'='1"]) {
      const url = `/customer/${encodeURIComponent(bad)}`
      expectError(await call('GET', url), 404, 'CUSTOMER_NOT_FOUND')
      expectError(await call('PATCH', url, { firstName: 'X' }), 404, 'CUSTOMER_NOT_FOUND')
      expectError(await call('DELETE', url), 404, 'CUSTOMER_NOT_FOUND')
    }
    const unknown = newId('cus')
    expectError(await call('GET', `/customer/${unknown}`), 404, 'CUSTOMER_NOT_FOUND')
    expectError(await call('PATCH', `/customer/${unknown}`, { firstName: 'X' }), 404, 'CUSTOMER_NOT_FOUND')
    expectError(await call('DELETE', `/customer/${unknown}`), 404, 'CUSTOMER_NOT_FOUND')
    // refused by the router before any handler runs, still in the one error shape
    expectError(await call('GET', `/customer/cus_${'A'.repeat(200)}`), 400, 'VALIDATION_FAILED')
    expectError(await call('GET', '/customer/%E0%A4%A'), 400, 'VALIDATION_FAILED')
  })

  it('lets a platform token create, read and update, but not delete or list', async () => {
    const platform = await hub.platform()
    const created = await call('POST', '/customer', { email: uniqueEmail('plat'), firstName: 'Plat' }, platform)
    expect(created.status, created.raw).toBe(201)
    const read = await call('GET', `/customer/${created.body.id}`, undefined, platform)
    expect(read.status).toBe(200)
    expect(read.body).toEqual(created.body)
    const patched = await call('PATCH', `/customer/${created.body.id}`, { lastName: 'Form' }, platform)
    expect(patched.status).toBe(200)
    expect(patched.body.lastName).toBe('Form')

    const before = await counts(hub)
    expectError(await call('DELETE', `/customer/${created.body.id}`, undefined, platform), 403, 'FORBIDDEN')
    expectError(await call('GET', '/customer', undefined, platform), 403, 'FORBIDDEN')
    expectError(await call('GET', '/customer?group=vip&limit=5', undefined, platform), 403, 'FORBIDDEN')
    expect(await counts(hub)).toEqual(before)
    expect((await call('GET', `/customer/${created.body.id}`)).status).toBe(200)
  })
})
