import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'kysely'
import { createTestDatabase, createTestHub, type TestDatabase, type TestHub } from '../../test/helpers/test-hub.js'
import { client, expectError, unique } from '../../test/helpers/requests.js'
import { verifyPassword } from '../auth/passwords.js'

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

  it('turns the guest into the account: same id, orders, groups, identities and reward accounts kept', async () => {
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

    const res = await call('POST', '/customer', { email: email.toUpperCase(), password, lastName: 'Guest', phone: '081-555-0101' })
    expect(res.status, res.raw).toBe(201)
    expect(res.body).toMatchObject({
      id,
      email,
      firstName: 'Gina',
      lastName: 'Guest',
      phone: '+66815550101',
      hasAccount: true,
      groups: ['newsletter'],
      orderCount: 1,
      totalSpent: 1200,
      currency: 'USD',
    })
    expect(res.raw).not.toContain(password)
    const after = await snapshot(hub, id)
    expect(after.customers).toBe(customersBefore)
    expect(await verifyPassword(String((after.customer as any).password_hash), password)).toBe(true)
    const identities = (await call('GET', `/customer/${id}/identities`)).body.data
    expect(identities.map((i: any) => i.value).sort()).toEqual([email, platform.body.value, '+66815550101'].sort())
    expect((await call('GET', `/customer/${id}/reward-accounts`)).body.data).toEqual([{ ...reward, balance: 0, available: 0, held: 0, pending: 0, lots: [] }])
    expect((await call('GET', `/customer/${id}`)).body).toMatchObject({ id, hasAccount: true })

    const { rows } = await sql<{ type: string; payload: any }>`SELECT type, payload FROM events WHERE customer_id = ${id} AND type = 'customer.merged'`.execute(hub.database.db)
    expect(rows).toHaveLength(1)
    expect(rows[0]!.payload).toMatchObject({ reason: 'guest_registered', targetId: id, sourceId: id, customer: { id, hasAccount: true } })
    expect(JSON.stringify(rows[0]!.payload)).not.toContain(password)
  })

  it('turns a guest made by a sync into the account', async () => {
    const email = `${unique('synced')}@example.com`
    const synced = await call('POST', '/customer/sync', { platform: { component: 'identity.shop', externalId: unique('s') }, email })
    expect(synced.status, synced.raw).toBe(201)
    const res = await call('POST', '/customer', { email, password })
    expect(res.status, res.raw).toBe(201)
    expect(res.body).toMatchObject({ id: synced.body.documentId, hasAccount: true })
    const again = await call('POST', '/customer/sync', { platform: { component: 'identity.shop', externalId: synced.body.linked.find((i: any) => i.kind === 'platform').value } })
    expect(again.body).toMatchObject({ documentId: synced.body.documentId, customer: { hasAccount: true } })
  })

  it('refuses to register an email that already has an account with 409, changing nothing', async () => {
    const email = `${unique('acct')}@example.com`
    const first = await call('POST', '/customer', { email, password })
    expect(first.status).toBe(201)
    const before = await snapshot(hub, first.body.id)
    expectError(await call('POST', '/customer', { email, password: 'another long password' }), 409, 'EMAIL_TAKEN')
    expect(await snapshot(hub, first.body.id)).toEqual(before)
  })

  it('refuses a phone another customer holds with 409, leaving the guest a guest', async () => {
    const phone = '+66815550202'
    expect((await call('POST', '/customer', { email: `${unique('other')}@example.com`, phone })).status).toBe(201)
    const email = `${unique('guest')}@example.com`
    const guest = (await call('POST', '/customer', { email })).body
    const before = await snapshot(hub, guest.id)
    expectError(await call('POST', '/customer', { email, password, phone }), 409, 'PHONE_TAKEN')
    expect(await snapshot(hub, guest.id)).toEqual(before)
  })

  it('lets exactly one of two concurrent registrations of one guest win', async () => {
    for (let round = 0; round < 4; round++) {
      const email = `${unique('race')}@example.com`
      const guest = (await call('POST', '/customer', { email })).body
      const answers = await Promise.all([
        call('POST', '/customer', { email, password, firstName: 'One' }),
        call('POST', '/customer', { email, password, firstName: 'Two' }),
      ])
      expect(answers.map((a) => a.status).sort()).toEqual([201, 409])
      const winner = answers.find((a) => a.status === 201)!
      const loser = answers.find((a) => a.status === 409)!
      expect(winner.body.id).toBe(guest.id)
      expect(loser.body.code).toBe('EMAIL_TAKEN')
      const current = (await call('GET', `/customer/${guest.id}`)).body
      expect(current.firstName).toBe(winner.body.firstName)
      const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM events WHERE customer_id = ${guest.id} AND type = 'customer.merged'`.execute(hub.database.db)
      expect(rows[0]!.n).toBe(1)
      const holders = await sql`SELECT customer_id FROM identities WHERE kind = 'email' AND value = ${email}`.execute(hub.database.db)
      expect(holders.rows).toEqual([{ customer_id: guest.id }])
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
