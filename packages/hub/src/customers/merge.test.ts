import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'kysely'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { client, expectError, unique, type Call } from '../../test/helpers/requests.js'

let hub: TestHub
let call: Call
let seq = 0
const newPhone = () => `+668${String(10_000_000 + (++seq * 7919) % 89_999_999).padStart(8, '0')}`

async function newCustomer(fields: Record<string, unknown> = {}): Promise<any> {
  const res = await call('POST', '/customer', { email: `${unique('c')}@example.com`, ...fields })
  expect(res.status, res.raw).toBe(201)
  return res.body
}

async function addAddress(customerId: string, line1: string, extra: Record<string, unknown> = {}) {
  const res = await call('POST', `/customer/${customerId}/address`, { line1, city: 'Bangkok', country: 'TH', ...extra })
  expect(res.status, res.raw).toBe(201)
  return res.body
}

async function order(customerId: string, total: number, currency = 'USD') {
  const res = await call('POST', '/orders', { platform: 'shop', externalId: unique('o'), customerId, total, currency, placedAt: new Date().toISOString() })
  expect(res.status, res.raw).toBe(201)
  return res.body
}

async function eventsOf(customerId: string) {
  const { rows } = await sql<{ type: string; payload: any }>`
    SELECT type, payload FROM events WHERE customer_id = ${customerId} ORDER BY position`.execute(hub.database.db)
  return rows
}

/** Everything a merge may touch of one customer, read from the database (live or merged). */
async function state(customerId: string) {
  const db = hub.database.db
  const customer = await sql<Record<string, unknown>>`
    SELECT id, email, phone, first_name, last_name, groups, currency, order_count, total_spent::text AS total_spent,
           address_count, has_account, metadata, deleted_at IS NOT NULL AS deleted, merged_into
    FROM customers WHERE id = ${customerId}`.execute(db)
  const identities = await sql`SELECT id, kind, namespace, value, raw_value FROM identities WHERE customer_id = ${customerId} ORDER BY id`.execute(db)
  const addresses = await sql`SELECT id, line1, is_default FROM addresses WHERE customer_id = ${customerId} ORDER BY id`.execute(db)
  const orders = await sql`SELECT id, total::text AS total FROM orders WHERE customer_id = ${customerId} ORDER BY id`.execute(db)
  // points (a merge moves them as ledger transfers; the accounts stay where they are)
  const rewards = await sql`
    SELECT ledger_id, balance::text AS balance, held::text AS held FROM reward_accounts
    WHERE customer_id = ${customerId} AND (balance <> 0 OR held <> 0) ORDER BY ledger_id`.execute(db)
  return { customer: customer.rows[0], identities: identities.rows, addresses: addresses.rows, orders: orders.rows, rewards: rewards.rows }
}

/** What GET /customer/:id answers, without the timestamps a merge and its undo may touch. */
async function readable(customerId: string) {
  const res = await call('GET', `/customer/${customerId}`)
  expect(res.status, res.raw).toBe(200)
  const { updatedAt: _u, ...customer } = res.body
  return { ...customer, addresses: customer.addresses.map(({ updatedAt: _a, ...a }: any) => a) }
}

beforeAll(async () => {
  hub = await createTestHub({ customer: { defaultCountry: 'TH', maxAddresses: 2 } })
  call = client(hub)
  await sql`INSERT INTO ledgers (id, name) VALUES ('bonus', 'Bonus points')`.execute(hub.database.db)
})
afterAll(async () => hub?.close())

async function earn(customerId: string, ledger: string, amount: number) {
  const res = await call('POST', `/ledgers/${ledger}/transactions`, { kind: 'earn', idempotencyKey: unique('e'), customerId, amount })
  expect(res.status, res.raw).toBe(201)
}

