import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'kysely'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'

const store = 'identity.thai-store'
const shop = 'identity.us-shop'
const market = 'identity.marketplace'
let n = 0
const unique = (prefix: string) => `${prefix}${++n}_${Math.random().toString(36).slice(2, 8)}`
const email = () => `${unique('p')}@example.com`
/** A Thai mobile number no other test uses. */
const thaiPhone = () => `+6681${String(1_000_000 + Math.floor(Math.random() * 8_999_999)).padStart(7, '0')}`

type Body = Record<string, unknown>

describe('joining on sync', () => {
  let hub: TestHub
  const call = async (method: 'GET' | 'POST', url: string, payload?: Body) => {
    const res = await hub.app.inject({ method, url, headers: hub.admin, ...(payload ? { payload } : {}) })
    return { status: res.statusCode, body: res.json() }
  }
  const sync = async (body: Body) => {
    const res = await call('POST', '/customer/sync', body)
    if (res.status >= 300) throw new Error(`sync answered ${res.status}: ${JSON.stringify(res.body)}`)
    return res.body
  }
  const eventsOf = async (customerId: string) =>
    (await sql<{ type: string; payload: Record<string, any> }>`SELECT type, payload FROM events WHERE customer_id = ${customerId} ORDER BY position`.execute(hub.database.db)).rows

  beforeAll(async () => {
    hub = await createTestHub({ customer: { defaultCountry: 'US' }, identity: { components: { [shop]: { defaultCountry: 'US' }, [store]: { defaultCountry: 'TH' } } } })
  })
  afterAll(() => hub.close())

  it('joins a customer known only by a platform id into the one the later record names (the arrival-order split)', async () => {
    const id = unique('cus_')
    const mail = email()
    const byEmail = await sync({ platform: { component: shop, externalId: unique('shp_') }, email: mail })
    const thin = await sync({ platform: { component: store, externalId: id } })
    expect(thin.created).toBe(true)
    expect(thin.documentId).not.toBe(byEmail.documentId)

    const tie = await sync({ platform: { component: store, externalId: id }, email: mail })
    expect(tie).toMatchObject({ documentId: byEmail.documentId, matchedBy: 'email', conflicts: [], linked: [] })
    expect(tie.joined).toHaveLength(1)
    expect(tie.joined[0]).toMatchObject({ reason: 'sync', targetId: byEmail.documentId, sourceId: thin.documentId, undoneAt: null })

    expect((await call('GET', `/customer/${thin.documentId}`)).body).toMatchObject({ code: 'CUSTOMER_MERGED', details: { mergedInto: byEmail.documentId } })
    const identities = (await call('GET', `/customer/${byEmail.documentId}/identities`)).body.data
    expect(identities).toHaveLength(3)
    expect(identities.map((i: { value: string }) => i.value)).toEqual(expect.arrayContaining([id, mail]))
    const moved = identities.find((i: { value: string }) => i.value === id)
    expect(moved).toMatchObject({ mergeId: tie.joined[0].id, linkedBy: { via: 'sync', component: store, rule: 'new' } })
    expect((await eventsOf(byEmail.documentId)).map((e) => e.type)).toContain('customer.merged')
  })

  it('moves the joined customer’s points as ledger transfers, like an admin merge', async () => {
    const id = unique('cus_')
    const mail = email()
    const thin = await sync({ platform: { component: store, externalId: id }, rewardLedger: 'reward-points' })
    const earned = await call('POST', '/ledgers/reward-points/transactions', { kind: 'earn', idempotencyKey: unique('earn'), customerId: thin.documentId, amount: 120 })
    expect(earned.status).toBe(201)
    const main = await sync({ platform: { component: shop, externalId: unique('shp_') }, email: mail, rewardLedger: 'reward-points' })
    const tie = await sync({ platform: { component: store, externalId: id }, email: mail })
    expect(tie.joined).toHaveLength(1)
    const accounts = (await call('GET', `/customer/${main.documentId}/reward-accounts`)).body.data
    expect(accounts.find((a: { ledger: string }) => a.ledger === 'reward-points')).toMatchObject({ balance: 120, available: 120 })
    expect((await call('GET', '/ledgers/reward-points/verify')).body).toMatchObject({ ok: true })
  })

  it('joins an email-only and a phone-only customer when a record carries both', async () => {
    const mail = email()
    const phone = thaiPhone()
    const a = await sync({ platform: { component: market }, email: mail })
    const b = await sync({ platform: { component: market }, phone })
    const both = await sync({ platform: { component: market }, email: mail, phone })
    expect(both.joined).toHaveLength(1)
    expect(both.documentId).toBe(a.documentId)
    expect(both.customer).toMatchObject({ email: mail, phone })
    expect(both.joined[0].sourceId).toBe(b.documentId)
  })

  const neverJoined: [string, () => Promise<{ a: string; b: string; body: Body; reason: string }>][] = [
    ['each holds an email', async () => {
      const id = unique('cus_')
      const a = await sync({ platform: { component: store, externalId: id }, email: email() })
      const mail = email()
      const b = await sync({ platform: { component: shop }, email: mail })
      return { a: a.documentId, b: b.documentId, body: { platform: { component: store, externalId: id }, email: mail }, reason: 'different_email' }
    }],
    ['each holds a phone', async () => {
      const id = unique('cus_')
      const a = await sync({ platform: { component: store, externalId: id }, phone: thaiPhone() })
      const phone = thaiPhone()
      const b = await sync({ platform: { component: market }, phone })
      return { a: a.documentId, b: b.documentId, body: { platform: { component: store, externalId: id }, phone }, reason: 'different_phone' }
    }],
    ['each holds an id on the same platform', async () => {
      const id = unique('cus_')
      const mail = email()
      const a = await sync({ platform: { component: store, externalId: id } })
      const b = await sync({ platform: { component: store, externalId: unique('cus_') }, email: mail })
      return { a: a.documentId, b: b.documentId, body: { platform: { component: store, externalId: id }, email: mail }, reason: 'different_platform_id' }
    }],
    ['each has a login account', async () => {
      const mailA = email()
      const mailB = email()
      const a = await call('POST', '/customer', { email: mailA, password: 'correct horse battery' })
      const b = await call('POST', '/customer', { phone: thaiPhone(), email: mailB, password: 'correct horse battery' })
      const id = unique('cus_')
      await sync({ platform: { component: store, externalId: id }, email: mailA })
      // the record names account A by its platform id and account B by its phone: two accounts
      return { a: a.body.id, b: b.body.id, body: { platform: { component: store, externalId: id }, phone: b.body.phone }, reason: 'both_have_accounts' }
    }],
    ['their orders are in different currencies', async () => {
      const id = unique('cus_')
      const mail = email()
      const a = await sync({ platform: { component: store, externalId: id } })
      const b = await sync({ platform: { component: shop }, email: mail })
      for (const [customerId, currency] of [[a.documentId, 'THB'], [b.documentId, 'USD']] as const) {
        const order = await call('POST', '/orders', { platform: 'shop', externalId: unique('o'), customerId, total: 1000, currency, placedAt: new Date().toISOString() })
        expect(order.status).toBe(201)
      }
      return { a: a.documentId, b: b.documentId, body: { platform: { component: store, externalId: id }, email: mail }, reason: 'currency_differs' }
    }],
  ]
  for (const [name, setUp] of neverJoined) {
    it(`never joins two customers when ${name}: a conflict is reported and nothing moves`, async () => {
      const { a, b, body, reason } = await setUp()
      const answer = await sync(body)
      expect(answer.joined).toEqual([])
      expect([a, b]).toContain(answer.documentId)
      const other = answer.documentId === a ? b : a
      expect(answer.conflicts).toEqual([expect.objectContaining({ customerId: other, reason })])
      for (const id of [a, b]) expect((await call('GET', `/customer/${id}`)).status).toBe(200)
    })
  }

  it('does not join again two customers an admin separated by undoing their join', async () => {
    const id = unique('cus_')
    const mail = email()
    const thin = await sync({ platform: { component: store, externalId: id } })
    await sync({ platform: { component: shop }, email: mail })
    const tie = await sync({ platform: { component: store, externalId: id }, email: mail })
    const undo = await call('POST', `/merges/${tie.joined[0].id}/undo`)
    expect(undo.status).toBe(200)
    const identities = (await call('GET', `/customer/${thin.documentId}/identities`)).body.data
    expect(identities).toEqual([expect.objectContaining({ value: id, mergeId: null })])

    const again = await sync({ platform: { component: store, externalId: id }, email: mail })
    expect(again.joined).toEqual([])
    expect(again.documentId).toBe(thin.documentId)
    expect(again.conflicts).toEqual([expect.objectContaining({ kind: 'email', customerId: tie.documentId, reason: 'merge_undone' })])
  })

  it('with auto_merge off, reports what it would have joined as a conflict', async () => {
    const off = await createTestHub({ database: hub.database, identity: { autoMerge: 'off' } })
    try {
      const post = async (body: Body) => (await off.app.inject({ method: 'POST', url: '/customer/sync', headers: off.admin, payload: body })).json()
      const id = unique('cus_')
      const mail = email()
      const thin = await post({ platform: { component: store, externalId: id } })
      const main = await post({ platform: { component: shop }, email: mail })
      const tie = await post({ platform: { component: store, externalId: id }, email: mail })
      expect(tie).toMatchObject({ documentId: thin.documentId, joined: [], conflicts: [{ kind: 'email', customerId: main.documentId, reason: 'owned_by_other' }] })
    } finally {
      await off.app.close()
    }
  })

  it('syncs by the valid identifiers when one is invalid, and reports it in the answer and an event', async () => {
    const mail = email()
    const answer = await sync({ platform: { component: store, externalId: unique('cus_') }, email: ` ${mail.toUpperCase()} `, phone: '12' })
    expect(answer.created).toBe(true)
    expect(answer.customer).toMatchObject({ email: mail, phone: null })
    expect(answer.rejected).toEqual([{ field: 'phone', value: '12', code: 'INVALID_PHONE' }])
    expect(answer.linked.map((i: { kind: string }) => i.kind).sort()).toEqual(['email', 'platform'])
    const rejected = (await eventsOf(answer.documentId)).filter((e) => e.type === 'customer.identity_rejected')
    expect(rejected).toEqual([expect.objectContaining({ payload: { customerId: answer.documentId, component: store, rejected: answer.rejected } })])

    const again = await sync({ platform: { component: shop }, email: mail, phone: 'call me' })
    expect(again).toMatchObject({ documentId: answer.documentId, matchedBy: 'email', rejected: [{ field: 'phone', code: 'INVALID_PHONE' }] })
    const bad = await call('POST', '/customer/sync', { platform: { component: shop }, email: 'nobody@', phone: '12' })
    expect(bad.status).toBe(400)
    expect(bad.body.details.rejected.map((r: { field: string }) => r.field)).toEqual(['email', 'phone'])
  })

  it('reads local phone numbers in the platform’s country: the request’s, the component’s, then the hub’s', async () => {
    const th = await sync({ platform: { component: store, externalId: unique('cus_') }, phone: '081-234-0001' })
    expect(th.customer.phone).toBe('+66812340001')
    const us = await sync({ platform: { component: shop, externalId: unique('shp_') }, phone: '(415) 555-0123' })
    expect(us.customer.phone).toBe('+14155550123')
    const asked = await sync({ platform: { component: market, externalId: unique('m_'), defaultCountry: 'th' }, phone: '081-234-0002' })
    expect(asked.customer.phone).toBe('+66812340002')
    // the marketplace has no country of its own: the hub's default (US) reads this as a US number
    const fallback = await sync({ platform: { component: market, externalId: unique('m_') }, phone: '(212) 555-0134' })
    expect(fallback.customer.phone).toBe('+12125550134')
    const lookup = await call('GET', `/customer/lookup?component=${store}&phone=${encodeURIComponent('081-234-0001')}`)
    expect(lookup.body).toMatchObject({ matchedBy: 'phone', customer: { id: th.documentId } })
    expect((await call('GET', `/customer/lookup?phone=0812340002&defaultCountry=TH`)).body.customer.id).toBe(asked.documentId)
  })

  it('explains a customer: identities say how they were linked, the history lists what happened in order', async () => {
    const id = unique('cus_')
    const mail = email()
    const phone = thaiPhone()
    const thin = await sync({ platform: { component: store, externalId: id }, phone: '12' })
    const main = await sync({ platform: { component: shop, externalId: unique('shp_') }, email: mail })
    const tie = await sync({ platform: { component: store, externalId: id }, email: mail })
    const other = await sync({ platform: { component: market }, email: email(), phone })
    const clash = await sync({ platform: { component: shop }, email: mail, phone })
    expect(clash.conflicts).toEqual([expect.objectContaining({ kind: 'phone', customerId: other.documentId, reason: 'phone_shared_with_other_email' })])
    await call('POST', `/customer/${main.documentId}/identities`, { kind: 'platform', namespace: market, value: unique('m_') })

    const identities = (await call('GET', `/customer/${main.documentId}/identities`)).body.data
    expect(identities).toHaveLength(4)
    expect(identities.map((i: any) => [i.kind, i.linkedBy, i.mergeId])).toEqual(expect.arrayContaining([
      ['platform', { via: 'sync', component: store, rule: 'new' }, tie.joined[0].id],
      ['platform', { via: 'sync', component: shop, rule: 'new' }, null],
      ['email', { via: 'sync', component: shop, rule: 'new' }, null],
      ['platform', { via: 'api', component: null, rule: null }, null],
    ]))

    const history = (await call('GET', `/customer/${main.documentId}/history`)).body
    expect(history.nextCursor).toBeNull()
    expect(history.data.map((e: any) => [e.kind, e.customerId])).toEqual([
      ['created', thin.documentId],
      ['identity_rejected', thin.documentId],
      ['created', main.documentId],
      ['merged', main.documentId],
      ['identity_conflict', main.documentId],
      ['identity_linked', main.documentId],
    ])
    // each creation with the identities it was made with (those the customer still holds)
    expect(history.data[0].identities.map((i: any) => i.value)).toEqual([id])
    expect(history.data[0].summary).toBe(`Created by a sync from ${store} with ${store} id ${id}.`)
    expect(history.data[2].identities.map((i: any) => i.kind).sort()).toEqual(['email', 'platform'])
    const merged = history.data.find((e: any) => e.kind === 'merged')
    expect(merged.merge).toMatchObject({ id: tie.joined[0].id, reason: 'sync' })
    expect(merged.summary).toContain('joined by a sync')
    expect(history.data[4].summary).toContain('households share phones')
    const sequences = history.data.map((e: any) => BigInt(e.sequence))
    expect([...sequences].sort((a, b) => (a < b ? -1 : 1))).toEqual(sequences)

    const page = (await call('GET', `/customer/${main.documentId}/history?limit=2`)).body
    expect(page.data).toHaveLength(2)
    const rest = (await call('GET', `/customer/${main.documentId}/history?cursor=${page.nextCursor}`)).body
    expect([...page.data, ...rest.data]).toEqual(history.data)
    expect((await call('GET', `/customer/${main.documentId}/history?cursor=abc`)).body.code).toBe('INVALID_CURSOR')
    expect((await call('GET', `/customer/${thin.documentId}/history`)).body.code).toBe('CUSTOMER_MERGED')
  })

  it('ends with one customer per person when the arrival-order split happens concurrently (the 16 people of the report)', async () => {
    const people = Array.from({ length: 16 }, () => ({ email: email(), storeId: unique('cus_'), shopId: unique('shp_') }))
    const records = people.flatMap((p) => [
      { platform: { component: store, externalId: p.storeId }, email: p.email },
      { platform: { component: store, externalId: p.storeId } },
      { platform: { component: shop, externalId: p.shopId }, email: p.email },
      { platform: { component: shop, externalId: p.shopId }, email: p.email },
    ])
    // the platform-id-only records first, then the rest all at once
    await Promise.all(records.filter((r) => !('email' in r)).map(sync))
    await Promise.all(records.filter((r) => 'email' in r).map(sync))
    for (const p of people) {
      const { rows } = await sql<{ customer_id: string }>`SELECT DISTINCT customer_id FROM identities WHERE value IN (${p.email}, ${p.storeId}, ${p.shopId})`.execute(hub.database.db)
      expect(rows).toHaveLength(1)
    }
  })
})

