import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { STATUS_CODES } from 'node:http'
import { fileURLToPath } from 'node:url'
import { describe, expect, test, vi } from 'vitest'
import { parse as parseYaml } from 'yaml'
import type { LedgerEntry, RewardAccountBalance, VerifyReport } from '@his-her/contract'
import { createTestHub, type TestHub } from './helpers/test-hub.js'
import { ledgerSection } from '../src/loyalty/settings.js'
import { SETTLE_INTERVAL_MS, settleDueAccounts } from '../src/loyalty/index.js'

/**
 * Replays the examples of docs/loyalty.md against a hub and checks every number they show: each
 * ```http block is sent as written and its answer compared with the one shown, each ```console
 * block runs what the command does and compares its output, each table of balances or lots is
 * compared with the customer's accounts at that moment. The hubs use the document's own
 * `ledgers:` configuration.
 */

const docPath = fileURLToPath(new URL('../../../docs/loyalty.md', import.meta.url))
const doc = readFileSync(docPath, 'utf8')
const lines = doc.split('\n')

type Vars = Map<string, string>

interface HttpStep {
  type: 'http'
  line: number
  at?: string
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE'
  path: string
  headers: Record<string, string>
  body?: unknown
  status: number
  reason: string
  responseHeaders: Record<string, string>
  response?: unknown
}
interface ConsoleStep {
  type: 'console'
  line: number
  at?: string
  command?: string
  output: string[]
}
interface TableStep {
  type: 'balances' | 'lots'
  line: number
  rows: Record<string, string>[]
}
type Step = HttpStep | ConsoleStep | TableStep

interface Example {
  title: string
  line: number
  customers: string[]
  steps: Step[]
}

const TIME = /^# (\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{3})?Z)$/
const PLACEHOLDER = /\{([a-z0-9-]+)\}/g

function parseHttp(block: string[], line: number): HttpStep {
  const where = `docs/loyalty.md:${line}`
  let i = 0
  let at: string | undefined
  while (block[i]?.startsWith('#')) {
    const m = TIME.exec(block[i]!)
    expect(m, `${where}: a comment line of an http block is a moment`).not.toBeNull()
    at = m![1]
    i++
  }
  const request = /^(GET|POST|PATCH|DELETE) (\S+)$/.exec(block[i++] ?? '')
  expect(request, `${where}: a request line`).not.toBeNull()
  const headers: Record<string, string> = {}
  for (; i < block.length && block[i]!.trim() !== ''; i++) {
    const h = /^([A-Za-z-]+): (.+)$/.exec(block[i]!)
    expect(h, `${where}: a request header`).not.toBeNull()
    headers[h![1]!.toLowerCase()] = h![2]!
  }
  const bodyLines: string[] = []
  for (; i < block.length && !block[i]!.startsWith('HTTP/1.1 '); i++) bodyLines.push(block[i]!)
  const statusLine = /^HTTP\/1\.1 (\d{3}) (.+)$/.exec(block[i++] ?? '')
  expect(statusLine, `${where}: a status line`).not.toBeNull()
  const responseHeaders: Record<string, string> = {}
  for (; i < block.length && block[i]!.trim() !== ''; i++) {
    const h = /^([A-Za-z-]+): (.+)$/.exec(block[i]!)
    expect(h, `${where}: a response header`).not.toBeNull()
    responseHeaders[h![1]!.toLowerCase()] = h![2]!
  }
  const responseText = block.slice(i).join('\n').trim()
  const bodyText = bodyLines.join('\n').trim()
  return {
    type: 'http',
    line,
    at,
    method: request![1] as HttpStep['method'],
    path: request![2]!,
    headers,
    body: bodyText ? JSON.parse(bodyText) : undefined,
    status: Number(statusLine![1]),
    reason: statusLine![2]!,
    responseHeaders,
    response: responseText ? JSON.parse(responseText) : undefined,
  }
}

function parseConsole(block: string[], line: number): ConsoleStep {
  let at: string | undefined
  let command: string | undefined
  const output: string[] = []
  for (const l of block) {
    const m = TIME.exec(l)
    if (m) at = m[1]
    else if (l.startsWith('$ ')) {
      expect(command, `docs/loyalty.md:${line}: one command per console block`).toBeUndefined()
      command = l.slice(2)
    } else output.push(l)
  }
  return { type: 'console', line, at, command, output }
}

