// The hub's benchmark: a real hub process from the build, a real database, loopback HTTP.
// `npm run bench` (PGlite); with BENCH_DATABASE_URL or DATABASE_URL set, PostgreSQL too.
//
// Environment (all optional):
//   BENCH_DATABASE_URL / DATABASE_URL  PostgreSQL to measure (a fresh schema is made and dropped)
//   BENCH_CUSTOMERS                    customers seeded for the list (default 100000 PG, 20000 PGlite)
//   BENCH_CREATES                      POST /customer requests (default 5000 PG, 1000 PGlite)
//   BENCH_SYNCS                        POST /customer/sync requests a scenario (default 5000 PG, 500 PGlite)
//   BENCH_CONCURRENCY                  concurrent clients for the load scenarios (default 16)
//   BENCH_LIST_REQUESTS                first-page list requests (default 500)
//   BENCH_ONLY                         `postgres` or `pglite` to measure one database
//   BENCH_HUB_NODE_ARGS                extra node flags for the hub, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
//                                      or "--max-old-space-size=96"
//   BENCH_EXPLAIN=1                    print the whole EXPLAIN ANALYZE of the list query
//   BENCH_STRICT=1                     exit 1 when a target is missed
//   BENCH_BASELINE=<git ref>           also measure that commit, built in a worktree beside this one, with the
//                                      same scenarios in the same run, both hubs up at once and each scenario run on
//                                      each in turn; the figures are printed side by side
//   BENCH_SCENARIOS                    comma-separated parts of scenario names: run only those (e.g. "idempotency")
//   BENCH_ROUNDS                       rounds of each scenario per build with a baseline (default 3; the median is kept)
//
// The points ledger (scenarios named "ledger ...": BENCH_SCENARIOS=ledger runs them all, or e.g. "distinct", "hot",
// "ledger earn (sequential)", "balance", "reward-accounts", "verify"; a hub scenario brings its raw pg row along):
//   BENCH_LEDGER_CONCURRENCY           concurrent clients of the ledger load scenarios (default 32)
//   BENCH_LEDGER_ACCOUNTS              distinct accounts the earns and spends go to (default 2000 PG, 500 PGlite);
//                                      seeded customers, funded through the API before the first ledger scenario
//   BENCH_LEDGER_TXNS                  transactions of the distinct-accounts scenario (default 5000 PG, 1000 PGlite)
//   BENCH_LEDGER_HOT                   transactions on the one hot account (default 3000 PG, 500 PGlite)
//   BENCH_LEDGER_SEQUENTIAL            earns from one client (default 2000 PG, 500 PGlite)
//   BENCH_LEDGER_READS                 balance reads of each read scenario (default 2000 PG, 500 PGlite)
//   BENCH_LEDGER_ENTRIES               entries seeded with SQL before the hub starts, for `ledger verify`
//                                      (default 1000000 PG, 100000 PGlite): earns, two hash-chained entries each
//   BENCH_LEDGER_VERIFY_ACCOUNTS       customer accounts those entries are spread over (default entries / 100)
//   BENCH_LEDGER_RAW_POOL              connections of the raw pg baseline (default 10, the hub's default pool size)
//   BENCH_DEBUG_SEED=1                 print where the ledger seed's time goes, by statement
//   BENCH_LEDGER_VERIFY_MAX_S          give up waiting for GET /ledgers/reward-points/verify after this many seconds (default 3600)
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir, cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { createHttpClient, expectStatus, runLoad } from './lib/http-client.js'
import { readRssMiB, watchProcess, startHubProcess } from './lib/hub-process.js'
import { baselineBuild, currentBuild } from './lib/build.js'
import { preparePglite, preparePostgres } from './lib/databases.js'
import { seedCustomers } from './lib/seed.js'
import { createBackendCpuMeter } from './lib/pg-backends.js'
import { summarize, msSince } from './lib/stats.js'
import { fmt, table } from './lib/report.js'
import { seedLedgerEntries } from './lib/ledger-seed.js'
import { createLedgerTasks } from './lib/ledger.js'
import { createRawBaseline } from './lib/ledger-raw.js'
import { envInt } from './lib/env.js'

const env = process.env
const int = envInt

const pgUrl = env.BENCH_DATABASE_URL || env.DATABASE_URL || undefined
const only = env.BENCH_ONLY
const baselineRef = env.BENCH_BASELINE || undefined
const benchRounds = int('BENCH_ROUNDS', 3)
const scenarioFilter = env.BENCH_SCENARIOS ? env.BENCH_SCENARIOS.split(',').map((x) => x.trim().toLowerCase()) : undefined
const concurrency = int('BENCH_CONCURRENCY', 16)
const listRequests = int('BENCH_LIST_REQUESTS', 500)
const cursorWalks = 50
const cursorDepth = 10 // pages per walk; pages 2..depth are timed
const scenarioMaxMs = 120_000
const hubNodeArgs = (env.BENCH_HUB_NODE_ARGS ?? '').split(/\s+/).filter(Boolean)

