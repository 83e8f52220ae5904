import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'kysely'
import { Value } from 'typebox/value'
import { PersonExport, exportSchemaVersion, type Session } from '@his-her/contract'
import { exportPerson } from '../src/flows/export-person.js'
import { createTestHub, type TestHub } from './helpers/test-hub.js'
import { bearer, client, expectError, unique, type Call } from './helpers/requests.js'

let hub: TestHub
let call: Call
const password = 'correct horse battery'

beforeAll(async () => {
  hub = await createTestHub({ customer: { requireEmailVerification: false } })
  call = client(hub)
})
afterAll(async () => hub?.close())

async function login(email: string): Promise<Record<string, string>> {
  const res = await call('POST', '/auth/login', { email, password }, {})
  expect(res.status, res.raw).toBe(200)
  return bearer((res.body as Session).accessToken)
}

const points = (body: Record<string, unknown>) => call('POST', '/ledgers/reward-points/transactions', { idempotencyKey: unique('k'), ...body })

async function order(customerId: string, total: number) {
  const body = { platform: 'shop', externalId: unique('order'), customerId, total, currency: 'USD', placedAt: new Date().toISOString() }
  const res = await call('POST', '/orders', body)
  expect(res.status, res.raw).toBe(201)
  return body.externalId
}

describe('GET /customer/:id/export and /customer/me/export', () => {
  let person: string
  let email: string
  let absorbed: string
  let absorbedEmail: string
  let separated: string
  let headers: Record<string, string>
  let doc: PersonExport
  let raw: string

  beforeAll(async () => {
    email = `${unique('export')}@example.com`
    const created = await call('POST', '/customer', { email, password, firstName: 'Ada', lastName: 'Lovelace' })
    expect(created.status, created.raw).toBe(201)
    person = created.body.id
    const platform = await hub.platform()
    const synced = await call('POST', '/customer/sync', { platform: { component: 'identity.shop', externalIdField: 'shopCustomerId', externalId: unique('shop') }, email }, platform)
    expect(synced.status, synced.raw).toBe(200)
    expect(synced.body.customer.id).toBe(person)
    expect((await call('POST', `/customer/${person}/address`, { line1: '12 Analytical Row', city: 'London', country: 'GB' })).status).toBe(201)
    expect((await call('POST', `/customer/${person}/group`, { group: 'vip' })).status).toBe(200)
    await order(person, 5000)
    expect((await points({ kind: 'earn', customerId: person, amount: 500 })).status).toBe(201)
    expect((await points({ kind: 'spend', customerId: person, amount: 120 })).status).toBe(201)

    // another record of the same person, with data and events of its own, merged into it
    absorbedEmail = `${unique('absorbed')}@example.com`
    const other = await call('POST', '/customer', { email: absorbedEmail, phone: '+14155550123', firstName: 'Augusta' })
    expect(other.status, other.raw).toBe(201)
    absorbed = other.body.id
    expect((await call('POST', `/customer/${absorbed}/address`, { line1: '1 Ockham Park', city: 'Surrey', country: 'GB' })).status).toBe(201)
    expect((await call('POST', `/customer/${absorbed}/group`, { group: 'newsletter' })).status).toBe(200)
    await order(absorbed, 700)
    expect((await points({ kind: 'earn', customerId: absorbed, amount: 80 })).status).toBe(201)
    const merged = await call('POST', `/customer/${person}/merge`, { sourceId: absorbed })
    expect(merged.status, merged.raw).toBe(200)

    // a record merged and separated again: the merge is the person's, its data is not
    const third = await call('POST', '/customer', { email: `${unique('separated')}@example.com` })
    separated = third.body.id
    const merge = await call('POST', `/customer/${person}/merge`, { sourceId: separated })
    expect((await call('POST', `/merges/${merge.body.merge.id}/undo`)).status).toBe(200)

    headers = await login(email)
    const res = await call('GET', `/customer/${person}/export`)
    expect(res.status, res.raw).toBe(200)
    doc = res.body
    raw = res.raw
  })

  it('answers one document of the declared schema, version 1', () => {
    expect(Value.Check(PersonExport, doc), JSON.stringify([...Value.Errors(PersonExport, doc)].slice(0, 3))).toBe(true)
    expect(doc.schemaVersion).toBe(exportSchemaVersion)
    expect(doc.schemaVersion).toBe(1)
    expect(doc.customerId).toBe(person)
    expect(Date.parse(doc.exportedAt)).not.toBeNaN()
    expect(doc.description).toContain('Coupons are left out')
  })

  it('holds the profile, identities with their provenance, addresses, groups and orders of the person and of the record merged into it', () => {
    expect(doc.profile).toMatchObject({ id: person, email, firstName: 'Ada', lastName: 'Lovelace', phone: '+14155550123', orderCount: 2, totalSpent: 5700 })
    expect([...doc.groups].sort()).toEqual(['newsletter', 'vip'])
    expect(doc.absorbedCustomers).toEqual([{ profile: expect.objectContaining({ id: absorbed, firstName: 'Augusta' }), mergedInto: person }])

    const platformIdentity = doc.identities.find((i) => i.kind === 'platform')
    expect(platformIdentity).toMatchObject({ customerId: person, namespace: 'identity.shop', externalIdField: 'shopCustomerId', linkedBy: { via: 'sync', component: 'identity.shop' }, mergeId: null })
    const mergeId = doc.merges.find((m) => m.sourceId === absorbed)!.id
    expect(doc.identities.filter((i) => i.mergeId === mergeId).map((i) => i.value).sort()).toEqual([absorbedEmail, '+14155550123'].sort())
    expect(doc.identities.map((i) => i.value)).toContain(email)

    expect(doc.addresses.map((a) => a.line1).sort()).toEqual(['1 Ockham Park', '12 Analytical Row'])
    expect(doc.addresses.every((a) => a.customerId === person)).toBe(true)
    expect(doc.orders.map((o) => o.total)).toEqual([5000, 700])
    expect(doc.orders.every((o) => o.cancelledAt === null && o.platform === 'shop')).toBe(true)
    expect(doc.coupons).toEqual([])
  })

  it('holds the reward accounts of both records with their entries: points earned, spent and moved by the merge', () => {
    const own = doc.rewardAccounts.find((a) => a.customerId === person)!
    const theirs = doc.rewardAccounts.find((a) => a.customerId === absorbed)!
    expect(own).toMatchObject({ ledger: 'reward-points', entriesTruncated: false })
    expect(own.balance).toBe(380 + 80)
    expect(own.entries.map((e) => e.kind).sort()).toEqual(['earn', 'merge', 'spend'])
    expect(own.entries[0]!.balanceAfter).toBe(own.balance) // newest first
    expect(theirs.balance).toBe(0)
    expect(theirs.entries.map((e) => e.kind).sort()).toEqual(['earn', 'merge'])
  })

  it('holds every merge the person took part in, the undone one too, but not the separated record\'s data', () => {
    expect(doc.merges.map((m) => [m.sourceId, m.undoneAt === null])).toEqual([
      [absorbed, true],
      [separated, false],
    ])
    expect(doc.absorbedCustomers.map((c) => c.profile.id)).not.toContain(separated)
    expect(doc.events.some((e) => e.customerId === separated)).toBe(false)
  })

  it('holds the events about the person and about the record merged into it, in feed order', () => {
    const own = doc.events.filter((e) => e.customerId === person).map((e) => e.type)
    const theirs = doc.events.filter((e) => e.customerId === absorbed).map((e) => e.type)
    expect(own).toEqual(expect.arrayContaining(['customer.created', 'customer.identity_linked', 'customer.merged', 'customer.merge_undone', 'order.recorded']))
    expect(theirs).toEqual(expect.arrayContaining(['customer.created', 'order.recorded']))
    expect(doc.eventsTruncated).toBe(false)
    const sequences = doc.events.map((e) => BigInt(e.sequence))
    expect(sequences).toEqual([...sequences].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)))
  })

  it('past its limits holds the oldest events and the newest entries, and says so', async () => {
    const bounded = await exportPerson(hub.database.db, hub.app.services, person, { limits: { events: 3, entriesPerAccount: 2 } })
    expect(bounded.events).toEqual(doc.events.slice(0, 3))
    expect(bounded.eventsTruncated).toBe(true)
    const own = bounded.rewardAccounts.find((a) => a.customerId === person)!
    expect(own.entries).toEqual(doc.rewardAccounts.find((a) => a.customerId === person)!.entries.slice(0, 2))
    expect(own.entriesTruncated).toBe(true)
    const theirs = bounded.rewardAccounts.find((a) => a.customerId === absorbed)!
    expect(theirs.entries).toHaveLength(2)
    expect(theirs.entriesTruncated).toBe(false)
    expect({ ...bounded, exportedAt: doc.exportedAt, events: doc.events, eventsTruncated: false, rewardAccounts: doc.rewardAccounts }).toEqual(doc)
  })

  it('the customer\'s own export is the admin\'s', async () => {
    const mine = await call('GET', '/customer/me/export', undefined, headers)
    expect(mine.status, mine.raw).toBe(200)
    expect({ ...mine.body, exportedAt: doc.exportedAt }).toEqual(doc)
  })

  it('another customer\'s token exports only its own record and cannot name another', async () => {
    const otherEmail = `${unique('stranger')}@example.com`
    const stranger = await call('POST', '/customer', { email: otherEmail, password })
    const theirs = await login(otherEmail)
    const own = await call('GET', '/customer/me/export', undefined, theirs)
    expect(own.status, own.raw).toBe(200)
    expect(own.body.customerId).toBe(stranger.body.id)
    expect(own.raw).not.toContain(person)
    expect(own.raw).not.toContain(email)
    expectError(await call('GET', `/customer/${person}/export`, undefined, theirs), 403, 'FORBIDDEN')
    expectError(await call('GET', `/customer/${person}/export`, undefined, await hub.platform()), 403, 'FORBIDDEN')
  })

  it('holds no secret: neither the password, its hash nor any token or token hash', async () => {
    const db = hub.database.db
    const { rows: hashes } = await sql<{ secret: string }>`
      SELECT password_hash AS secret FROM customers WHERE id IN (${person}, ${absorbed}) AND password_hash IS NOT NULL
      UNION ALL SELECT token_hash FROM one_time_tokens WHERE customer_id IN (${person}, ${absorbed})
      UNION ALL SELECT password_hash FROM one_time_tokens WHERE customer_id IN (${person}, ${absorbed}) AND password_hash IS NOT NULL
      UNION ALL SELECT token_hash FROM refresh_tokens`.execute(db)
    expect(hashes.length).toBeGreaterThan(1) // the password hash and the session's refresh token at least
    for (const { secret } of hashes) expect(raw).not.toContain(secret)
    expect(raw).not.toContain(password)
    expect(raw).not.toContain(headers.authorization!.slice('Bearer '.length))
    // no field of that name anywhere (the description says in words that there is none)
    expect(JSON.stringify({ ...doc, description: '' })).not.toMatch(/password|token_?hash|\$argon2|\$scrypt/i)
  })

  it('a merged or unknown customer answers 410 or 404 as every route that names a customer', async () => {
    const merged = await call('GET', `/customer/${absorbed}/export`)
    expectError(merged, 410, 'CUSTOMER_MERGED')
    expect(merged.body.details).toEqual({ mergedInto: person })
    expectError(await call('GET', '/customer/cus_01JDA9Q3C7M2ZK8V4T6N1R5XWE/export'), 404, 'CUSTOMER_NOT_FOUND')
  })
})
