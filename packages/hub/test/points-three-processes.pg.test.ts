import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { onPostgres, testDatabaseUrl, urlWithSchema } from './helpers/test-hub.js'
import { call, killAll, pool, processTimeout, spawnHub, streamUntilKilled, tempDir, type HubProcess } from './helpers/spawn-hub.js'
import { startPgbouncer, type Pgbouncer } from './helpers/pgbouncer.js'

// Points over three hub processes on one PostgreSQL database, once directly and once through
// pgbouncer in transaction mode (HUB_DB_POOLER=transaction, the listening connection on
// HUB_DB_DIRECT_URL; docs/operations.md, "Behind pgbouncer"): never lost, never counted twice,
// whatever the concurrency and whichever process dies.
//
// Knobs for longer runs (npm run soak): POINTS_SPENDS (default 600, a multiple of 12): the
// concurrent spends of 10, dealt to four accounts each seeded with enough for two thirds of its
// share; POINTS_KILL_ROUNDS (default 1): how many times a fourth process is started and SIGKILLed
// in the middle of a stream of 180 earns and spends.
const spendCount = Number(process.env.POINTS_SPENDS ?? 600)
const killRounds = Number(process.env.POINTS_KILL_ROUNDS ?? 1)
if (!Number.isInteger(spendCount / 12) || spendCount <= 0) throw new Error(`POINTS_SPENDS=${spendCount}: a positive multiple of 12`)
/** Spends that succeed on each account: two thirds of its share. */
const fundedSpends = ((spendCount / 4) * 2) / 3
const variants = [
  { name: 'directly on PostgreSQL', pgbouncer: false },
  { name: 'through pgbouncer in transaction mode', pgbouncer: true },
]

