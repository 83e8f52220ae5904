import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCommerceClient, type CommerceClient, type CommerceClientOptions, type Customer } from './index.js'
import { defaultLedger } from '../../hub/src/loyalty/settings.js'
import { startListeningHub, type ListeningHub } from '../test/helpers/listening-hub.js'
import { failure } from '../test/helpers/failure.js'

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const missingCustomer = 'cus_00000000000000000000000000'

let hub: ListeningHub
let commerce: CommerceClient
let n = 0
const tag = () => `${Date.now().toString(36)}-${++n}`

beforeAll(async () => {
  hub = await startListeningHub(
    {},
    {
      ledgers: [
        // orders earn 1 point per whole dollar, available at once
        { ...defaultLedger('reward-points'), earn: [{ per: 100, points: 1, currency: 'USD' }] },
        { ...defaultLedger('store-credit'), name: 'Store credit' },
      ],
    },
  )
  commerce = createCommerceClient({ baseUrl: hub.baseUrl, token: hub.adminToken, retryDelayMs: 1 })
})
afterAll(async () => {
  await hub?.close()
})

const newCustomer = (): Promise<Customer> => commerce.customers.create({ email: `points-${tag()}@example.com` })

/** The customer's account in the ledger, from the customer's reward accounts. */
async function accountOf(customerId: string, ledger = 'reward-points'): Promise<string> {
  const account = (await commerce.loyalty.accounts(customerId)).data.find((a) => a.ledger === ledger)
  if (!account) throw new Error(`${customerId} has no account in ${ledger}`)
  return account.id
}

const entriesOf = async (accountId: string, ledger?: string) => (await commerce.loyalty.entries(accountId, { limit: 200, ledger })).data

type Fault = 'lose-answer' | 'answer-503'

interface Forwarded {
  method: string
  path: string
  /** The `Idempotency-Key` header. */
  headerKey: string | undefined
  /** The body's `idempotencyKey`. */
  bodyKey: string | undefined
  hubStatus: number
  replayed: boolean
}

function forwardable(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || ['host', 'connection', 'content-length', 'keep-alive', 'transfer-encoding'].includes(k)) continue
    out[k] = Array.isArray(v) ? v.join(', ') : v
  }
  return out
}

/**
 * A proxy in front of the hub. Every request reaches the hub and waits for its whole answer;
 * then the next fault, if one is queued, replaces that answer: `lose-answer` closes the
 * connection without a word, `answer-503` answers 503 instead.
 */
async function startFlakyProxy(target: string) {
  const faults: Fault[] = []
  const forwarded: Forwarded[] = []
  const server = createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = []
      for await (const chunk of req) chunks.push(chunk as Buffer)
      const raw = Buffer.concat(chunks)
      const upstream = await fetch(target + req.url, { method: req.method, headers: forwardable(req.headers), ...(raw.length > 0 ? { body: raw } : {}) })
      const text = await upstream.text()
      const sent = raw.length > 0 ? (JSON.parse(raw.toString('utf8')) as { idempotencyKey?: string }) : {}
      const replayed = upstream.headers.get('idempotent-replayed') === 'true'
      const headerKey = req.headers['idempotency-key']
      forwarded.push({ method: req.method!, path: new URL(req.url!, target).pathname, headerKey: typeof headerKey === 'string' ? headerKey : undefined, bodyKey: sent.idempotencyKey, hubStatus: upstream.status, replayed })
      const fault = faults.shift()
      if (fault === 'lose-answer') {
        req.socket.destroy()
        return
      }
      if (fault === 'answer-503') {
        res.writeHead(503, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ statusCode: 503, code: 'DATABASE_UNAVAILABLE', error: 'Service Unavailable', message: 'The database cannot be reached; retry shortly.' }))
        return
      }
      res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json', ...(replayed ? { 'idempotent-replayed': 'true' } : {}) })
      res.end(text)
    })().catch((err: unknown) => {
      res.writeHead(502, { 'content-type': 'text/plain' })
      res.end(`proxy failed: ${String(err)}`)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    faults,
    forwarded,
    client: (options: Partial<CommerceClientOptions> = {}) => createCommerceClient({ baseUrl: `http://127.0.0.1:${port}`, token: hub.adminToken, retryDelayMs: 1, ...options }),
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())))
    },
  }
}

