import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'kysely'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'

const medusa = { component: 'identity.his-and-her-store', externalIdField: 'medusaCustomerId' }
const shopify = { component: 'identity.shopify-store', externalIdField: 'shopifyCustomerId' }
let n = 0
const unique = (prefix: string) => `${prefix}${++n}_${Math.random().toString(36).slice(2, 8)}`

describe('POST /customer/sync', () => {
  let hub: TestHub
  const sync = async (body: Record<string, unknown>) => hub.app.inject({ method: 'POST', url: '/customer/sync', headers: hub.admin, payload: body })
  const eventsOf = async (customerId: string) =>
    (await sql<{ type: string; payload: Record<string, unknown> }>`SELECT type, payload FROM events WHERE customer_id = ${customerId} ORDER BY position`.execute(hub.database.db)).rows

  beforeAll(async () => {
    hub = await createTestHub({ customer: { defaultCountry: 'TH' } })
  })
  afterAll(() => hub.close())

  it('creates a new person with every identity and a reward account', async () => {
    const res = await sync({ platform: { ...medusa, externalId: 'cus_abc123' }, email: ' Jane.Sync@Example.com ', phone: '081-234-5678', firstName: 'Jane', lastName: 'Doe', rewardLedger: 'reward-points' })
    expect(res.statusCode).toBe(201)
    const body = res.json()
    expect(body.created).toBe(true)
    expect(body.matchedBy).toBeNull()
    expect(body.documentId).toBe(body.customer.id)
    expect(body.customer).toMatchObject({ email: 'jane.sync@example.com', phone: '+66812345678', firstName: 'Jane', hasAccount: false })
    expect(body.rewardAccountCreated).toBe(true)
    expect(body.conflicts).toEqual([])
    expect(body.linked.map((i: { kind: string }) => i.kind).sort()).toEqual(['email', 'phone', 'platform'])
    const platform = body.linked.find((i: { kind: string }) => i.kind === 'platform')
    expect(platform).toMatchObject({ namespace: medusa.component, value: 'cus_abc123', externalIdField: 'medusaCustomerId' })
    const types = (await eventsOf(body.customer.id)).map((e) => e.type)
    expect(types).toEqual(['customer.created', 'reward_account.created'])
  })

  it('matches by platform id first, then email, then phone, and says which', async () => {
    const email = `${unique('m')}@example.com`
    const first = (await sync({ platform: { ...medusa, externalId: unique('pid') }, email, phone: '+66812000001' })).json()
    const byPlatform = (await sync({ platform: { ...medusa, externalId: first.linked.find((i: { kind: string }) => i.kind === 'platform').value } })).json()
    expect(byPlatform).toMatchObject({ created: false, matchedBy: 'platform', documentId: first.documentId })
    const byEmail = (await sync({ platform: { ...shopify, externalId: unique('shop') }, email: email.toUpperCase() })).json()
    expect(byEmail).toMatchObject({ created: false, matchedBy: 'email', documentId: first.documentId })
    expect(byEmail.linked).toHaveLength(1)
    expect(byEmail.linked[0]).toMatchObject({ kind: 'platform', namespace: shopify.component, externalIdField: 'shopifyCustomerId' })
    const byPhone = (await sync({ platform: { ...shopify }, phone: '0812000001' })).json()
    expect(byPhone).toMatchObject({ created: false, matchedBy: 'phone', documentId: first.documentId })
  })

  it('fills given fields, never blanks missing ones, and answers a no-op re-sync without writing', async () => {
    const externalId = unique('fill')
    const created = (await sync({ platform: { ...medusa, externalId }, email: `${externalId}@example.com`, firstName: 'Ann', lastName: 'Lee' })).json()
    const updated = (await sync({ platform: { ...medusa, externalId }, lastName: 'Smith' })).json()
    expect(updated.customer).toMatchObject({ firstName: 'Ann', lastName: 'Smith', email: `${externalId}@example.com` })
    const before = (await eventsOf(created.documentId)).length
    const again = (await sync({ platform: { ...medusa, externalId }, lastName: 'Smith' })).json()
    expect(again.matchedBy).toBe('platform')
    expect((await eventsOf(created.documentId)).length).toBe(before)
    expect((await eventsOf(created.documentId)).map((e) => e.type)).toContain('customer.updated')
  })

  it('refuses a phone-only match when the phone belongs to someone with another email', async () => {
    const phone = '+66812000777'
    const partner = (await sync({ platform: { ...medusa, externalId: unique('hh') }, email: `${unique('partner')}@example.com`, phone })).json()
    const res = await sync({ platform: { ...medusa, externalId: unique('hh') }, email: `${unique('spouse')}@example.com`, phone })
    const body = res.json()
    expect(res.statusCode).toBe(201)
    expect(body.created).toBe(true)
    expect(body.documentId).not.toBe(partner.documentId)
    expect(body.customer.phone).toBeNull()
    expect(body.conflicts).toEqual([{ kind: 'phone', namespace: '', value: phone, customerId: partner.documentId, reason: 'phone_shared_with_other_email' }])
    const types = (await eventsOf(body.documentId)).map((e) => e.type)
    expect(types).toContain('customer.identity_conflict')
  })

  it('updates the email match and leaves a phone owned by someone else with them', async () => {
    const a = (await sync({ platform: { ...medusa, externalId: unique('a') }, email: `${unique('a')}@example.com` })).json()
    const b = (await sync({ platform: { ...medusa, externalId: unique('b') }, email: `${unique('b')}@example.com`, phone: '+66812000888' })).json()
    const res = (await sync({ platform: { ...shopify, externalId: unique('s') }, email: a.customer.email, phone: '0812000888', firstName: 'Anna' })).json()
    expect(res).toMatchObject({ documentId: a.documentId, matchedBy: 'email', created: false })
    expect(res.customer.firstName).toBe('Anna')
    expect(res.customer.phone).toBeNull()
    expect(res.conflicts).toEqual([{ kind: 'phone', namespace: '', value: '+66812000888', customerId: b.documentId, reason: 'phone_shared_with_other_email' }])
    const bNow = (await hub.app.inject({ method: 'GET', url: `/customer/${b.documentId}`, headers: hub.admin })).json()
    expect(bNow.phone).toBe('+66812000888')
  })

  it('rejects bad input without writing', async () => {
    const count = async () => Number((await sql<{ n: string }>`SELECT count(*) AS n FROM customers`.execute(hub.database.db)).rows[0]!.n)
    const before = await count()
    expect((await sync({ platform: { ...medusa } })).json().code).toBe('IDENTIFIER_REQUIRED')
    // an invalid identifier is a 400 only when no valid one is left
    expect((await sync({ platform: { ...medusa }, email: 'not-an-email' })).json()).toMatchObject({ code: 'INVALID_EMAIL', details: { rejected: [{ field: 'email', value: 'not-an-email', code: 'INVALID_EMAIL' }] } })
    expect((await sync({ platform: { ...medusa }, phone: '12' })).json().code).toBe('INVALID_PHONE')
    expect((await sync({ platform: { ...medusa }, email: 'x@', phone: '12' })).json().details.rejected).toHaveLength(2)
    expect((await sync({ platform: { ...medusa, externalId: 'x1', defaultCountry: 'XX' } })).json().code).toBe('INVALID_COUNTRY')
    expect((await sync({ platform: { ...medusa, externalId: 'x1' }, rewardLedger: 'no-such-ledger' })).json().code).toBe('LEDGER_NOT_FOUND')
    expect((await sync({ platform: { ...medusa, externalId: 'x1' }, extra: 1 })).json().code).toBe('VALIDATION_FAILED')
    expect((await sync({ email: 'a@b.co' })).statusCode).toBe(400)
    expect(await count()).toBe(before)
  })

  it('is safe when many syncs of the same people arrive together', async () => {
    // Every request of a person carries the email, plus a different mix of the other identifiers.
    const people = Array.from({ length: 8 }, (_, i) => ({ email: `${unique('crowd')}@example.com`, medusa: unique('m'), shopify: unique('s'), phone: `+6681300${String(1000 + i)}` }))
    const requests = people.flatMap((p) => [
      { platform: { ...medusa, externalId: p.medusa }, email: p.email },
      { platform: { ...shopify, externalId: p.shopify }, email: p.email, phone: p.phone },
      { platform: { ...medusa, externalId: p.medusa }, email: p.email.toUpperCase(), phone: p.phone },
      { platform: { ...shopify, externalId: p.shopify }, email: p.email, rewardLedger: 'reward-points' },
    ])
    const answers = await Promise.all(requests.map((r) => sync(r)))
    expect(answers.map((a) => a.statusCode).filter((s) => s >= 300)).toEqual([])
    expect(answers.flatMap((a) => a.json().conflicts)).toEqual([])
    for (const p of people) {
      const { rows } = await sql<{ customer_id: string; n: string }>`
        SELECT customer_id, count(*) AS n FROM identities WHERE value IN (${p.email}, ${p.medusa}, ${p.shopify}, ${p.phone})
        GROUP BY customer_id`.execute(hub.database.db)
      expect(rows).toHaveLength(1)
      expect(Number(rows[0]!.n)).toBe(4)
      const created = answers.filter((a) => a.json().customer.email === p.email && a.json().created)
      expect(created).toHaveLength(1)
    }
  })
})

