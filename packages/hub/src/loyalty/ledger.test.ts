import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { sql } from 'kysely'
import type { Customer, RewardAccountBalance, TransactionResult } from '@his-her/contract'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { client, expectError, unique, type Call } from '../../test/helpers/requests.js'
import { defaultLedger } from './settings.js'
import { entryHash } from './ledger-store.js'

const DAY = 86_400_000
let now = new Date('2030-01-01T00:00:00.000Z')
let hub: TestHub
let call: Call

beforeAll(async () => {
  hub = await createTestHub({
    captureLogs: !!process.env.DEBUG_LOGS,
    clock: () => now,
    ledgers: [
      { ...defaultLedger('reward-points'), earn: [{ per: 100, points: 1, currency: 'USD' }], pendingDays: 14 },
      { ...defaultLedger('credit'), allowNegative: true },
      { ...defaultLedger('miles'), expiryDays: 30 },
    ],
  })
  call = client(hub)
})
afterAll(async () => {
  if (process.env.DEBUG_LOGS) console.log(hub.logs.filter((l) => l.includes('"level":50')).slice(0, 3).join('\n'))
  await hub?.close()
})

async function customer(): Promise<Customer> {
  const res = await call('POST', '/customer', { email: `${unique('pts')}@example.com` })
  expect(res.status, res.raw).toBe(201)
  return res.body
}

const post = (ledger: string, body: Record<string, unknown>) => call('POST', `/ledgers/${ledger}/transactions`, { idempotencyKey: unique('k'), ...body })

async function accounts(customerId: string): Promise<RewardAccountBalance[]> {
  const res = await call('GET', `/customer/${customerId}/reward-accounts`)
  expect(res.status, res.raw).toBe(200)
  return res.body.data
}
async function account(customerId: string, ledger = 'reward-points'): Promise<RewardAccountBalance> {
  return (await accounts(customerId)).find((a) => a.ledger === ledger)!
}

async function verify(ledger = 'reward-points') {
  const res = await call('GET', `/ledgers/${ledger}/verify`)
  expect(res.status, res.raw).toBe(200)
  expect(res.body.problems).toEqual([])
  expect(res.body.ok).toBe(true)
  return res.body
}

describe('earn and spend', () => {
  test('an earn credits the customer from the issuer; a spend debits to redemptions; balances and entries follow', async () => {
    const c = await customer()
    const earned = await post('reward-points', { kind: 'earn', customerId: c.id, amount: 500, reference: 'welcome' })
    expect(earned.status, earned.raw).toBe(201)
    const result: TransactionResult = earned.body
    expect(result.transaction.kind).toBe('earn')
    expect(result.transaction.postings).toHaveLength(1)
    expect(result.transaction.postings[0]!.amount).toBe(500)
    expect(result.balances).toEqual([expect.objectContaining({ customerId: c.id, balance: 500, available: 500, held: 0, pending: 0 })])

    const spent = await post('reward-points', { kind: 'spend', customerId: c.id, amount: 120 })
    expect(spent.status, spent.raw).toBe(201)
    expect(spent.body.balances[0]).toMatchObject({ balance: 380, available: 380 })

    const acc = await account(c.id)
    expect(acc).toMatchObject({ balance: 380, available: 380 })
    expect(acc.lots).toEqual([expect.objectContaining({ amount: 500, remaining: 380, expiresAt: null, pending: false })])

    const entries = await call('GET', `/ledgers/reward-points/accounts/${acc.id}/entries`)
    expect(entries.status, entries.raw).toBe(200)
    expect(entries.body.data.map((e: { amount: number; balanceAfter: number; seq: number; kind: string }) => [e.seq, e.kind, e.amount, e.balanceAfter])).toEqual([
      [2, 'spend', -120, 380],
      [1, 'earn', 500, 500],
    ])
    await verify()
  })

  test('a spend beyond the available points is 422 INSUFFICIENT_POINTS and posts nothing', async () => {
    const c = await customer()
    await post('reward-points', { kind: 'earn', customerId: c.id, amount: 50 })
    const res = await post('reward-points', { kind: 'spend', customerId: c.id, amount: 51 })
    expectError(res, 422, 'INSUFFICIENT_POINTS')
    expect((await account(c.id)).balance).toBe(50)
    const none = await customer()
    expectError(await post('reward-points', { kind: 'spend', customerId: none.id, amount: 1 }), 422, 'INSUFFICIENT_POINTS')
  })

  test('the same idempotency key and body answers the first transaction; another body is refused', async () => {
    const c = await customer()
    const body = { kind: 'earn', customerId: c.id, amount: 70, idempotencyKey: unique('same') }
    const first = await call('POST', '/ledgers/reward-points/transactions', body)
    const again = await hub.app.inject({ method: 'POST', url: '/ledgers/reward-points/transactions', headers: hub.admin, payload: body })
    expect(first.status).toBe(201)
    expect(again.statusCode).toBe(200)
    expect(again.headers['idempotent-replayed']).toBe('true')
    expect(again.json().transaction.id).toBe(first.body.transaction.id)
    expect((await account(c.id)).balance).toBe(70)
    expectError(await call('POST', '/ledgers/reward-points/transactions', { ...body, amount: 71 }), 422, 'IDEMPOTENCY_KEY_REUSED')
  })

  test('unknown ledgers, customers and bad amounts are clear 4xx errors', async () => {
    const c = await customer()
    expectError(await post('nope', { kind: 'earn', customerId: c.id, amount: 1 }), 404, 'LEDGER_NOT_FOUND')
    expectError(await post('reward-points', { kind: 'earn', customerId: 'cus_00000000000000000000000000', amount: 1 }), 404, 'CUSTOMER_NOT_FOUND')
    expectError(await post('reward-points', { kind: 'earn', customerId: c.id, amount: 0 }), 400, 'VALIDATION_FAILED')
    expectError(await post('reward-points', { kind: 'earn', customerId: c.id, amount: 1.5 }), 400, 'VALIDATION_FAILED')
    expectError(await post('reward-points', { kind: 'adjust', customerId: c.id, amount: 0, reason: 'x' }), 400, 'VALIDATION_FAILED')
    expectError(await post('reward-points', { kind: 'transfer', fromCustomerId: c.id, toCustomerId: c.id, amount: 1 }), 422, 'SAME_ACCOUNT')
    const platform = await hub.platform()
    const adjust = await call('POST', '/ledgers/reward-points/transactions', { kind: 'adjust', customerId: c.id, amount: 5, reason: 'goodwill', idempotencyKey: unique('a') }, platform)
    expectError(adjust, 403, 'FORBIDDEN')
  })
})