const targets = { createOps: 1500, rssMiB: 150, listP95: 10, syncSequentialOps: 1000, syncConcurrentOps: 2500 }
const ledgerTargets = { distinctOps: 1500, distinctRatio: 0.5, hotOps: 400, sequentialOps: 600, readP95: 2, verifySeconds: 15, verifyEntries: 1_000_000 }
const ledgerConcurrency = int('BENCH_LEDGER_CONCURRENCY', 32)
const ledgerRawPool = int('BENCH_LEDGER_RAW_POOL', 10)
const verifyMaxMs = int('BENCH_LEDGER_VERIFY_MAX_S', 3600) * 1000
const syncConcurrency = 32
const listQuery = { group: 'vip', minOrders: 5, sort: 'totalSpent:desc', limit: 50 }
const listPath = `/customer?${new URLSearchParams(Object.entries(listQuery).map(([k, v]) => [k, String(v)]))}`

const ledgerPlan = (d) => {
  const entries = int('BENCH_LEDGER_ENTRIES', d.entries)
  return {
    accounts: int('BENCH_LEDGER_ACCOUNTS', d.accounts),
    txns: int('BENCH_LEDGER_TXNS', d.txns),
    hot: int('BENCH_LEDGER_HOT', d.hot),
    sequential: int('BENCH_LEDGER_SEQUENTIAL', d.sequential),
    reads: int('BENCH_LEDGER_READS', d.reads),
    entries,
    verifyAccounts: int('BENCH_LEDGER_VERIFY_ACCOUNTS', Math.max(1, Math.ceil(entries / 100))),
  }
}
const plans = {
  postgres: { customers: int('BENCH_CUSTOMERS', 100_000), creates: int('BENCH_CREATES', 5_000), syncs: int('BENCH_SYNCS', 5_000),
    ledger: ledgerPlan({ accounts: 2000, txns: 5000, hot: 3000, sequential: 2000, reads: 2000, entries: 1_000_000 }) },
  pglite: { customers: int('BENCH_CUSTOMERS', 20_000), creates: int('BENCH_CREATES', 1_000), syncs: int('BENCH_SYNCS', 500),
    ledger: ledgerPlan({ accounts: 500, txns: 1000, hot: 500, sequential: 500, reads: 500, entries: 100_000 }) },
}
const selected = (sc) => !scenarioFilter || [sc.name, ...(sc.with ?? [])].some((n) => scenarioFilter.some((f) => n.toLowerCase().includes(f)))

/**
 * @typedef {{ scenario: string, database: string, concurrency: number, requests: number, errors: number,
 *   stats: ReturnType<typeof summarize>, rss: number, hubCpuMs: number, dbCpuMs: number, clientCpuMs: number, load: number,
 *   check?: { ok: boolean, text: string } }} Row
 * @type {Row[]}
 */
const results = []
const notes = []
let failures = 0

const log = (line) => process.stdout.write(`${line}\n`)

// Ctrl-C: stop sending, then clean up as usual (stop the hub, drop the schema, remove temp files)
const interrupted = new AbortController()
process.once('SIGINT', () => {
  log('\ninterrupted: stopping and cleaning up')
  interrupted.abort()
})

/**
 * Runs one scenario while watching the hub (peak RSS, CPU) and, on PostgreSQL, the backends
 * serving it (CPU), then records and prints its row. CPU is reported per request: the work one
 * request costs each side, which load on the machine hardly changes.
 */
async function scenario(ctx, name, conc, body) {
  if (interrupted.signal.aborted) throw new Error('interrupted')
  const watch = watchProcess(ctx.hub.pid)
  const clientCpu = process.cpuUsage()
  const dbStop = ctx.backends ? await ctx.backends.start() : undefined
  const run = await body()
  if (interrupted.signal.aborted) throw new Error('interrupted')
  const watched = watch.stop()
  const clientUsage = process.cpuUsage(clientCpu)
  const dbCpuSeconds = dbStop ? await dbStop() : NaN
  const stats = summarize(run.latencies, run.elapsedMs)
  const handled = stats.count + run.errors + (run.untimed ?? 0)
  const load = loadavg()[0]
  /** @type {Row} */
  const row = {
    scenario: name,
    build: ctx.build,
    database: ctx.label,
    concurrency: conc,
    requests: stats.count,
    errors: run.errors,
    stats,
    rss: ctx.inProcess ? NaN : watched.peakRss, // the raw pg rows watch this process: its RSS says nothing
    hubCpuMs: handled > 0 ? (watched.cpuSeconds * 1000) / handled : NaN,
    clientCpuMs: handled > 0 ? (clientUsage.user + clientUsage.system) / 1000 / handled : NaN,
    dbCpuMs: handled > 0 ? (dbCpuSeconds * 1000) / handled : NaN,
    load,
  }
  Object.defineProperty(row, 'run', { value: run }) // what the scenario's `after` may read; not printed
  results.push(row)
  if (run.errors > 0) {
    failures++
    notes.push(`${ctx.label} ${name}: ${run.errors} failed request(s); first: ${run.firstError}`)
  }
  if (run.timedOut) notes.push(`${ctx.label} ${name}: stopped at the ${scenarioMaxMs / 1000} s bound after ${stats.count} requests`)
  log(
    `  ${name.padEnd(34)} ${String(stats.count).padStart(6)} req ${fmt.ops(stats.opsPerSec).padStart(7)}/s  ` +
      `p50 ${fmt.ms(stats.p50)}  p95 ${fmt.ms(stats.p95)}  p99 ${fmt.ms(stats.p99)}  RSS ${fmt.mib(row.rss)}  ` +
      `hub CPU ${fmt.ms(row.hubCpuMs)}/req (${fmt.pct(watched.cpuPercent)} of a core)` +
      (Number.isFinite(row.dbCpuMs) ? `  db CPU ${fmt.ms(row.dbCpuMs)}/req` : '') +
      `  client CPU ${fmt.ms(row.clientCpuMs)}/req` +
      `  load ${load.toFixed(1)}` +
      (run.errors ? `  ERRORS ${run.errors}` : ''),
  )
  return row
}

