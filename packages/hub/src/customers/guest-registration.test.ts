import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'kysely'
import { createTestDatabase, createTestHub, type TestDatabase, type TestHub } from '../../test/helpers/test-hub.js'
import { client, expectError, unique } from '../../test/helpers/requests.js'
import { verifyPassword } from '../auth/passwords.js'
import { sentToken } from '../../test/helpers/sent-tokens.js'

const password = 'a long enough password'

async function snapshot(hub: TestHub, customerId: string) {
  const db = hub.database.db
  const customer = await sql`SELECT id, email, phone, first_name, last_name, has_account, password_hash, groups, order_count, currency, deleted_at
    FROM customers WHERE id = ${customerId}`.execute(db)
  const identities = await sql`SELECT id, kind, value FROM identities WHERE customer_id = ${customerId} ORDER BY id`.execute(db)
  const events = await sql`SELECT id FROM events WHERE customer_id = ${customerId}`.execute(db)
  const total = await sql<{ n: number }>`SELECT count(*)::int AS n FROM customers`.execute(db)
  return { customer: customer.rows[0], identities: identities.rows, events: events.rows.length, customers: total.rows[0]!.n }
}

// one database for the file; hubs with other settings are built over it
let database: TestDatabase
beforeAll(async () => {
  database = await createTestDatabase()
})
afterAll(async () => database?.close())