function parseTable(rows: string[], line: number): TableStep {
  const cells = (l: string) => l.replace(/^\|/, '').replace(/\|$/, '').split('|').map((c) => c.trim())
  const header = cells(rows[0]!)
  const type = header.includes('held') ? 'balances' : header.includes('remaining') ? 'lots' : undefined
  expect(type, `docs/loyalty.md:${line}: a table of an example is one of balances or lots`).toBeDefined()
  const expected = type === 'balances' ? ['customer', 'ledger', 'balance', 'available', 'held', 'pending'] : ['customer', 'ledger', 'amount', 'remaining', 'expiresAt', 'pending', 'availableAt']
  expect(header, `docs/loyalty.md:${line}: the columns`).toEqual(expected)
  return { type: type!, line, rows: rows.slice(2).map((r) => Object.fromEntries(cells(r).map((c, n) => [header[n]!, c]))) }
}

function parseExamples(): Example[] {
  const start = lines.findIndex((l) => l === '## Examples')
  expect(start, 'docs/loyalty.md has an Examples section').toBeGreaterThan(0)
  const examples: Example[] = []
  let current: Example | undefined
  for (let i = start + 1; i < lines.length; i++) {
    const l = lines[i]!
    if (l.startsWith('## ')) break
    if (l.startsWith('### ')) {
      current = { title: l.slice(4), line: i + 1, customers: [], steps: [] }
      examples.push(current)
      continue
    }
    if (!current) continue
    if (l.startsWith('Customers: ')) current.customers = [...l.matchAll(PLACEHOLDER)].map((m) => m[1]!)
    const fence = /^```(\w*)$/.exec(l)
    if (fence) {
      const end = lines.findIndex((x, n) => n > i && x === '```')
      const block = lines.slice(i + 1, end)
      expect(['http', 'console'], `docs/loyalty.md:${i + 1}: a block of an example is http or console`).toContain(fence[1])
      current.steps.push(fence[1] === 'http' ? parseHttp(block, i + 1) : parseConsole(block, i + 1))
      i = end
      continue
    }
    if (l.startsWith('|')) {
      let end = i
      while (lines[end + 1]?.startsWith('|')) end++
      current.steps.push(parseTable(lines.slice(i, end + 1), i + 1))
      i = end
    }
  }
  return examples
}

/** The `ledgers:` block of the document, read as the hub reads its configuration file. */
function documentedLedgers() {
  const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => parseYaml(m[1]!) as Record<string, unknown>)
  const config = blocks.find((b) => b && 'ledgers' in b)
  expect(config, 'docs/loyalty.md has a ledgers: block').toBeDefined()
  return ledgerSection.read(config!.ledgers, ledgerSection.defaults(), 'docs/loyalty.md')
}

function substitute(value: unknown, vars: Vars, where: string): unknown {
  if (typeof value === 'string') {
    return value.replace(PLACEHOLDER, (_, name: string) => {
      expect(vars.has(name), `${where}: {${name}} is named before it is used`).toBe(true)
      return vars.get(name)!
    })
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, vars, where))
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, vars, where)]))
  return value
}

/** Compares an answer with what the document shows: every field shown, arrays in full; an unnamed `{name}` takes the value it meets. */
function matches(expected: unknown, actual: unknown, vars: Vars, where: string): void {
  if (typeof expected === 'string') {
    const whole = /^\{([a-z0-9-]+)\}$/.exec(expected)
    if (whole && !vars.has(whole[1]!)) {
      expect(typeof actual, `${where}: {${whole[1]}} names a string`).toBe('string')
      vars.set(whole[1]!, actual as string)
      return
    }
    expect(actual, where).toBe(substitute(expected, vars, where))
    return
  }
  if (Array.isArray(expected)) {
    expect(Array.isArray(actual), `${where} is a list`).toBe(true)
    expect((actual as unknown[]).length, `${where}: the number of items`).toBe(expected.length)
    expected.forEach((e, n) => matches(e, (actual as unknown[])[n], vars, `${where}[${n}]`))
    return
  }
  if (expected && typeof expected === 'object') {
    expect(actual !== null && typeof actual === 'object', `${where} is an object`).toBe(true)
    for (const [k, v] of Object.entries(expected)) {
      expect(Object.keys(actual as object), `${where} has ${k}`).toContain(k)
      matches(v, (actual as Record<string, unknown>)[k], vars, `${where}.${k}`)
    }
    return
  }
  expect(actual, where).toBe(expected)
}