/** One page of the list answer, checked: every row matches the filters, in sort order. */
function checkPage(res, previous) {
  expectStatus(res, 200, 'GET /customer')
  const page = JSON.parse(res.text)
  if (!Array.isArray(page.data) || page.data.length === 0) throw new Error('GET /customer: empty page')
  let last = previous
  for (const c of page.data) {
    if (!c.groups.includes('vip') || c.orderCount < listQuery.minOrders) throw new Error(`GET /customer: ${c.id} does not match the filters`)
    if (last && (c.totalSpent > last.totalSpent || (c.totalSpent === last.totalSpent && c.id >= last.id))) {
      throw new Error(`GET /customer: ${c.id} is out of order after ${last.id}`)
    }
    last = c
  }
  return { page, last }
}

/**
 * Follows nextCursor: each walk reads page 1 (not timed) and then pages 2..depth (timed),
 * checking that the pages continue the order and never repeat a customer.
 */
async function walkCursors(request) {
  const latencies = []
  let errors = 0
  let firstError
  let timedOut = false
  let untimed = 0
  const started = process.hrtime.bigint()
  const deadline = performance.now() + scenarioMaxMs
  for (let w = 0; w < cursorWalks; w++) {
    if (performance.now() > deadline || interrupted.signal.aborted) {
      timedOut = !interrupted.signal.aborted
      break
    }
    try {
      untimed++
      let { page, last } = checkPage(await request('GET', listPath))
      const seen = new Set(page.data.map((c) => c.id))
      for (let depth = 2; depth <= cursorDepth && page.nextCursor; depth++) {
        const t = process.hrtime.bigint()
        const res = await request('GET', `${listPath}&cursor=${encodeURIComponent(page.nextCursor)}`)
        latencies.push(msSince(t))
        ;({ page, last } = checkPage(res, last))
        for (const c of page.data) {
          if (seen.has(c.id)) throw new Error(`GET /customer: ${c.id} repeated across pages`)
          seen.add(c.id)
        }
      }
    } catch (err) {
      errors++
      firstError ??= err.message
    }
  }
  return { latencies, elapsedMs: msSince(started), errors, firstError, timedOut, untimed }
}

/**
 * Seeds a database for one build, starts that build's hub on it and warms it up. Returns what the
 * scenarios need and `close()`.
 */