describe('earn and balance', () => {
  it('earn credits the customer, whose account then shows the points', async () => {
    const jane = await newCustomer()
    const before = new Date(Date.now() - 1000).toISOString()
    const { transaction, balances } = await commerce.loyalty.earn({ customerId: jane.id, amount: 500, reference: 'order-1001', metadata: { campaign: 'spring' } })
    expect(transaction).toMatchObject({ ledger: 'reward-points', kind: 'earn', reference: 'order-1001', reverses: null, metadata: { campaign: 'spring' } })
    expect(transaction.id).toMatch(/^txn_/)
    expect(transaction.idempotencyKey).toMatch(uuid)
    const mine = balances.find((b) => b.customerId === jane.id)
    expect(mine).toMatchObject({ balance: 500, available: 500, held: 0, pending: 0 })

    const accountId = await accountOf(jane.id)
    expect(mine!.accountId).toBe(accountId)
    expect(await commerce.loyalty.balance(accountId)).toMatchObject({ accountId, balance: 500, entries: 1 })
    expect(await commerce.loyalty.balance(accountId, { at: before })).toMatchObject({ accountId, at: before, balance: 0, entries: 0 })
    expect((await commerce.loyalty.accounts(jane.id)).data).toEqual([expect.objectContaining({ id: accountId, ledger: 'reward-points', balance: 500, available: 500 })])
    expect(await commerce.loyalty.transaction(transaction.id)).toEqual(transaction)
  })

  it('a ledger given per call is the one written; reward-points is the default', async () => {
    const jane = await newCustomer()
    await commerce.loyalty.earn({ customerId: jane.id, amount: 70, ledger: 'store-credit' })
    await commerce.loyalty.earn({ customerId: jane.id, amount: 5 })
    const credit = await accountOf(jane.id, 'store-credit')
    const points = await accountOf(jane.id, 'reward-points')
    expect(credit).not.toBe(points)
    expect((await commerce.loyalty.balance(credit, { ledger: 'store-credit' })).balance).toBe(70)
    expect((await commerce.loyalty.balance(points)).balance).toBe(5)
    // an account is read through its own ledger only
    expect(await failure(commerce.loyalty.balance(credit))).toMatchObject({ status: 404, code: 'ACCOUNT_NOT_FOUND' })
    expect(await failure(commerce.loyalty.earn({ customerId: jane.id, amount: 1, ledger: 'no-such-ledger' }))).toMatchObject({ status: 404, code: 'LEDGER_NOT_FOUND' })
  })

  it('earn for an unknown customer throws CUSTOMER_NOT_FOUND', async () => {
    expect(await failure(commerce.loyalty.earn({ customerId: missingCustomer, amount: 1 }))).toMatchObject({ status: 404, code: 'CUSTOMER_NOT_FOUND' })
  })

  it('entries pages newest first', async () => {
    const jane = await newCustomer()
    for (const amount of [100, 200, 300]) await commerce.loyalty.earn({ customerId: jane.id, amount })
    const accountId = await accountOf(jane.id)
    const first = await commerce.loyalty.entries(accountId, { limit: 2 })
    expect(first.data.map((e) => [e.amount, e.balanceAfter, e.kind])).toEqual([
      [300, 600, 'earn'],
      [200, 300, 'earn'],
    ])
    expect(first.nextCursor).not.toBeNull()
    const second = await commerce.loyalty.entries(accountId, { limit: 2, cursor: first.nextCursor! })
    expect(second.data.map((e) => [e.amount, e.seq])).toEqual([[100, 1]])
    expect(second.nextCursor).toBeNull()
    expect(await failure(commerce.loyalty.entries(accountId, { cursor: 'not-a-cursor' }))).toMatchObject({ status: 400, code: 'INVALID_CURSOR' })
  })
})

