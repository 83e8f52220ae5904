import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { onPostgres, testDatabaseUrl, urlWithSchema } from './helpers/test-hub.js'
import { call, killAll, pool, processTimeout, spawnHub, tempDir, type HubProcess } from './helpers/spawn-hub.js'
import { testNatsUrl, testStream, type TestStream } from './helpers/nats-stream.js'

const CUSTOMERS = 100
const UPDATES = 900

async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

// One hub process publishes to the stream at a time (the cursor's lease); one SIGKILLed while it
// publishes loses nothing and repeats nothing: the other takes over from the committed cursor once
// the lease runs out, and JetStream drops what is published again (Nats-Msg-Id = event id).
describe.skipIf(!onPostgres)('NATS publishing from two processes, the publisher SIGKILLed during a burst', { timeout: processTimeout }, () => {
  const schema = `hubtest_${process.pid}_${randomBytes(6).toString('hex')}`
  const admin = `admin-${randomBytes(16).toString('hex')}`
  const tmp = tempDir()
  let client: pg.Client
  let target: TestStream
  let doomed: HubProcess
  let survivor: HubProcess
  let env: Record<string, string>

  beforeAll(async () => {
    client = new pg.Client({ connectionString: testDatabaseUrl })
    await client.connect()
    await client.query(`CREATE SCHEMA "${schema}"`)
    await client.query(`SET search_path = "${schema}", public`)
    target = await testStream('procs')
    env = {
      DATABASE_URL: urlWithSchema(schema),
      HUB_SECRET: randomBytes(32).toString('hex'),
      HUB_ADMIN_TOKEN: admin,
      HUB_DB_POOL_SIZE: '8',
      HUB_WEBHOOKS_DELIVER: 'false',
      HUB_EVENTS_NATS_URL: testNatsUrl,
      HUB_EVENTS_NATS_STREAM: target.stream,
      HUB_EVENTS_NATS_SUBJECT_PREFIX: target.prefix,
      // a dead publisher's lease runs out after 2 s
      HUB_EVENTS_NATS_LEASE_SECONDS: '2',
    }
  })
  afterAll(async () => {
    await killAll()
    await target?.remove()
    await client?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await client?.end()
    tmp.remove()
  })

  it('every event is in the stream once, with its id, in commit order', async () => {
    const cursor = async () => (await client.query<{ position: string; lease_owner: string | null }>(`SELECT position::text AS position, lease_owner FROM nats_cursors WHERE stream = $1`, [target.stream])).rows[0]
    // the first process takes the lease (it is alone), then the second starts
    doomed = await spawnHub({ cwd: tmp.dir, env })
    await until(async () => (await cursor())?.lease_owner != null, 20_000, 'the first process taking the lease')
    const doomedOwner = (await cursor())!.lease_owner
    survivor = await spawnHub({ cwd: tmp.dir, env })

    const ids: string[] = []
    await pool(Array.from({ length: CUSTOMERS }, (_, i) => i), 16, async (i) => {
      const res = await call(survivor.url, 'POST', '/customer', admin, { email: `nats${i}-${schema}@example.com` })
      expect(res.status, JSON.stringify(res.body)).toBe(201)
      ids.push(res.body.id)
    })
    // the publisher dies while it publishes: some of the events are in the stream, not all
    let kill: Promise<void> | undefined
    const killMidway = async () => {
      await target.waitFor(CUSTOMERS + 200, 30_000)
      doomed.child.kill('SIGKILL')
      await doomed.exited
      return { published: await target.count(), written: await count() }
    }
    const count = async () => (await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM events`)).rows[0]!.n
    let atKill: { published: number; written: number } | undefined
    await pool(Array.from({ length: UPDATES }, (_, i) => i), 16, async (i) => {
      const res = await call(survivor.url, 'PATCH', `/customer/${ids[i % CUSTOMERS]}`, admin, { firstName: `Name${i}` })
      expect(res.status, JSON.stringify(res.body)).toBe(200)
      if (i === 50) kill = killMidway().then((k) => void (atKill = k))
    })
    await kill
    const killedDuringWrites = atKill!.written < CUSTOMERS + UPDATES

    const events = (await client.query<{ position: string; id: string; type: string; customer_id: string | null }>(`SELECT position::text AS position, id, type, customer_id FROM events ORDER BY position`)).rows
    expect(events.length).toBeGreaterThanOrEqual(CUSTOMERS + UPDATES)
    const last = events.at(-1)!.position
    await until(async () => (await cursor())?.position === last, 60_000, 'the cursor reaching the last event')
    const after = await cursor()
    expect(after!.lease_owner, 'the surviving process publishes after the kill').not.toBe(doomedOwner)
    expect(atKill!.published, 'the surviving process published the rest').toBeLessThan(events.length)

    const messages = await target.messages()
    const distinct = new Set(messages.map((m) => m.msgId))
    expect(distinct.size).toBe(events.length)
    expect(messages.length, 'no event twice').toBe(events.length)
    for (const e of events) expect(distinct.has(e.id), e.id).toBe(true)
    for (const m of messages) expect(m.event.id).toBe(m.msgId)
    for (const m of messages) expect(m.subject).toBe(`${target.prefix}.${m.event.type}`)
    // in commit order, so a customer's events too
    expect(messages.map((m) => m.msgId)).toEqual(events.map((e) => e.id))
    const perCustomer = new Map<string, bigint[]>()
    for (const m of messages) if (m.event.customerId) perCustomer.set(m.event.customerId, [...(perCustomer.get(m.event.customerId) ?? []), BigInt(m.event.sequence)])
    for (const [customer, list] of perCustomer) expect(list, customer).toEqual([...list].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)))
    console.log(`NATS (2 processes, the publisher SIGKILLed with ${atKill!.published} of ${atKill!.written} events written so far in the stream${killedDuringWrites ? ', during the writes' : ''}): ${events.length} events in the stream once each, in commit order`)
  })
})