async function openHub(target, plan, build, needs) {
  const { kind, label } = target
  log(`\n== ${label}, ${build.label}: ${target.version}`)
  const adminToken = `bench_${randomBytes(24).toString('base64url')}`
  const workDir = target.workDir ?? mkdtempSync(join(tmpdir(), 'hub-bench-'))
  let hub
  let client
  let backends
  const close = async () => {
    client?.close()
    await backends?.close().catch(() => {})
    if (hub) {
      const code = await hub.stop()
      if (code !== 0) notes.push(`${label}, ${build.label}: the hub exited with ${code} on SIGTERM`)
    }
    if (!target.workDir) rmSync(workDir, { recursive: true, force: true })
  }
  try {
    log(`  seeding ${plan.customers} customers with SQL ...`)
    const seeded = await seedCustomers(build, kind === 'postgres' ? { url: target.url } : { dataDir: target.dataDir }, plan.customers, listQuery)
    log(`  seeded in ${seeded.seconds.toFixed(1)} s (incl. VACUUM ANALYZE)`)
    const execLine = seeded.plan.find((l) => l.startsWith('Execution Time')) ?? ''
    log(`  list plan: ${(seeded.plan.find((l) => /Scan|Sort/.test(l)) ?? seeded.plan[0] ?? '').trim().replace(/^->\s*/, '').replace(/\s+\(cost=.*$/, '')} — ${execLine}`)
    if (env.BENCH_EXPLAIN === '1') for (const l of seeded.plan) log(`    ${l}`)

    // customers 1..verifyAccounts carry the verify seed; the ledger scenarios use the ones after
    const lp = plan.ledger
    const verifyAccounts = needs.verifySeed ? lp.verifyAccounts : 0
    if (needs.ledger && verifyAccounts + lp.accounts + 1 > plan.customers) {
      throw new Error(`the ledger scenarios need ${verifyAccounts + lp.accounts + 1} seeded customers (BENCH_LEDGER_VERIFY_ACCOUNTS + BENCH_LEDGER_ACCOUNTS + 1), BENCH_CUSTOMERS is ${plan.customers}`)
    }
    let ledgerSeed
    if (needs.verifySeed) {
      log(`  seeding ${lp.entries} ledger entries over ${verifyAccounts} accounts with SQL ...`)
      ledgerSeed = await seedLedgerEntries(build, kind === 'postgres' ? { url: target.url } : { dataDir: target.dataDir }, { entries: lp.entries, accounts: verifyAccounts, firstCustomer: 1 })
      if (ledgerSeed) {
        log(`  seeded ${ledgerSeed.transactions} transactions, ${ledgerSeed.entries} entries in ${ledgerSeed.seconds.toFixed(1)} s (incl. VACUUM ANALYZE${ledgerSeed.triggersOff ? '; foreign-key triggers off for the load' : ''})`)
      } else log('  this build has no points ledger: no ledger seed')
    }

    hub = await startHubProcess({
      hubMain: build.hubMain,
      databaseUrl: target.url,
      dataDir: target.dataDir ?? join(workDir, 'unused-data'),
      adminToken,
      cwd: workDir,
      nodeArgs: hubNodeArgs,
    })
    const idleRss = readRssMiB(hub.pid)
    if (kind === 'postgres') backends = createBackendCpuMeter(target.url, hub.pid)
    log(`  hub pid ${hub.pid} at ${hub.url}, RSS at start ${fmt.mib(idleRss)}`)
    client = createHttpClient(hub.url, { sockets: Math.max(concurrency, syncConcurrency, ledgerConcurrency), headers: { authorization: `Bearer ${adminToken}` } })
    const { request } = client
    const hasLedger = needs.ledger && (await request('GET', '/ledgers/reward-points')).status === 200
    if (needs.ledger && !hasLedger) notes.push(`${label}, ${build.label}: no points ledger (GET /ledgers/reward-points is not 200): its ledger scenarios are skipped`)

    let serial = 0
    const newGuest = () => {
      const n = serial++
      return {
        email: `guest${n}@bench.example.com`,
        firstName: 'Guest',
        lastName: `Number${n}`,
        phone: `+1646${String(2_000_000 + n).padStart(7, '0')}`,
      }
    }
    // a new person known to a platform by its id, an email and a phone: the sync of issue 3
    const persons = []
    const newPerson = () => {
      const n = serial++
      persons.push(n)
      return {
        platform: { component: 'identity.bench-store', externalIdField: 'benchCustomerId', externalId: `bench_${n}` },
        email: `person${n}@bench.example.com`,
        phone: `+1212${String(2_000_000 + n).padStart(7, '0')}`,
        firstName: 'Person',
        lastName: `Number${n}`,
      }
    }
    // a person synced before, seen again with its platform id and email and one changed field
    let seen = 0
    const knownPerson = () => {
      if (persons.length === 0) throw new Error('no person synced yet')
      const n = persons[Math.floor(Math.random() * persons.length)]
      return {
        platform: { component: 'identity.bench-store', externalIdField: 'benchCustomerId', externalId: `bench_${n}` },
        email: `person${n}@bench.example.com`,
        metadata: { seen: ++seen },
      }
    }
    const tasks = {
      health: () => request('GET', '/health'),
      checkHealth: (res) => expectStatus(res, 200, 'GET /health'),
      create: () => request('POST', '/customer', newGuest()),
      checkCreate: (res) => expectStatus(res, 201, 'POST /customer'),
      sync: () => request('POST', '/customer/sync', newPerson()),
      // as @his-her/connect sends it: one Idempotency-Key a call
      syncWithKey: () => request('POST', '/customer/sync', newPerson(), { 'idempotency-key': randomBytes(16).toString('hex') }),
      syncKnown: () => request('POST', '/customer/sync', knownPerson()),
      checkSyncKnown: (res) => {
        expectStatus(res, 200, 'POST /customer/sync (known person)')
        const body = JSON.parse(res.text)
        if (body.created || body.matchedBy !== 'platform') throw new Error('POST /customer/sync: a known person was not found by its platform id')
      },
      checkSync: (res) => {
        expectStatus(res, 201, 'POST /customer/sync')
        if (!JSON.parse(res.text).created) throw new Error('POST /customer/sync: a new person was not created')
      },
      list: () => request('GET', listPath),
      walk: () => walkCursors(request),
      ledger: hasLedger
        ? createLedgerTasks({ request, firstCustomer: verifyAccounts + 1, accounts: lp.accounts, concurrency: ledgerConcurrency, maxMs: scenarioMaxMs, signal: interrupted.signal })
        : undefined,
      ledgerSeed,
    }

    // warm-up: connections, JIT, plan caches; not measured, but it must succeed
    for (const [what, warm] of [
      ['GET /health', () => runLoad({ count: 300, concurrency, maxMs: scenarioMaxMs, signal: interrupted.signal, task: tasks.health, check: tasks.checkHealth })],
      ['POST /customer', () => runLoad({ count: 200, concurrency, maxMs: scenarioMaxMs, signal: interrupted.signal, task: tasks.create, check: tasks.checkCreate })],
      ['GET /customer', () => runLoad({ count: 50, concurrency: 1, maxMs: scenarioMaxMs, signal: interrupted.signal, task: tasks.list, check: (r) => checkPage(r) })],
    ]) {
      const w = await warm()
      if (interrupted.signal.aborted) throw new Error('interrupted')
      if (w.errors > 0) throw new Error(`warm-up ${what}: ${w.errors} failed request(s); first: ${w.firstError}`)
    }
    const ctx = { hub, label, backends, build: build.label }
    const finish = () => {
      const lifetimePeak = readRssMiB(hub.pid, 'VmHWM')
      notes.push(
        `${label}, ${build.label}: hub RSS ${fmt.mib(idleRss)} at start, ${fmt.mib(lifetimePeak)} peak over its life (VmHWM)` +
          (kind === 'postgres' ? ` (target <= ${targets.rssMiB} MiB: ${lifetimePeak <= targets.rssMiB ? 'met' : 'NOT met'})` : '') +
          `; ${plan.customers} seeded customers; list query on the database alone: ${execLine}`,
      )
    }
    return { ctx, tasks, finish, close }
  } catch (err) {
    await close()
    throw err
  }
}

