import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chownSync, existsSync, readdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { onPostgres } from './helpers/test-hub.js'
import { killAll, processTimeout, spawnHub, tempDir, type HubProcess } from './helpers/spawn-hub.js'

// PostgreSQL restarted under load. The hub must say it is unhealthy within 2 s of the database
// going away, answer every request meanwhile quickly with 503 DATABASE_UNAVAILABLE (never a 500,
// never a hang), come back by itself when the database does, and lose nothing it acknowledged.
// The database is a private PostgreSQL server of this test (initdb, pg_ctl): the machine's shared
// server, which other tests use, is never stopped.

/** The PostgreSQL server programs (initdb, pg_ctl) of the newest version installed. */
function serverBinaries(): string {
  const root = '/usr/lib/postgresql'
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'pg_ctl'))) : []
  if (versions.length === 0) throw new Error(`no PostgreSQL server programs under ${root}: install the PostgreSQL server package`)
  return join(root, versions.sort((a, b) => Number(b) - Number(a))[0]!, 'bin')
}

/** A TCP port nothing listens on now. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** A PostgreSQL server of its own in a temporary directory (PostgreSQL refuses to run as root: then as the postgres user). */
function privateServer(dir: string, port: number) {
  const bin = serverBinaries()
  const asRoot = process.getuid?.() === 0
  const run = (program: string, args: string[]) =>
    execFileSync(asRoot ? 'runuser' : join(bin, program), asRoot ? ['-u', 'postgres', '--', join(bin, program), ...args] : args, { stdio: 'pipe', timeout: 60_000 })
  const data = join(dir, 'data')
  if (asRoot) chownSync(dir, Number(execFileSync('id', ['-u', 'postgres']).toString().trim()), Number(execFileSync('id', ['-g', 'postgres']).toString().trim()))
  run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '--no-locale', '-E', 'UTF8'])
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -k ${dir} -c fsync=off`
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start: () => run('pg_ctl', ['start', '-D', data, '-w', '-l', join(dir, 'server.log'), '-o', options]),
    /** Stops at once, as a crash would: no checkpoint, every connection cut. */
    crash: () => run('pg_ctl', ['stop', '-D', data, '-m', 'immediate', '-w']),
    stop: () => run('pg_ctl', ['stop', '-D', data, '-m', 'fast', '-w']),
  }
}

interface Attempt {
  status: number
  code: string | undefined
  sentAt: number
  ms: number
}

interface Planned {
  key: string
  kind: 'sync' | 'earn'
  body: Record<string, unknown>
  attempts: Attempt[]
}

const WORKERS = 8
/**
 * How many times the server is crashed and started again under the one load (npm run soak sets
 * more): PG_RESTART_ROUNDS, default 1.
 */
const ROUNDS = Number(process.env.PG_RESTART_ROUNDS ?? 1)
/** An answer slower than this during the outage is a hang. */
const FAST_MS = 5000
/** The stated bound: /health says unhealthy within this long of the database going away. */
const UNHEALTHY_WITHIN_MS = 2000

describe.skipIf(!onPostgres)(`PostgreSQL restarted under load${ROUNDS > 1 ? `, ${ROUNDS} times` : ''}`, { timeout: processTimeout * ROUNDS }, () => {
  const tmp = tempDir('customer-hub-pg-restart-')
  const admin = `admin-${randomBytes(16).toString('hex')}`
  let server: ReturnType<typeof privateServer>
  let hub: HubProcess
  let client: pg.Client | undefined

  beforeAll(async () => {
    server = privateServer(tmp.dir, await freePort())
    server.start()
    hub = await spawnHub({
      cwd: tmp.dir,
      env: { DATABASE_URL: server.url, HUB_SECRET: randomBytes(32).toString('hex'), HUB_ADMIN_TOKEN: admin, HUB_DB_POOL_SIZE: '6' },
    })
  })
  afterAll(async () => {
    await killAll()
    await client?.end().catch(() => {})
    try {
      server?.stop()
    } catch {
      // already stopped (a failed test may leave it either way)
    }
    tmp.remove()
  })

  async function send(path: string, body: unknown, key?: string): Promise<{ status: number; body: any }> {
    const res = await fetch(hub.url + path, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    })
    const text = await res.text()
    return { status: res.status, body: text ? JSON.parse(text) : undefined }
  }

  async function health(): Promise<{ status: number; code: string | undefined; ms: number }> {
    const started = performance.now()
    const res = await fetch(`${hub.url}/health`, { signal: AbortSignal.timeout(30_000) })
    const body = (await res.json()) as { code?: string }
    return { status: res.status, code: body.code, ms: performance.now() - started }
  }

  /** Polls `check` until it holds; fails after `ms`. */
  async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + ms
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`)
      await new Promise((r) => setTimeout(r, 20))
    }
  }

  it('answers 503 DATABASE_UNAVAILABLE fast while it is down, is unhealthy within 2 s, recovers by itself, and keeps every acknowledged write exactly once', async () => {
    const tag = randomBytes(4).toString('hex')
    // each points posting takes 30 ms more in the database: when the server goes, statements
    // are running on its connections (their requests see the connection cut under them)
    const setup = new pg.Client({ connectionString: server.url })
    await setup.connect()
    await setup.query(`CREATE FUNCTION slow_posting() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.03); RETURN NEW; END $$;
      CREATE TRIGGER slow_posting BEFORE INSERT ON ledger_transactions FOR EACH ROW EXECUTE FUNCTION slow_posting()`)
    await setup.end()
    // customers that earn points
    const owners: string[] = []
    for (let i = 0; i < 4; i++) {
      const res = await send('/customer/sync', { platform: { component: 'identity.shop', externalId: `owner-${tag}-${i}` }, email: `owner${i}-${tag}@example.com` }, `owner-${tag}-${i}`)
      expect(res.status, JSON.stringify(res.body)).toBe(201)
      owners.push(res.body.customer.id)
    }

    // the load: each worker sends new writes one after another; a write that fails is retried,
    // with its key, until it is answered (a client's retry — the pause between tries paces it)
    let seq = 0
    let stopping = false
    const planned: Planned[] = []
    const next = (): Planned => {
      const i = seq++
      const key = `load-${tag}-${i}`
      const p: Planned =
        i % 2 === 0
          ? { key, kind: 'sync', body: { platform: { component: 'identity.shop', externalId: `person-${tag}-${i}` }, email: `person${i}-${tag}@example.com`, firstName: `P${i}` }, attempts: [] }
          : { key, kind: 'earn', body: { kind: 'earn', idempotencyKey: key, customerId: owners[i % owners.length], amount: 1 + (i % 7) }, attempts: [] }
      planned.push(p)
      return p
    }
    const failures: string[] = []
    const worker = async () => {
      while (!stopping) {
        const p = next()
        for (;;) {
          const sentAt = performance.now()
          let answer: { status: number; body: any }
          try {
            answer = await send(p.kind === 'sync' ? '/customer/sync' : '/ledgers/reward-points/transactions', p.body, p.key)
          } catch (err) {
            failures.push(`${p.key}: no answer (${(err as Error).message})`)
            answer = { status: 0, body: undefined }
          }
          p.attempts.push({ status: answer.status, code: answer.body?.code, sentAt, ms: performance.now() - sentAt })
          if (answer.status >= 200 && answer.status < 300) break
          if (answer.status !== 503) failures.push(`${p.key}: ${answer.status} ${JSON.stringify(answer.body)}`)
          await new Promise((r) => setTimeout(r, 50))
        }
      }
    }
    const acknowledged = () => planned.filter((p) => p.attempts.some((a) => a.status < 300 && a.status >= 200)).length
    const load = Promise.all(Array.from({ length: WORKERS }, worker))

    // each round: some writes are through before the database goes, it goes, it comes back
    const rounds: string[] = []
    for (let round = 1; round <= ROUNDS; round++) {
      await until('the load runs', 30_000, async () => acknowledged() >= 80)
      const beforeCrash = acknowledged()

      const crashedAt = performance.now()
      server.crash()
      // /health, polled: unhealthy within the bound
      let unhealthyAfter = -1
      await until('/health says unhealthy', 10_000, async () => {
        const h = await health()
        if (h.status === 200) return false
        expect(h).toMatchObject({ status: 503, code: 'DATABASE_UNAVAILABLE' })
        unhealthyAfter = performance.now() - crashedAt
        return true
      })
      expect(unhealthyAfter).toBeLessThanOrEqual(UNHEALTHY_WITHIN_MS)

      // down for a while under load: every request sent meanwhile answers 503 quickly
      const downSince = performance.now()
      await until('requests fail during the outage', 20_000, async () =>
        planned.filter((p) => p.attempts.some((a) => a.sentAt > downSince && a.status === 503)).length >= WORKERS && performance.now() - downSince > 1500)
      const healthDown = await health()
      expect(healthDown).toMatchObject({ status: 503, code: 'DATABASE_UNAVAILABLE' })
      expect(healthDown.ms).toBeLessThan(FAST_MS)
      const restartAt = performance.now()
      // the requests running when the server went: their connections were cut under them (pg's
      // "Connection terminated unexpectedly", which has no code) — 503 too, and retried below
      const cutShort = planned.flatMap((p) => p.attempts).filter((a) => a.sentAt < crashedAt && a.sentAt + a.ms > crashedAt)
      expect(cutShort.length).toBeGreaterThan(0)
      for (const a of cutShort) expect(a.status === 503 ? a.code : String(a.status)).toMatch(/^(DATABASE_UNAVAILABLE|200|201)$/)
      const duringOutage = planned.flatMap((p) => p.attempts).filter((a) => a.sentAt > downSince && a.sentAt + a.ms < restartAt)
      expect(duringOutage.length).toBeGreaterThanOrEqual(WORKERS)
      for (const a of duringOutage) {
        expect(a).toMatchObject({ status: 503, code: 'DATABASE_UNAVAILABLE' })
        expect(a.ms).toBeLessThan(FAST_MS)
      }

      // back: the same hub process answers healthy again, without a restart
      const pid = hub.pid
      server.start()
      const startedAt = performance.now()
      await until('/health says healthy again', 30_000, async () => (await health()).status === 200)
      const recoveredAfter = performance.now() - startedAt
      expect(hub.child.exitCode).toBeNull()
      expect(hub.pid).toBe(pid)

      // more writes go through after the restart, then the load ends (each worker finishes its write)
      const afterRestart = acknowledged()
      await until('writes go through again', 30_000, async () => acknowledged() >= afterRestart + 80)
      rounds.push(`${ROUNDS > 1 ? `round ${round}: ` : ''}unhealthy after ${Math.round(unhealthyAfter)} ms; healthy ${Math.round(recoveredAfter)} ms after the server started again; ` +
        `${cutShort.length} running at the crash; ${duringOutage.length} requests answered 503 during the outage (slowest ${Math.round(Math.max(...duringOutage.map((a) => a.ms)))} ms); ` +
        `${beforeCrash} writes before the crash`)
    }
    stopping = true
    await load
    expect(failures).toEqual([])
    console.log(`PostgreSQL restart: ${rounds.join('\n  ')}; ${planned.length} writes in all, ${planned.filter((p) => p.attempts.length > 1).length} retried`)

    // every write was answered in the end; the ones that failed first were answered on a retry with their key
    const retried = planned.filter((p) => p.attempts.length > 1)
    expect(retried.length).toBeGreaterThan(0)
    for (const p of planned) {
      const last = p.attempts.at(-1)!
      expect([200, 201], `${p.key}: ${JSON.stringify(p.attempts)}`).toContain(last.status)
      for (const a of p.attempts.slice(0, -1)) expect(a).toMatchObject({ status: 503, code: 'DATABASE_UNAVAILABLE' })
      for (const a of p.attempts) expect(a.ms).toBeLessThan(FAST_MS)
    }

    // in the database: each acknowledged write exactly once
    client = new pg.Client({ connectionString: server.url })
    await client.connect()
    const earns = planned.filter((p) => p.kind === 'earn')
    const syncs = planned.filter((p) => p.kind === 'sync')
    const posted = await client.query<{ idempotency_key: string; n: string }>(
      `SELECT idempotency_key, count(*) AS n FROM ledger_transactions WHERE idempotency_key = ANY ($1) GROUP BY idempotency_key`, [earns.map((p) => p.key)])
    const postedCount = new Map(posted.rows.map((r) => [r.idempotency_key, Number(r.n)]))
    for (const p of earns) expect(postedCount.get(p.key) ?? 0, p.key).toBe(1)
    for (const o of owners) {
      const expected = earns.filter((p) => p.body.customerId === o).reduce((s, p) => s + (p.body.amount as number), 0)
      const res = await fetch(`${hub.url}/customer/${o}/reward-accounts`, { headers: { authorization: `Bearer ${admin}` } })
      const accounts = (await res.json()) as { data: { ledger: string; balance: number }[] }
      expect(accounts.data.find((a) => a.ledger === 'reward-points')?.balance ?? 0, o).toBe(expected)
    }
    const people = await client.query<{ value: string; n: string }>(
      `SELECT i.value, count(DISTINCT c.id) AS n FROM identities i JOIN customers c ON c.id = i.customer_id
       WHERE i.kind = 'email' AND i.value = ANY ($1) AND c.deleted_at IS NULL GROUP BY i.value`, [syncs.map((p) => p.body.email as string)])
    const peopleCount = new Map(people.rows.map((r) => [r.value, Number(r.n)]))
    for (const p of syncs) expect(peopleCount.get(p.body.email as string) ?? 0, p.key).toBe(1)
    const created = await client.query<{ n: string }>(`SELECT count(*) AS n FROM customers WHERE first_name LIKE 'P%' AND email LIKE $1`, [`%-${tag}@example.com`])
    expect(Number(created.rows[0]!.n)).toBe(syncs.length)
  })
})