describe('spend, adjust, transfer', () => {
  it('spend beyond the available points throws INSUFFICIENT_POINTS and posts nothing', async () => {
    const jane = await newCustomer()
    await commerce.loyalty.earn({ customerId: jane.id, amount: 100 })
    const err = await failure(commerce.loyalty.spend({ customerId: jane.id, amount: 101 }))
    expect(err).toMatchObject({ name: 'HubApiError', status: 422, code: 'INSUFFICIENT_POINTS' })
    const accountId = await accountOf(jane.id)
    expect(await commerce.loyalty.balance(accountId)).toMatchObject({ balance: 100, entries: 1 })

    const spent = await commerce.loyalty.spend({ customerId: jane.id, amount: 100, reference: 'checkout-1' })
    expect(spent.transaction.kind).toBe('spend')
    expect(spent.balances.find((b) => b.customerId === jane.id)).toMatchObject({ balance: 0, available: 0 })
  })

  it('adjust adds and removes points with an admin token; a platform token is refused', async () => {
    const jane = await newCustomer()
    await commerce.loyalty.adjust({ customerId: jane.id, amount: 80, reason: 'welcome gift' })
    const taken = await commerce.loyalty.adjust({ customerId: jane.id, amount: -30, reason: 'gift partly taken back' })
    expect(taken.transaction).toMatchObject({ kind: 'adjust', reason: 'gift partly taken back' })
    expect((await commerce.loyalty.balance(await accountOf(jane.id))).balance).toBe(50)

    const platform = createCommerceClient({ baseUrl: hub.baseUrl, token: await hub.platformToken() })
    expect(await failure(platform.loyalty.adjust({ customerId: jane.id, amount: 10, reason: 'nope' }))).toMatchObject({ status: 403, code: 'FORBIDDEN' })
    expect((await commerce.loyalty.balance(await accountOf(jane.id))).balance).toBe(50)
  })

  it('transfer moves points between two customers, never to the same one', async () => {
    const jane = await newCustomer()
    const john = await newCustomer()
    await commerce.loyalty.earn({ customerId: jane.id, amount: 300 })
    const moved = await commerce.loyalty.transfer({ fromCustomerId: jane.id, toCustomerId: john.id, amount: 120, reference: 'household' })
    expect(moved.transaction.kind).toBe('transfer')
    expect((await commerce.loyalty.balance(await accountOf(jane.id))).balance).toBe(180)
    expect((await commerce.loyalty.balance(await accountOf(john.id))).balance).toBe(120)
    expect(await failure(commerce.loyalty.transfer({ fromCustomerId: jane.id, toCustomerId: jane.id, amount: 1 }))).toMatchObject({ status: 422, code: 'SAME_ACCOUNT' })
    expect(await failure(commerce.loyalty.transfer({ fromCustomerId: john.id, toCustomerId: jane.id, amount: 121 }))).toMatchObject({ status: 422, code: 'INSUFFICIENT_POINTS' })
  })
})

describe('idempotency keys', () => {
  it('the same explicit key twice posts one transaction and answers it again', async () => {
    const jane = await newCustomer()
    const idempotencyKey = `earn-${tag()}`
    const first = await commerce.loyalty.earn({ customerId: jane.id, amount: 250, idempotencyKey })
    const again = await commerce.loyalty.earn({ customerId: jane.id, amount: 250, idempotencyKey })
    expect(first.transaction.idempotencyKey).toBe(idempotencyKey)
    expect(again.transaction).toEqual(first.transaction)
    const accountId = await accountOf(jane.id)
    expect((await entriesOf(accountId)).map((e) => e.transactionId)).toEqual([first.transaction.id])
    expect((await commerce.loyalty.balance(accountId)).balance).toBe(250)

    const reused = await failure(commerce.loyalty.earn({ customerId: jane.id, amount: 999, idempotencyKey }))
    expect(reused).toMatchObject({ status: 422, code: 'IDEMPOTENCY_KEY_REUSED' })
  })

  it('calls without a key each get a key of their own: two calls, two transactions', async () => {
    const jane = await newCustomer()
    const a = await commerce.loyalty.earn({ customerId: jane.id, amount: 10 })
    const b = await commerce.loyalty.earn({ customerId: jane.id, amount: 10 })
    expect(a.transaction.idempotencyKey).toMatch(uuid)
    expect(b.transaction.idempotencyKey).toMatch(uuid)
    expect(a.transaction.idempotencyKey).not.toBe(b.transaction.idempotencyKey)
    expect((await commerce.loyalty.balance(await accountOf(jane.id))).balance).toBe(20)
  })
})

