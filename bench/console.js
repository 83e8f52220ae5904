// The console's customer list in a real browser on many customers: `npm run bench -- --console`
// (or `node bench/console.js` after `npm run build`). PostgreSQL only; Debian's Chromium.
//
// Imports BENCH_CONSOLE_CUSTOMERS customers (default 100,000: 10% in group `vip`, orderCount
// 0..20, totalSpent growing with it) into a fresh schema with `customer-hub import`, starts a hub
// process on it, signs a staff user in to /console in Chromium and changes the list's filter
// over and over: each time from the click on Apply to the table showing the new first page.
// Beside each figure, the same list query sent to the API from this process (the baseline: what
// the browser adds is the difference).
//
// Environment (all optional):
//   BENCH_DATABASE_URL / DATABASE_URL  PostgreSQL (default postgres://postgres@127.0.0.1:5432/postgres)
//   BENCH_CONSOLE_CUSTOMERS            customers imported (default 100000)
//   BENCH_CONSOLE_ROUNDS               filter changes timed per filter (default 20)
//   CHROMIUM_PATH                      the browser (default /usr/bin/chromium)
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { startHubProcess } from './lib/hub-process.js'
import { currentBuild } from './lib/build.js'
import { preparePostgres } from './lib/databases.js'
import { summarize, msSince } from './lib/stats.js'
import { fmt, table } from './lib/report.js'
import { envInt } from './lib/env.js'

const env = process.env
const pgUrl = env.BENCH_DATABASE_URL || env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres'
const customers = envInt('BENCH_CONSOLE_CUSTOMERS', 100_000)
const rounds = envInt('BENCH_CONSOLE_ROUNDS', 20)
const log = (s) => console.log(s)

/** The filters changed to, each as the form is filled and as the API's query says. */
const filters = [
  { name: 'group=vip', form: { group: 'vip' }, query: 'group=vip' },
  { name: 'minOrders=5, sort totalSpent desc', form: { minOrders: '5', sort: 'totalSpent:desc' }, query: 'minOrders=5&sort=totalSpent:desc' },
  { name: 'group=vip, minOrders=5, sort totalSpent desc', form: { group: 'vip', minOrders: '5', sort: 'totalSpent:desc' }, query: 'group=vip&minOrders=5&sort=totalSpent:desc' },
  { name: 'search q=Person 4242', form: { q: 'Person 4242' }, query: `q=${encodeURIComponent('Person 4242')}` },
  { name: 'sort lastName asc', form: { sort: 'lastName:asc' }, query: 'sort=lastName:asc' },
]

const build = await currentBuild()
const db = await preparePostgres(pgUrl)
const work = mkdtempSync(join(tmpdir(), 'hub-bench-console-'))
const secret = randomBytes(32).toString('base64url')
const adminToken = `chub_${randomBytes(32).toString('base64url')}`
let hub
let browser
try {
  log(`Console benchmark: ${customers} customers, ${db.version}, ${cpus().length} cores`)
  const rows = []
  for (let i = 0; i < customers; i++) {
    const orders = i % 21
    rows.push(JSON.stringify({ externalId: `c${i}`, email: `p${i}@console.example.com`, firstName: `First${i}`, lastName: `Person ${i}`, groups: i % 10 === 0 ? ['vip'] : [], orderCount: orders, totalSpent: orders * 2_500 + (i % 97), currency: 'EUR' }))
  }
  const file = join(work, 'customers.jsonl')
  writeFileSync(file, `${rows.join('\n')}\n`)
  let t = process.hrtime.bigint()
  const importEnv = { ...process.env, HUB_SECRET: secret, DATABASE_URL: db.url }
  const run = spawnSync(process.execPath, [build.hubMain, 'import', file, '--platform', 'identity.console-bench'], { cwd: work, env: importEnv, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  if (run.status !== 0) throw new Error(`customer-hub import failed (${run.status}):\n${run.stderr}`)
  log(`  imported ${customers} customers in ${(msSince(t) / 1000).toFixed(1)} s`)

  hub = await startHubProcess({ hubMain: build.hubMain, databaseUrl: db.url, dataDir: join(work, 'unused-data'), adminToken, cwd: work, secret })
  const api = async (method, path, body) => {
    const res = await fetch(hub.url + path, { method, headers: { authorization: `Bearer ${adminToken}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined })
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
    return res.json()
  }
  const password = `bench-${randomBytes(8).toString('hex')}`
  await api('POST', '/staff', { email: 'bench@staff.example.com', password, role: 'support' })

  browser = await chromium.launch({
    executablePath: env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage()
  await page.goto(`${hub.url}/console/`)
  await page.getByLabel('Email').fill('bench@staff.example.com')
  await page.getByLabel('Password').fill(password)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.locator('tbody tr').first().waitFor()

  const results = []
  for (const f of filters) {
    const inBrowser = []
    const viaApi = []
    for (let r = 0; r < rounds + 2; r++) {
      // from the unfiltered list to the filter: each change is a new query
      await page.getByRole('button', { name: 'Clear' }).click()
      await page.waitForFunction(() => !location.search && document.querySelector('table[aria-busy="false"]'))
      const first = await page.locator('tbody tr td').first().textContent()
      const search = page.getByRole('search')
      for (const [key, value] of Object.entries(f.form)) {
        const field = search.locator(`[name="${key}"]`)
        if ((await field.evaluate((el) => el.tagName)) === 'SELECT') await field.selectOption(value)
        else await field.fill(value)
      }
      t = process.hrtime.bigint()
      await search.getByRole('button', { name: 'Apply' }).click()
      await page.waitForFunction((before) => {
        const table = document.querySelector('table[aria-busy="false"]')
        const cell = document.querySelector('tbody tr td')
        return (table && cell && cell.textContent !== before) || document.querySelector('.state.empty')
      }, first)
      const ms = msSince(t)
      t = process.hrtime.bigint()
      await api('GET', `/customer?limit=25&${f.query}`)
      const apiMs = msSince(t)
      if (r >= 2) {
        inBrowser.push(ms)
        viaApi.push(apiMs)
      }
    }
    const b = summarize(inBrowser, 0)
    const a = summarize(viaApi, 0)
    results.push([f.name, fmt.ms(b.p50), fmt.ms(b.p95), fmt.ms(a.p50), fmt.ms(a.p95), b.p95 <= 200 ? 'PASS' : 'MISS'])
  }
  log('')
  log(table(['filter change', 'browser p50', 'browser p95', 'API alone p50', 'API alone p95', '<= 200 ms'], results))
} finally {
  await browser?.close()
  await hub?.stop()
  await db.cleanup()
  rmSync(work, { recursive: true, force: true })
}