/** The scenarios, in the order they run; `check` gives the target a PostgreSQL row is held to. */
function scenarios(plan) {
  const load = (count, conc, task, check) => () => runLoad({ count, concurrency: conc, maxMs: scenarioMaxMs, signal: interrupted.signal, task, check })
  return [
    // 16 concurrent clients: the trivial route first, then customer creation
    { name: 'baseline GET /health', conc: concurrency, body: (t) => load(plan.creates, concurrency, t.health, t.checkHealth) },
    { name: 'POST /customer (guest)', conc: concurrency, body: (t) => load(plan.creates, concurrency, t.create, t.checkCreate),
      check: (r) => ({ ok: r.stats.opsPerSec >= targets.createOps && r.rss <= targets.rssMiB && r.errors === 0, text: `>= ${targets.createOps}/s, RSS <= ${targets.rssMiB} MiB` }) },
    // the sync of a new person: one client, then 32; without and with an Idempotency-Key
    { name: 'POST /customer/sync (sequential)', conc: 1, body: (t) => load(plan.syncs, 1, t.sync, t.checkSync),
      check: (r) => ({ ok: r.stats.opsPerSec >= targets.syncSequentialOps && r.errors === 0, text: `>= ${targets.syncSequentialOps}/s` }) },
    { name: 'POST /customer/sync', conc: syncConcurrency, body: (t) => load(plan.syncs, syncConcurrency, t.sync, t.checkSync),
      check: (r) => ({ ok: r.stats.opsPerSec >= targets.syncConcurrentOps && r.errors === 0, text: `>= ${targets.syncConcurrentOps}/s` }) },
    // the same people again: found by their platform id, one field changed
    { name: 'POST /customer/sync known person (sequential)', conc: 1, body: (t) => load(plan.syncs, 1, t.syncKnown, t.checkSyncKnown) },
    { name: 'POST /customer/sync known person', conc: syncConcurrency, body: (t) => load(plan.syncs, syncConcurrency, t.syncKnown, t.checkSyncKnown) },
    { name: 'POST /customer/sync (sequential) + Idempotency-Key', conc: 1, body: (t) => load(plan.syncs, 1, t.syncWithKey, t.checkSync) },
    { name: 'POST /customer/sync + Idempotency-Key', conc: syncConcurrency, body: (t) => load(plan.syncs, syncConcurrency, t.syncWithKey, t.checkSync) },
    // one client, one request at a time: the trivial route, then the list
    { name: 'baseline GET /health (sequential)', conc: 1, body: (t) => load(listRequests, 1, t.health, t.checkHealth) },
    { name: 'GET /customer list, page 1', conc: 1, body: (t) => load(listRequests, 1, t.list, (r) => checkPage(r)),
      check: (r) => ({ ok: r.stats.p95 <= targets.listP95 && r.errors === 0, text: `p95 <= ${targets.listP95} ms` }) },
    { name: `GET /customer list, pages 2-${cursorDepth}`, conc: 1, body: (t) => t.walk,
      check: (r) => ({ ok: r.stats.p95 <= targets.listP95 && r.errors === 0, text: `p95 <= ${targets.listP95} ms` }) },
    ...ledgerScenarios(plan, load),
  ]
}

/**
 * The points ledger. A `raw` scenario is the plain-pg baseline (PostgreSQL only, no hub, run once a
 * round whatever the builds); it runs before its hub scenario, whose check reads it. `with`: names
 * whose selection by BENCH_SCENARIOS selects this one too.
 */