/** The chain of entries as the document describes the hash; `entries` newest first, down to seq 1. */
function checkChain(entries: LedgerEntry[], where: string): void {
  const ascending = [...entries].reverse()
  expect(ascending.map((e) => e.seq), `${where}: a whole chain`).toEqual(ascending.map((_, n) => n + 1))
  let prev = ''
  for (const e of ascending) {
    const hash = createHash('sha256').update(`${prev}|${e.transactionId}|${e.accountId}|${e.seq}|${e.amount}|${e.balanceAfter}|${Date.parse(e.createdAt)}`, 'utf8').digest('hex')
    expect(e.hash, `${where}: the hash of entry ${e.seq}`).toBe(hash)
    prev = hash
  }
}

/** What `customer-hub ledger verify` prints for a report. */
function reportLines(report: VerifyReport): string[] {
  const head = `${report.ledger}: ${report.accounts} accounts, ${report.transactions} transactions, ${report.entries} entries`
  if (report.ok) return [`${head} — ok`]
  return [`${head} — ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}:`, ...report.problems.map((p) => `  ${p.kind}\t${p.accountId ?? '-'}\t${p.transactionId ?? '-'}\t${p.detail}`)]
}

const examples = parseExamples()
const ledgers = documentedLedgers()

describe('docs/loyalty.md', () => {
  test('has the examples, and their configuration is the one the page describes', () => {
    expect(examples.length).toBeGreaterThanOrEqual(9)
    for (const e of examples) {
      expect(e.customers.length, `${e.title} names its customers`).toBeGreaterThan(0)
      expect(e.steps.filter((s) => s.type === 'http').length, `${e.title} has requests`).toBeGreaterThan(0)
    }
    expect(examples.flatMap((e) => e.steps).filter((s) => s.type === 'http').length).toBeGreaterThan(60)
    const points = ledgers.find((l) => l.handle === 'reward-points')!
    expect(points).toMatchObject({ pendingDays: 14, expiryDays: 365, allowNegative: false, earn: [{ per: 100, points: 1, currency: 'USD' }] })
    expect(ledgers.find((l) => l.handle === 'store-credit')).toMatchObject({ allowNegative: true, name: 'Store credit' })
  })

  test('states the hash the entries carry', () => {
    expect(doc).toContain('hash = hex(sha256(prev_hash | transaction_id | account_id | seq | amount | balance_after | created_at_ms))')
  })

  test('a customer token reads the entries and balance of its own account only (docs/access.md)', async () => {
    let now = new Date('2030-01-01T00:00:00.000Z')
    const hub = await hubWithoutSettleTimer(() => now, { requireEmailVerification: false })
    try {
      const post = async (url: string, payload: object, headers = hub.admin) => {
        const res = await hub.app.inject({ method: 'POST', url, headers, payload })
        expect(res.statusCode, res.body).toBeLessThan(300)
        return res.json()
      }
      const password = 'correct horse battery'
      const mine = await post('/customer', { email: 'own@example.com', password })
      const other = await post('/customer', { email: 'other@example.com' })
      const own = (await post('/ledgers/reward-points/transactions', { kind: 'earn', idempotencyKey: 'own', customerId: mine.id, amount: 7 })).balances[0].accountId
      const earned = await post('/ledgers/reward-points/transactions', { kind: 'earn', idempotencyKey: 'other', customerId: other.id, amount: 9 })
      const foreign = earned.balances[0].accountId
      const issuerLane = earned.transaction.postings[0].from
      now = new Date('2030-01-01T00:00:01.000Z')
      const login = await hub.app.inject({ method: 'POST', url: '/auth/login', payload: { email: 'own@example.com', password } })
      expect(login.statusCode, login.body).toBe(200)
      const headers = { authorization: `Bearer ${login.json<{ accessToken: string }>().accessToken}` }
      const get = (url: string) => hub.app.inject({ method: 'GET', url, headers })
      const entries = await get(`/ledgers/reward-points/accounts/${own}/entries`)
      expect(entries.statusCode, entries.body).toBe(200)
      expect(entries.json().data.map((e: LedgerEntry) => e.amount)).toEqual([7])
      const balance = await get(`/ledgers/reward-points/accounts/${own}/balance?at=2030-01-01T00:00:00.500Z`)
      expect(balance.json()).toMatchObject({ balance: 7, entries: 1 })
      for (const id of [foreign, issuerLane]) {
        for (const url of [`/ledgers/reward-points/accounts/${id}/entries`, `/ledgers/reward-points/accounts/${id}/balance`]) {
          const res = await get(url)
          expect(res.statusCode, `${url}: ${res.body}`).toBe(404)
          expect(res.json()).toMatchObject({ code: 'ACCOUNT_NOT_FOUND' })
        }
      }
      // the admin reads any account of the ledger, a system lane too
      expect((await hub.app.inject({ method: 'GET', url: `/ledgers/reward-points/accounts/${issuerLane}/entries`, headers: hub.admin })).statusCode).toBe(200)
    } finally {
      await hub.close()
    }
  })

  for (const example of examples) {
    test(example.title, async () => {
      let now = new Date('2030-01-01T00:00:00.000Z')
      const hub = await hubWithoutSettleTimer(() => now)
      try {
        await run(hub, example, (at) => {
          const next = new Date(at)
          expect(next.getTime(), `time moves forward in ${example.title}`).toBeGreaterThanOrEqual(now.getTime())
          now = next
        })
      } finally {
        await hub.close()
      }
    })
  }
})