describe('transfers, adjustments and reversals', () => {
  test('a transfer moves lots with their expiry; its reversal gives them back', async () => {
    const a = await customer()
    const b = await customer()
    const expiresAt = new Date(now.getTime() + 10 * DAY).toISOString()
    await post('reward-points', { kind: 'earn', customerId: a.id, amount: 100, expiresAt })
    const moved = await post('reward-points', { kind: 'transfer', fromCustomerId: a.id, toCustomerId: b.id, amount: 60 })
    expect(moved.status, moved.raw).toBe(201)
    expect((await account(b.id)).lots).toEqual([expect.objectContaining({ remaining: 60, expiresAt })])
    const back = await call('POST', `/ledgers/reward-points/transactions/${moved.body.transaction.id}/reverse`, { idempotencyKey: unique('r'), reason: 'mistake' })
    expect(back.status, back.raw).toBe(201)
    expect(back.body.transaction.reverses).toBe(moved.body.transaction.id)
    expect((await account(a.id)).balance).toBe(100)
    expect((await account(b.id)).balance).toBe(0)
    const twice = await call('POST', `/ledgers/reward-points/transactions/${moved.body.transaction.id}/reverse`, { idempotencyKey: unique('r'), reason: 'again' })
    expectError(twice, 409, 'TRANSACTION_ALREADY_REVERSED')
    await verify()
  })

  test('reversing an earn whose points were spent is refused unless the ledger allows negative balances', async () => {
    const c = await customer()
    const earned = await post('reward-points', { kind: 'earn', customerId: c.id, amount: 40 })
    await post('reward-points', { kind: 'spend', customerId: c.id, amount: 30 })
    const res = await call('POST', `/ledgers/reward-points/transactions/${earned.body.transaction.id}/reverse`, { idempotencyKey: unique('r'), reason: 'fraud' })
    expectError(res, 409, 'REVERSAL_POINTS_SPENT')

    const earnedCredit = await post('credit', { kind: 'earn', customerId: c.id, amount: 40 })
    await post('credit', { kind: 'spend', customerId: c.id, amount: 30 })
    const negative = await call('POST', `/ledgers/credit/transactions/${earnedCredit.body.transaction.id}/reverse`, { idempotencyKey: unique('r'), reason: 'fraud' })
    expect(negative.status, negative.raw).toBe(201)
    expect((await account(c.id, 'credit')).balance).toBe(-30)
    await verify('credit')
  })

  test('a spend reversed gives the points back to the lots it took', async () => {
    const c = await customer()
    await post('reward-points', { kind: 'earn', customerId: c.id, amount: 10 })
    const spent = await post('reward-points', { kind: 'spend', customerId: c.id, amount: 10 })
    const back = await call('POST', `/ledgers/reward-points/transactions/${spent.body.transaction.id}/reverse`, { idempotencyKey: unique('r'), reason: 'refund' })
    expect(back.status, back.raw).toBe(201)
    expect((await account(c.id)).lots).toEqual([expect.objectContaining({ amount: 10, remaining: 10 })])
  })

  test('an admin adjusts up and down', async () => {
    const c = await customer()
    expect((await post('reward-points', { kind: 'adjust', customerId: c.id, amount: 25, reason: 'goodwill' })).status).toBe(201)
    expect((await post('reward-points', { kind: 'adjust', customerId: c.id, amount: -5, reason: 'correction' })).status).toBe(201)
    expectError(await post('reward-points', { kind: 'adjust', customerId: c.id, amount: -21, reason: 'too much' }), 422, 'INSUFFICIENT_POINTS')
    expect((await account(c.id)).balance).toBe(20)
  })
})