describe('the joining examples of docs/identity.md, in order', () => {
  it('land where the table says', async () => {
    const T = 'identity.thai-store'
    const U = 'identity.us-shop'
    const K = 'identity.marketplace'
    const hub = await createTestHub({ identity: { components: { [T]: { defaultCountry: 'TH' }, [U]: { defaultCountry: 'US' } } } })
    try {
      const run = async (body: Body) => (await hub.app.inject({ method: 'POST', url: '/customer/sync', headers: hub.admin, payload: body })).json()
      const r1 = await run({ platform: { component: T, externalId: 'c1' } })
      const A = r1.documentId
      const r2 = await run({ platform: { component: U, externalId: 'u1' }, email: 'ann@x.com' })
      const B = r2.documentId
      const r3 = await run({ platform: { component: T, externalId: 'c1' }, email: 'ann@x.com' })
      expect(r3).toMatchObject({ documentId: B, matchedBy: 'email', conflicts: [], joined: [{ reason: 'sync', sourceId: A, targetId: B }] })
      const r4 = await run({ platform: { component: T, externalId: 'c2' }, email: 'bob@x.com', phone: '081-234-5678' })
      expect(r4).toMatchObject({ created: true, customer: { phone: '+66812345678' } })
      const C = r4.documentId
      const r5 = await run({ platform: { component: K, externalId: 'k9' }, email: 'carol@x.com', phone: '+66812345678' })
      expect(r5).toMatchObject({ created: true, conflicts: [{ kind: 'phone', customerId: C, reason: 'phone_shared_with_other_email' }] })
      const D = r5.documentId
      const r6 = await run({ platform: { component: T, externalId: 'c2' }, email: 'carol@x.com' })
      expect(r6).toMatchObject({ documentId: C, joined: [], conflicts: [{ kind: 'email', customerId: D, reason: 'different_email' }] })
      const r7 = await run({ platform: { component: U, externalId: 'u1' }, phone: '12' })
      expect(r7).toMatchObject({ documentId: B, matchedBy: 'platform', rejected: [{ field: 'phone', value: '12', code: 'INVALID_PHONE' }] })
      const r8 = await hub.app.inject({ method: 'POST', url: `/merges/${r3.joined[0].id}/undo`, headers: hub.admin })
      expect(r8.statusCode).toBe(200)
      const r9 = await run({ platform: { component: T, externalId: 'c1' }, email: 'ann@x.com' })
      expect(r9).toMatchObject({ documentId: A, joined: [], conflicts: [{ kind: 'email', customerId: B, reason: 'merge_undone' }] })
    } finally {
      await hub.close()
    }
  })
})