function ledgerScenarios(plan, load) {
  const lp = plan.ledger
  const c = ledgerConcurrency
  const T = ledgerTargets
  const hotNeed = Math.ceil((lp.hot * 3) / 4) + 1000
  const rawOf = (name) => (r, rows) => rows.find((x) => x.scenario === name && x.database === r.database)
  const ratio = (r, rows, name) => {
    const raw = rawOf(name)(r, rows)
    return raw ? r.stats.opsPerSec / raw.stats.opsPerSec : NaN
  }
  // no commas in the names: BENCH_SCENARIOS splits on them (e.g. BENCH_SCENARIOS="ledger earn/spend on distinct,verify")
  const names = {
    rawDistinct: 'ledger raw pg earn/spend on distinct accounts',
    distinct: 'ledger earn/spend on distinct accounts',
    rawHot: 'ledger raw pg earn/spend on one hot account',
    hot: 'ledger earn/spend on one hot account',
    rawSequential: 'ledger raw pg earn (sequential)',
    sequential: 'ledger earn (sequential)',
  }
  return [
    { name: names.rawDistinct, conc: c, raw: true, with: [names.distinct], body: (x) => load(lp.txns, c, x.distinct) },
    { name: names.distinct, conc: c, ledger: true, prepare: (t) => t.ledger.fundDistinct(), body: (t) => load(lp.txns, c, t.ledger.distinct, t.ledger.checkPosted),
      baseline: names.rawDistinct,
      check: (r, rows) => {
        const k = ratio(r, rows, names.rawDistinct)
        return { ok: r.stats.opsPerSec >= T.distinctOps && k >= T.distinctRatio && r.errors === 0, text: `>= ${T.distinctOps}/s and >= ${T.distinctRatio} of raw pg (${Number.isFinite(k) ? k.toFixed(2) : 'no raw row'})` }
      } },
    { name: names.rawHot, conc: c, raw: true, with: [names.hot], prepare: (x) => x.prepareHot(hotNeed), body: (x) => load(lp.hot, c, x.hot), after: (x) => x.checkHotAfter(c),
      check: (r) => ({ ok: r.after?.ok === true && r.errors === 0, text: '0 overdrafts, sums match' }) },
    { name: names.hot, conc: c, ledger: true, prepare: (t) => t.ledger.prepareHot(hotNeed), body: (t) => load(lp.hot, c, t.ledger.hot, t.ledger.checkHot),
      after: (t) => t.ledger.checkHotAfter(), baseline: names.rawHot,
      check: (r) => ({ ok: r.stats.opsPerSec >= T.hotOps && r.after?.ok === true && r.errors === 0, text: `>= ${T.hotOps}/s, 0 overdrafts (${r.after?.overdrafts ?? '?'})` }) },
    { name: names.rawSequential, conc: 1, raw: true, with: [names.sequential], body: (x) => load(lp.sequential, 1, x.sequentialEarn) },
    { name: names.sequential, conc: 1, ledger: true, prepare: (t) => t.ledger.fundDistinct(), body: (t) => load(lp.sequential, 1, t.ledger.sequentialEarn, t.ledger.checkPosted),
      baseline: names.rawSequential,
      check: (r) => ({ ok: r.stats.opsPerSec >= T.sequentialOps && r.errors === 0, text: `>= ${T.sequentialOps}/s` }) },
    { name: 'ledger GET /ledgers/:l/accounts/:id/balance (sequential)', conc: 1, ledger: true, prepare: (t) => t.ledger.fundDistinct(),
      body: (t) => load(lp.reads, 1, t.ledger.balance, t.ledger.checkBalance),
      check: (r) => ({ ok: r.stats.p95 <= T.readP95 && r.errors === 0, text: `p95 <= ${T.readP95} ms` }) },
    { name: 'ledger GET /customer/:id/reward-accounts (sequential)', conc: 1, ledger: true, prepare: (t) => t.ledger.fundDistinct(),
      body: (t) => load(lp.reads, 1, t.ledger.rewardAccounts, t.ledger.checkRewardAccounts),
      check: (r) => ({ ok: r.stats.p95 <= T.readP95 && r.errors === 0, text: `p95 <= ${T.readP95} ms` }) },
    { name: 'ledger verify (GET /ledgers/reward-points/verify)', conc: 1, ledger: true, seedsLedger: true,
      body: (t) => {
        let report
        return async () => {
          const run = await runLoad({ count: 1, concurrency: 1, maxMs: verifyMaxMs, signal: interrupted.signal, task: withTimeout(t.ledger.verify, verifyMaxMs),
            check: (res) => {
              expectStatus(res, 200, 'GET /ledgers/reward-points/verify')
              report = JSON.parse(res.text)
            } })
          return { ...run, report }
        }
      },
      after: (t, row, run) => {
        const r = run.report
        if (!r) return { ok: false, text: 'no report' }
        const seconds = row.stats.p50 / 1000
        const perSecond = r.entries / seconds
        return {
          ok: r.ok === true,
          seconds,
          perSecond,
          text: `${seconds.toFixed(2)} s over ${r.entries} entries (${fmt.ops(perSecond)} entries/s), ${r.transactions} transactions, ${r.accounts} accounts: ` +
            (r.ok ? 'ok' : `NOT ok, ${r.problems.length} problem(s), first: ${JSON.stringify(r.problems[0])}`) +
            (t.ledgerSeed ? ` (seeded ${t.ledgerSeed.entries} in ${t.ledgerSeed.seconds.toFixed(1)} s)` : ''),
        }
      },
      check: (r) => {
        const need = T.verifyEntries / T.verifySeconds
        return { ok: r.after?.ok === true && r.after.perSecond >= need && r.errors === 0, text: `<= ${T.verifySeconds} s per ${T.verifyEntries} entries (>= ${fmt.ops(need)}/s), ok` }
      } },
  ]
}

/** A task that rejects when it has not answered within `ms` (the request is left to finish on its own). */
function withTimeout(task, ms) {
  return (i) => {
    let timer
    return Promise.race([
      task(i).finally(() => clearTimeout(timer)),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms)
        timer.unref()
      }),
    ])
  }
}

/**
 * Measures every build on one kind of database: each build gets a database and a hub of its own,
 * all running at once; each scenario then runs on each build in turn, `rounds` times (the order
 * of the builds alternating), so that drift of the machine falls on both alike. A build's row of
 * a scenario is its median round by throughput.
 */
