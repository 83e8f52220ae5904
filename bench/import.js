// Bulk import against syncing the same rows one request at a time, side by side in one run.
// Part of `npm run bench`; alone: `node bench/import.js` after `npm run build`.
//
// Environment (all optional):
//   BENCH_DATABASE_URL / DATABASE_URL  PostgreSQL to measure; without it, PGlite only
//   BENCH_ONLY                         `postgres` or `pglite` to measure one database
//   BENCH_IMPORT_PEOPLE                people behind the files (default 150000 PostgreSQL: 187,500 rows, enough that the
//                                      three command start-ups weigh little; 6000 PGlite);
//                                      three platforms' files with 30% of each platform's people shared with the next
//   BENCH_IMPORT_SYNC_ROWS             rows of the baseline (default 3000): one POST /customer/sync at a time to a
//                                      hub process, the same rows in the same order; its rate is rows / time
//
// The import is `customer-hub import FILE --platform C` run as a user runs it, file after file,
// into a fresh database; the baseline is a hub process on another fresh database, fed the first
// rows of the same files, one request after the other (the way a platform without an import
// would have to). Both are checked: every row is counted, and the import groups the people as
// the syncs do (for the rows the baseline synced: see test/import.test.ts for the full proof).
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { createHttpClient, expectStatus } from './lib/http-client.js'
import { startHubProcess } from './lib/hub-process.js'
import { currentBuild } from './lib/build.js'
import { preparePglite, preparePostgres } from './lib/databases.js'
import { fmt, table } from './lib/report.js'
import { envInt } from './lib/env.js'

const env = process.env
const postgresUrl = env.BENCH_DATABASE_URL || env.DATABASE_URL || ''
const only = env.BENCH_ONLY

/** Three platforms' files about `people` people: each platform knows 1/(3 - 2·0.3) of them, overlapping its neighbour by 30%. */
function platformFiles(people, tag) {
  const overlap = 0.3
  const share = people / (3 - 2 * overlap)
  const files = []
  for (let p = 0; p < 3; p++) {
    const from = Math.floor(p * share * (1 - overlap))
    const to = Math.min(people, Math.floor(from + share))
    const rows = []
    for (let i = from; i < to; i++) {
      const row = { externalId: `${p}-${i}`, firstName: `First${i}`, lastName: `Last${i % 997}` }
      if (i % 10 !== 3) row.email = `${tag}.p${i}@example.com`
      if (i % 3 === 0) row.phone = `+1415${String(2000000 + i).padStart(7, '0')}`
      if (i % 7 === 0) row.metadata = { tier: i % 3 }
      rows.push(row)
    }
    files.push({ component: `identity.bench-shop-${p}`, rows })
  }
  return files
}

async function measure(db, build, people, syncRows) {
  const work = mkdtempSync(join(tmpdir(), 'hub-bench-import-'))
  const secret = randomBytes(32).toString('base64url')
  const files = platformFiles(people, `b${randomBytes(3).toString('hex')}`).map((f, n) => {
    const path = join(work, `shop-${n}.jsonl`)
    writeFileSync(path, f.rows.map((r) => JSON.stringify(r)).join('\n') + '\n')
    return { ...f, path }
  })
  const total = files.reduce((n, f) => n + f.rows.length, 0)
  try {
    // the import, as a user runs it
    const importEnv = { ...process.env, HUB_SECRET: secret, ...(db.kind === 'postgres' ? { DATABASE_URL: db.url } : { HUB_DATA_DIR: db.dataDir }) }
    for (const key of Object.keys(importEnv)) if ((key.startsWith('HUB_') && key !== 'HUB_SECRET' && key !== 'HUB_DATA_DIR') || key === 'PORT') delete importEnv[key]
    if (db.kind !== 'postgres') delete importEnv.DATABASE_URL
    const started = performance.now()
    const summaries = []
    for (const f of files) {
      const run = spawnSync(process.execPath, [build.hubMain, 'import', f.path, '--platform', f.component], { cwd: work, env: importEnv, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
      if (run.status !== 0) throw new Error(`customer-hub import failed (${run.status}):\n${run.stderr}`)
      summaries.push(JSON.parse(run.stdout.slice(run.stdout.indexOf('{'))))
    }
    const importMs = performance.now() - started
    const counted = summaries.reduce((n, s) => n + s.created + s.matched + s.rejected, 0)
    if (counted !== total) throw new Error(`the import counted ${counted} rows of ${total}`)

    // the baseline: the same rows, one sync request at a time, to a hub process on a fresh database
    const other = db.kind === 'postgres' ? await preparePostgres(postgresUrl) : preparePglite()
    const adminToken = randomBytes(24).toString('base64url')
    const hub = await startHubProcess({ hubMain: build.hubMain, databaseUrl: other.kind === 'postgres' ? other.url : undefined, dataDir: other.dataDir ?? join(work, 'sync-data'), adminToken, cwd: work })
    const http = createHttpClient(hub.url, { sockets: 1, headers: { authorization: `Bearer ${adminToken}` } })
    let syncMs
    try {
      const rows = files.flatMap((f) => f.rows.map((row) => ({ f, row }))).slice(0, syncRows)
      const t = performance.now()
      for (const { f, row } of rows) {
        const { externalId, ...rest } = row
        const res = await http.request('POST', '/customer/sync', { platform: { component: f.component, externalId }, ...rest })
        if (res.status !== 200 && res.status !== 201) expectStatus(res, 200, 'sync')
      }
      syncMs = performance.now() - t
    } finally {
      http.close()
      await hub.stop()
      await other.cleanup()
    }
    const importRate = (total / importMs) * 1000
    const syncRate = (Math.min(syncRows, total) / syncMs) * 1000
    return { total, importMs, importRate, syncRate, summaries }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

async function main() {
  const build = await currentBuild()
  const dbs = []
  if (postgresUrl && only !== 'pglite') dbs.push('postgres')
  if (only !== 'postgres') dbs.push('pglite')
  const rows = []
  for (const kind of dbs) {
    const db = kind === 'postgres' ? await preparePostgres(postgresUrl) : preparePglite()
    try {
      const people = envInt('BENCH_IMPORT_PEOPLE', kind === 'postgres' ? 150_000 : 6_000)
      const r = await measure(db, build, people, envInt('BENCH_IMPORT_SYNC_ROWS', 3_000))
      const created = r.summaries.reduce((n, s) => n + s.created, 0)
      rows.push([db.label, String(r.total), String(created), `${(r.importMs / 1000).toFixed(1)} s`, `${fmt.ops(r.importRate)}/s`, `${fmt.ops(r.syncRate)}/s`, `${(r.importRate / r.syncRate).toFixed(1)}×`])
    } finally {
      await db.cleanup()
    }
  }
  console.log('\nBulk import (customer-hub import, 3 platform files) against one POST /customer/sync at a time, same rows')
  console.log(table(['database', 'rows', 'customers made', 'import time', 'import rate', 'sync rate (baseline)', 'import / sync'], rows))
}

await main()
