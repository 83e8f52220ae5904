// The hub at scale: `npm run bench -- --customers 1000000` (or `node bench/scale.js --customers N`
// after `npm run build`). PostgreSQL only.
//
// Seeds through the bulk import, as a merchant moving to the hub does: three platforms' files
// (30% of each platform's people shared with the next, so the rows total N), run with
// `customer-hub import FILE --platform C` file after file, timed. About 10% of the people are in
// group `vip` and 25% in `newsletter`, orderCount 0..20 with totalSpent growing with it (60% of
// them in EUR, the rest in USD; 1 in 11 without an order history), 90% with an email, half with
// a phone, 1 in 8 with a points balance. Then a hub process from the build serves that database
// and, one scenario after another, each over BENCH_SCALE_REQUESTS requests (after a short untimed
// warm-up):
//   - the list query `group=vip&minOrders=5&sort=totalSpent:desc`, first page and pages 2-21
//     (following nextCursor); each filter of GET /customer alone; each sort in both directions,
//     first page and pages 2-21; `q=` with a name and with an email fragment;
//   - lookups: GET /customer/lookup by email, phone and platform id, GET /customer?email=,
//     GET /customer/:id;
//   - sign-in (POST /auth/login) of accounts registered through the API for it, each request
//     side by side with the hub's own password check (its argon2id parameters) timed in this
//     process: the sign-in's target is that time plus 3 ms;
//   - sync of new people and of people the import brought (1 client, 32 clients);
//   - points earned by many customers, then spent (32 clients);
//   - the hub's RSS, sampled from its start to its end.
// Every answer is checked (the list pages: every row matches the filters, in order). One table
// at the end gives each figure beside its target, PASS or MISS. With BENCH_EXPLAIN=1, and for a
// list query that misses, the EXPLAIN (ANALYZE, BUFFERS) of the statement the hub runs.
//
// Environment (all optional):
//   BENCH_DATABASE_URL / DATABASE_URL  PostgreSQL (default postgres://postgres@127.0.0.1:5432/postgres);
//                                      a fresh schema is made and dropped
//   BENCH_CUSTOMERS                    rows of the import when --customers is not given (default 100000)
//   BENCH_SCALE_REQUESTS               timed requests of each scenario (default 1000)
//   BENCH_SCALE_ACCOUNTS               accounts registered for the sign-in (default 300)
//   BENCH_SCALE_POINTS_CUSTOMERS       customers the points are earned by and spent from (default 2000)
//   BENCH_SCALE_NO_ANALYZE=1           leave the statistics to autovacuum (by default VACUUM ANALYZE runs after
//                                      the import, as autovacuum would after a bulk load, so runs compare)
//   BENCH_EXPLAIN=1                    print the plan of every list query
//   BENCH_SCALE_KEEP=1                 keep the schema at the end (its name is printed), e.g. to try an index on it
//   BENCH_SCALE_SCHEMA=<name>          measure a schema kept before (same --customers), without importing again; the hub
//                                      applies the build's new migrations to it when it starts
//   BENCH_HUB_NODE_ARGS                extra node flags for the hub
//   BENCH_IMPORT_NODE_ARGS             extra node flags for the import commands (e.g. --cpu-prof)
//   BENCH_SCALE_IMPORT_ONLY=1          measure the import alone: no hub is started after it
//   BENCH_STRICT=1                     exit 1 when a target is missed
import { spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import pg from 'pg'
import { createHttpClient, expectStatus, runLoad } from './lib/http-client.js'
import { readRssMiB, startHubProcess, watchProcess } from './lib/hub-process.js'
import { currentBuild } from './lib/build.js'
import { preparePostgres } from './lib/databases.js'
import { explainList } from './lib/seed.js'
import { summarize, msSince } from './lib/stats.js'
import { fmt, table } from './lib/report.js'
import { envInt } from './lib/env.js'

const env = process.env
const pgUrl = env.BENCH_DATABASE_URL || env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres'

function customersArg() {
  const argv = process.argv.slice(2)
  let raw
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--customers') raw = argv[++i]
    else if (argv[i].startsWith('--customers=')) raw = argv[i].slice('--customers='.length)
    else throw new Error(`unknown argument ${argv[i]} (usage: bench/scale.js --customers N)`)
  }
  if (raw === undefined) return envInt('BENCH_CUSTOMERS', 100_000)
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1000) throw new Error(`--customers must be a whole number of at least 1000, got ${JSON.stringify(raw)}`)
  return n
}