describe('lots, expiry and holds', () => {
  test('spending takes the lots that expire first; expiry takes what is left when the clock passes', async () => {
    const c = await customer()
    await post('miles', { kind: 'earn', customerId: c.id, amount: 100, expiresAt: new Date(now.getTime() + 20 * DAY).toISOString() })
    await post('miles', { kind: 'earn', customerId: c.id, amount: 100, expiresAt: new Date(now.getTime() + 5 * DAY).toISOString() })
    await post('miles', { kind: 'earn', customerId: c.id, amount: 50 }) // the ledger's 30 days
    await post('miles', { kind: 'spend', customerId: c.id, amount: 60 })
    const lots = (await account(c.id, 'miles')).lots
    expect(lots.map((l) => l.remaining)).toEqual([40, 100, 50])

    const start = now
    now = new Date(start.getTime() + 6 * DAY)
    try {
      // the next posting settles first: the 40 left of the soonest lot expire, then the spend is checked
      expectError(await post('miles', { kind: 'spend', customerId: c.id, amount: 151 }), 422, 'INSUFFICIENT_POINTS')
      expect((await post('miles', { kind: 'spend', customerId: c.id, amount: 1 })).status).toBe(201)
      const acc = await account(c.id, 'miles')
      expect(acc.balance).toBe(149)
      const entries = await call('GET', `/ledgers/miles/accounts/${acc.id}/entries`)
      expect(entries.body.data.map((e: { kind: string; amount: number }) => [e.kind, e.amount]).slice(0, 2)).toEqual([
        ['spend', -1],
        ['expiry', -40],
      ])
      await verify('miles')
    } finally {
      now = start
    }
  })

  test('a hold reserves points; capture spends part and releases the rest; a hold resolves once', async () => {
    const c = await customer()
    await post('reward-points', { kind: 'earn', customerId: c.id, amount: 100 })
    const held = await call('POST', '/ledgers/reward-points/holds', { customerId: c.id, amount: 80, ttlSeconds: 600, idempotencyKey: unique('h') })
    expect(held.status, held.raw).toBe(201)
    expect(held.body.balance).toMatchObject({ balance: 100, held: 80, available: 20 })
    expectError(await post('reward-points', { kind: 'spend', customerId: c.id, amount: 21 }), 422, 'INSUFFICIENT_POINTS')
    const captured = await call('POST', `/holds/${held.body.hold.id}/capture`, { amount: 50 })
    expect(captured.status, captured.raw).toBe(200)
    expect(captured.body.hold).toMatchObject({ status: 'captured', capturedAmount: 50 })
    expect(captured.body.balance).toMatchObject({ balance: 50, held: 0, available: 50 })
    expectError(await call('POST', `/holds/${held.body.hold.id}/capture`, {}), 409, 'HOLD_RESOLVED')
    expectError(await call('POST', `/holds/${held.body.hold.id}/void`), 409, 'HOLD_RESOLVED')
    expectError(await call('POST', '/holds/hld_nope/void'), 404, 'HOLD_NOT_FOUND')
    await verify()
  })

  test('a void releases the points; an uncaptured hold expires by itself', async () => {
    const c = await customer()
    await post('reward-points', { kind: 'earn', customerId: c.id, amount: 100 })
    const a = await call('POST', '/ledgers/reward-points/holds', { customerId: c.id, amount: 30, ttlSeconds: 60, idempotencyKey: unique('h') })
    const voided = await call('POST', `/holds/${a.body.hold.id}/void`)
    expect(voided.status, voided.raw).toBe(200)
    expect(voided.body.balance).toMatchObject({ held: 0, available: 100 })
    const b = await call('POST', '/ledgers/reward-points/holds', { customerId: c.id, amount: 100, ttlSeconds: 60, idempotencyKey: unique('h') })
    expectError(await call('POST', `/holds/${a.body.hold.id}/capture`, { amount: 101 }), 409, 'HOLD_RESOLVED')
    expectError(await call('POST', `/holds/${b.body.hold.id}/capture`, { amount: 101 }), 422, 'CAPTURE_EXCEEDS_HOLD')
    const start = now
    now = new Date(start.getTime() + 61_000)
    try {
      expectError(await call('POST', `/holds/${b.body.hold.id}/capture`, {}), 409, 'HOLD_RESOLVED')
      // the next posting on the account settles it first
      expect((await post('reward-points', { kind: 'spend', customerId: c.id, amount: 100 })).status).toBe(201)
      const hold = await call('GET', `/holds/${b.body.hold.id}`)
      expect(hold.body.status).toBe('expired')
      await verify()
    } finally {
      now = start
    }
  })
})

