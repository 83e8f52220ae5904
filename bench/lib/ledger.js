import { randomBytes } from 'node:crypto'
import { expectStatus, runLoad } from './http-client.js'
import { LEDGER, laneOf, seededCustomerId } from './ledger-seed.js'

/**
 * The points-ledger scenarios over HTTP: earns and spends on distinct accounts, on one hot
 * account, from one client; balance reads; the verify of the whole ledger. Each hub gets its own
 * `createLedgerTasks` (its state: which accounts exist and hold points).
 *
 * Customers are the seeded ones (`seededCustomerId(g)`), by ranges of g that do not overlap:
 * those of the verify seed, then `distinct` ones, then the hot one.
 */

export const FUND = 1_000_000 // points each distinct account is given before the earns and spends
const EARN = 10
const SPEND = 5

/**
 * @param {{ request: Function, firstCustomer: number, accounts: number, concurrency: number, maxMs: number, signal: AbortSignal }} options
 */
export function createLedgerTasks({ request, firstCustomer, accounts, concurrency, maxMs, signal }) {
  const run = randomBytes(4).toString('hex')
  let serial = 0
  const key = (what) => `bench:${run}:${what}:${serial++}`
  const customers = Array.from({ length: accounts }, (_, k) => seededCustomerId(firstCustomer + k))
  const hotCustomer = seededCustomerId(firstCustomer + accounts)
  const accountOf = new Map() // customer id → account id
  let funded = false

  const post = (body) => request('POST', `/ledgers/${LEDGER}/transactions`, body)
  const earn = (customerId, amount) => post({ kind: 'earn', idempotencyKey: key('earn'), customerId, amount })
  const spend = (customerId, amount) => post({ kind: 'spend', idempotencyKey: key('spend'), customerId, amount })
  const posted = (res, what) => {
    expectStatus(res, 201, what)
    return JSON.parse(res.text)
  }

  /** Untimed: each distinct customer earns FUND points once (which makes their accounts). */
  async function fundDistinct() {
    if (funded) return
    const r = await runLoad({
      count: customers.length,
      concurrency,
      maxMs: 10 * maxMs,
      signal,
      task: (i) => earn(customers[i], FUND),
      check: (res, i) => accountOf.set(customers[i], posted(res, 'funding earn').balances[0].accountId),
    })
    if (r.errors > 0) throw new Error(`funding the ledger accounts: ${r.errors} failed; first: ${r.firstError}`)
    funded = true
  }

  /** A customer's account in the ledger, from GET /customer/:id/reward-accounts. */
  async function readAccount(customerId) {
    const res = expectStatus(await request('GET', `/customer/${customerId}/reward-accounts`), 200, 'GET /customer/:id/reward-accounts')
    const body = JSON.parse(res.text)
    const list = Array.isArray(body) ? body : body.data
    return list.find((a) => a.ledger === LEDGER)
  }

  /** Entries of an account newer than `afterSeq`, oldest first. */
  async function entriesAfter(accountId, afterSeq) {
    const out = []
    let cursor
    for (;;) {
      const qs = new URLSearchParams({ limit: '200', ...(cursor ? { cursor } : {}) })
      const res = expectStatus(await request('GET', `/ledgers/${LEDGER}/accounts/${accountId}/entries?${qs}`), 200, 'GET entries')
      const page = JSON.parse(res.text)
      let done = false
      for (const e of page.data) {
        if (e.seq <= afterSeq) {
          done = true
          break
        }
        out.push(e)
      }
      if (done || !page.nextCursor) break
      cursor = page.nextCursor
    }
    return out.reverse()
  }

  // the hot account: a round's figures
  const hot = { accountId: undefined, before: undefined, earned: 0, spent: 0, refused: 0 }

  return {
    customers,
    fundDistinct,
    accountIds: () => customers.map((c) => accountOf.get(c)).filter(Boolean),

    /** Earn EARN and spend SPEND points, alternating, over the distinct accounts. */
    distinct: (i) => {
      const c = customers[i % customers.length]
      return (i + Math.floor(i / customers.length)) % 2 === 0 ? earn(c, EARN) : spend(c, SPEND)
    },
    checkPosted: (res) => posted(res, 'POST /ledgers/:ledger/transactions'),

    /** One client: earns of 1 point over the distinct accounts. */
    sequentialEarn: (i) => earn(customers[i % customers.length], 1),

    /** Before a hot round: the hot account holds at least `need` points; its balance and last seq are noted. */
    async prepareHot(need) {
      let account = await readAccount(hotCustomer)
      if (!account || account.available < need) {
        const res = await earn(hotCustomer, need - (account?.available ?? 0) + 1000)
        posted(res, 'funding the hot account')
        account = await readAccount(hotCustomer)
      }
      hot.accountId = account.id
      const bal = JSON.parse(expectStatus(await request('GET', `/ledgers/${LEDGER}/accounts/${account.id}/balance`), 200, 'GET balance').text)
      hot.before = { balance: account.balance, seq: bal.entries }
      hot.earned = 0
      hot.spent = 0
      hot.refused = 0
    },
    /** Three spends of 1 point to one earn of 1, all on the hot account. */
    hot: (i) => (i % 4 === 3 ? earn(hotCustomer, 1) : spend(hotCustomer, 1)),
    checkHot: (res, i) => {
      if (res.status === 422 && res.text.includes('INSUFFICIENT_POINTS')) hot.refused++
      posted(res, i % 4 === 3 ? 'hot earn' : 'hot spend')
      if (i % 4 === 3) hot.earned++
      else hot.spent++
    },
    /**
     * After a hot round: the account's balance against what the answers said (before + earned −
     * spent), its lots against its balance, each new entry against the one before (seq, balance
     * after) and never below zero; then a race of `concurrency` spends that together ask for more
     * than the balance: at most as many may succeed as the balance covers.
     */
    async checkHotAfter() {
      const entries = await entriesAfter(hot.accountId, hot.before.seq)
      let overdrafts = 0
      let chainBreaks = 0
      let prev = { seq: hot.before.seq, balanceAfter: hot.before.balance }
      for (const e of entries) {
        if (e.balanceAfter < 0) overdrafts++
        if (e.seq !== prev.seq + 1 || e.balanceAfter !== prev.balanceAfter + e.amount) chainBreaks++
        prev = e
      }
      const account = await readAccount(hotCustomer)
      const expected = hot.before.balance + hot.earned - hot.spent
      const lots = account.lots.reduce((s, l) => s + l.remaining, 0)
      if (account.balance < 0) overdrafts++
      const problems = []
      if (account.balance !== expected) problems.push(`balance ${account.balance} != ${hot.before.balance} + ${hot.earned} - ${hot.spent}`)
      if (lots !== Math.max(0, account.balance)) problems.push(`lots hold ${lots}, balance ${account.balance}`)
      if (entries.length !== hot.earned + hot.spent) problems.push(`${entries.length} new entries for ${hot.earned + hot.spent} transactions`)
      if (chainBreaks) problems.push(`${chainBreaks} entries do not follow the one before`)

      // the race: `concurrency` spends of floor(B/8)+1 each; at most 7 fit in B
      const b = account.available
      const ask = Math.floor(b / 8) + 1
      let won = 0
      let lost = 0
      const race = await runLoad({
        count: concurrency,
        concurrency,
        maxMs,
        signal,
        task: () => spend(hotCustomer, ask),
        check: (res) => {
          if (res.status === 201) won++
          else if (res.status === 422 && res.text.includes('INSUFFICIENT_POINTS')) lost++
          else expectStatus(res, 201, 'race spend')
        },
      })
      const after = await readAccount(hotCustomer)
      if (race.errors) problems.push(`race: ${race.errors} failed; first: ${race.firstError}`)
      if (won * ask > b || after.balance !== account.balance - won * ask) problems.push(`race: ${won} spends of ${ask} won against ${b} available, balance now ${after.balance}`)
      if (after.balance < 0) overdrafts++
      return {
        overdrafts,
        ok: overdrafts === 0 && problems.length === 0,
        text:
          `overdrafts ${overdrafts}; ${hot.spent} spends, ${hot.earned} earns, ${hot.refused} refused; balance ${hot.before.balance} -> ${account.balance} ` +
          `(${problems.length ? `MISMATCH: ${problems.join('; ')}` : 'matches the answers, the lots and the entry chain'}); ` +
          `race of ${concurrency} spends of ${ask} against ${b}: ${won} won, ${lost} refused, balance ${after.balance}`,
      }
    },

    balance: (i) => {
      const ids = customers.map((c) => accountOf.get(c))
      return request('GET', `/ledgers/${LEDGER}/accounts/${ids[i % ids.length]}/balance`)
    },
    checkBalance: (res) => {
      expectStatus(res, 200, 'GET /ledgers/:ledger/accounts/:id/balance')
      if (JSON.parse(res.text).balance <= 0) throw new Error('GET balance: a funded account shows no points')
    },
    rewardAccounts: (i) => request('GET', `/customer/${customers[i % customers.length]}/reward-accounts`),
    checkRewardAccounts: (res) => expectStatus(res, 200, 'GET /customer/:id/reward-accounts'),

    verify: () => request('GET', `/ledgers/${LEDGER}/verify`),
  }
}

/** The distinct, hot and sequential workloads of the raw baseline, in the same shape as the hub's. */
export { laneOf }