async function benchDatabases(make, plan, builds) {
  const opened = []
  const targetsMade = []
  const list = scenarios(plan).filter(selected)
  const needs = { ledger: list.some((x) => x.ledger), verifySeed: list.some((x) => x.seedsLedger) }
  let raw
  try {
    for (const build of builds) {
      const target = await make()
      targetsMade.push(target)
      opened.push(await openHub(target, plan, build, needs))
    }
    const kind = targetsMade[0]?.kind
    if (list.some((x) => x.raw)) {
      if (kind === 'postgres') {
        log(`  raw pg baseline: a schema of its own, ${plan.ledger.accounts} funded accounts and a hot one, a pool of ${ledgerRawPool}`)
        const rawTasks = await createRawBaseline(pgUrl, { customers: plan.ledger.accounts, fund: 1_000_000, poolSize: ledgerRawPool })
        raw = { tasks: rawTasks, ctx: { hub: { pid: process.pid }, inProcess: true, label: targetsMade[0].label, backends: createBackendCpuMeter(pgUrl, process.pid), build: 'raw pg (no hub)' } }
      } else notes.push(`${targetsMade[0]?.label}: no raw pg baseline rows (PostgreSQL only)`)
    }
    const rounds = builds.length > 1 ? benchRounds : 1
    for (const sc of list) {
      // the raw baseline runs once a round, whatever the builds; a ledger scenario only on a build with the ledger
      const runners = sc.raw ? (raw ? [raw] : []) : opened.filter((o) => !sc.ledger || o.tasks.ledger)
      if (runners.length === 0) continue
      const byBuild = new Map(runners.map((o) => [o.ctx.build, []]))
      for (let round = 0; round < rounds; round++) {
        const order = round % 2 === 0 ? runners : [...runners].reverse()
        for (const o of order) {
          await sc.prepare?.(o.tasks)
          const row = await scenario(o.ctx, rounds > 1 ? `${sc.name} [round ${round + 1}]` : sc.name, sc.conc, sc.body(o.tasks))
          results.pop()
          if (sc.after) {
            row.after = await sc.after(o.tasks, row, row.run)
            log(`    ${row.after.text}`)
          }
          byBuild.get(o.ctx.build).push({ ...row, scenario: sc.name })
        }
      }
      for (const rows of byBuild.values()) {
        const sorted = [...rows].sort((a, b) => a.stats.opsPerSec - b.stats.opsPerSec)
        const median = sorted[Math.floor((sorted.length - 1) / 2)]
        median.rounds = rows.map((r) => r.stats.opsPerSec)
        if (sc.check && median.database === 'PostgreSQL') median.check = sc.check(median, results)
        if (sc.baseline) median.baseline = sc.baseline
        if (median.after && !median.after.ok) notes.push(`${median.database} ${median.build} ${sc.name}: ${median.after.text}`)
        results.push(median)
      }
    }
    for (const o of opened) o.finish()
  } finally {
    if (raw) {
      await raw.ctx.backends.close().catch(() => {})
      await raw.tasks.close().catch((err) => notes.push(`raw pg baseline: cleanup failed: ${err.message}`))
    }
    for (const o of opened) await o.close()
    for (const t of targetsMade) await t.cleanup().catch((err) => notes.push(`${t.label}: cleanup failed: ${err.message}`))
  }
}