describe('orders earn points', () => {
  test('an order earns pending points; they become available after the return window; a cancel in the window removes them', async () => {
    const c = await customer()
    const order = (externalId: string, total: number) => ({ platform: 'shop', externalId, customerId: c.id, total, currency: 'USD', placedAt: now.toISOString() })
    const first = await call('POST', '/orders', order('o1', 12_345))
    expect(first.status, first.raw).toBe(201)
    expect(first.body.points).toHaveLength(1)
    expect(first.body.points[0].metadata).toMatchObject({ orderPoints: 123 })
    expect(await account(c.id)).toMatchObject({ balance: 123, pending: 123, available: 0 })
    const corrected = await call('POST', '/orders', order('o1', 10_000))
    expect(corrected.body.outcome).toBe('corrected')
    expect(await account(c.id)).toMatchObject({ balance: 100, pending: 100, available: 0 })
    const cancelled = await call('POST', '/orders/cancel', { platform: 'shop', externalId: 'o1' })
    expect(cancelled.status, cancelled.raw).toBe(200)
    expect(cancelled.body).toMatchObject({ outcome: 'cancelled', orderCount: 0, totalSpent: 0 })
    expect(await account(c.id)).toMatchObject({ balance: 0, pending: 0, available: 0 })
    expect((await call('POST', '/orders/cancel', { platform: 'shop', externalId: 'o1' })).body.outcome).toBe('unchanged')
    expectError(await call('POST', '/orders', order('o1', 10_000)), 409, 'ORDER_CANCELLED')
    expectError(await call('POST', '/orders/cancel', { platform: 'shop', externalId: 'nope' }), 404, 'ORDER_NOT_FOUND')

    await call('POST', '/orders', order('o2', 5_000))
    const start = now
    now = new Date(start.getTime() + 15 * DAY)
    try {
      await post('reward-points', { kind: 'earn', customerId: c.id, amount: 1 }) // touches the account: no settle for credits
      await post('reward-points', { kind: 'spend', customerId: c.id, amount: 51 })
      expect(await account(c.id)).toMatchObject({ balance: 0, pending: 0 })
      await verify()
    } finally {
      now = start
    }
  })
})

