import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import { testDatabaseUrl, urlWithSchema } from './helpers/test-hub.js'
import { killAll, processTimeout, runCli, startCli, tempDir } from './helpers/spawn-hub.js'
import { jsonLines, platformFiles } from './helpers/import-data.js'

// PostgreSQL: a `customer-hub import` SIGKILLed in the middle and run again resumes where it
// stopped, and ends exactly as an import that was never interrupted: the same customers, each
// made once, each identity once, every row counted once.
//
// Knobs for longer runs (npm run soak): IMPORT_KILL_PEOPLE (default 4,000: a file of about 2,350
// rows), IMPORT_KILL_ROUNDS (default 1): how many times the import is SIGKILLed, each time run
// again and killed once 200 more rows are in, before the last run finishes it.
const people = Number(process.env.IMPORT_KILL_PEOPLE ?? 4000)
const rounds = Number(process.env.IMPORT_KILL_ROUNDS ?? 1)

describe(`an import SIGKILLed mid-way${rounds > 1 ? ` ${rounds} times` : ''} and run again`, { timeout: processTimeout * Math.max(1, rounds, people / 4000) }, () => {
  const tmp = tempDir()
  const schemas = [0, 1, 2].map(() => `hubtest_${process.pid}_${randomBytes(6).toString('hex')}`)
  const secret = randomBytes(32).toString('hex')
  const env = (schema: string) => ({ DATABASE_URL: urlWithSchema(schema), HUB_SECRET: secret })
  let client: pg.Client
  let file: string
  let component: string
  let rowCount: number

  beforeAll(async () => {
    client = new pg.Client({ connectionString: testDatabaseUrl })
    await client.connect()
    for (const s of schemas) await client.query(`CREATE SCHEMA "${s}"`)
    const [first] = platformFiles(people, { platforms: 2, tag: `k${randomBytes(3).toString('hex')}` })
    component = first!.component
    rowCount = first!.rows.length
    file = join(tmp.dir, 'shop.jsonl')
    writeFileSync(file, jsonLines(first!.rows))
  })
  afterAll(async () => {
    await killAll()
    for (const s of schemas) await client?.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`)
    await client?.end()
    tmp.remove()
  })

  const q = async <T>(schema: string, text: string): Promise<T[]> => (await client.query(`SET search_path = "${schema}", public; ${text}`) as unknown as pg.QueryResult[])[1]!.rows as T[]

  /** Each live customer as the sorted list of its identities; the partition sorted. */
  const partition = async (schema: string) => {
    const rows = await q<{ customer_id: string; identity: string }>(schema, `
      SELECT i.customer_id, i.kind || ':' || i.namespace || ':' || i.value AS identity
      FROM identities i JOIN customers c ON c.id = i.customer_id WHERE c.deleted_at IS NULL`)
    const groups = new Map<string, string[]>()
    for (const r of rows) groups.set(r.customer_id, [...(groups.get(r.customer_id) ?? []), r.identity])
    return [...groups.values()].map((g) => g.sort().join(' ')).sort()
  }

  it('resumes, duplicates nothing, and ends as an uninterrupted import does', async () => {
    const [killed, clean] = schemas as [string, string, string]
    const args = ['import', file, '--platform', component]
    // small batches, so that there are many commits to be killed between; each round runs it
    // (again), waits until 200 more rows committed and more are to come, then SIGKILLs it
    let atKill = 0
    for (let round = 0; round < rounds; round++) {
      const doomed = startCli([...args, '--batch-size', '50'], { cwd: tmp.dir, env: env(killed) })
      let processed = 0
      const deadline = Date.now() + 60_000
      while (Date.now() < deadline) {
        const rows = await q<{ processed_rows: number; total_rows: number | null }>(killed, 'SELECT processed_rows, total_rows FROM imports').catch(() => [])
        processed = rows[0]?.processed_rows ?? 0
        if (processed >= atKill + 200) break
        await new Promise((r) => setImmediate(r))
      }
      doomed.child.kill('SIGKILL')
      await doomed.closed
      expect(processed, `round ${round + 1}`).toBeGreaterThanOrEqual(atKill + 200)
      atKill = (await q<{ processed_rows: number }>(killed, 'SELECT processed_rows FROM imports'))[0]!.processed_rows
      expect(atKill, `round ${round + 1}`).toBeLessThan(rowCount)
    }

    // run again at once: the dead process's lease is taken over, the import resumes
    const resumed = await runCli(args, { cwd: tmp.dir, env: env(killed) })
    expect(resumed.code, resumed.stderr).toBe(0)
    const summary = JSON.parse(resumed.stdout.slice(resumed.stdout.indexOf('{')))
    expect(summary.totalRows).toBe(rowCount)
    expect(summary.created + summary.matched + summary.rejected).toBe(rowCount)

    const uninterrupted = await runCli(args, { cwd: tmp.dir, env: env(clean) })
    expect(uninterrupted.code, uninterrupted.stderr).toBe(0)
    const cleanSummary = JSON.parse(uninterrupted.stdout.slice(uninterrupted.stdout.indexOf('{')))
    // what each row is does not depend on where the batches were cut
    for (const field of ['totalRows', 'rejected', 'rejectedIdentifiers']) expect(summary[field]).toBe(cleanSummary[field])

    expect(await partition(killed)).toEqual(await partition(clean))
    for (const schema of [killed, clean]) {
      const twice = await q<{ n: number }>(schema, `SELECT count(*)::int AS n FROM (SELECT customer_id FROM events WHERE type = 'customer.created' GROUP BY customer_id HAVING count(*) > 1) d`)
      expect(twice[0]!.n).toBe(0)
      const made = await q<{ customers: number; created: number }>(schema, `SELECT (SELECT count(*) FROM customers)::int AS customers, (SELECT count(*) FROM events WHERE type = 'customer.created')::int AS created`)
      expect(made[0]!.customers).toBe(made[0]!.created)
    }

    // and once more: the file was imported, nothing changes
    const again = await runCli(args, { cwd: tmp.dir, env: env(killed) })
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toContain('imported before')
  })

  it('posts the points of every row on a database the command found fresh, two batches at once', async () => {
    // the ledger's system accounts are prepared by the command itself: made by the first of two
    // concurrent batches instead, the other could not see them and refused its rows' points
    const schema = schemas[2]!
    const rows = Array.from({ length: 2500 }, (_, i) => ({ externalId: `pts-${i}`, email: `pts${i}.${schema}@example.com`, ...(i % 4 === 0 ? { points: 10 + (i % 50) } : {}) }))
    const points = join(tmp.dir, 'points.jsonl')
    writeFileSync(points, jsonLines(rows))
    const run = await runCli(['import', points, '--platform', 'identity.points-shop', '--batch-size', '100'], { cwd: tmp.dir, env: { ...env(schema), HUB_IMPORTS_WORKERS: '2' } })
    expect(run.code, run.stderr).toBe(0)
    const summary = JSON.parse(run.stdout.slice(run.stdout.indexOf('{')))
    expect(summary).toMatchObject({ totalRows: 2500, created: 2500, rejected: 0, partial: 0 })
    const posted = await q<{ n: number; total: string }>(schema, `SELECT count(*)::int AS n, sum(balance)::text AS total FROM reward_accounts WHERE role = 'customer'`)
    expect(posted[0]).toEqual({ n: 625, total: String(rows.reduce((n, r) => n + (r.points ?? 0), 0)) })
  })
})