async function main() {
  log(`Customer Hub benchmark — node ${process.version}, ${cpus().length} CPUs, ${concurrency} concurrent clients, loopback; load average ${loadavg().map((v) => v.toFixed(1)).join(' ')}`)
  const databases = []
  if (only !== 'postgres') databases.push({ make: () => preparePglite(), plan: plans.pglite, label: 'PGlite' })
  if (pgUrl && only !== 'pglite') databases.push({ make: () => preparePostgres(pgUrl), plan: plans.postgres, label: 'PostgreSQL' })
  if (!pgUrl) log('(set BENCH_DATABASE_URL to measure PostgreSQL too)')

  const builds = []
  if (baselineRef) builds.push(await baselineBuild(baselineRef, log))
  builds.push(await currentBuild())

  for (const { make, plan, label } of databases) {
    if (interrupted.signal.aborted) break
    try {
      await benchDatabases(make, plan, builds)
    } catch (err) {
      if (interrupted.signal.aborted) {
        notes.push(`${label}: interrupted; the figures of this database are incomplete`)
        continue
      }
      failures++
      notes.push(`${label}: the run failed: ${err instanceof Error ? err.stack ?? err.message : err}`)
      log(`  FAILED: ${err instanceof Error ? err.message : err}`)
    }
  }
  for (const build of builds) build.cleanup?.()

  log('\n== Results')
  log(
    table(
      ['scenario', 'database', 'build', 'clients', 'requests', 'ops/s', 'p50', 'p95', 'p99', 'peak RSS', 'target', 'met'],
      results.map((r) => [
        r.scenario,
        r.database,
        r.build,
        String(r.concurrency),
        String(r.requests),
        fmt.ops(r.stats.opsPerSec),
        fmt.ms(r.stats.p50),
        fmt.ms(r.stats.p95),
        fmt.ms(r.stats.p99),
        fmt.mib(r.rss),
        r.check?.text ?? '',
        r.check ? (r.check.ok ? 'yes' : 'NO') : '',
      ]),
    ),
  )
  log('\n== Where the time goes (CPU per request)')
  log(
    table(
      ['scenario', 'database', 'build', 'hub', 'PostgreSQL backends', 'load generator', 'load avg'],
      results.map((r) => [r.scenario, r.database, r.build, fmt.ms(r.hubCpuMs), fmt.ms(r.dbCpuMs), fmt.ms(r.clientCpuMs), r.load.toFixed(1)]),
    ),
  )
  if (builds.length > 1) {
    const [base, head] = builds.map((b) => b.label)
    const pairs = results.filter((r) => r.build === head).map((r) => [results.find((b) => b.build === base && b.scenario === r.scenario && b.database === r.database), r])
    log(`\n== Side by side: ${base} and ${head} (same machine, same run; medians of ${benchRounds} alternating rounds)`)
    log(
      table(
        ['scenario', 'database', `${base} ops/s`, `${head} ops/s`, 'change', `${base} p50`, `${head} p50`, `${base} hub+db CPU`, `${head} hub+db CPU`, 'rounds (ops/s)'],
        pairs.map(([b, h]) => [
          h.scenario,
          h.database,
          fmt.ops(b?.stats.opsPerSec),
          fmt.ops(h.stats.opsPerSec),
          b ? `${(((h.stats.opsPerSec / b.stats.opsPerSec) - 1) * 100).toFixed(0)}%` : '-',
          fmt.ms(b?.stats.p50),
          fmt.ms(h.stats.p50),
          fmt.ms(b ? b.hubCpuMs + (Number.isFinite(b.dbCpuMs) ? b.dbCpuMs : 0) : NaN),
          fmt.ms(h.hubCpuMs + (Number.isFinite(h.dbCpuMs) ? h.dbCpuMs : 0)),
          `${(b?.rounds ?? []).map(fmt.ops).join(' ')} | ${(h.rounds ?? []).map(fmt.ops).join(' ')}`,
        ]),
      ),
    )
  }
  const ledgerRows = results.filter((r) => r.scenario.startsWith('ledger '))
  if (ledgerRows.length > 0) {
    log('\n== Points ledger: the hub beside the raw pg baseline (same run, same database server)')
    log(
      table(
        ['scenario', 'database', 'build', 'clients', 'tx/s', 'p50', 'p95', 'p99', 'raw pg tx/s', 'hub / raw', 'target', 'met'],
        ledgerRows.map((r) => {
          const base = r.baseline ? results.find((b) => b.scenario === r.baseline && b.database === r.database) : undefined
          return [
            r.scenario,
            r.database,
            r.build,
            String(r.concurrency),
            fmt.ops(r.stats.opsPerSec),
            fmt.ms(r.stats.p50),
            fmt.ms(r.stats.p95),
            fmt.ms(r.stats.p99),
            base ? fmt.ops(base.stats.opsPerSec) : '',
            base ? (r.stats.opsPerSec / base.stats.opsPerSec).toFixed(2) : '',
            r.check?.text ?? '',
            r.check ? (r.check.ok ? 'met' : 'NOT met') : '',
          ]
        }),
      ),
    )
    for (const r of ledgerRows.filter((x) => x.after)) log(`- ${r.database} ${r.build} ${r.scenario}: ${r.after.text}`)
    const T = ledgerTargets
    log(
      `Ledger targets (PostgreSQL): earn/spend on distinct accounts from ${ledgerConcurrency} clients >= ${T.distinctOps} tx/s and >= ${T.distinctRatio} of the raw pg baseline; ` +
        `one hot account >= ${T.hotOps} tx/s with 0 overdrafts; one client >= ${T.sequentialOps} tx/s; balance read p95 <= ${T.readP95} ms; ` +
        `verify <= ${T.verifySeconds} s over ${T.verifyEntries} entries.`,
    )
    const pgLedger = ledgerRows.filter((r) => r.check)
    if (pgLedger.length > 0) log(`Ledger targets: ${pgLedger.map((r) => `${r.scenario.replace(/^ledger /, '')} ${r.check.ok ? 'met' : 'NOT met'}`).join('; ')}.`)
    if (ledgerRows.some((r) => r.build === 'raw pg (no hub)')) log(
      'Raw pg rows: this process posts with plain pg, no HTTP and no hub: BEGIN; one statement (transaction row, guarded update of the customer account and its ' +
        'system lane with the hash, the two entries); COMMIT — in a schema of its own. Their "hub" CPU column is this process (the pg client); db CPU counts ' +
        "this process's backends.",
    )
  }
  log(`\nTargets (PostgreSQL): POST /customer >= ${targets.createOps}/s with hub RSS <= ${targets.rssMiB} MiB; list p95 <= ${targets.listP95} ms at 100k customers; sync of a new person >= ${targets.syncSequentialOps}/s from one client and >= ${targets.syncConcurrentOps}/s from ${syncConcurrency}.`)
  log('Baseline rows: same hub process, same client; /health runs one trivial query (SELECT 1). The hub logs at info level (the default), one line per request.')
  log('CPU per request: the hub process (PGlite runs inside it), the PostgreSQL backends serving it, and this load generator; load avg: 1-minute load average at the end of the scenario. All three share the machine.')
  for (const n of notes) log(`- ${n}`)

  const missed = results.filter((r) => r.check && !r.check.ok)
  if (interrupted.signal.aborted) process.exitCode = 130
  else if (failures > 0) process.exitCode = 1
  else if (missed.length > 0 && env.BENCH_STRICT === '1') process.exitCode = 1
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