describe('retries through a flaky connection', () => {
  let proxy: Awaited<ReturnType<typeof startFlakyProxy>>
  beforeAll(async () => {
    proxy = await startFlakyProxy(hub.baseUrl)
  })
  afterAll(async () => {
    await proxy?.close()
  })
  const since = () => {
    const start = proxy.forwarded.length
    return () => proxy.forwarded.slice(start)
  }

  it('an earn whose answer was lost is sent again with the key the client made: one transaction', async () => {
    const jane = await newCustomer()
    const seen = since()
    proxy.faults.push('lose-answer')
    const result = await proxy.client().loyalty.earn({ customerId: jane.id, amount: 400 })
    const attempts = seen()
    expect(attempts).toHaveLength(2)
    expect(attempts.map((a) => [a.method, a.path, a.hubStatus, a.replayed])).toEqual([
      ['POST', '/ledgers/reward-points/transactions', 201, false],
      ['POST', '/ledgers/reward-points/transactions', 200, true],
    ])
    expect(attempts[0]!.bodyKey).toMatch(uuid)
    expect(attempts[1]!.bodyKey).toBe(attempts[0]!.bodyKey)
    expect(result.transaction.idempotencyKey).toBe(attempts[0]!.bodyKey)

    const accountId = await accountOf(jane.id)
    expect((await entriesOf(accountId)).map((e) => e.transactionId)).toEqual([result.transaction.id])
    expect((await commerce.loyalty.balance(accountId)).balance).toBe(400)
  })

  it('a 503 after the hub posted a spend: the retry gets the first transaction, the points are taken once', async () => {
    const jane = await newCustomer()
    await commerce.loyalty.earn({ customerId: jane.id, amount: 100 })
    const seen = since()
    proxy.faults.push('answer-503', 'answer-503')
    const spent = await proxy.client().loyalty.spend({ customerId: jane.id, amount: 60 })
    const attempts = seen()
    expect(attempts.map((a) => [a.hubStatus, a.replayed])).toEqual([
      [201, false],
      [200, true],
      [200, true],
    ])
    expect(new Set(attempts.map((a) => a.bodyKey)).size).toBe(1)
    const accountId = await accountOf(jane.id)
    expect((await entriesOf(accountId)).filter((e) => e.kind === 'spend').map((e) => e.transactionId)).toEqual([spent.transaction.id])
    expect((await commerce.loyalty.balance(accountId)).balance).toBe(40)
  })

  it('a reversal whose answer was lost is not reversed twice (nor refused as already reversed)', async () => {
    const jane = await newCustomer()
    const earned = await commerce.loyalty.earn({ customerId: jane.id, amount: 90 })
    const seen = since()
    proxy.faults.push('lose-answer')
    const reversed = await proxy.client().loyalty.reverse(earned.transaction.id, { reason: 'order refunded' })
    expect(reversed.transaction).toMatchObject({ kind: 'reversal', reverses: earned.transaction.id })
    expect(seen().map((a) => a.replayed)).toEqual([false, true])
    const accountId = await accountOf(jane.id)
    expect((await entriesOf(accountId)).map((e) => [e.kind, e.amount])).toEqual([
      ['reversal', -90],
      ['earn', 90],
    ])
  })

  it('a capture answered 503 after it was done is retried with the same Idempotency-Key and replayed', async () => {
    const jane = await newCustomer()
    await commerce.loyalty.earn({ customerId: jane.id, amount: 500 })
    const { hold } = await commerce.loyalty.hold({ customerId: jane.id, amount: 200, ttlSeconds: 600 })
    const seen = since()
    proxy.faults.push('answer-503')
    const captured = await proxy.client().loyalty.capture(hold.id)
    const attempts = seen()
    expect(attempts.map((a) => [a.path, a.hubStatus, a.replayed])).toEqual([
      [`/holds/${hold.id}/capture`, 200, false],
      [`/holds/${hold.id}/capture`, 200, true],
    ])
    expect(attempts[0]!.headerKey).toMatch(uuid)
    expect(attempts[1]!.headerKey).toBe(attempts[0]!.headerKey)
    expect(captured.hold).toMatchObject({ id: hold.id, status: 'captured', capturedAmount: 200 })
    const accountId = await accountOf(jane.id)
    expect((await entriesOf(accountId)).filter((e) => e.kind === 'capture')).toHaveLength(1)
    expect((await commerce.loyalty.balance(accountId)).balance).toBe(300)
  })

  it('a refusal of the hub (4xx) is thrown at once, not retried', async () => {
    const jane = await newCustomer()
    const seen = since()
    expect(await failure(proxy.client().loyalty.spend({ customerId: jane.id, amount: 5 }))).toMatchObject({ status: 422, code: 'INSUFFICIENT_POINTS' })
    expect(seen()).toHaveLength(1)
  })

  it('with retries: 0 a lost answer throws NETWORK_ERROR; the caller repeating with its own key gets the one transaction', async () => {
    const jane = await newCustomer()
    const idempotencyKey = `checkout-${tag()}`
    const seen = since()
    proxy.faults.push('lose-answer')
    const client = proxy.client({ retries: 0 })
    expect(await failure(client.loyalty.earn({ customerId: jane.id, amount: 30, idempotencyKey }))).toMatchObject({ status: 0, code: 'NETWORK_ERROR' })
    expect(seen()).toHaveLength(1)
    const again = await client.loyalty.earn({ customerId: jane.id, amount: 30, idempotencyKey })
    expect(seen().map((a) => a.replayed)).toEqual([false, true])
    expect((await entriesOf(await accountOf(jane.id))).map((e) => e.transactionId)).toEqual([again.transaction.id])
  })

  it('gives up after `retries` and throws the last error', async () => {
    const jane = await newCustomer()
    const seen = since()
    proxy.faults.push('answer-503', 'answer-503', 'answer-503')
    const err = await failure(proxy.client({ retries: 2 }).loyalty.earn({ customerId: jane.id, amount: 1 }))
    expect(err).toMatchObject({ status: 503, code: 'DATABASE_UNAVAILABLE' })
    expect(seen()).toHaveLength(3)
    expect(proxy.faults).toEqual([])
    // the hub posted it on the first attempt; the others were replays
    expect(seen().map((a) => a.replayed)).toEqual([false, true, true])
  })

  it('an id that would name another route is refused before anything is sent', async () => {
    const seen = since()
    for (const id of ['', '.', '..']) {
      expect(await failure(proxy.client().loyalty.balance(id))).toMatchObject({ status: 0, code: 'INVALID_ARGUMENT' })
    }
    expect(seen()).toEqual([])
  })

  it('refuses a retries option that is not a whole number ≥ 0', () => {
    expect(() => createCommerceClient({ baseUrl: hub.baseUrl, retries: -1 })).toThrow(/retries/)
    expect(() => createCommerceClient({ baseUrl: hub.baseUrl, retries: 1.5 })).toThrow(/retries/)
  })
})

