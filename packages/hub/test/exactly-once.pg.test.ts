import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { onPostgres, testDatabaseUrl, urlWithSchema } from './helpers/test-hub.js'
import { killAll, pool, processTimeout, spawnHub, streamUntilKilled, tempDir, type HubProcess } from './helpers/spawn-hub.js'

interface Planned {
  key: string
  path: string
  body: Record<string, unknown>
  /** How the effect is found in the database: a customer's email, or an address's label. */
  email?: string
  label?: string
}

interface Answered {
  status: number
  raw: string
  replayed: boolean
}

async function post(base: string, token: string, req: Planned): Promise<Answered> {
  const res = await fetch(base + req.path, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': req.key },
    body: JSON.stringify(req.body),
  })
  return { status: res.status, raw: await res.text(), replayed: res.headers.get('idempotent-replayed') === 'true' }
}


// Writes that move value must take effect once even when a process dies mid-request and the
// client retries on another. Several hub processes share one PostgreSQL database.
describe.skipIf(!onPostgres)('exactly once, across processes and a SIGKILL', { timeout: processTimeout }, () => {
  const schema = `hubtest_${process.pid}_${randomBytes(6).toString('hex')}`
  const admin = `admin-${randomBytes(16).toString('hex')}`
  const tmp = tempDir()
  let client: pg.Client
  let env: Record<string, string>
  let survivor: HubProcess
  const query = async <T extends pg.QueryResultRow>(text: string, values: unknown[] = []) => (await client.query<T>(text, values)).rows

  /** The last statement of every keyed request — the one that keeps its answer — takes `seconds` more: the window between effect and commit is wide. */
  const slowAnswers = (seconds: number) =>
    client.query(`CREATE OR REPLACE FUNCTION slow_answer() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(${seconds}); RETURN NEW; END $$;
      DROP TRIGGER IF EXISTS slow_answer ON idempotency_keys;
      CREATE TRIGGER slow_answer BEFORE UPDATE ON idempotency_keys FOR EACH ROW EXECUTE FUNCTION slow_answer()`)
  const fastAnswers = () => client.query('DROP TRIGGER IF EXISTS slow_answer ON idempotency_keys')

  beforeAll(async () => {
    client = new pg.Client({ connectionString: testDatabaseUrl })
    await client.connect()
    await client.query(`CREATE SCHEMA "${schema}"`)
    await client.query(`SET search_path = "${schema}", public`)
    env = { DATABASE_URL: urlWithSchema(schema), HUB_SECRET: randomBytes(32).toString('hex'), HUB_ADMIN_TOKEN: admin, HUB_DB_POOL_SIZE: '6', HUB_CUSTOMER_MAX_ADDRESSES: '1000' }
    survivor = await spawnHub({ cwd: tmp.dir, env })
  })
  afterAll(async () => {
    await killAll()
    await client?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await client?.end()
    tmp.remove()
  })

  it('a stream of keyed writes, its hub SIGKILLed midway, every request retried on another hub: every effect exactly once', async () => {
    const owners: string[] = []
    for (let i = 0; i < 4; i++) {
      const res = await post(survivor.url, admin, { key: `seed-${i}-${randomBytes(4).toString('hex')}`, path: '/customer', body: { email: `owner${i}-${schema}@example.com` } })
      expect(res.status, res.raw).toBe(201)
      owners.push(JSON.parse(res.raw).id)
    }
    const planned: Planned[] = Array.from({ length: 240 }, (_, i) => {
      const key = `stream-${i}-${randomBytes(6).toString('hex')}`
      if (i % 3 === 0) {
        const email = `person${i}-${schema}@example.com`
        return { key, path: '/customer', body: { email, firstName: `Person${i}` }, email }
      }
      // adding an address is not idempotent by itself: run twice, it adds two
      const label = `label-${i}`
      return { key, path: `/customer/${owners[i % owners.length]}/address`, body: { label, line1: `${i} Main St`, city: 'Austin', country: 'US' }, label }
    })

    const doomed = await spawnHub({ cwd: tmp.dir, env })
    await slowAnswers(0.02)
    const { answers, inFlightAtKill } = await streamUntilKilled(doomed, planned, {
      width: 8,
      killAfter: 60,
      send: async (req) => {
        const answer = await post(doomed.url, admin, req)
        expect(answer.status, answer.raw).toBeLessThan(500)
        return answer
      },
    })
    const first = new Map<string, Answered>([...answers].map(([req, answer]) => [req.key, answer]))
    await fastAnswers()
    // the kill came while requests were running, not between them
    expect(inFlightAtKill).toBeGreaterThan(0)
    expect(first.size).toBeLessThan(planned.length)

    // the client retries every request, with its key, on the hub that lives
    const retried = new Map<string, Answered>()
    await pool(planned, 8, async (req) => {
      retried.set(req.key, await post(survivor.url, admin, req))
    })
    for (const req of planned) {
      const answer = retried.get(req.key)!
      expect(answer.status, `${req.path}: ${answer.raw}`).toBe(201)
      const earlier = first.get(req.key)
      // an answer the client got before is the one it gets again
      if (earlier) expect(answer).toEqual({ ...earlier, replayed: true })
    }

    for (const req of planned.filter((r) => r.email)) {
      expect(await query('SELECT id FROM customers WHERE email = $1', [req.email]), req.email).toHaveLength(1)
      expect(await query(`SELECT id FROM events WHERE type = 'customer.created' AND payload -> 'customer' ->> 'email' = $1`, [req.email])).toHaveLength(1)
    }
    for (const req of planned.filter((r) => r.label)) {
      expect(await query('SELECT id FROM addresses WHERE label = $1', [req.label]), req.label).toHaveLength(1)
      expect(await query(`SELECT id FROM events WHERE type = 'customer.address_added' AND payload -> 'address' ->> 'label' = $1`, [req.label])).toHaveLength(1)
    }
    const counts = await query<{ address_count: number; actual: number }>(
      'SELECT c.address_count, (SELECT count(*)::int FROM addresses a WHERE a.customer_id = c.id) AS actual FROM customers c WHERE c.id = ANY ($1)',
      [owners],
    )
    for (const c of counts) expect(c.address_count).toBe(c.actual)
  })

  it('keyed syncs that join two customers, their hub SIGKILLed midway, retried on another hub: each join happens once, the totals counted once', async () => {
    const pairs = Array.from({ length: 60 }, (_, i) => ({
      externalId: `join-${i}-${randomBytes(4).toString('hex')}`,
      email: `joined${i}-${schema}@example.com`,
      key: `join-${i}-${randomBytes(6).toString('hex')}`,
    }))
    // each person first arrives twice: an id only (with an order), and an email only
    await pool(pairs, 8, async (p) => {
      const byId = await post(survivor.url, admin, { key: `${p.key}-a`, path: '/customer/sync', body: { platform: { component: 'identity.shop', externalId: p.externalId } } })
      expect(byId.status, byId.raw).toBe(201)
      const order = await post(survivor.url, admin, {
        key: `${p.key}-o`, path: '/orders',
        body: { platform: 'shop', externalId: `o-${p.externalId}`, customerId: JSON.parse(byId.raw).documentId, total: 1250, currency: 'USD', placedAt: new Date().toISOString() },
      })
      expect(order.status, order.raw).toBe(201)
      const byEmail = await post(survivor.url, admin, { key: `${p.key}-b`, path: '/customer', body: { email: p.email } })
      expect(byEmail.status, byEmail.raw).toBe(201)
    })
    // then a checkout names both: the sync joins them
    const planned = pairs.map((p) => ({ key: p.key, path: '/customer/sync', body: { platform: { component: 'identity.shop', externalId: p.externalId }, email: p.email } }))

    const doomed = await spawnHub({ cwd: tmp.dir, env })
    await slowAnswers(0.02)
    const { answers, inFlightAtKill } = await streamUntilKilled(doomed, planned, {
      width: 6,
      killAfter: 20,
      send: async (req) => {
        const answer = await post(doomed.url, admin, req)
        expect(answer.status, answer.raw).toBeLessThan(500)
        return answer
      },
    })
    await fastAnswers()
    expect(inFlightAtKill).toBeGreaterThan(0)
    expect(answers.size).toBeLessThan(planned.length)
    const first = new Map([...answers].map(([req, answer]) => [req.key, answer]))

    await pool(planned, 6, async (req) => {
      const answer = await post(survivor.url, admin, req)
      expect(answer.status, answer.raw).toBe(200)
      const earlier = first.get(req.key)
      if (earlier) expect(answer).toEqual({ ...earlier, replayed: true })
    })

    for (const p of pairs) {
      const [survivorRow] = await query<{ id: string; order_count: number; total_spent: string }>('SELECT id, order_count, total_spent::text FROM customers WHERE email = $1 AND deleted_at IS NULL', [p.email])
      expect(survivorRow, p.email).toBeDefined()
      // the order moved once: not lost, not counted twice
      expect(survivorRow).toMatchObject({ order_count: 1, total_spent: '1250' })
      const merges = await query<{ source_id: string }>('SELECT source_id FROM merges WHERE target_id = $1 AND undone_at IS NULL', [survivorRow!.id])
      expect(merges, p.email).toHaveLength(1)
      expect(await query(`SELECT id FROM events WHERE type = 'customer.merged' AND customer_id = $1`, [survivorRow!.id])).toHaveLength(1)
      expect(await query('SELECT customer_id FROM identities WHERE kind = $1 AND value = $2', ['platform', p.externalId])).toEqual([{ customer_id: survivorRow!.id }])
    }
  })

  it('the same key sent to two processes at once runs once; the other answers the same answer', async () => {
    const other = await spawnHub({ cwd: tmp.dir, env })
    await slowAnswers(0.2)
    try {
      for (let round = 0; round < 3; round++) {
        const email = `twice${round}-${schema}@example.com`
        const req: Planned = { key: `twice-${round}-${randomBytes(6).toString('hex')}`, path: '/customer', body: { email } }
        const answers = await Promise.all([post(survivor.url, admin, req), post(other.url, admin, req)])
        const ran = answers.filter((a) => !a.replayed)
        expect(ran, JSON.stringify(answers)).toHaveLength(1)
        expect(ran[0]!.status).toBe(201)
        for (const a of answers.filter((x) => x.replayed)) expect(a.raw).toBe(ran[0]!.raw)
        expect(await query('SELECT id FROM customers WHERE email = $1', [email])).toHaveLength(1)
      }
    } finally {
      await fastAnswers()
      await other.stop()
    }
  })
})