const rowsWanted = customersArg()
const requests = envInt('BENCH_SCALE_REQUESTS', 1000)
const accountsWanted = envInt('BENCH_SCALE_ACCOUNTS', 300)
const pointsCustomers = envInt('BENCH_SCALE_POINTS_CUSTOMERS', 2000)
const hubNodeArgs = (env.BENCH_HUB_NODE_ARGS ?? '').split(/\s+/).filter(Boolean)
const importNodeArgs = (env.BENCH_IMPORT_NODE_ARGS ?? '').split(/\s+/).filter(Boolean)
const pageDepth = 21 // pages of a walk: page 1 untimed, pages 2..21 timed
const syncConcurrency = 32
const pointsConcurrency = 32
const scenarioMaxMs = 300_000
const targets = { listP95: 10, lookupP95: 3, signInOverHash: 3, rssMiB: 200, importSecondsPerMillion: 120 }

const log = (line) => process.stdout.write(`${line}\n`)
const load1 = () => loadavg()[0]

// ---------------------------------------------------------------------------------------------
// The files

const overlap = 0.3
const platforms = [0, 1, 2].map((p) => `identity.scale-shop-${p}`)
const personEmail = (i) => (i % 10 !== 3 ? `p${i}@scale.example.com` : undefined)
const personPhone = (i) => (i % 2 === 0 ? `+1415${String(2_000_000 + i).padStart(7, '0')}` : undefined)
const orderCountOf = (i) => (i * 8) % 21 // 0..20, every value as often

/** One platform's row about person i: what it knows of the person and their history there. */
function rowOf(p, i) {
  const row = { externalId: `${p}-${i}`, firstName: `First${i}`, lastName: `Last${i % 997}` }
  const email = personEmail(i)
  const phone = personPhone(i)
  if (email) row.email = email
  if (phone) row.phone = phone
  const groups = []
  if (i % 10 === 0) groups.push('vip')
  if (i % 4 === 0) groups.push('newsletter')
  if (groups.length > 0) row.groups = groups
  if (i % 11 !== 5) {
    row.orderCount = orderCountOf(i)
    row.totalSpent = row.orderCount * (1500 + ((i * 37) % 3500))
    row.currency = i % 5 < 3 ? 'EUR' : 'USD'
  }
  if (i % 8 === 0) row.points = 10 + (i % 500)
  if (i % 7 === 0) row.metadata = { tier: i % 3 }
  return row
}

/**
 * Three platforms' files whose rows total about `rows`: each platform knows 1/(3 − 2·0.3) of the
 * people, overlapping its neighbour by 30% (as bench/import.js). Written a line at a time.
 */
function writePlatformFiles(dir, rows, { write }) {
  const people = Math.round((rows * (3 - 2 * overlap)) / 3)
  const share = people / (3 - 2 * overlap)
  const files = []
  for (let p = 0; p < 3; p++) {
    const from = Math.floor(p * share * (1 - overlap))
    const to = p === 2 ? people : Math.min(people, Math.floor(from + share))
    const path = join(dir, `shop-${p}.jsonl`)
    const lines = []
    if (write) for (let i = from; i < to; i++) lines.push(JSON.stringify(rowOf(p, i)))
    if (write) writeFileSync(path, lines.join('\n') + '\n')
    files.push({ component: platforms[p], path, from, to, rows: to - from })
  }
  return { people, files }
}

/** A schema a run kept (BENCH_SCALE_KEEP=1), reached as preparePostgres reaches its own. */
function existingSchema(baseUrl, schema) {
  if (!/^bench_[0-9a-f]{12}$/.test(schema)) throw new Error(`BENCH_SCALE_SCHEMA must name a bench schema (bench_<12 hex digits>), got ${schema}`)
  const url = new URL(baseUrl)
  url.searchParams.set('options', [url.searchParams.get('options'), `-c search_path=${schema},public`].filter(Boolean).join(' '))
  return { kind: 'postgres', label: 'PostgreSQL', url: url.toString(), schema, version: 'PostgreSQL (kept schema)', cleanup: async () => {} }
}

// ---------------------------------------------------------------------------------------------
// Checks of the list's answers

const sortValue = {
  createdAt: (c) => Date.parse(c.createdAt),
  totalSpent: (c) => c.totalSpent,
  orderCount: (c) => c.orderCount,
  lastName: (c) => (c.lastName ?? '').toLowerCase(),
}

/** A check of one list page: 200, every row matches `matches`, in the query's sort order after `previous`. */
function listChecker(query, matches) {
  const [field, dir] = (query.sort ?? 'createdAt:desc').split(':')
  const value = sortValue[field]
  return (res, previous, { allowEmpty = false } = {}) => {
    expectStatus(res, 200, 'GET /customer')
    const page = JSON.parse(res.text)
    if (!Array.isArray(page.data)) throw new Error('GET /customer: no data')
    if (page.data.length === 0 && !allowEmpty) throw new Error(`GET /customer?${qs(query)}: empty page`)
    let last = previous
    for (const c of page.data) {
      if (!matches(c)) throw new Error(`GET /customer?${qs(query)}: ${c.id} does not match the filters`)
      // the sort value never goes backwards (ties are broken by id inside the database's precision)
      if (last !== undefined) {
        const a = value(last)
        const b = value(c)
        if (dir === 'desc' ? b > a : b < a) throw new Error(`GET /customer?${qs(query)}: ${c.id} is out of order after ${last.id}`)
      }
      last = c
    }
    return { page, last }
  }
}