for (const variant of variants) {
  describe.skipIf(!onPostgres)(`points over three hub processes, ${variant.name}`, { timeout: processTimeout * Math.max(1, killRounds, spendCount / 600) }, () => {
    const schema = `hubtest_${process.pid}_${randomBytes(6).toString('hex')}`
    const admin = `admin-${randomBytes(16).toString('hex')}`
    const tmp = tempDir()
    let client: pg.Client
    let bouncer: Pgbouncer | undefined
    let env: Record<string, string>
    let hubs: HubProcess[]
    let n = 0
    const query = async <T extends pg.QueryResultRow>(text: string, values: unknown[] = []) => (await client.query<T>(text, values)).rows
    const hub = (i: number) => hubs[i % hubs.length]!

    /** Posts a points transaction; a 503 (the hub asks for a retry) is sent again with its key, and counted. */
    const retried503: string[] = []
    async function post(base: string, body: Record<string, unknown>): Promise<{ status: number; body: any }> {
      for (let attempt = 1; ; attempt++) {
        const res = await call(base, 'POST', '/ledgers/reward-points/transactions', admin, body)
        if (res.status !== 503 || attempt === 10) return res
        retried503.push(String(res.body?.code))
      }
    }
    const customer = async () => {
      const res = await call(hubs[0]!.url, 'POST', '/customer', admin, { email: `p${++n}-${schema}@example.com` })
      expect(res.status, JSON.stringify(res.body)).toBe(201)
      return res.body.id as string
    }
    const balanceOf = async (customerId: string, via = hubs[0]!) => {
      const res = await call(via.url, 'GET', `/customer/${customerId}/reward-accounts`, admin)
      return res.body.data.find((a: { ledger: string }) => a.ledger === 'reward-points')
    }
    const verified = async () => {
      const res = await call(hubs[2]!.url, 'GET', '/ledgers/reward-points/verify', admin)
      expect(res.body.problems).toEqual([])
      expect(res.body.ok).toBe(true)
    }

    beforeAll(async () => {
      client = new pg.Client({ connectionString: testDatabaseUrl })
      await client.connect()
      await client.query(`CREATE SCHEMA "${schema}"`)
      await client.query(`SET search_path = "${schema}", public`)
      const database: Record<string, string> = variant.pgbouncer
        ? { DATABASE_URL: (bouncer = await startPgbouncer({ schema, poolSize: 8 })).url, HUB_DB_POOLER: 'transaction', HUB_DB_DIRECT_URL: urlWithSchema(schema) }
        : { DATABASE_URL: urlWithSchema(schema) }
      env = { ...database, HUB_SECRET: randomBytes(32).toString('hex'), HUB_ADMIN_TOKEN: admin, HUB_DB_POOL_SIZE: '6', LOG_LEVEL: 'debug' }
      hubs = [await spawnHub({ cwd: tmp.dir, env })]
      hubs.push(...(await Promise.all([spawnHub({ cwd: tmp.dir, env }), spawnHub({ cwd: tmp.dir, env })])))
    })
    afterAll(async () => {
      await killAll()
      await bouncer?.stop()
      await client?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await client?.end()
      tmp.remove()
    })

    it(`${spendCount.toLocaleString('en')} concurrent spends of 10 against four accounts of ${(fundedSpends * 10).toLocaleString('en')}, dealt to three processes: exactly ${fundedSpends} succeed on each, every balance 0`, async () => {
      const owners = [await customer(), await customer(), await customer(), await customer()]
      for (const o of owners) expect((await post(hubs[0]!.url, { kind: 'earn', idempotencyKey: `seed-${o}`, customerId: o, amount: fundedSpends * 10 })).status).toBe(201)
      const spends = Array.from({ length: spendCount }, (_, i) => ({ i, body: { kind: 'spend', idempotencyKey: `spend-${schema}-${i}`, customerId: owners[i % owners.length]!, amount: 10 } }))
      const statuses: number[] = []
      const refused: unknown[] = []
      await pool(spends, 64, async ({ i, body }) => {
        const res = await post(hub(i).url, body)
        statuses.push(res.status)
        if (res.status === 422) refused.push(res.body.code)
      })
      console.log(`${variant.name}: spends answered ${JSON.stringify(Object.fromEntries([...new Set(statuses)].map((s) => [s, statuses.filter((x) => x === s).length])))}, 503 retried ${retried503.length}`)
      expect(statuses.filter((s) => s >= 500)).toEqual([])
      expect(statuses.filter((s) => s === 201)).toHaveLength(fundedSpends * 4)
      expect(statuses.filter((s) => s === 422)).toHaveLength(spendCount - fundedSpends * 4)
      expect(new Set(refused)).toEqual(new Set(['INSUFFICIENT_POINTS']))
      for (const [k, o] of owners.entries()) expect(await balanceOf(o, hub(k))).toMatchObject({ balance: 0, available: 0 })
      const rows = await query<{ customer_id: string; spends: number }>(
        `SELECT r.customer_id, count(*)::int AS spends FROM ledger_transactions t JOIN reward_accounts r ON t.postings->0->>'from' = r.id
          WHERE t.kind = 'spend' AND t.idempotency_key LIKE $1 GROUP BY 1`,
        [`spend-${schema}-%`],
      )
      expect(new Map(rows.map((r) => [r.customer_id, r.spends]))).toEqual(new Map(owners.map((o) => [o, fundedSpends])))
      await verified()
    })

    it(`a stream of earns and spends, a fourth process SIGKILLed midway${killRounds > 1 ? ` (${killRounds} times)` : ''}, every request retried on the other three: each posted exactly once`, async () => {
      const owners = [await customer(), await customer(), await customer()]
      for (const o of owners) await post(hubs[0]!.url, { kind: 'earn', idempotencyKey: `base-${o}`, customerId: o, amount: 10_000 })
      const posted: { kind: string; customerId: string; amount: number }[] = []
      for (let round = 0; round < killRounds; round++) {
        const prefix = `stream-${schema}-${round}-`
        const planned = Array.from({ length: 180 }, (_, i) => ({
          kind: i % 3 === 2 ? 'spend' : 'earn',
          idempotencyKey: `${prefix}${i}`,
          customerId: owners[i % owners.length]!,
          amount: 1 + (i % 7),
        }))
        // each entry takes longer to write: the kill lands between an effect and its commit
        await client.query(`CREATE OR REPLACE FUNCTION slow_entry() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.01); RETURN NEW; END $$;
          CREATE TRIGGER slow_entry BEFORE INSERT ON ledger_entries FOR EACH ROW EXECUTE FUNCTION slow_entry()`)
        const doomed = await spawnHub({ cwd: tmp.dir, env })
        const { answers, inFlightAtKill } = await streamUntilKilled(doomed, planned, {
          width: 12,
          killAfter: 50,
          send: async (req) => {
            const res = await post(doomed.url, req)
            expect(res.status, JSON.stringify(res.body)).toBe(201)
            return res
          },
        })
        await client.query('DROP TRIGGER slow_entry ON ledger_entries')
        expect(inFlightAtKill, `round ${round + 1}`).toBeGreaterThan(0)
        expect(answers.size).toBeLessThan(planned.length)
        const answered = new Set([...answers.keys()].map((req) => req.idempotencyKey))

        // the client retries every request, with its key, on the processes that live
        let replayed = 0
        await pool(planned, 12, async (req) => {
          const res = await post(hub(planned.indexOf(req)).url, req)
          expect([200, 201], JSON.stringify(res.body)).toContain(res.status)
          if (res.status === 200) replayed++
          if (answered.has(req.idempotencyKey)) expect(res.status).toBe(200)
        })
        expect(replayed).toBeGreaterThanOrEqual(answered.size)
        const counts = await query<{ n: number }>(`SELECT count(*)::int AS n FROM ledger_transactions WHERE idempotency_key LIKE $1 GROUP BY idempotency_key`, [`${prefix}%`])
        expect(counts, `round ${round + 1}`).toHaveLength(planned.length)
        expect(counts.every((r) => r.n === 1)).toBe(true)
        posted.push(...planned)
      }
      for (const o of owners) {
        const expected = 10_000 + posted.filter((p) => p.customerId === o).reduce((s, p) => s + (p.kind === 'earn' ? p.amount : -p.amount), 0)
        expect((await balanceOf(o)).balance).toBe(expected)
      }
      await verified()
    })

    it("a reader waiting on one process is woken by the notification of a points earn through another (the listening connection is PostgreSQL's own)", async () => {
      const lines = (h: HubProcess, msg: string) => h.stdout.map((l) => (l.startsWith('{') ? (JSON.parse(l) as Record<string, unknown>) : {})).filter((j) => j.msg === msg)
      const o = await customer()
      const before = lines(hubs[0]!, 'feed reader waiting').length
      const answer = call(hubs[0]!.url, 'GET', `/events?customerId=${o}&type=points.earned&wait=30`, admin)
      await hubs[0]!.waitForLine(() => lines(hubs[0]!, 'feed reader waiting').length > before)
      const reqId = lines(hubs[0]!, 'feed reader waiting')[before]!.reqId
      expect((await post(hubs[1]!.url, { kind: 'earn', idempotencyKey: `wake-${o}`, customerId: o, amount: 5 })).status).toBe(201)
      const res = await answer
      expect(res.body.data.map((e: { type: string }) => e.type)).toEqual(['points.earned'])
      await hubs[0]!.waitForLine((_l, json) => json?.msg === 'request completed' && json.reqId === reqId)
      // woken by the notification, not only by the periodic re-read (a woken reader may find the
      // event not yet readable while an older transaction of another test runs, and sleep again)
      expect(lines(hubs[0]!, 'feed reader woken').filter((l) => l.reqId === reqId).map((l) => l.reason)).toContain('notified')
      // each process listens on one connection of its own, straight to PostgreSQL
      const listeners = await query<{ application_name: string }>(`SELECT application_name FROM pg_stat_activity WHERE application_name LIKE 'customer-hub listener %' AND query ILIKE 'LISTEN%'`)
      for (const h of hubs) expect(listeners.map((l) => l.application_name)).toContain(`customer-hub listener ${h.pid}`)
      if (bouncer) {
        const pools = await bouncer.console<{ database: string; pool_mode: string }>('SHOW POOLS')
        expect(pools.find((p) => p.database === 'hub')?.pool_mode).toBe('transaction')
      }
    })
  })
}