describe('registering with the email of a guest record', () => {
  let hub: TestHub
  let call: ReturnType<typeof client>
  beforeAll(async () => {
    hub = await createTestHub({ database, customer: { defaultCountry: 'TH' } })
    call = client(hub)
  })
  afterAll(async () => hub?.close())

  it('waits for the email to be verified: the registrant learns nothing of the guest and cannot log in until then', async () => {
    const email = `${unique('guest')}@example.com`
    const guest = await call('POST', '/customer', { email, firstName: 'Gina', phone: '081-555-0303' })
    expect(guest.status, guest.raw).toBe(201)
    const id = guest.body.id
    const before = await snapshot(hub, id)

    const res = await call('POST', '/customer', { email: email.toUpperCase(), password, lastName: 'Guest' })
    expect(res.status, res.raw).toBe(202)
    expect(res.body).toEqual({ pendingVerification: true, email, expiresAt: expect.any(String) })
    // the guest is as it was (one more event: the verification request), and the password opens nothing
    expect({ ...(await snapshot(hub, id)), events: before.events }).toEqual(before)
    expectError(await call('POST', '/auth/login', { email, password }), 401, 'INVALID_CREDENTIALS')
    const { rows } = await sql<{ payload: any }>`SELECT payload FROM events WHERE customer_id = ${id} AND type = 'customer.verification_requested'`.execute(hub.database.db)
    expect(rows).toHaveLength(1)
    expect(rows[0]!.payload).toMatchObject({ customerId: id, email, registration: true })
    expect(JSON.stringify(rows[0]!.payload)).not.toContain(password)
    const stored = await sql<{ password_hash: string; token_hash: string }>`SELECT password_hash, token_hash FROM one_time_tokens WHERE customer_id = ${id}`.execute(hub.database.db)
    expect(JSON.stringify(stored.rows)).not.toContain(password)
  })

  it('turns the guest into the account once the token comes back: same id, orders, groups, identities and reward accounts kept', async () => {
    const email = `${unique('guest')}@example.com`
    const guest = await call('POST', '/customer', { email, firstName: 'Gina' })
    expect(guest.status, guest.raw).toBe(201)
    expect(guest.body.hasAccount).toBe(false)
    const id = guest.body.id
    await call('POST', `/customer/${id}/group`, { group: 'newsletter' })
    const order = await call('POST', '/orders', { platform: 'shop', externalId: unique('o'), customerId: id, total: 1200, currency: 'USD', placedAt: new Date().toISOString() })
    expect(order.status).toBe(201)
    const platform = await call('POST', `/customer/${id}/identities`, { kind: 'platform', namespace: 'identity.shop', value: unique('p') })
    expect(platform.status).toBe(201)
    const reward = (await call('POST', `/customer/${id}/reward-accounts`, { ledger: 'reward-points' })).body.account
    const customersBefore = (await snapshot(hub, id)).customers

    expect((await call('POST', '/customer', { email: email.toUpperCase(), password, lastName: 'Guest', phone: '081-555-0101' })).status).toBe(202)
    const verified = await call('POST', '/auth/verify-email', { token: await sentToken(hub, id, 'customer.verification_requested') })
    expect(verified.status, verified.raw).toBe(200)
    expect(verified.body).toEqual({ customerId: id, emailVerified: true })
    const res = await call('GET', `/customer/${id}`)
    expect(res.body).toMatchObject({
      id,
      email,
      firstName: 'Gina',
      lastName: 'Guest',
      phone: '+66815550101',
      hasAccount: true,
      emailVerified: true,
      groups: ['newsletter'],
      orderCount: 1,
      totalSpent: 1200,
      currency: 'USD',
    })
    const after = await snapshot(hub, id)
    expect(after.customers).toBe(customersBefore)
    expect(await verifyPassword(String((after.customer as any).password_hash), password)).toBe(true)
    const identities = (await call('GET', `/customer/${id}/identities`)).body.data
    expect(identities.map((i: any) => i.value).sort()).toEqual([email, platform.body.value, '+66815550101'].sort())
    expect((await call('GET', `/customer/${id}/reward-accounts`)).body.data).toEqual([{ ...reward, balance: 0, available: 0, held: 0, pending: 0, lots: [] }])
    expect((await call('POST', '/auth/login', { email, password })).status).toBe(200)

    const { rows } = await sql<{ type: string; payload: any }>`SELECT type, payload FROM events WHERE customer_id = ${id} AND type = 'customer.merged'`.execute(hub.database.db)
    expect(rows).toHaveLength(1)
    expect(rows[0]!.payload).toMatchObject({ reason: 'guest_registered', targetId: id, sourceId: id, customer: { id, hasAccount: true } })
    expect(JSON.stringify(rows[0]!.payload)).not.toContain(password)
  })

  it('turns a guest made by a sync into the account', async () => {
    const email = `${unique('synced')}@example.com`
    const synced = await call('POST', '/customer/sync', { platform: { component: 'identity.shop', externalId: unique('s') }, email })
    expect(synced.status, synced.raw).toBe(201)
    const id = synced.body.documentId
    expect((await call('POST', '/customer', { email, password })).status).toBe(202)
    // a request for a new verification mail sends the pending registration's token again
    expect((await call('POST', '/auth/verify-email/request', { email })).status).toBe(202)
    const verified = await call('POST', '/auth/verify-email', { token: await sentToken(hub, id, 'customer.verification_requested') })
    expect(verified.status, verified.raw).toBe(200)
    const again = await call('POST', '/customer/sync', { platform: { component: 'identity.shop', externalId: synced.body.linked.find((i: any) => i.kind === 'platform').value } })
    expect(again.body).toMatchObject({ documentId: id, customer: { hasAccount: true } })
  })

  it('refuses to register an email that already has an account with 409, changing nothing', async () => {
    const email = `${unique('acct')}@example.com`
    const first = await call('POST', '/customer', { email, password })
    expect(first.status).toBe(201)
    const before = await snapshot(hub, first.body.id)
    expectError(await call('POST', '/customer', { email, password: 'another long password' }), 409, 'EMAIL_TAKEN')
    expect(await snapshot(hub, first.body.id)).toEqual(before)
  })

  it('refuses a phone another customer holds with 409 at the token, leaving the guest a guest', async () => {
    const phone = '+66815550202'
    expect((await call('POST', '/customer', { email: `${unique('other')}@example.com`, phone })).status).toBe(201)
    const email = `${unique('guest')}@example.com`
    const guest = (await call('POST', '/customer', { email })).body
    expect((await call('POST', '/customer', { email, password, phone })).status).toBe(202)
    const before = await snapshot(hub, guest.id)
    expectError(await call('POST', '/auth/verify-email', { token: await sentToken(hub, guest.id, 'customer.verification_requested') }), 409, 'PHONE_TAKEN')
    expect(await snapshot(hub, guest.id)).toEqual(before)
  })

  it('of two registrations waiting for one guest, the first token back wins and the other stops working', async () => {
    for (let round = 0; round < 4; round++) {
      const email = `${unique('race')}@example.com`
      const guest = (await call('POST', '/customer', { email })).body
      const tokens: string[] = []
      for (const firstName of ['One', 'Two']) {
        expect((await call('POST', '/customer', { email, password, firstName })).status).toBe(202)
        tokens.push(await sentToken(hub, guest.id, 'customer.verification_requested'))
      }
      const answers = await Promise.all(tokens.map((token) => call('POST', '/auth/verify-email', { token })))
      expect(answers.map((a) => a.status).sort()).toEqual([200, 400])
      const winner = answers.findIndex((a) => a.status === 200)
      expect(answers[1 - winner]!.body.code).toBe('INVALID_TOKEN')
      const current = (await call('GET', `/customer/${guest.id}`)).body
      expect(current).toMatchObject({ hasAccount: true, firstName: ['One', 'Two'][winner] })
      const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM events WHERE customer_id = ${guest.id} AND type = 'customer.merged'`.execute(hub.database.db)
      expect(rows[0]!.n).toBe(1)
      const holders = await sql`SELECT customer_id FROM identities WHERE kind = 'email' AND value = ${email}`.execute(hub.database.db)
      expect(holders.rows).toEqual([{ customer_id: guest.id }])
    }
  })
})

describe('registering over a guest without email verification', () => {
  it('makes a new account with the email; the guest keeps its history and a sync does not join them', async () => {
    const hub = await createTestHub({ database, customer: { requireEmailVerification: false } })
    try {
      const call = client(hub)
      const email = `${unique('open')}@example.com`
      const externalId = unique('g')
      const guest = (await call('POST', '/customer/sync', { platform: { component: 'identity.shop', externalId }, email, firstName: 'Gina', phone: '+14155550199' })).body
      const order = await call('POST', '/orders', { platform: 'shop', externalId: unique('o'), customerId: guest.documentId, total: 900, currency: 'USD', placedAt: new Date().toISOString() })
      expect(order.status).toBe(201)

      const res = await call('POST', '/customer', { email, password, firstName: 'Mallory' })
      expect(res.status, res.raw).toBe(201)
      expect(res.body).toMatchObject({ email, firstName: 'Mallory', hasAccount: true, orderCount: 0, phone: null })
      expect(res.body.id).not.toBe(guest.documentId)
      expect((await call('GET', `/customer/${guest.documentId}`)).body).toMatchObject({ email: null, firstName: 'Gina', phone: '+14155550199', orderCount: 1, hasAccount: false })

      // the shopper's next checkout names both: the account's email is unverified, so they stay apart
      const sync = await call('POST', '/customer/sync', { platform: { component: 'identity.shop', externalId }, email })
      expect(sync.status, sync.raw).toBe(200)
      expect(sync.body.documentId).toBe(guest.documentId)
      expect(sync.body.joined ?? []).toEqual([])
      expect(sync.body.conflicts).toEqual([expect.objectContaining({ kind: 'email', customerId: res.body.id, reason: 'account_unverified' })])
      expect((await call('GET', `/customer/${guest.documentId}`)).body.orderCount).toBe(1)
    } finally {
      await hub.close()
    }
  })
})

describe('registering with auto_merge_guest off', () => {
  it('refuses the email of a guest with 409 EMAIL_TAKEN and leaves the guest as it was', async () => {
    const hub = await createTestHub({ database, customer: { autoMergeGuest: false } })
    try {
      const call = client(hub)
      const email = `${unique('kept')}@example.com`
      const guest = (await call('POST', '/customer', { email })).body
      const before = await snapshot(hub, guest.id)
      expectError(await call('POST', '/customer', { email, password }), 409, 'EMAIL_TAKEN')
      expect(await snapshot(hub, guest.id)).toEqual(before)
      expect((await call('GET', `/customer/${guest.id}`)).body.hasAccount).toBe(false)
    } finally {
      await hub.close()
    }
  })
})