const qs = (query) => new URLSearchParams(Object.entries(query).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => [k, String(x)]) : [[k, String(v)]]))).toString()

// ---------------------------------------------------------------------------------------------

/** The table at the end: each figure beside its target, PASS or MISS (BENCH_STRICT=1: exit 1 on a miss). */
function report(results, notes, title) {
  log(`\n${title}; load average at the end ${loadavg().map((x) => x.toFixed(2)).join(' ')}`)
  log(table(
    ['', 'scenario', 'requests', 'figure', 'target', '', 'load'],
    results.map((r) => [r.group, r.name, r.stats ? String(r.stats.count) : '-', r.figure, r.target, r.ok === undefined ? '' : r.ok ? 'PASS' : 'MISS', r.load.toFixed(1)]),
  ))
  for (const n of notes) log(`  note: ${n}`)
  const misses = results.filter((r) => r.ok === false)
  log(misses.length === 0 ? 'every target met' : `${misses.length} target(s) missed`)
  if (env.BENCH_STRICT === '1' && misses.length > 0) process.exitCode = 1
}

async function main() {
  const build = await currentBuild()
  const work = mkdtempSync(join(tmpdir(), 'hub-bench-scale-'))
  const reuse = env.BENCH_SCALE_SCHEMA || undefined
  const keep = env.BENCH_SCALE_KEEP === '1' || reuse !== undefined
  const db = reuse ? existingSchema(pgUrl, reuse) : await preparePostgres(pgUrl)
  // a kept schema's hub signing keys are encrypted under the secret: derived from its name, the next run has it too
  const secret = createHash('sha256').update(`bench-scale:${db.schema}`).digest('base64url')
  const tag = randomBytes(3).toString('hex') // this run's new people and accounts
  const adminToken = `bench_${randomBytes(24).toString('base64url')}`
  const results = [] // { group, name, stats?, figure, target, ok, load }
  const notes = []
  let hub
  let client
  let admin
  let database
  try {
    log(`Scale benchmark: ${rowsWanted} rows, ${db.version}, ${cpus().length} cores, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`)

    // -- the import ---------------------------------------------------------------------------
    const { people, files } = writePlatformFiles(work, rowsWanted, { write: !reuse })
    const totalRows = files.reduce((n, f) => n + f.rows, 0)
    log(`  files: ${files.map((f) => `${f.rows} rows`).join(', ')} (${totalRows} rows, ${people} people)`)
    if (reuse) log(`  measuring schema ${reuse} as it was left (no import)`)
    else {
    const importEnv = { ...process.env, HUB_SECRET: secret, DATABASE_URL: db.url }
    for (const key of Object.keys(importEnv)) if ((key.startsWith('HUB_') && key !== 'HUB_SECRET') || key === 'PORT') delete importEnv[key]
    const importStarted = performance.now()
    const loadBefore = load1()
    const summaries = []
    for (const f of files) {
      const t = performance.now()
      const run = spawnSync(process.execPath, [...importNodeArgs, build.hubMain, 'import', f.path, '--platform', f.component], { cwd: work, env: importEnv, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 })
      if (run.status !== 0) throw new Error(`customer-hub import failed (${run.status}):\n${run.stderr}`)
      const summary = JSON.parse(run.stdout.slice(run.stdout.indexOf('{')))
      summaries.push(summary)
      const s = (performance.now() - t) / 1000
      log(`  import ${f.component}: ${f.rows} rows in ${s.toFixed(1)} s (${fmt.ops(f.rows / s)} rows/s): created ${summary.created}, matched ${summary.matched}, rejected ${summary.rejected}, partial ${summary.partial ?? 0}  load ${load1().toFixed(1)}`)
      if (summary.rejected + (summary.partial ?? 0) > 0 && summary.rejectedFile) {
        // what the import set aside, by reason (the file goes with the work directory)
        const reasons = new Map()
        for (const line of readFileSync(resolve(work, summary.rejectedFile), 'utf8').split('\n').filter(Boolean)) {
          const r = JSON.parse(line).reason
          const key = typeof r === 'string' ? r : JSON.stringify(r)
          reasons.set(key, (reasons.get(key) ?? 0) + 1)
        }
        notes.push(`${f.component}: rows set aside or applied in part: ${[...reasons].map(([r, n]) => `${n}× ${r.slice(0, 200)}`).join('; ')}`)
      }
    }
    const importSeconds = (performance.now() - importStarted) / 1000
    const counted = summaries.reduce((n, s) => n + s.created + s.matched + s.rejected, 0)
    if (counted !== totalRows) throw new Error(`the import counted ${counted} rows of ${totalRows}`)
    const rejected = summaries.reduce((n, s) => n + s.rejected, 0)
    if (rejected > 0) notes.push(`the import rejected ${rejected} rows (see the .rejected.jsonl files)`)
    const importTarget = (targets.importSecondsPerMillion * totalRows) / 1_000_000
    log(`  import: ${totalRows} rows in ${importSeconds.toFixed(1)} s, ${fmt.ops(totalRows / importSeconds)} rows/s (load average ${loadBefore.toFixed(1)} before, ${load1().toFixed(1)} after)`)
    results.push({
      group: 'import', name: `customer-hub import, 3 files, ${totalRows} rows`,
      figure: `${importSeconds.toFixed(1)} s, ${fmt.ops(totalRows / importSeconds)} rows/s`,
      target: `<= ${importTarget.toFixed(1)} s (120 s per 1,000,000 rows)`, ok: importSeconds <= importTarget, load: load1(),
    })
    }
    if (env.BENCH_SCALE_IMPORT_ONLY === '1') return report(results, notes, `Scale: ${totalRows} rows imported, ${db.version}, ${cpus().length} cores`)

    admin = new pg.Client({ connectionString: db.url })
    await admin.connect()
    if (env.BENCH_SCALE_NO_ANALYZE !== '1' && !reuse) {
      const t = performance.now()
      await admin.query('VACUUM ANALYZE')
      log(`  VACUUM ANALYZE in ${((performance.now() - t) / 1000).toFixed(1)} s`)
    }
    if (reuse) db.version = `PostgreSQL ${(await admin.query('SHOW server_version')).rows[0].server_version}`
    const sizes = (await admin.query(`SELECT count(*)::int AS customers, pg_size_pretty(pg_total_relation_size('customers')) AS size FROM customers`)).rows[0]
    log(`  customers: ${sizes.customers} (table and indexes ${sizes.size})`)
    const midCreated = (await admin.query(`SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY created_at) AS at FROM customers`)).rows[0].at.toISOString()
    const lateCreated = (await admin.query(`SELECT percentile_disc(0.99) WITHIN GROUP (ORDER BY created_at) AS at FROM customers`)).rows[0].at.toISOString()

    // -- the hub --------------------------------------------------------------------------------
    hub = await startHubProcess({
      hubMain: build.hubMain, databaseUrl: db.url, dataDir: join(work, 'unused-data'), adminToken, cwd: work, secret, nodeArgs: hubNodeArgs,
      env: { HUB_CUSTOMER_REQUIRE_EMAIL_VERIFICATION: 'false' }, // the sign-in's accounts log in at once
    })
    const rssAtStart = readRssMiB(hub.pid)
    const rssWatch = watchProcess(hub.pid, 100)
    log(`  hub pid ${hub.pid} at ${hub.url}, RSS at start ${fmt.mib(rssAtStart)}`)
    client = createHttpClient(hub.url, { sockets: Math.max(syncConcurrency, pointsConcurrency), headers: { authorization: `Bearer ${adminToken}` } })
    const { request } = client
    database = await build.createDatabase({ url: db.url })

    const random = (n) => Math.floor(Math.random() * n)
    // a person meeting pred, drawn at random (a pred no person meets is an error, not an endless loop)
    const randomPerson = (pred = () => true) => {
      for (let tries = 0; ; tries++) {
        if (tries === 100_000) throw new Error('bench/scale.js: no person meets the condition at this size')
        const i = random(people)
        if (pred(i)) return i
      }
    }
    const platformOf = (i) => files.findIndex((f) => i >= f.from && i < f.to)

    /** Runs a timed scenario and records its row; `warm` requests go first, untimed. */
    async function measure(group, name, { count = requests, conc = 1, warm = Math.min(50, Math.ceil(count / 10)), task, check, target, ok, figure }) {
      if (warm > 0) {
        const w = await runLoad({ count: warm, concurrency: conc, maxMs: scenarioMaxMs, task, check })
        if (w.errors > 0) throw new Error(`${name} (warm-up): ${w.errors} failed; first: ${w.firstError}`)
      }
      const watch = watchProcess(hub.pid)
      const run = await runLoad({ count, concurrency: conc, maxMs: scenarioMaxMs, task, check })
      const watched = watch.stop()
      return record(group, name, run, { conc, target, ok, figure, rss: watched.peakRss })
    }

    function record(group, name, run, { conc = 1, target, ok, figure, rss }) {
      const stats = summarize(run.latencies, run.elapsedMs)
      const row = { group, name, stats, conc, errors: run.errors, load: load1(), target: target?.text ?? '-', ok: undefined }
      row.figure = figure ? figure(stats) : `p50 ${fmt.ms(stats.p50)}, p95 ${fmt.ms(stats.p95)}, p99 ${fmt.ms(stats.p99)}`
      if (target) row.ok = run.errors === 0 && target.ok(stats)
      if (ok !== undefined) row.ok = ok(stats, row)
      if (run.errors > 0) notes.push(`${name}: ${run.errors} failed request(s); first: ${run.firstError}`)
      if (run.timedOut) notes.push(`${name}: stopped at the ${scenarioMaxMs / 1000} s bound after ${stats.count} requests`)
      results.push(row)
      log(
        `  ${name.padEnd(58)} ${String(stats.count).padStart(5)} req ${fmt.ops(stats.opsPerSec).padStart(6)}/s  p50 ${fmt.ms(stats.p50)}  p95 ${fmt.ms(stats.p95)}  p99 ${fmt.ms(stats.p99)}` +
          (Number.isFinite(rss) ? `  RSS ${fmt.mib(rss)}` : '') + `  load ${row.load.toFixed(1)}` + (run.errors ? `  ERRORS ${run.errors}` : '') +
          (row.ok === false ? '  MISS' : ''),
      )
      return row
    }

    const p95Within = (ms) => ({ text: `p95 <= ${ms} ms`, ok: (s) => s.p95 <= ms })

    // -- list queries ---------------------------------------------------------------------------
    const is = {
      any: () => true,
      vip: (c) => c.groups.includes('vip'),
      newsletter: (c) => c.groups.includes('newsletter'),
      min5: (c) => c.orderCount >= 5,
    }
    const listScenarios = [] // { name, query, check, deep }
    const list = (name, query, matches, { deep = false } = {}) => listScenarios.push({ name, query, check: listChecker(query, matches), deep })
    list('list group=vip&minOrders=5&sort=totalSpent:desc', { group: 'vip', minOrders: 5, sort: 'totalSpent:desc' }, (c) => is.vip(c) && is.min5(c), { deep: true })
    list('list group=vip', { group: 'vip' }, is.vip)
    list('list group=newsletter', { group: 'newsletter' }, is.newsletter)
    list('list group=vip&group=newsletter', { group: ['vip', 'newsletter'] }, (c) => is.vip(c) && is.newsletter(c))
    list('list minOrders=5', { minOrders: 5 }, is.min5)
    list('list minOrders=20', { minOrders: 20 }, (c) => c.orderCount >= 20)
    list('list maxOrders=2', { maxOrders: 2 }, (c) => c.orderCount <= 2)
    list('list minSpent=100000', { minSpent: 100_000 }, (c) => c.totalSpent >= 100_000)
    list('list hasAccount=true', { hasAccount: true }, (c) => c.hasAccount === true)
    list('list hasAccount=false', { hasAccount: false }, (c) => c.hasAccount === false)
    list('list createdAfter=<median>', { createdAfter: midCreated }, (c) => c.createdAt >= midCreated)
    list('list createdBefore=<median>', { createdBefore: midCreated }, (c) => c.createdAt <= midCreated)
    list('list createdAfter=<99th percentile>', { createdAfter: lateCreated }, (c) => c.createdAt >= lateCreated)
    for (const field of ['createdAt', 'totalSpent', 'orderCount', 'lastName']) {
      for (const dir of ['desc', 'asc']) list(`list sort=${field}:${dir}`, { sort: `${field}:${dir}` }, is.any, { deep: true })
    }

    // the sign-in's accounts are registered first: hasAccount=true then lists them
    const accounts = []
    {
      const password = `scale-${randomBytes(6).toString('hex')}`
      const r = await runLoad({
        count: accountsWanted, concurrency: 4, maxMs: scenarioMaxMs,
        task: (k) => request('POST', '/customer', { email: `signin${k}.${tag}@scale-accounts.example.com`, password, firstName: 'Signin', lastName: `Account${k}` }),
        check: (res, k) => {
          expectStatus(res, 201, 'POST /customer (account)')
          accounts.push({ email: `signin${k}.${tag}@scale-accounts.example.com`, password, id: JSON.parse(res.text).id })
        },
      })
      if (r.errors > 0) throw new Error(`registering the sign-in accounts: ${r.errors} failed; first: ${r.firstError}`)
      log(`  registered ${accounts.length} accounts for the sign-in (${(r.elapsedMs / 1000).toFixed(1)} s)`)
    }

    log('\n  list queries (1 client, limit 50)')
    const lastCursor = new Map()
    for (const sc of listScenarios) {
      const path = `/customer?${qs(sc.query)}`
      await measure('list', `${sc.name}, page 1`, { task: () => request('GET', path), check: (res) => sc.check(res, undefined, { allowEmpty: sc.query.hasAccount === true && accounts.length === 0 }), target: p95Within(targets.listP95) })
      if (!sc.deep) continue
      // walks of pageDepth pages: page 1 untimed, then pages 2.. timed, each continuing the order and repeating no one
      const walks = Math.ceil(requests / (pageDepth - 1))
      const latencies = []
      let errors = 0
      let firstError
      const started = process.hrtime.bigint()
      for (let w = 0; w < walks; w++) {
        try {
          let { page, last } = sc.check(await request('GET', path))
          const seen = new Set(page.data.map((c) => c.id))
          for (let depth = 2; depth <= pageDepth && page.nextCursor; depth++) {
            const cursorPath = `${path}&cursor=${encodeURIComponent(page.nextCursor)}`
            lastCursor.set(sc, page.nextCursor)
            const t = process.hrtime.bigint()
            const res = await request('GET', cursorPath)
            latencies.push(msSince(t))
            ;({ page, last } = sc.check(res, last))
            for (const c of page.data) {
              if (seen.has(c.id)) throw new Error(`GET ${path}: ${c.id} repeated across pages`)
              seen.add(c.id)
            }
          }
        } catch (err) {
          errors++
          firstError ??= err.message
        }
      }
      record('list', `${sc.name}, pages 2-${pageDepth}`, { latencies, elapsedMs: msSince(started), errors, firstError, timedOut: false }, { target: p95Within(targets.listP95) })
    }

    // q=: a name fragment (First12345 matches First12345, First123450..) and an email fragment
    // at least four digits after "first" and two after "p" where there are that many people
    const nameFragment = () => `first${randomPerson((i) => i >= Math.min(1000, people / 2))}`.slice(0, 9)
    const emailFragment = () => `p${randomPerson((i) => personEmail(i) !== undefined && i >= Math.min(100, people / 2))}@scale`
    const searches = [] // { name, fragment, row }: the plan of one more fragment is printed when the row misses
    for (const [name, fragment] of [['list q=<name fragment> (first1234…)', nameFragment], ['list q=<email fragment> (p12345@scale)', emailFragment]]) {
      const row = await measure('list', name, {
        task: () => {
          const q = fragment()
          return request('GET', `/customer?${qs({ q })}`).then((res) => ({ res, q }))
        },
        check: ({ res, q }) => {
          expectStatus(res, 200, 'GET /customer?q=')
          const page = JSON.parse(res.text)
          if (page.data.length === 0) throw new Error(`GET /customer?q=${q}: nothing found`)
          for (const c of page.data) {
            const text = [c.email, c.firstName, c.lastName, c.phone].map((x) => x ?? '').join(' ').toLowerCase()
            if (!text.includes(q)) throw new Error(`GET /customer?q=${q}: ${c.id} does not contain it`)
          }
        },
        target: p95Within(targets.listP95),
      })
      searches.push({ name, fragment, row })
    }

    // -- lookups --------------------------------------------------------------------------------
    log('\n  lookups (1 client)')
    const lookedUp = (what, expect) => ({ res }) => {
      expectStatus(res, 200, what)
      const body = JSON.parse(res.text)
      expect(body)
    }
    const withEmail = () => randomPerson((i) => personEmail(i) !== undefined)
    const withPhone = () => randomPerson((i) => personPhone(i) !== undefined)
    await measure('lookup', 'GET /customer/lookup?email=', {
      task: () => {
        const i = withEmail()
        return request('GET', `/customer/lookup?${qs({ email: personEmail(i) })}`).then((res) => ({ res, i }))
      },
      check: (r) => lookedUp('GET /customer/lookup?email=', (b) => { if (b.customer.email !== personEmail(r.i) || b.matchedBy !== 'email') throw new Error(`lookup by email ${personEmail(r.i)}: ${b.customer.email} (${b.matchedBy})`) })(r),
      target: p95Within(targets.lookupP95),
    })
    await measure('lookup', 'GET /customer/lookup?phone=', {
      task: () => {
        const i = withPhone()
        return request('GET', `/customer/lookup?${qs({ phone: personPhone(i) })}`).then((res) => ({ res, i }))
      },
      check: (r) => lookedUp('GET /customer/lookup?phone=', (b) => { if (b.customer.phone !== personPhone(r.i) || b.matchedBy !== 'phone') throw new Error(`lookup by phone ${personPhone(r.i)}: ${b.customer.phone} (${b.matchedBy})`) })(r),
      target: p95Within(targets.lookupP95),
    })
    await measure('lookup', 'GET /customer/lookup?component=&externalId=', {
      task: () => {
        const i = random(people)
        const p = platformOf(i)
        return request('GET', `/customer/lookup?${qs({ component: platforms[p], externalId: `${p}-${i}` })}`).then((res) => ({ res, i }))
      },
      check: (r) => lookedUp('GET /customer/lookup?component=&externalId=', (b) => { if (b.customer.firstName !== `First${r.i}` || b.matchedBy !== 'platform') throw new Error(`lookup by platform id of ${r.i}: ${b.customer.firstName} (${b.matchedBy})`) })(r),
      target: p95Within(targets.lookupP95),
    })
    await measure('lookup', 'GET /customer?email= (the list filter)', {
      task: () => {
        const i = withEmail()
        return request('GET', `/customer?${qs({ email: personEmail(i) })}`).then((res) => ({ res, i }))
      },
      check: (r) => lookedUp('GET /customer?email=', (b) => { if (b.data.length !== 1 || b.data[0].email !== personEmail(r.i)) throw new Error(`GET /customer?email=${personEmail(r.i)}: ${b.data.length} rows`) })(r),
      target: p95Within(targets.lookupP95),
    })
    // ids read from the list: a spread of customers
    const ids = []
    {
      let cursor
      while (ids.length < Math.max(pointsCustomers, 2000)) {
        const res = expectStatus(await request('GET', `/customer?${qs({ sort: 'lastName:asc', limit: 200, ...(cursor ? { cursor } : {}) })}`), 200, 'GET /customer')
        const page = JSON.parse(res.text)
        ids.push(...page.data.map((c) => c.id))
        if (!page.nextCursor) break
        cursor = page.nextCursor
      }
    }
    await measure('lookup', 'GET /customer/:id', {
      task: () => {
        const id = ids[random(ids.length)]
        return request('GET', `/customer/${id}`).then((res) => ({ res, id }))
      },
      check: (r) => lookedUp('GET /customer/:id', (b) => { if (b.id !== r.id) throw new Error(`GET /customer/${r.id}: ${b.id}`) })(r),
      target: p95Within(targets.lookupP95),
    })

    // -- sign-in --------------------------------------------------------------------------------
    log('\n  sign-in (1 client), each beside the hub\'s password check in this process')
    {
      const { hashPassword, verifyPassword } = await import(new URL(`file://${join(build.hubMain, '..', '..', 'auth', 'passwords.js')}`).href)
      const phc = await hashPassword(accounts[0].password)
      const signIn = []
      const hashTimes = []
      let errors = 0
      let firstError
      const warm = 20
      const started = process.hrtime.bigint()
      for (let n = 0; n < requests + warm; n++) {
        const a = accounts[n % accounts.length]
        try {
          let t = process.hrtime.bigint()
          const res = await request('POST', '/auth/login', { email: a.email, password: a.password })
          const ms = msSince(t)
          expectStatus(res, 200, 'POST /auth/login')
          if (!JSON.parse(res.text).accessToken) throw new Error('POST /auth/login: no access token')
          t = process.hrtime.bigint()
          const ok = await verifyPassword(phc, a.password)
          const hashMs = msSince(t)
          if (!ok) throw new Error('the password check in this process failed')
          if (n >= warm) {
            signIn.push(ms)
            hashTimes.push(hashMs)
          }
        } catch (err) {
          errors++
          firstError ??= err.message
        }
      }
      const elapsedMs = msSince(started)
      const hashStats = summarize(hashTimes, elapsedMs)
      record('sign-in', 'password check alone (argon2id, the hub\'s parameters; baseline)', { latencies: hashTimes, elapsedMs, errors: 0, timedOut: false }, {})
      const limit = hashStats.p95 + targets.signInOverHash
      record('sign-in', 'POST /auth/login', { latencies: signIn, elapsedMs, errors, firstError, timedOut: false }, {
        target: { text: `p95 <= hash p95 + ${targets.signInOverHash} ms = ${fmt.ms(limit)}`, ok: (s) => s.p95 <= limit },
        figure: (s) => `p50 ${fmt.ms(s.p50)}, p95 ${fmt.ms(s.p95)}, p99 ${fmt.ms(s.p99)} (hash +${fmt.ms(s.p95 - hashStats.p95)} at p95)`,
      })
    }

    // -- sync -----------------------------------------------------------------------------------
    log('\n  sync')
    let serial = 0
    const phoneBase = 2_000_000 + random(790) * 10_000 // another run on a kept schema has other phones
    const newPerson = () => {
      const n = serial++
      return {
        platform: { component: 'identity.scale-live', externalIdField: 'liveId', externalId: `live_${tag}_${n}` },
        email: `live${n}.${tag}@scale-live.example.com`,
        phone: `+1212${String(phoneBase + n).padStart(7, '0')}`,
        firstName: 'Live',
        lastName: `Person${n}`,
      }
    }
    // people the import brought, each once (no two clients on one person), by their first platform's id and email
    let knownNext = 0
    const knownOrder = Array.from({ length: Math.min(people, 200_000) }, (_, k) => Math.floor((k * people) / Math.min(people, 200_000)))
    const knownPerson = () => {
      const i = knownOrder[knownNext++ % knownOrder.length]
      const p = platformOf(i)
      return { i, body: { platform: { component: platforms[p], externalId: `${p}-${i}` }, ...(personEmail(i) ? { email: personEmail(i) } : {}), metadata: { seen: knownNext } } }
    }
    const syncFigure = (s) => `${fmt.ops(s.opsPerSec)}/s, p50 ${fmt.ms(s.p50)}, p95 ${fmt.ms(s.p95)}, p99 ${fmt.ms(s.p99)}`
    const checkNew = (res) => {
      expectStatus(res, 201, 'POST /customer/sync (new person)')
      if (!JSON.parse(res.text).created) throw new Error('POST /customer/sync: a new person was not created')
    }
    const checkKnown = ({ res, i }) => {
      expectStatus(res, 200, 'POST /customer/sync (known person)')
      const body = JSON.parse(res.text)
      if (body.created || body.matchedBy !== 'platform' || body.customer.firstName !== `First${i}`) throw new Error(`POST /customer/sync: person ${i} was not found by its platform id`)
    }
    const syncKnown = () => {
      const { i, body } = knownPerson()
      return request('POST', '/customer/sync', body).then((res) => ({ res, i }))
    }
    for (const conc of [1, syncConcurrency]) {
      await measure('sync', `POST /customer/sync, new people, ${conc} client${conc > 1 ? 's' : ''}`, { conc, task: () => request('POST', '/customer/sync', newPerson()), check: checkNew, figure: syncFigure })
      await measure('sync', `POST /customer/sync, known people, ${conc} client${conc > 1 ? 's' : ''}`, { conc, task: syncKnown, check: checkKnown, figure: syncFigure })
    }

    // -- points ---------------------------------------------------------------------------------
    log('\n  points (reward-points)')
    {
      const run = randomBytes(4).toString('hex')
      const earners = ids.slice(0, pointsCustomers)
      const post = (body) => request('POST', '/ledgers/reward-points/transactions', body)
      const posted = (what) => (res) => expectStatus(res, 201, what)
      const pointsFigure = (s) => `${fmt.ops(s.opsPerSec)}/s, p50 ${fmt.ms(s.p50)}, p95 ${fmt.ms(s.p95)}, p99 ${fmt.ms(s.p99)}`
      await measure('points', `earn, ${earners.length} customers, ${pointsConcurrency} clients`, {
        conc: pointsConcurrency, count: Math.max(requests, earners.length), warm: 0,
        task: (n) => post({ kind: 'earn', idempotencyKey: `scale:${run}:earn:${n}`, customerId: earners[n % earners.length], amount: 100 }),
        check: posted('earn'), figure: pointsFigure,
      })
      await measure('points', `spend, the same customers, ${pointsConcurrency} clients`, {
        conc: pointsConcurrency, count: Math.max(requests, earners.length), warm: 0,
        task: (n) => post({ kind: 'spend', idempotencyKey: `scale:${run}:spend:${n}`, customerId: earners[n % earners.length], amount: 10 }),
        check: posted('spend'), figure: pointsFigure,
      })
    }

    // -- the hub's memory -------------------------------------------------------------------------
    const watched = rssWatch.stop()
    const rssFinal = readRssMiB(hub.pid)
    const rssPeak = Math.max(watched.peakRss, readRssMiB(hub.pid, 'VmHWM'))
    results.push({
      group: 'memory', name: 'hub RSS, sampled every 100 ms from its start', figure: `max ${fmt.mib(rssPeak)}, final ${fmt.mib(rssFinal)} (at start ${fmt.mib(rssAtStart)})`,
      target: `<= ${targets.rssMiB} MiB`, ok: rssPeak <= targets.rssMiB, load: load1(),
    })

    // -- plans ----------------------------------------------------------------------------------
    const explainAll = env.BENCH_EXPLAIN === '1'
    for (const sc of listScenarios) {
      const rows = results.filter((r) => r.group === 'list' && r.name.startsWith(`${sc.name},`))
      const missed = rows.filter((r) => r.ok === false)
      if (!explainAll && missed.length === 0) continue
      for (const deep of [false, true]) {
        if (deep && !lastCursor.has(sc)) continue
        if (!explainAll && !missed.some((r) => r.name.endsWith(deep ? `pages 2-${pageDepth}` : 'page 1'))) continue
        const query = { ...sc.query, ...(deep ? { cursor: lastCursor.get(sc) } : {}) }
        const plan = await explainList(database.db, query, build.listCustomers)
        log(`\n  EXPLAIN (ANALYZE, BUFFERS) ${sc.name}${deep ? `, page ${pageDepth}` : ', page 1'}:`)
        for (const l of plan) log(`    ${l}`)
      }
    }

    for (const { name, fragment, row } of searches) {
      if (!explainAll && row.ok !== false) continue
      const q = fragment()
      const plan = await explainList(database.db, { q }, build.listCustomers)
      log(`\n  EXPLAIN (ANALYZE, BUFFERS) ${name}, q=${q}:`)
      for (const l of plan) log(`    ${l}`)
    }

    report(results, notes, `Scale: ${totalRows} rows imported (${sizes.customers} customers), ${db.version}, ${cpus().length} cores`)
  } finally {
    client?.close()
    await admin?.end().catch(() => {})
    await database?.close().catch(() => {})
    if (hub) await hub.stop()
    if (keep) log(`  kept schema ${db.schema}: BENCH_SCALE_SCHEMA=${db.schema} measures it again; DROP SCHEMA ${db.schema} CASCADE removes it`)
    else await db.cleanup()
    rmSync(work, { recursive: true, force: true })
  }
}

await main()