describe('holds', () => {
  it('hold reserves points, capture spends part of them and releases the rest', async () => {
    const jane = await newCustomer()
    await commerce.loyalty.earn({ customerId: jane.id, amount: 1000 })
    const held = await commerce.loyalty.hold({ customerId: jane.id, amount: 300, ttlSeconds: 900, reference: 'checkout-77' })
    expect(held.hold).toMatchObject({ ledger: 'reward-points', customerId: jane.id, amount: 300, status: 'pending', reference: 'checkout-77' })
    expect(held.hold.idempotencyKey).toMatch(uuid)
    expect(held.balance).toMatchObject({ balance: 1000, available: 700, held: 300 })
    expect(held.transaction).toBeNull()
    expect(await failure(commerce.loyalty.spend({ customerId: jane.id, amount: 701 }))).toMatchObject({ code: 'INSUFFICIENT_POINTS' })

    expect(await failure(commerce.loyalty.capture(held.hold.id, { amount: 301 }))).toMatchObject({ status: 422, code: 'CAPTURE_EXCEEDS_HOLD' })
    const captured = await commerce.loyalty.capture(held.hold.id, { amount: 250 })
    expect(captured.hold).toMatchObject({ id: held.hold.id, status: 'captured', capturedAmount: 250, captureTransactionId: captured.transaction!.id })
    expect(captured.transaction).toMatchObject({ kind: 'capture', holdId: held.hold.id })
    expect(captured.balance).toMatchObject({ balance: 750, available: 750, held: 0 })
    expect(await commerce.loyalty.getHold(held.hold.id)).toMatchObject({ status: 'captured', capturedAmount: 250 })

    expect(await failure(commerce.loyalty.capture(held.hold.id))).toMatchObject({ status: 409, code: 'HOLD_RESOLVED' })
    expect(await failure(commerce.loyalty.void(held.hold.id))).toMatchObject({ status: 409, code: 'HOLD_RESOLVED' })
  })

  it('void releases a hold; a hold beyond the available points throws INSUFFICIENT_POINTS', async () => {
    const jane = await newCustomer()
    await commerce.loyalty.earn({ customerId: jane.id, amount: 100 })
    expect(await failure(commerce.loyalty.hold({ customerId: jane.id, amount: 101, ttlSeconds: 60 }))).toMatchObject({ status: 422, code: 'INSUFFICIENT_POINTS' })
    const { hold } = await commerce.loyalty.hold({ customerId: jane.id, amount: 60, ttlSeconds: 60 })
    const voided = await commerce.loyalty.void(hold.id)
    expect(voided.hold).toMatchObject({ id: hold.id, status: 'voided' })
    expect(voided.balance).toMatchObject({ balance: 100, available: 100, held: 0 })
    expect(voided.transaction).toBeNull()
    expect(await failure(commerce.loyalty.getHold('hld_00000000000000000000000000'))).toMatchObject({ status: 404, code: 'HOLD_NOT_FOUND' })
  })

  it('the same hold key twice reserves once', async () => {
    const jane = await newCustomer()
    await commerce.loyalty.earn({ customerId: jane.id, amount: 100 })
    const idempotencyKey = `hold-${tag()}`
    const a = await commerce.loyalty.hold({ customerId: jane.id, amount: 40, ttlSeconds: 60, idempotencyKey })
    const b = await commerce.loyalty.hold({ customerId: jane.id, amount: 40, ttlSeconds: 60, idempotencyKey })
    expect(b.hold.id).toBe(a.hold.id)
    expect((await commerce.loyalty.accounts(jane.id)).data[0]).toMatchObject({ available: 60, held: 40 })
  })
})

