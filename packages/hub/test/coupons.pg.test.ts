import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { onPostgres, testDatabaseUrl, urlWithSchema } from './helpers/test-hub.js'
import { call, killAll, pool, processTimeout, spawnHub, streamUntilKilled, tempDir, type HubProcess } from './helpers/spawn-hub.js'

// Gift-card money is never spent twice and sellers are made once, whatever the concurrency and
// whichever process dies: two hub processes share one PostgreSQL database.
describe.skipIf(!onPostgres)('sellers and gift-card coupons across processes', { timeout: processTimeout }, () => {
  const schema = `hubtest_${process.pid}_${randomBytes(6).toString('hex')}`
  const admin = `admin-${randomBytes(16).toString('hex')}`
  const password = 'seller secret passphrase'
  const tmp = tempDir()
  let client: pg.Client
  let env: Record<string, string>
  let hubs: HubProcess[]
  let n = 0
  const query = async <T extends pg.QueryResultRow>(text: string, values: unknown[] = []) => (await client.query<T>(text, values)).rows
  const hub = (i: number) => hubs[i % hubs.length]!

  const onboarding = (handle: string) => ({
    seller: { id: `sel_${handle}`, handle, name: 'Brand Name', email: 'brand@example.com' },
    ownerMember: { id: `mem_${handle}` },
    serviceAccount: { password, roleId: '3', organizationId: '12' },
  })
  /** A seller onboarded and logged in on the first hub; its coupon of `balance` USD. */
  const giftCard = async (balance: number | null) => {
    const handle = `seller_${++n}_${schema.slice(-6)}`
    const made = await call(hubs[0]!.url, 'POST', '/sellers/onboarding', admin, onboarding(handle))
    expect(made.status, JSON.stringify(made.body)).toBe(201)
    const login = await call(hubs[1]!.url, 'POST', '/auth/login', undefined, { email: made.body.serviceAccount.email, password })
    expect(login.status).toBe(200)
    const code = `GC-${randomBytes(8).toString('hex')}`
    const synced = await call(hubs[1]!.url, 'POST', '/coupons/gift-cards/sync', login.body.accessToken, balance === null ? { code } : { code, balance, currency: 'USD' })
    expect(synced.status, JSON.stringify(synced.body)).toBe(201)
    return { code, coupon: synced.body.coupon, token: login.body.accessToken as string }
  }
  const redeem = (base: string, body: Record<string, unknown>) => call(base, 'POST', '/coupons/redeem', admin, body)
  const verified = async () => {
    const res = await call(hubs[1]!.url, 'GET', '/ledgers/gift-cards-usd/verify', admin)
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

  it('onboarding one seller from both processes at once makes one provider and one service account', async () => {
    const handle = `twice_${schema.slice(-6)}`
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => call(hub(i).url, 'POST', '/sellers/onboarding', admin, onboarding(handle))))
    expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201])
    expect(new Set(answers.map((a) => a.body.provider.id)).size).toBe(1)
    expect(new Set(answers.map((a) => a.body.serviceAccount.id)).size).toBe(1)
    const [{ providers }] = (await query<{ providers: number }>('SELECT count(*)::int AS providers FROM loyalty_providers WHERE handle = $1', [handle])) as [{ providers: number }]
    const [{ accounts }] = (await query<{ accounts: number }>('SELECT count(*)::int AS accounts FROM service_accounts WHERE handle = $1', [handle])) as [{ accounts: number }]
    expect([providers, accounts]).toEqual([1, 1])
  })

  it('60 concurrent redemptions of 100 against a 1,000 gift card over two processes: exactly 10 succeed, the balance is 0', async () => {
    const { code, coupon } = await giftCard(1000)
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) => redeem(hub(i).url, { code, amount: 100, idempotencyKey: `r-${coupon.id}-${i}`, orderRef: `order-${i}` })),
    )
    const statuses = answers.map((a) => a.status)
    expect(statuses.filter((s) => s === 201)).toHaveLength(10)
    expect(statuses.filter((s) => s === 422)).toHaveLength(50)
    expect(answers.filter((a) => a.status === 422).every((a) => ['COUPON_EXHAUSTED', 'COUPON_INSUFFICIENT_BALANCE'].includes(a.body.code))).toBe(true)
    const now = await call(hubs[0]!.url, 'GET', `/coupons/${coupon.id}`, admin)
    expect(now.body).toMatchObject({ balance: 0, available: 0 })
    const [{ spent }] = (await query<{ spent: string }>("SELECT coalesce(sum(amount), 0)::text AS spent FROM coupon_redemptions WHERE coupon_id = $1", [coupon.id])) as [{ spent: string }]
    expect(spent).toBe('1000')
    await verified()
  })

  it('holds at once over two processes never reserve more than the balance; a single-use coupon redeems once', async () => {
    const { code, coupon } = await giftCard(500)
    const holds = await Promise.all(
      Array.from({ length: 40 }, (_, i) => call(hub(i).url, 'POST', '/coupons/holds', admin, { code, amount: 50, ttlSeconds: 600, idempotencyKey: `h-${coupon.id}-${i}` })),
    )
    expect(holds.filter((h) => h.status === 201)).toHaveLength(10)
    const captures = await Promise.all(holds.filter((h) => h.status === 201).map((h, i) => call(hub(i).url, 'POST', `/coupons/holds/${h.body.hold.id}/capture`, admin, {})))
    expect(captures.every((c) => c.status === 200)).toBe(true)
    expect((await call(hubs[0]!.url, 'GET', `/coupons/${coupon.id}`, admin)).body).toMatchObject({ balance: 0, available: 0 })

    const single = await giftCard(null)
    const once = await Promise.all(Array.from({ length: 20 }, (_, i) => redeem(hub(i).url, { code: single.code, idempotencyKey: `s-${single.coupon.id}-${i}`, orderRef: `o-${i}` })))
    expect(once.filter((a) => a.status === 201)).toHaveLength(1)
    expect(once.filter((a) => a.status === 409 && a.body.code === 'COUPON_ALREADY_REDEEMED')).toHaveLength(19)
    await verified()
  })

  it('a stream of redemptions, its hub SIGKILLed midway, every one retried on another hub: each taken exactly once', async () => {
    const { code, coupon } = await giftCard(100_000)
    const planned = Array.from({ length: 120 }, (_, i) => ({ code, amount: 1 + (i % 9), idempotencyKey: `k-${coupon.id}-${i}`, orderRef: `order-${i}` }))
    // each entry takes longer to write: the window between the effect and the commit is wide
    await client.query(`CREATE OR REPLACE FUNCTION slow_entry() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.01); RETURN NEW; END $$;
      CREATE TRIGGER slow_entry BEFORE INSERT ON ledger_entries FOR EACH ROW EXECUTE FUNCTION slow_entry()`)
    const doomed = await spawnHub({ cwd: tmp.dir, env })
    const { answers, inFlightAtKill } = await streamUntilKilled(doomed, planned, {
      width: 8,
      killAfter: 40,
      send: async (req) => {
        const res = await redeem(doomed.url, req)
        expect(res.status, JSON.stringify(res.body)).toBe(201)
        return res
      },
    })
    const answered = new Set([...answers.keys()].map((req) => req.idempotencyKey))
    await client.query('DROP TRIGGER slow_entry ON ledger_entries')
    expect(inFlightAtKill).toBeGreaterThan(0)
    expect(answered.size).toBeLessThan(planned.length)

    let replayed = 0
    await pool(planned, 8, async (req) => {
      const res = await redeem(hub(planned.indexOf(req)).url, req)
      expect([200, 201], JSON.stringify(res.body)).toContain(res.status)
      if (res.status === 200) replayed++
      if (answered.has(req.idempotencyKey)) expect(res.status).toBe(200)
    })
    expect(replayed).toBeGreaterThanOrEqual(answered.size)

    const counts = await query<{ n: number }>('SELECT count(*)::int AS n FROM coupon_redemptions WHERE coupon_id = $1 GROUP BY idempotency_key', [coupon.id])
    expect(counts).toHaveLength(planned.length)
    expect(counts.every((r) => r.n === 1)).toBe(true)
    const expected = 100_000 - planned.reduce((s, p) => s + p.amount, 0)
    expect((await call(hubs[0]!.url, 'GET', `/coupons/${coupon.id}`, admin)).body.balance).toBe(expected)
    await verified()
  })
})