describe('the examples of docs/identity.md, in order', () => {
  it('land where the table says', async () => {
    const hub = await createTestHub({ customer: { defaultCountry: 'TH' } })
    try {
      const M = 'identity.his-and-her-store'
      const S = 'identity.shopify-store'
      const run = async (body: Record<string, unknown>) => (await hub.app.inject({ method: 'POST', url: '/customer/sync', headers: hub.admin, payload: body })).json()
      const r1 = await run({ platform: { component: M, externalId: 'cus_1' }, email: 'jane@x.com', phone: '+66812345678' })
      expect(r1).toMatchObject({ created: true, matchedBy: null })
      const A = r1.documentId
      expect(await run({ platform: { component: S, externalId: '77' }, email: 'JANE@x.com' })).toMatchObject({ documentId: A, matchedBy: 'email', linked: [{ kind: 'platform', value: '77' }] })
      const r3 = await run({ platform: { component: M, externalId: 'cus_1' }, lastName: 'Smith' })
      expect(r3).toMatchObject({ documentId: A, matchedBy: 'platform' })
      expect(r3.customer).toMatchObject({ lastName: 'Smith', email: 'jane@x.com', phone: '+66812345678' })
      const r4 = await run({ platform: { component: S, externalId: '88' }, email: 'bob@x.com', phone: '081-234-5678' })
      expect(r4).toMatchObject({ created: true, conflicts: [{ kind: 'phone', customerId: A, reason: 'phone_shared_with_other_email' }] })
      const B = r4.documentId
      expect(await run({ platform: { component: S, externalId: '99' }, phone: '+66812345678' })).toMatchObject({ documentId: A, matchedBy: 'phone' })
      const r6 = await run({ platform: { component: M, externalId: 'cus_2' }, email: 'bob@x.com', phone: '+66812345678' })
      expect(r6).toMatchObject({ documentId: B, matchedBy: 'email', linked: [{ kind: 'platform', value: 'cus_2' }], conflicts: [{ kind: 'phone', customerId: A, reason: 'phone_shared_with_other_email' }] })
    } finally {
      await hub.close()
    }
  })
})