describe('merges move points as transfers', () => {
  test('the source points, lots and holds move to the target; undo reverses exactly that', async () => {
    const target = await customer()
    const source = await customer()
    await post('reward-points', { kind: 'earn', customerId: target.id, amount: 10 })
    await post('reward-points', { kind: 'earn', customerId: source.id, amount: 100, expiresAt: new Date(now.getTime() + 3 * DAY).toISOString() })
    const held = await call('POST', '/ledgers/reward-points/holds', { customerId: source.id, amount: 30, ttlSeconds: 600, idempotencyKey: unique('h') })
    const merged = await call('POST', `/customer/${target.id}/merge`, { sourceId: source.id })
    expect(merged.status, merged.raw).toBe(200)
    expect(await account(target.id)).toMatchObject({ balance: 110, held: 30, available: 80 })
    expect((await call('GET', `/holds/${held.body.hold.id}`)).body.customerId).toBe(target.id)
    const undone = await call('POST', `/merges/${merged.body.merge.id}/undo`)
    expect(undone.status, undone.raw).toBe(200)
    expect(await account(target.id)).toMatchObject({ balance: 10, held: 0 })
    expect(await account(source.id)).toMatchObject({ balance: 100, held: 30 })
    await verify()
  })

  test('undo after the moved points were spent is MERGE_UNDO_CONFLICT', async () => {
    const target = await customer()
    const source = await customer()
    await post('reward-points', { kind: 'earn', customerId: source.id, amount: 100 })
    const merged = await call('POST', `/customer/${target.id}/merge`, { sourceId: source.id })
    await post('reward-points', { kind: 'spend', customerId: target.id, amount: 1 })
    expectError(await call('POST', `/merges/${merged.body.merge.id}/undo`), 409, 'MERGE_UNDO_CONFLICT')
    await verify()
  })

  test('a merge into a customer below zero pays the debt before it makes lots for the target', async () => {
    const target = await customer()
    const source = await customer()
    await post('credit', { kind: 'earn', customerId: target.id, amount: 50 })
    await post('credit', { kind: 'spend', customerId: target.id, amount: 51 })
    await post('credit', { kind: 'earn', customerId: source.id, amount: 5, expiresAt: new Date(now.getTime() + 3 * DAY).toISOString() })
    const merged = await call('POST', `/customer/${target.id}/merge`, { sourceId: source.id })
    expect(merged.status, merged.raw).toBe(200)
    const after = await account(target.id, 'credit')
    expect(after).toMatchObject({ balance: 4, available: 4 })
    expect(after.lots.reduce((sum, l) => sum + l.remaining, 0)).toBe(4)
    await verify('credit')
  })
})