/** A target and a source with something of every kind a merge moves. */
async function pair() {
  const target = await newCustomer({ firstName: 'Tina' })
  const targetAddress = await addAddress(target.id, 'T street 1')
  await call('POST', `/customer/${target.id}/group`, { group: 'vip' })
  await order(target.id, 1000)
  await call('POST', `/customer/${target.id}/reward-accounts`, { ledger: 'reward-points' })
  await earn(target.id, 'reward-points', 10)

  const source = await newCustomer({ firstName: 'Sam', lastName: 'Source', phone: newPhone(), metadata: { from: 'source' } })
  const s1 = await addAddress(source.id, 'S street 1')
  const s2 = await addAddress(source.id, 'S street 2', { isDefault: true })
  await call('POST', `/customer/${source.id}/group`, { group: 'vip' })
  await call('POST', `/customer/${source.id}/group`, { group: 'b2b' })
  const platform = (await call('POST', `/customer/${source.id}/identities`, { kind: 'platform', namespace: 'identity.shop', value: unique('sp') })).body
  await order(source.id, 500)
  await order(source.id, 250)
  const sourceRewards = (await call('POST', `/customer/${source.id}/reward-accounts`, { ledger: 'reward-points' })).body.account
  const bonus = (await call('POST', `/customer/${source.id}/reward-accounts`, { ledger: 'bonus' })).body.account
  await earn(source.id, 'reward-points', 15)
  await earn(source.id, 'bonus', 40)
  return { target, targetAddress, source, s1, s2, platform, sourceRewards, bonus }
}

