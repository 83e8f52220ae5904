import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { onPostgres, testDatabaseUrl, urlWithSchema } from './helpers/test-hub.js'
import { call, killAll, pool, processTimeout, runCli, spawnHub, streamUntilKilled, tempDir, type HubProcess } from './helpers/spawn-hub.js'


// Points never lost nor counted twice, whatever the concurrency and whichever process dies: two
// hub processes share one PostgreSQL database.
describe.skipIf(!onPostgres)('the points ledger across processes', { timeout: processTimeout }, () => {
  const schema = `hubtest_${process.pid}_${randomBytes(6).toString('hex')}`
  const admin = `admin-${randomBytes(16).toString('hex')}`
  const tmp = tempDir()
  let client: pg.Client
  let env: Record<string, string>
  let hubs: HubProcess[]
  let n = 0
  const query = async <T extends pg.QueryResultRow>(text: string, values: unknown[] = []) => (await client.query<T>(text, values)).rows
  const hub = (i: number) => hubs[i % hubs.length]!

  const customer = async () => {
    const res = await call(hubs[0]!.url, 'POST', '/customer', admin, { email: `p${++n}-${schema}@example.com` })
    expect(res.status).toBe(201)
    return res.body.id as string
  }
  const post = (base: string, body: Record<string, unknown>) => call(base, 'POST', '/ledgers/reward-points/transactions', admin, body)
  const balanceOf = async (customerId: string) => {
    const res = await call(hubs[0]!.url, 'GET', `/customer/${customerId}/reward-accounts`, admin)
    return res.body.data.find((a: { ledger: string }) => a.ledger === 'reward-points')
  }
  const verified = async () => {
    const res = await call(hubs[1]!.url, 'GET', '/ledgers/reward-points/verify', admin)
    expect(res.body.problems).toEqual([])
    expect(res.body.ok).toBe(true)
  }

  beforeAll(async () => {
    client = new pg.Client({ connectionString: testDatabaseUrl })
    await client.connect()
    await client.query(`CREATE SCHEMA "${schema}"`)
    await client.query(`SET search_path = "${schema}", public`)
    env = { DATABASE_URL: urlWithSchema(schema), HUB_SECRET: randomBytes(32).toString('hex'), HUB_ADMIN_TOKEN: admin, HUB_DB_POOL_SIZE: '6' }
    hubs = [await spawnHub({ cwd: tmp.dir, env })]
    hubs.push(await spawnHub({ cwd: tmp.dir, env }))
  })
  afterAll(async () => {
    await killAll()
    await client?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await client?.end()
    tmp.remove()
  })

  it('200 concurrent spends of 10 against 1,000 points over two processes: exactly 100 succeed, the balance is 0', async () => {
    const c = await customer()
    expect((await post(hubs[0]!.url, { kind: 'earn', idempotencyKey: `seed-${c}`, customerId: c, amount: 1000 })).status).toBe(201)
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) => post(hub(i).url, { kind: 'spend', idempotencyKey: `spend-${c}-${i}`, customerId: c, amount: 10 })),
    )
    const statuses = answers.map((a) => a.status)
    expect(statuses.filter((s) => s === 201)).toHaveLength(100)
    expect(statuses.filter((s) => s === 422)).toHaveLength(100)
    expect(answers.filter((a) => a.status === 422).every((a) => a.body.code === 'INSUFFICIENT_POINTS')).toBe(true)
    expect(await balanceOf(c)).toMatchObject({ balance: 0, available: 0 })
    const [{ spends }] = (await query<{ spends: number }>(`SELECT count(*)::int AS spends FROM ledger_transactions WHERE kind = 'spend' AND idempotency_key LIKE $1`, [`spend-${c}-%`])) as [{ spends: number }]
    expect(spends).toBe(100)
    await verified()
  })

  it('the same with holds, then captures, and two captures of one hold at once: one wins', async () => {
    const c = await customer()
    await post(hubs[0]!.url, { kind: 'earn', idempotencyKey: `seed-${c}`, customerId: c, amount: 1000 })
    const holds = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        call(hub(i).url, 'POST', '/ledgers/reward-points/holds', admin, { idempotencyKey: `hold-${c}-${i}`, customerId: c, amount: 10, ttlSeconds: 600 }),
      ),
    )
    const made = holds.filter((h) => h.status === 201)
    expect(made).toHaveLength(100)
    expect(holds.filter((h) => h.status === 422)).toHaveLength(100)
    expect(await balanceOf(c)).toMatchObject({ balance: 1000, held: 1000, available: 0 })

    // every hold captured twice at once, on both processes: each resolves once
    const captures = await Promise.all(
      made.flatMap((h, i) => [0, 1].map((k) => call(hub(i + k).url, 'POST', `/holds/${h.body.hold.id}/capture`, admin, {}))),
    )
    expect(captures.filter((a) => a.status === 200)).toHaveLength(100)
    expect(captures.filter((a) => a.status === 409 && a.body.code === 'HOLD_RESOLVED')).toHaveLength(100)
    expect(await balanceOf(c)).toMatchObject({ balance: 0, held: 0, available: 0 })
    const [{ captured }] = (await query<{ captured: number }>(`SELECT count(*)::int AS captured FROM ledger_transactions t JOIN reward_accounts r ON r.customer_id = $1 AND t.kind = 'capture' AND t.postings->0->>'from' = r.id`, [c])) as [{ captured: number }]
    expect(captured).toBe(100)
    await verified()
  })

  it('a stream of earns and spends, its hub SIGKILLed midway, every request retried on another hub: each posted exactly once', async () => {
    const owners = [await customer(), await customer(), await customer(), await customer()]
    for (const o of owners) await post(hubs[0]!.url, { kind: 'earn', idempotencyKey: `base-${o}`, customerId: o, amount: 10_000 })
    const planned = Array.from({ length: 180 }, (_, i) => ({
      kind: i % 3 === 2 ? 'spend' : 'earn',
      idempotencyKey: `stream-${schema}-${i}`,
      customerId: owners[i % owners.length]!,
      amount: 1 + (i % 7),
    }))
    // each entry takes longer to write: the window between the effect and the commit is wide
    await client.query(`CREATE OR REPLACE FUNCTION slow_entry() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.01); RETURN NEW; END $$;
      CREATE TRIGGER slow_entry BEFORE INSERT ON ledger_entries FOR EACH ROW EXECUTE FUNCTION slow_entry()`)
    const doomed = await spawnHub({ cwd: tmp.dir, env })
    const { answers, inFlightAtKill } = await streamUntilKilled(doomed, planned, {
      width: 8,
      killAfter: 50,
      send: async (req) => {
        const res = await post(doomed.url, req)
        expect(res.status, JSON.stringify(res.body)).toBe(201)
        return res
      },
    })
    const answered = new Set([...answers.keys()].map((req) => req.idempotencyKey))
    await client.query('DROP TRIGGER slow_entry ON ledger_entries')
    expect(inFlightAtKill).toBeGreaterThan(0)
    expect(answered.size).toBeLessThan(planned.length)

    // the client retries every request with its key on a hub that lives
    let replayed = 0
    await pool(planned, 8, async (req) => {
      const res = await post(hub(planned.indexOf(req)).url, req)
      expect([200, 201], JSON.stringify(res.body)).toContain(res.status)
      if (res.status === 200) replayed++
      if (answered.has(req.idempotencyKey)) expect(res.status).toBe(200)
    })
    expect(replayed).toBeGreaterThanOrEqual(answered.size)

    const counts = await query<{ key: string; n: number }>(`SELECT idempotency_key AS key, count(*)::int AS n FROM ledger_transactions WHERE idempotency_key LIKE $1 GROUP BY 1`, [`stream-${schema}-%`])
    expect(counts).toHaveLength(planned.length)
    expect(counts.every((r) => r.n === 1)).toBe(true)
    for (const o of owners) {
      const expected = 10_000 + planned.filter((p) => p.customerId === o).reduce((s, p) => s + (p.kind === 'earn' ? p.amount : -p.amount), 0)
      expect((await balanceOf(o)).balance).toBe(expected)
    }
    await verified()
  })

  it('customer-hub ledger verify: clean, then an entry changed by hand is reported and the command fails; ledger expire settles', async () => {
    const clean = await runCli(['ledger', 'verify'], { cwd: tmp.dir, env })
    expect(clean.code, clean.stderr).toBe(0)
    expect(clean.stdout).toMatch(/reward-points: \d+ accounts, \d+ transactions, \d+ entries — ok/)

    // a credit, so the hand-made change cannot make it the zero amount the table refuses
    const [entry] = await query<{ account_id: string; seq: string }>(`SELECT account_id, seq::text AS seq FROM ledger_entries WHERE amount > 0 ORDER BY created_at DESC LIMIT 1`)
    await client.query('ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_insert_only')
    await client.query('UPDATE ledger_entries SET amount = amount + 1, balance_after = balance_after + 1 WHERE account_id = $1 AND seq = $2', [entry!.account_id, entry!.seq])
    await client.query('ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_insert_only')
    const drift = await runCli(['ledger', 'verify', '--ledger', 'reward-points'], { cwd: tmp.dir, env })
    expect(drift.code).toBe(1)
    expect(drift.stdout).toContain(entry!.account_id)
    expect(drift.stdout).toMatch(/chain\t/)
    expect(drift.stdout).toMatch(/balance\t/)

    const unknown = await runCli(['ledger', 'verify', '--ledger', 'nope'], { cwd: tmp.dir, env })
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain('no ledger "nope"')

    const expire = await runCli(['ledger', 'expire'], { cwd: tmp.dir, env })
    expect(expire.code, expire.stderr).toBe(0)
    expect(expire.stdout).toMatch(/^settled \d+ accounts? that fell due/)
  })
})