describe('the ledger itself', () => {
  test('transactions and entries are insert-only in the database', async () => {
    const db = hub.database.db
    await expect(sql`UPDATE ledger_entries SET amount = amount + 1`.execute(db)).rejects.toThrow(/insert-only/)
    await expect(sql`DELETE FROM ledger_transactions`.execute(db)).rejects.toThrow(/insert-only/)
  })

  test("verify checks a large ledger's transactions in two halves and finds drift in either", async () => {
    const c = await customer()
    const ids: string[] = []
    for (let i = 0; i < 4; i++) ids.push((await post('miles', { kind: 'earn', customerId: c.id, amount: 10 + i })).body.transaction.id)
    const db = hub.database.db
    const tamper = async (transactionId: string, by: number) => {
      await sql`ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_insert_only`.execute(db)
      await sql`UPDATE ledger_entries SET amount = amount + ${by} WHERE transaction_id = ${transactionId} AND amount > 0`.execute(db)
      await sql`ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_insert_only`.execute(db)
    }
    // the oldest and the newest transaction of the ledger: one in each half
    const { rows } = await sql<{ id: string }>`SELECT min(id) AS id FROM ledger_transactions WHERE ledger_id = 'miles'`.execute(db)
    const first = rows[0]!.id
    const last = ids[ids.length - 1]!
    expect(first).not.toBe(last)
    await tamper(first, 1)
    await tamper(last, 1)
    try {
      const report = await hub.app.services.ledgerReads.verify(db, 'miles', undefined, { splitAt: 1 })
      const unbalanced = report.problems.filter((p) => p.kind === 'unbalanced').map((p) => p.transactionId)
      expect(unbalanced).toContain(first)
      expect(unbalanced).toContain(last)
      expect(report.ok).toBe(false)
    } finally {
      await tamper(first, -1)
      await tamper(last, -1)
    }
    await verify('miles')
  })

  test('balance at a past moment comes from the entries', async () => {
    const c = await customer()
    const start = now
    await post('reward-points', { kind: 'earn', customerId: c.id, amount: 5 })
    now = new Date(start.getTime() + 1000)
    await post('reward-points', { kind: 'earn', customerId: c.id, amount: 7 })
    now = start
    const acc = await account(c.id)
    const then = await call('GET', `/ledgers/reward-points/accounts/${acc.id}/balance?at=${encodeURIComponent(start.toISOString())}`)
    expect(then.body).toMatchObject({ balance: 5, entries: 1 })
    const later = await call('GET', `/ledgers/reward-points/accounts/${acc.id}/balance?at=${encodeURIComponent(new Date(start.getTime() + 2000).toISOString())}`)
    expect(later.body).toMatchObject({ balance: 12, entries: 2 })
  })

  test('the ledger shows its system accounts, which balance the customers', async () => {
    const res = await call('GET', '/ledgers/reward-points')
    expect(res.status, res.raw).toBe(200)
    expect(res.body.systemAccounts.map((a: { role: string }) => a.role)).toContain('issuer')
    const { rows } = await sql<{ total: string }>`SELECT coalesce(sum(balance), 0)::text AS total FROM reward_accounts WHERE ledger_id = 'reward-points'`.execute(hub.database.db)
    expect(rows[0]!.total).toBe('0')
  })

  test('an entry changed by hand in the database (its trigger disabled) is reported by verify', async () => {
    const c = await customer()
    await post('reward-points', { kind: 'earn', customerId: c.id, amount: 30 })
    await post('reward-points', { kind: 'spend', customerId: c.id, amount: 10 })
    const acc = await account(c.id)
    const db = hub.database.db
    const tamper = async (statement: ReturnType<typeof sql>) => {
      await sql`ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_insert_only`.execute(db)
      try {
        await statement.execute(db)
      } finally {
        await sql`ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_insert_only`.execute(db)
      }
    }
    await tamper(sql`UPDATE ledger_entries SET amount = -5, balance_after = 25 WHERE account_id = ${acc.id} AND seq = 2`)
    try {
      const res = await call('GET', '/ledgers/reward-points/verify')
      expect(res.body.ok).toBe(false)
      const mine = res.body.problems.filter((p: { accountId: string | null }) => p.accountId === acc.id)
      expect(mine.map((p: { kind: string }) => p.kind)).toEqual(expect.arrayContaining(['chain', 'unbalanced', 'balance']))
      expect(mine.find((p: { kind: string }) => p.kind === 'chain').detail).toMatch(/entry 2/)
    } finally {
      await tamper(sql`UPDATE ledger_entries SET amount = -10, balance_after = 20 WHERE account_id = ${acc.id} AND seq = 2`)
    }
    await verify()
  })

  test("a caller's idempotency key never takes the key of a transaction the hub makes (a capture)", async () => {
    const c = await customer()
    await post('reward-points', { kind: 'earn', customerId: c.id, amount: 100 })
    const held = await call('POST', '/ledgers/reward-points/holds', { customerId: c.id, amount: 50, ttlSeconds: 600, idempotencyKey: unique('h') })
    for (const key of [`capture:${held.body.hold.id}`, `hub capture:${held.body.hold.id}`]) {
      const res = await call('POST', '/ledgers/reward-points/transactions', { kind: 'earn', customerId: c.id, amount: 1, idempotencyKey: key })
      expect([201, 400]).toContain(res.status)
    }
    const captured = await call('POST', `/holds/${held.body.hold.id}/capture`, {})
    expect(captured.status, captured.raw).toBe(200)
  })

  test("the hub's entry hash (an import's batch chains its entries with it) is the database's ledger_entry_hash", async () => {
    const at = new Date('2031-02-03T04:05:06.789Z')
    const cases: [string, string, string, bigint, bigint, bigint][] = [
      ['', 'txn_A', 'rwa_1', 1n, 250n, 250n],
      ['9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', 'txn_B', 'rwa_issuer', 42n, -250n, -10_250n],
      ['x', 'txn_ü', 'rwa_2', 9_007_199_254_740_993n, 9_007_199_254_740_993n, 0n],
    ]
    for (const [prev, txn, account, seq, amount, after] of cases) {
      const { rows } = await sql<{ hash: string }>`
        SELECT ledger_entry_hash(${prev}, ${txn}, ${account}, ${String(seq)}::bigint, ${String(amount)}::bigint, ${String(after)}::bigint, ${at.toISOString()}::timestamptz) AS hash`.execute(hub.database.db)
      expect(entryHash(prev, txn, account, seq, amount, after, at)).toBe(rows[0]!.hash)
    }
  })

  test('the balance now is read at the hub clock', async () => {
    const c = await customer()
    await post('reward-points', { kind: 'earn', customerId: c.id, amount: 9 })
    const acc = await account(c.id)
    expect((await call('GET', `/ledgers/reward-points/accounts/${acc.id}/balance`)).body).toMatchObject({ balance: 9, entries: 1, at: now.toISOString() })
  })
})