/**
 * A hub on the document's ledgers whose own 30-second settle timer is stopped: in the examples an
 * account is settled only where they say so (a posting, `ledger expire`), whatever the time the
 * test takes.
 */
async function hubWithoutSettleTimer(clock: () => Date, customer: { requireEmailVerification?: boolean } = {}): Promise<TestHub> {
  const real = globalThis.setInterval
  const settleTimers: ReturnType<typeof setInterval>[] = []
  const spy = vi.spyOn(globalThis, 'setInterval').mockImplementation(((handler: () => void, ms?: number) => {
    const timer = real(handler, ms)
    if (ms === SETTLE_INTERVAL_MS) settleTimers.push(timer)
    return timer
  }) as typeof setInterval)
  let hub: TestHub
  try {
    hub = await createTestHub({ clock, ledgers, customer })
  } finally {
    spy.mockRestore()
  }
  expect(settleTimers, 'the hub set its settle timer').toHaveLength(1)
  clearInterval(settleTimers[0])
  return hub
}

async function run(hub: TestHub, example: Example, setTime: (at: string) => void): Promise<void> {
  const vars: Vars = new Map()
  vars.set('platform-token', (await hub.platform()).authorization!.slice('Bearer '.length))
  for (const name of example.customers) {
    const res = await hub.app.inject({ method: 'POST', url: '/customer', headers: hub.admin, payload: { email: `${name}@example.com` } })
    expect(res.statusCode, res.body).toBe(201)
    vars.set(name, res.json<{ id: string }>().id)
  }
  const db = hub.database.db
  const accountsOf = async (customerId: string): Promise<RewardAccountBalance[]> => {
    const res = await hub.app.inject({ method: 'GET', url: `/customer/${customerId}/reward-accounts`, headers: hub.admin })
    // a merged customer (410) is read from the ledger directly
    if (res.statusCode === 410) return hub.app.services.ledgerReads.customerAccounts(db, customerId)
    expect(res.statusCode, res.body).toBe(200)
    return res.json<{ data: RewardAccountBalance[] }>().data
  }
  const account = async (row: Record<string, string>, where: string) => {
    const id = vars.get(row.customer!)
    expect(id, `${where}: ${row.customer} is a customer of the example`).toBeDefined()
    const found = (await accountsOf(id!)).find((a) => a.ledger === row.ledger)
    expect(found, `${where}: ${row.customer} has an account in ${row.ledger}`).toBeDefined()
    return found!
  }

  for (const step of example.steps) {
    const where = `docs/loyalty.md:${step.line}`
    if (step.type === 'http') {
      if (step.at) setTime(step.at)
      expect(STATUS_CODES[step.status], `${where}: the reason phrase`).toBe(step.reason)
      const headers = { ...hub.admin, ...(substitute(step.headers, vars, where) as Record<string, string>) }
      const url = substitute(step.path, vars, where) as string
      const res = await hub.app.inject({ method: step.method, url, headers, ...(step.body === undefined ? {} : { payload: substitute(step.body, vars, where) as object }) })
      expect(res.statusCode, `${where}: ${step.method} ${url} answered ${res.body}`).toBe(step.status)
      for (const [name, value] of Object.entries(step.responseHeaders)) expect(res.headers[name], `${where}: header ${name}`).toBe(value)
      const body = res.body ? res.json() : undefined
      if (step.status === 201 || step.status === 200) expect(res.headers['idempotent-replayed'], `${where}: Idempotent-Replayed`).toBe(step.responseHeaders['idempotent-replayed'])
      if (step.response !== undefined) matches(step.response, body, vars, `${where} answer`)
      if (/\/accounts\/[^/]+\/entries$/.test(url) && res.statusCode === 200) checkChain(body.data, where)
    } else if (step.type === 'console') {
      if (step.at) setTime(step.at)
      if (!step.command) {
        expect(step.output.filter((l) => l.trim() !== ''), `${where}: a block without a command shows only the time`).toEqual([])
        continue
      }
      const m = /^customer-hub ledger (verify|expire)(?: --ledger ([a-z0-9._-]+))?$/.exec(step.command)
      expect(m, `${where}: a ledger command`).not.toBeNull()
      const only = m![2]
      let printed: string[]
      if (m![1] === 'expire') {
        const n = await settleDueAccounts(db, hub.app.services.ledger, only)
        printed = [`settled ${n} account${n === 1 ? '' : 's'} that fell due`]
      } else {
        const handles = only ? [only] : (await db.selectFrom('ledgers').select('id').orderBy('id').execute()).map((r) => r.id)
        printed = []
        for (const handle of handles) printed.push(...reportLines(await hub.app.services.ledgerReads.verify(db, handle)))
      }
      expect(printed, `${where}: the output of ${step.command}`).toEqual(step.output)
    } else if (step.type === 'balances') {
      for (const row of step.rows) {
        const a = await account(row, where)
        expect({ balance: a.balance, available: a.available, held: a.held, pending: a.pending }, `${where}: ${row.customer} in ${row.ledger}`).toEqual({
          balance: Number(row.balance),
          available: Number(row.available),
          held: Number(row.held),
          pending: Number(row.pending),
        })
      }
    } else {
      const groups = new Map<string, Record<string, string>[]>()
      for (const row of step.rows) groups.set(`${row.customer}\0${row.ledger}`, [...(groups.get(`${row.customer}\0${row.ledger}`) ?? []), row])
      for (const rows of groups.values()) {
        const a = await account(rows[0]!, where)
        const date = (cell: string) => (cell === '—' ? null : cell)
        expect(
          a.lots.map((l) => ({ amount: l.amount, remaining: l.remaining, expiresAt: l.expiresAt, pending: l.pending, availableAt: l.availableAt })),
          `${where}: the lots of ${rows[0]!.customer} in ${rows[0]!.ledger}`,
        ).toEqual(
          rows.map((r) => ({ amount: Number(r.amount), remaining: Number(r.remaining), expiresAt: date(r.expiresAt!), pending: r.pending === 'yes', availableAt: date(r.availableAt!) })),
        )
      }
    }
  }

  // whatever an example did, every ledger still checks out
  for (const handle of ledgers.map((l) => l.handle)) {
    const report = await hub.app.services.ledgerReads.verify(db, handle)
    expect(report.problems, `${example.title}: ${handle} verifies`).toEqual([])
  }
}