describe('POST /customer/:target/merge', () => {
  it('moves identities, addresses, groups, orders and reward accounts; the source answers 410; undo puts everything back', async () => {
    const { target, targetAddress, source, s1, s2, platform, sourceRewards, bonus } = await pair()
    const before = { target: await state(target.id), source: await state(source.id), targetApi: await readable(target.id), sourceApi: await readable(source.id) }

    const res = await call('POST', `/customer/${target.id}/merge`, { sourceId: source.id })
    expect(res.status, res.raw).toBe(200)
    const { merge, customer } = res.body
    expect(merge).toMatchObject({ targetId: target.id, sourceId: source.id, reason: 'manual', undoneAt: null })
    expect(merge.id).toMatch(/^mrg_/)

    // the merged customer
    expect(customer).toMatchObject({
      id: target.id,
      email: target.email,
      firstName: 'Tina',
      lastName: 'Source',
      phone: source.phone,
      orderCount: 3,
      totalSpent: 1750,
      currency: 'USD',
      metadata: {},
    })
    expect(customer.groups).toEqual(['vip', 'b2b'])
    // beyond max_addresses (2): all kept, and the target's default stays the default
    expect(customer.addresses.map((a: any) => [a.id, a.isDefault])).toEqual([[targetAddress.id, true], [s1.id, false], [s2.id, false]])
    const identities = (await call('GET', `/customer/${target.id}/identities`)).body.data.map((i: any) => i.value).sort()
    expect(identities).toEqual([target.email, source.email, source.phone, platform.value].sort())
    // points move as ledger transfers: the target gets an account in the bonus ledger; the source's accounts stay with it, empty
    const rewards = (await call('GET', `/customer/${target.id}/reward-accounts`)).body.data
    expect(rewards.map((r: any) => [r.ledger, r.balance]).sort()).toEqual([['bonus', 40], ['reward-points', 25]])
    const kept = await sql<{ customer_id: string; balance: string }>`SELECT customer_id, balance::text AS balance FROM reward_accounts WHERE id IN (${sourceRewards.id}, ${bonus.id}) ORDER BY ledger_id`.execute(hub.database.db)
    expect(kept.rows).toEqual([{ customer_id: source.id, balance: '0' }, { customer_id: source.id, balance: '0' }])
    const transfers = await sql<{ kind: string; merge_id: string }>`SELECT kind, merge_id FROM ledger_transactions WHERE merge_id = ${merge.id} ORDER BY ledger_id`.execute(hub.database.db)
    expect(transfers.rows).toEqual([{ kind: 'merge', merge_id: merge.id }, { kind: 'merge', merge_id: merge.id }])

    // the source answers where it went
    const gone = await call('GET', `/customer/${source.id}`)
    expectError(gone, 410, 'CUSTOMER_MERGED')
    expect(gone.body.details).toEqual({ mergedInto: target.id })

    // its old identifiers now find the target
    const lookup = await call('GET', `/customer/lookup?email=${encodeURIComponent(source.email)}`)
    expect(lookup.body).toMatchObject({ matchedBy: 'email', customer: { id: target.id } })
    const synced = await call('POST', '/customer/sync', { platform: { component: 'identity.shop', externalId: platform.value } })
    expect(synced.status, synced.raw).toBe(200)
    expect(synced.body).toMatchObject({ created: false, matchedBy: 'platform', documentId: target.id })

    // the record says what moved
    const record = await call('GET', `/merges/${merge.id}`)
    expect(record.status).toBe(200)
    expect(record.body).toEqual(merge)
    expect(record.body.moved).toMatchObject({
      addresses: expect.arrayContaining([s1.id, s2.id]),
      sourceDefaultAddressId: s2.id,
      groups: ['b2b'],
      rewardAccounts: [],
      filled: { lastName: 'Source', phone: source.phone },
    })
    expect(record.body.moved.identities).toHaveLength(3)
    expect(record.body.moved.orders).toHaveLength(2)
    const merged = (await eventsOf(target.id)).filter((e) => e.type === 'customer.merged')
    expect(merged).toHaveLength(1)
    expect(merged[0]!.payload.merge).toMatchObject({ id: merge.id, sourceId: source.id, targetId: target.id })

    // undo: everything back exactly
    const undo = await call('POST', `/merges/${merge.id}/undo`)
    expect(undo.status, undo.raw).toBe(200)
    expect(undo.body.merge).toMatchObject({ id: merge.id })
    expect(undo.body.merge.undoneAt).not.toBeNull()
    expect(undo.body.target.id).toBe(target.id)
    expect(undo.body.source.id).toBe(source.id)
    expect(await state(target.id)).toEqual(before.target)
    expect(await state(source.id)).toEqual(before.source)
    expect(await readable(target.id)).toEqual(before.targetApi)
    expect(await readable(source.id)).toEqual(before.sourceApi)
    expect((await call('GET', `/customer/lookup?email=${encodeURIComponent(source.email)}`)).body.customer.id).toBe(source.id)
    expect((await call('GET', `/merges/${merge.id}`)).body.undoneAt).toBe(undo.body.merge.undoneAt)
    const undone = (await eventsOf(target.id)).filter((e) => e.type === 'customer.merge_undone')
    expect(undone).toHaveLength(1)
    expect(undone[0]!.payload.merge).toMatchObject({ id: merge.id })

    // undo twice
    expectError(await call('POST', `/merges/${merge.id}/undo`), 409, 'MERGE_ALREADY_UNDONE')
    expect(await state(source.id)).toEqual(before.source)

    // the source can be merged again after the undo
    expect((await call('POST', `/customer/${target.id}/merge`, { sourceId: source.id })).status).toBe(200)
  })

  it("gives a target without addresses or orders the source's default address and currency, and takes both back on undo", async () => {
    const target = await newCustomer()
    const source = await newCustomer()
    const a1 = await addAddress(source.id, 'one')
    const a2 = await addAddress(source.id, 'two', { isDefault: true })
    await order(source.id, 900, 'EUR')
    const before = { target: await state(target.id), source: await state(source.id) }

    const merged = (await call('POST', `/customer/${target.id}/merge`, { sourceId: source.id })).body
    expect(merged.customer).toMatchObject({ currency: 'EUR', orderCount: 1, totalSpent: 900 })
    expect(merged.customer.addresses.map((a: any) => [a.id, a.isDefault])).toEqual([[a1.id, false], [a2.id, true]])

    const undo = await call('POST', `/merges/${merged.merge.id}/undo`)
    expect(undo.status, undo.raw).toBe(200)
    expect(await state(target.id)).toEqual(before.target)
    expect(await state(source.id)).toEqual(before.source)
    // the target, with no orders again, takes orders in another currency
    expect((await order(target.id, 10, 'THB')).currency).toBe('THB')
  })

  it('is refused to platform tokens', async () => {
    const platform = await hub.platform()
    const target = await newCustomer()
    const source = await newCustomer()
    expectError(await call('POST', `/customer/${target.id}/merge`, { sourceId: source.id }, platform), 403, 'FORBIDDEN')
    const merge = (await call('POST', `/customer/${target.id}/merge`, { sourceId: source.id })).body.merge
    expectError(await call('GET', `/merges/${merge.id}`, undefined, platform), 403, 'FORBIDDEN')
    expectError(await call('POST', `/merges/${merge.id}/undo`, undefined, platform), 403, 'FORBIDDEN')
    expect((await call('GET', `/merges/${merge.id}`)).body.undoneAt).toBeNull()
  })

  it('answers 400 for a merge into itself or bad ids, 404 for unknown customers or merges, 409 for a merged source', async () => {
    const a = await newCustomer()
    const b = await newCustomer()
    const c = await newCustomer()
    const unknown = 'cus_00000000000000000000000000'
    const before = [await state(a.id), await state(b.id)]
    expectError(await call('POST', `/customer/${a.id}/merge`, { sourceId: a.id }), 400, 'MERGE_SAME_CUSTOMER')
    expectError(await call('POST', `/customer/${a.id}/merge`, { sourceId: 'nope' }), 400, 'VALIDATION_FAILED')
    expectError(await call('POST', `/customer/${a.id}/merge`, {}), 400, 'VALIDATION_FAILED')
    expectError(await call('POST', '/customer/nope/merge', { sourceId: a.id }), 404, 'CUSTOMER_NOT_FOUND')
    expectError(await call('POST', `/customer/${a.id}/merge`, { sourceId: unknown }), 404, 'CUSTOMER_NOT_FOUND')
    expectError(await call('POST', `/customer/${unknown}/merge`, { sourceId: a.id }), 404, 'CUSTOMER_NOT_FOUND')
    await call('DELETE', `/customer/${c.id}`)
    expectError(await call('POST', `/customer/${a.id}/merge`, { sourceId: c.id }), 404, 'CUSTOMER_NOT_FOUND')
    expect([await state(a.id), await state(b.id)]).toEqual(before)

    expect((await call('POST', `/customer/${a.id}/merge`, { sourceId: b.id })).status).toBe(200)
    const again = await call('POST', `/customer/${a.id}/merge`, { sourceId: b.id })
    expectError(again, 409, 'CUSTOMER_ALREADY_MERGED')
    expect(again.body.details).toEqual({ mergedInto: a.id })
    const d = await newCustomer()
    expectError(await call('POST', `/customer/${b.id}/merge`, { sourceId: d.id }), 410, 'CUSTOMER_MERGED')

    expectError(await call('GET', '/merges/nope'), 400, 'INVALID_ID')
    expectError(await call('GET', '/merges/mrg_00000000000000000000000000'), 404, 'MERGE_NOT_FOUND')
    expectError(await call('POST', '/merges/mrg_00000000000000000000000000/undo'), 404, 'MERGE_NOT_FOUND')
  })

  it('refuses customers whose orders are in different currencies with 422, changing nothing', async () => {
    const target = await newCustomer()
    const source = await newCustomer()
    await order(target.id, 100, 'USD')
    await order(source.id, 100, 'EUR')
    const before = [await state(target.id), await state(source.id)]
    const events = (await eventsOf(target.id)).length
    expectError(await call('POST', `/customer/${target.id}/merge`, { sourceId: source.id }), 422, 'CURRENCY_MISMATCH')
    expect([await state(target.id), await state(source.id)]).toEqual(before)
    expect((await eventsOf(target.id)).length).toBe(events)
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM merges WHERE source_id = ${source.id}`.execute(hub.database.db)
    expect(rows[0]!.n).toBe(0)
  })

  it('refuses the undo with 409 MERGE_UNDO_CONFLICT after a moved identity was unlinked, changing nothing', async () => {
    const { target, source } = await pair()
    const merge = (await call('POST', `/customer/${target.id}/merge`, { sourceId: source.id })).body.merge
    const moved = (await call('GET', `/customer/${target.id}/identities`)).body.data.find((i: any) => i.value === source.email)
    expect(merge.moved.identities).toContain(moved.id)
    expect((await call('DELETE', `/customer/${target.id}/identities/${moved.id}`)).status).toBe(200)
    const before = { target: await state(target.id), source: await state(source.id), record: (await call('GET', `/merges/${merge.id}`)).body }

    const res = await call('POST', `/merges/${merge.id}/undo`)
    expectError(res, 409, 'MERGE_UNDO_CONFLICT')
    expect(await state(target.id)).toEqual(before.target)
    expect(await state(source.id)).toEqual(before.source)
    expect((await call('GET', `/merges/${merge.id}`)).body).toEqual(before.record)
    expect((await eventsOf(target.id)).some((e) => e.type === 'customer.merge_undone')).toBe(false)
  })

  it('lets exactly one of two concurrent merges of one source into two targets succeed', async () => {
    for (let round = 0; round < 4; round++) {
      const t1 = await newCustomer()
      const t2 = await newCustomer()
      const source = await newCustomer({ phone: newPhone() })
      await order(source.id, 300)
      const [r1, r2] = await Promise.all([
        call('POST', `/customer/${t1.id}/merge`, { sourceId: source.id }),
        call('POST', `/customer/${t2.id}/merge`, { sourceId: source.id }),
      ])
      expect([r1.status, r2.status].sort()).toEqual([200, 409])
      const winner = r1.status === 200 ? t1 : t2
      const loser = r1.status === 200 ? t2 : t1
      expect((r1.status === 200 ? r2 : r1).body.code).toBe('CUSTOMER_ALREADY_MERGED')
      const w = await state(winner.id)
      const l = await state(loser.id)
      expect(w.identities.map((i: any) => i.value)).toEqual(expect.arrayContaining([source.email, source.phone]))
      expect(w.customer).toMatchObject({ order_count: 1, total_spent: '300' })
      expect(l.identities.map((i: any) => i.value)).toEqual([loser.email])
      expect(l.customer).toMatchObject({ order_count: 0, total_spent: '0', phone: null })
      const { rows } = await sql<{ target_id: string }>`SELECT target_id FROM merges WHERE source_id = ${source.id}`.execute(hub.database.db)
      expect(rows).toEqual([{ target_id: winner.id }])
    }
  })

  it('undoes a merge once when two undos arrive together', async () => {
    const { target, source } = await pair()
    const merge = (await call('POST', `/customer/${target.id}/merge`, { sourceId: source.id })).body.merge
    const [u1, u2] = await Promise.all([call('POST', `/merges/${merge.id}/undo`), call('POST', `/merges/${merge.id}/undo`)])
    expect([u1.status, u2.status].sort()).toEqual([200, 409])
    expect((u1.status === 409 ? u1 : u2).body.code).toBe('MERGE_ALREADY_UNDONE')
    expect((await eventsOf(target.id)).filter((e) => e.type === 'customer.merge_undone')).toHaveLength(1)
    expect((await call('GET', `/customer/${source.id}`)).status).toBe(200)
  })

  it('merges two customers into each other at once without a deadlock: one wins', async () => {
    const a = await newCustomer()
    const b = await newCustomer()
    const [r1, r2] = await Promise.all([
      call('POST', `/customer/${a.id}/merge`, { sourceId: b.id }),
      call('POST', `/customer/${b.id}/merge`, { sourceId: a.id }),
    ])
    expect([r1.status, r2.status].sort()).toEqual([200, 410])
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM merges WHERE source_id IN (${a.id}, ${b.id})`.execute(hub.database.db)
    expect(rows[0]!.n).toBe(1)
  })
})