describe('reverse', () => {
  it('reverse posts the mirror image once', async () => {
    const jane = await newCustomer()
    const earned = await commerce.loyalty.earn({ customerId: jane.id, amount: 400 })
    const reversed = await commerce.loyalty.reverse(earned.transaction.id, { reason: 'order refunded' })
    expect(reversed.transaction).toMatchObject({ kind: 'reversal', reverses: earned.transaction.id, reason: 'order refunded' })
    expect(reversed.transaction.postings.map((p) => p.amount)).toEqual(earned.transaction.postings.map((p) => p.amount))
    expect(reversed.balances.find((b) => b.customerId === jane.id)).toMatchObject({ balance: 0 })
    expect(await failure(commerce.loyalty.reverse(earned.transaction.id, { reason: 'again' }))).toMatchObject({ status: 409, code: 'TRANSACTION_ALREADY_REVERSED' })
    expect(await failure(commerce.loyalty.reverse(reversed.transaction.id, { reason: 'undo the undo' }))).toMatchObject({ status: 409, code: 'TRANSACTION_NOT_REVERSIBLE' })
  })

  it('an earn whose points were spent meanwhile cannot be reversed', async () => {
    const jane = await newCustomer()
    const earned = await commerce.loyalty.earn({ customerId: jane.id, amount: 400 })
    await commerce.loyalty.spend({ customerId: jane.id, amount: 300 })
    expect(await failure(commerce.loyalty.reverse(earned.transaction.id, { reason: 'too late' }))).toMatchObject({ status: 409, code: 'REVERSAL_POINTS_SPENT' })
    expect((await commerce.loyalty.balance(await accountOf(jane.id))).balance).toBe(100)
    expect(await failure(commerce.loyalty.reverse('txn_00000000000000000000000000', { reason: 'nothing' }))).toMatchObject({ status: 404, code: 'TRANSACTION_NOT_FOUND' })
  })
})

describe('orders.cancel', () => {
  it('takes back what the order earned, once', async () => {
    const jane = await newCustomer()
    const externalId = `order-${tag()}`
    const recorded = await commerce.orders.record({ platform: 'shopify', externalId, customerId: jane.id, total: 4580, currency: 'USD', placedAt: new Date().toISOString() })
    expect(recorded.points.map((t) => t.kind)).toEqual(['order'])
    const accountId = await accountOf(jane.id)
    expect((await commerce.loyalty.balance(accountId)).balance).toBe(45)

    const cancelled = await commerce.orders.cancel({ platform: 'shopify', externalId })
    expect(cancelled).toMatchObject({ outcome: 'cancelled', orderCount: 0, totalSpent: 0, order: { id: recorded.id } })
    expect(cancelled.points).toHaveLength(1)
    expect((await commerce.loyalty.balance(accountId)).balance).toBe(0)

    expect(await commerce.orders.cancel({ platform: 'shopify', externalId })).toMatchObject({ outcome: 'unchanged', points: [] })
    expect(await failure(commerce.orders.cancel({ platform: 'shopify', externalId: `missing-${tag()}` }))).toMatchObject({ status: 404, code: 'ORDER_NOT_FOUND' })
  })
})
