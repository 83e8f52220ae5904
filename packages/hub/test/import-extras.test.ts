import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'kysely'
import type { ImportRow } from '@his-her/contract'
import { createTestHub, onPostgres, type TestHub } from './helpers/test-hub.js'
import { client, unique, type Call } from './helpers/requests.js'
import { withTransaction } from '../src/db/executor.js'
import { newId } from '../src/ids.js'
import { importExtras, type ExtrasRow } from '../src/flows/import-extras.js'

const COMPONENT = 'identity.shop'

describe('an import applies the rows’ groups, addresses, order history and points', () => {
  let hub: TestHub
  let call: Call
  let platform: Record<string, string>

  beforeAll(async () => {
    hub = await createTestHub()
    call = client(hub)
    platform = await hub.platform()
  })
  afterAll(async () => {
    await hub?.close()
  })

  /** A customer of the platform, as its sync makes it; the row key the import gives its rows. */
  async function customer(): Promise<{ id: string; key: string; externalId: string }> {
    const externalId = unique('c')
    const res = await call('POST', '/customer/sync', { platform: { component: COMPONENT, externalId }, email: `${externalId}@example.com` }, platform)
    expect(res.status, res.raw).toBe(201)
    return { id: res.body.customer.id, key: `${COMPONENT}:${externalId}`, externalId }
  }

  const extras = (rows: { line?: number; customer: { id: string; key: string; externalId: string }; row: Omit<ImportRow, 'externalId'> }[], settings = hub.config.customer) =>
    withTransaction(hub.database.db, (tx) =>
      importExtras(tx, hub.app.services, settings, COMPONENT, rows.map((r, n): ExtrasRow => ({
        line: r.line ?? n + 1, customerId: r.customer.id, key: r.customer.key, row: { externalId: r.customer.externalId, ...r.row },
      }))))

  const get = async (id: string) => {
    const res = await call('GET', `/customer/${id}`)
    expect(res.status, res.raw).toBe(200)
    return res.body
  }
  const eventsOf = async (customerId: string, type: string) =>
    (await sql<{ payload: any }>`SELECT payload FROM events WHERE customer_id = ${customerId} AND type = ${type} ORDER BY position`.execute(hub.database.db)).rows.map((r) => r.payload)
  const points = async (customerId: string): Promise<number | null> => {
    const res = await call('GET', `/customer/${customerId}/reward-accounts`)
    expect(res.status, res.raw).toBe(200)
    const account = res.body.data.find((a: { ledger: string }) => a.ledger === 'reward-points')
    return account ? account.balance : null
  }
  const importTransactions = async (customerId: string) =>
    (await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM ledger_transactions t
      WHERE t.kind = 'import' AND EXISTS (SELECT 1 FROM ledger_entries e JOIN reward_accounts r ON r.id = e.account_id WHERE e.transaction_id = t.id AND r.customer_id = ${customerId})`.execute(hub.database.db)).rows[0]!.n
  const verify = async () => {
    const res = await call('GET', '/ledgers/reward-points/verify')
    expect(res.status, res.raw).toBe(200)
    expect(res.body.problems).toEqual([])
    expect(res.body.ok).toBe(true)
  }

  it('adds groups as a union, each new one emitting customer.group_added once', async () => {
    const ada = await customer()
    const ben = await customer()
    expect((await call('POST', `/customer/${ada.id}/group`, { group: 'vip' })).status).toBe(200)
    const reasons = await extras([
      { customer: ada, row: { groups: ['newsletter', 'vip', 'wholesale', 'newsletter'] } },
      { customer: ben, row: { groups: ['vip'] } },
    ])
    expect(reasons.size).toBe(0)
    expect((await get(ada.id)).groups).toEqual(['vip', 'newsletter', 'wholesale'])
    expect((await get(ben.id)).groups).toEqual(['vip'])
    expect((await eventsOf(ada.id, 'customer.group_added')).map((p) => p.group)).toEqual(['vip', 'newsletter', 'wholesale'])
    expect(await eventsOf(ben.id, 'customer.group_added')).toEqual([{ customerId: ben.id, group: 'vip' }])
    // again: nothing changes, nothing is emitted
    await extras([{ customer: ada, row: { groups: ['wholesale', 'newsletter'] } }])
    expect((await get(ada.id)).groups).toEqual(['vip', 'newsletter', 'wholesale'])
    expect(await eventsOf(ada.id, 'customer.group_added')).toHaveLength(3)
  })

  it('adds addresses the customer does not have, up to max_addresses, and says what it left out', async () => {
    const ada = await customer()
    const home = { line1: '1 High Street', city: 'London', postalCode: 'SW1A 1AA', country: 'GB' }
    const added = await call('POST', `/customer/${ada.id}/address`, home)
    expect(added.status, added.raw).toBe(201)
    const settings = { ...hub.config.customer, maxAddresses: 3 }
    const reasons = await extras([{
      line: 7,
      customer: ada,
      row: {
        addresses: [
          { line1: ' 1  high street ', city: 'LONDON', postalCode: 'sw1a1aa', country: 'gb' }, // the one it has
          { line1: '2 Low Road', city: 'Leeds', country: 'GB', isDefault: true },
          { line1: '2 low road', city: 'leeds', country: 'GB' }, // given twice
          { line1: '3 Mill Lane', city: 'York', country: 'GB' },
          { line1: '4 Bank Street', city: 'Bath', country: 'GB' }, // the fourth
        ],
      },
    }], settings)
    expect(reasons.get(7)).toMatch(/^ADDRESS_LIMIT_REACHED: 1 of the row's addresses/)
    const after = await get(ada.id)
    expect(after.addresses.map((a: { line1: string }) => a.line1).sort()).toEqual(['1 High Street', '2 Low Road', '3 Mill Lane'])
    // the one given as default is the default now, and the only one
    expect(after.addresses.filter((a: { isDefault: boolean }) => a.isDefault).map((a: { line1: string }) => a.line1)).toEqual(['2 Low Road'])
    const events = await eventsOf(ada.id, 'customer.address_added')
    expect(events.map((p) => p.address.line1)).toEqual(['1 High Street', '2 Low Road', '3 Mill Lane'])
    // the customer's own count follows: the route refuses a fourth one
    expect((await call('POST', `/customer/${ada.id}/address`, { line1: '5 Quay', city: 'Hull', country: 'GB' })).status).toBe(201) // default max 10
    const full = await extras([{ customer: ada, row: { addresses: [{ line1: '6 Dock', city: 'Hull', country: 'GB' }] } }], settings)
    expect(full.get(1)).toMatch(/^ADDRESS_LIMIT_REACHED/)
    // an invalid country leaves that address out, not the others
    const ben = await customer()
    const invalid = await extras([{ customer: ben, row: { addresses: [{ line1: '1 Rue', city: 'Paris', country: 'XX' }, { line1: '2 Rue', city: 'Paris', country: 'FR' }] } }])
    expect(invalid.get(1)).toMatch(/^INVALID_COUNTRY/)
    expect((await get(ben.id)).addresses.map((a: { line1: string; isDefault: boolean }) => [a.line1, a.isDefault])).toEqual([['2 Rue', true]])
  })

  it('keeps the order history as a summary order: totals appear, a repeat changes nothing, new numbers apply the difference', async () => {
    const ada = await customer()
    expect(await extras([{ customer: ada, row: { orderCount: 3, totalSpent: 12_900, currency: 'EUR' } }])).toEqual(new Map())
    expect(await get(ada.id)).toMatchObject({ orderCount: 3, totalSpent: 12_900, currency: 'EUR' })
    const recorded = await eventsOf(ada.id, 'order.recorded')
    expect(recorded).toHaveLength(1)
    expect(recorded[0]).toMatchObject({ order: { platform: COMPONENT, externalId: `import:${ada.key}`, total: 12_900, currency: 'EUR' }, orderCount: 3, totalSpent: 12_900 })

    await extras([{ customer: ada, row: { orderCount: 3, totalSpent: 12_900, currency: 'EUR' } }])
    expect(await get(ada.id)).toMatchObject({ orderCount: 3, totalSpent: 12_900 })
    expect(await eventsOf(ada.id, 'order.recorded')).toHaveLength(1)
    expect(await eventsOf(ada.id, 'order.corrected')).toHaveLength(0)

    // an order reported live counts beside the imported history
    const live = await call('POST', '/orders', { platform: 'shop', externalId: unique('o'), customerId: ada.id, total: 1_000, currency: 'EUR', placedAt: new Date().toISOString() }, platform)
    expect(live.status, live.raw).toBe(201)
    expect(live.body).toMatchObject({ orderCount: 4, totalSpent: 13_900 })

    await extras([{ customer: ada, row: { orderCount: 5, totalSpent: 20_000, currency: 'EUR' } }])
    expect(await get(ada.id)).toMatchObject({ orderCount: 6, totalSpent: 21_000 })
    expect(await eventsOf(ada.id, 'order.corrected')).toEqual([expect.objectContaining({ orderCount: 6, totalSpent: 21_000 })])
    // a lower count applies too
    await extras([{ customer: ada, row: { orderCount: 2, totalSpent: 5_000 } }]) // the customer's currency
    expect(await get(ada.id)).toMatchObject({ orderCount: 3, totalSpent: 6_000 })
    const { rows } = await sql<{ n: number; orders: number; spent: string }>`
      SELECT count(*)::int AS n, sum(order_count)::int AS orders, sum(total)::text AS spent FROM orders WHERE customer_id = ${ada.id}`.execute(hub.database.db)
    expect(rows[0]).toEqual({ n: 2, orders: 3, spent: '6000' })
  })

  it('reports a currency other than the customer’s for that row alone; the rest of the row is applied', async () => {
    const ada = await customer()
    const ben = await customer()
    const res = await call('POST', '/orders', { platform: 'shop', externalId: unique('o'), customerId: ada.id, total: 500, currency: 'EUR', placedAt: new Date().toISOString() }, platform)
    expect(res.status, res.raw).toBe(201)
    const reasons = await extras([
      { line: 1, customer: ada, row: { orderCount: 2, totalSpent: 900, currency: 'USD', groups: ['imported'], points: 40 } },
      { line: 2, customer: ben, row: { orderCount: 2, totalSpent: 900, currency: 'USD' } },
    ])
    expect(reasons.get(1)).toMatch(/^CURRENCY_MISMATCH: /)
    expect(reasons.has(2)).toBe(false)
    expect(await get(ada.id)).toMatchObject({ orderCount: 1, totalSpent: 500, currency: 'EUR', groups: ['imported'] })
    expect(await points(ada.id)).toBe(40)
    expect(await get(ben.id)).toMatchObject({ orderCount: 2, totalSpent: 900, currency: 'USD' })
    // a summary needs a currency, and orders that count none cannot have cost anything
    const cid = await customer()
    const invalid = await extras([
      { line: 3, customer: cid, row: { orderCount: 1, totalSpent: 100 } },
      { line: 4, customer: ben, row: { orderCount: 0, totalSpent: 100 } },
    ])
    expect(invalid.get(3)).toMatch(/^VALIDATION_FAILED: .*currency/)
    expect(invalid.get(4)).toMatch(/^VALIDATION_FAILED: .*orderCount/)
    expect(await get(cid.id)).toMatchObject({ orderCount: 0, totalSpent: 0, currency: null })
    expect(await get(ben.id)).toMatchObject({ orderCount: 2, totalSpent: 900 })
  })

  it('posts the points balance once, as an import transaction; a changed balance posts nothing and is reported', async () => {
    const ada = await customer()
    expect(await points(ada.id)).toBeNull() // no account yet: the import makes it
    expect(await extras([{ customer: ada, row: { points: 250 } }])).toEqual(new Map())
    expect(await points(ada.id)).toBe(250)
    expect(await importTransactions(ada.id)).toBe(1)
    const earned = await eventsOf(ada.id, 'points.earned')
    expect(earned).toHaveLength(1)
    expect(earned[0].transaction).toMatchObject({ kind: 'import', postings: [expect.objectContaining({ amount: 250 })] })
    await verify()

    expect(await extras([{ customer: ada, row: { points: 250 } }])).toEqual(new Map())
    expect(await points(ada.id)).toBe(250)
    expect(await importTransactions(ada.id)).toBe(1)

    const changed = await extras([{ customer: ada, row: { points: 300 } }])
    expect(changed.get(1)).toMatch(/^IDEMPOTENCY_KEY_REUSED: /)
    expect(await points(ada.id)).toBe(250)
    expect(await importTransactions(ada.id)).toBe(1)
    expect(await eventsOf(ada.id, 'points.earned')).toHaveLength(1)
    await verify()

    // the same row twice in one batch: posted once; the same key with another balance is reported
    const ben = await customer()
    const twice = await extras([
      { line: 1, customer: ben, row: { points: 70, orderCount: 1, totalSpent: 100, currency: 'EUR' } },
      { line: 2, customer: ben, row: { points: 70, orderCount: 2, totalSpent: 300, currency: 'EUR' } },
      { line: 3, customer: ben, row: { points: 90 } },
    ])
    expect([...twice.keys()]).toEqual([3])
    expect(twice.get(3)).toMatch(/^IDEMPOTENCY_KEY_REUSED: /)
    expect(await points(ben.id)).toBe(70)
    expect(await importTransactions(ben.id)).toBe(1)
    // the later line's history is the one that stays
    expect(await get(ben.id)).toMatchObject({ orderCount: 2, totalSpent: 300 })
    await verify()

    // one person in two rows of one batch with keys of their own (two platform ids): two
    // transactions on one account, their entries chained in line order, each event with the
    // balance after it
    const cid = await customer()
    const other = { ...cid, key: `${cid.key}-second`, externalId: `${cid.externalId}-second` }
    expect(await extras([{ line: 1, customer: cid, row: { points: 30 } }, { line: 2, customer: other, row: { points: 12 } }])).toEqual(new Map())
    expect(await points(cid.id)).toBe(42)
    expect(await importTransactions(cid.id)).toBe(2)
    expect((await eventsOf(cid.id, 'points.earned')).map((p) => p.balances[0].balance)).toEqual([30, 42])
    await verify()

    // a row whose customer is gone by the time its points post, twice in the batch: both lines say why
    const gone = await customer()
    expect((await call('DELETE', `/customer/${gone.id}`)).status).toBe(200)
    const refused = await extras([{ line: 1, customer: gone, row: { points: 8 } }, { line: 2, customer: gone, row: { points: 8 } }])
    expect(refused.get(1)).toMatch(/^CUSTOMER_NOT_FOUND: /)
    expect(refused.get(2)).toBe(refused.get(1))
    await verify()
  })

  it('a merge of two imported customers sums their histories and points; its undo splits them back', async () => {
    const ada = await customer()
    const ben = await customer()
    await extras([
      { customer: ada, row: { orderCount: 2, totalSpent: 1_000, currency: 'EUR', points: 100 } },
      { customer: ben, row: { orderCount: 3, totalSpent: 2_000, currency: 'EUR', points: 200 } },
    ])
    const merged = await call('POST', `/customer/${ada.id}/merge`, { sourceId: ben.id })
    expect(merged.status, merged.raw).toBe(200)
    expect(merged.body.customer).toMatchObject({ orderCount: 5, totalSpent: 3_000 })
    expect(await points(ada.id)).toBe(300)
    await verify()

    // ben's rows imported again land on ada (its identifiers moved): nothing changes
    const again = await extras([{ customer: { ...ben, id: ada.id }, row: { orderCount: 3, totalSpent: 2_000, currency: 'EUR', points: 200 } }])
    expect(again).toEqual(new Map())
    expect(await get(ada.id)).toMatchObject({ orderCount: 5, totalSpent: 3_000 })
    expect(await points(ada.id)).toBe(300)

    const undone = await call('POST', `/merges/${merged.body.merge.id}/undo`)
    expect(undone.status, undone.raw).toBe(200)
    expect(undone.body.target).toMatchObject({ orderCount: 2, totalSpent: 1_000 })
    expect(undone.body.source).toMatchObject({ orderCount: 3, totalSpent: 2_000 })
    expect(await points(ada.id)).toBe(100)
    expect(await points(ben.id)).toBe(200)
    await verify()
  })

  it(`applies 1,000 rows (2 groups, 1 address, totals, points each) in one batch (${onPostgres ? 'PostgreSQL' : 'PGlite'})`, async () => {
    const people: { id: string; key: string; externalId: string }[] = []
    const tag = unique('bulk')
    const n = 1000
    // customers made set-wise, as an import batch makes them
    await withTransaction(hub.database.db, async (tx) => {
      const now = new Date().toISOString()
      const made = Array.from({ length: n }, (_, i) => ({ id: newId('cus'), externalId: `${tag}-${i}` }))
      await sql`INSERT INTO customers (id, email, metadata, created_at, updated_at) VALUES ${sql.join(made.map((m) => sql`(${m.id}, ${`${m.externalId}@example.com`}, '{}'::jsonb, ${now}::timestamptz, ${now}::timestamptz)`))}`.execute(tx)
      for (const m of made) people.push({ id: m.id, key: `${COMPONENT}:${m.externalId}`, externalId: m.externalId })
    })
    const rows = people.map((p, i) => ({
      customer: p,
      row: {
        groups: ['bulk', `tier-${i % 3}`],
        addresses: [{ line1: `${i} Main Street`, city: 'Springfield', country: 'US' }],
        orderCount: 1 + (i % 5), totalSpent: 1_000 * (1 + (i % 7)), currency: 'USD', points: 10 + i,
      },
    }))
    const started = performance.now()
    const reasons = await extras(rows)
    const ms = performance.now() - started
    console.log(`import extras: ${Math.round(ms)} ms per 1,000 rows on ${onPostgres ? 'PostgreSQL' : 'PGlite'}`)
    expect(reasons).toEqual(new Map())
    const { rows: sums } = await sql<{ orders: number; spent: string; groups: number; addresses: number }>`
      SELECT sum(order_count)::int AS orders, sum(total_spent)::text AS spent, sum(cardinality(groups))::int AS groups, sum(address_count)::int AS addresses
      FROM customers WHERE id = ANY (${people.map((p) => p.id)}::text[])`.execute(hub.database.db)
    expect(sums[0]).toEqual({
      orders: rows.reduce((s, r) => s + r.row.orderCount, 0),
      spent: String(rows.reduce((s, r) => s + r.row.totalSpent, 0)),
      groups: 2 * n,
      addresses: n,
    })
    expect(await points(people[999]!.id)).toBe(1009)
    await verify()
  }, 300_000)
})
