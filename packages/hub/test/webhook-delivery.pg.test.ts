import { createHash, randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { onPostgres, testDatabaseUrl, urlWithSchema } from './helpers/test-hub.js'
import { call, killAll, pool, processTimeout, spawnHub, tempDir, type HubProcess } from './helpers/spawn-hub.js'
import { startReceiver, type Receiver, type Received } from './helpers/webhook-receiver.js'

const CUSTOMERS = 500
const UPDATES = 4500

/** Per customer, the sequences of the events in the order they first arrived (a repeat — at least once — is left out). */
function firstArrivals(got: Received[]): Map<string, bigint[]> {
  const seen = new Set<string>()
  const byCustomer = new Map<string, bigint[]>()
  for (const r of got) {
    if (r.status !== 200 || seen.has(r.event.id) || !r.event.customerId) continue
    seen.add(r.event.id)
    const list = byCustomer.get(r.event.customerId) ?? []
    list.push(BigInt(r.event.sequence))
    byCustomer.set(r.event.customerId, list)
  }
  return byCustomer
}

// Deliveries are claimed in the database by every hub process; a process SIGKILLed mid-delivery
// loses nothing: its leases run out and the other process delivers what it held.
describe.skipIf(!onPostgres)('webhook delivery from two processes, one SIGKILLed during a burst', { timeout: processTimeout }, () => {
  const schema = `hubtest_${process.pid}_${randomBytes(6).toString('hex')}`
  const admin = `admin-${randomBytes(16).toString('hex')}`
  const tmp = tempDir()
  let client: pg.Client
  let doomed: HubProcess
  let survivor: HubProcess
  let everything: Receiver
  let customersOnly: Receiver

  beforeAll(async () => {
    client = new pg.Client({ connectionString: testDatabaseUrl })
    await client.connect()
    await client.query(`CREATE SCHEMA "${schema}"`)
    await client.query(`SET search_path = "${schema}", public`)
    const env = {
      DATABASE_URL: urlWithSchema(schema),
      HUB_SECRET: randomBytes(32).toString('hex'),
      HUB_ADMIN_TOKEN: admin,
      HUB_DB_POOL_SIZE: '8',
      // quick retries, a short timeout (the lease of a claim: 2 × 1 s + 5 s), a worker that looks often
      HUB_WEBHOOKS_RETRY_SCHEDULE: '0,0.1,0.2,0.5,1,1,1,1,1,1',
      HUB_WEBHOOKS_TIMEOUT: '1',
      HUB_WEBHOOKS_POLL_INTERVAL_MS: '50',
    }
    survivor = await spawnHub({ cwd: tmp.dir, env })
    doomed = await spawnHub({ cwd: tmp.dir, env })
    // one endpoint fails the first attempt of about one event in 25, so retries run through the burst too
    everything = await startReceiver((event, tries) => (tries === 1 && createHash('sha256').update(event.id).digest()[0]! < 10 ? 500 : 200))
    customersOnly = await startReceiver()
  })
  afterAll(async () => {
    await killAll()
    await everything?.close()
    await customersOnly?.close()
    await client?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await client?.end()
    tmp.remove()
  })

  it('every event reaches every subscribed endpoint, per customer in order, none lost', async () => {
    for (const [receiver, events] of [[everything, ['*']], [customersOnly, ['customer.*']]] as const) {
      const res = await call(survivor.url, 'POST', '/webhooks', admin, { url: receiver.url, events })
      expect(res.status, JSON.stringify(res.body)).toBe(201)
    }
    const started = Date.now()
    const ids: string[] = []
    await pool(Array.from({ length: CUSTOMERS }, (_, i) => i), 16, async (i) => {
      const res = await call(survivor.url, 'POST', '/customer', admin, { email: `burst${i}-${schema}@example.com` })
      expect(res.status, JSON.stringify(res.body)).toBe(201)
      ids.push(res.body.id)
    })
    // the burst of updates; the doomed process is killed while it delivers
    let killedAt = -1
    let leased = -1
    const leasedNow = async () => (await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM webhook_deliveries WHERE status = 'pending' AND lease_until > now()`)).rows[0]!.n
    await pool(Array.from({ length: UPDATES }, (_, i) => i), 16, async (i) => {
      const res = await call(survivor.url, 'PATCH', `/customer/${ids[i % CUSTOMERS]}`, admin, { firstName: `Name${i}` })
      expect(res.status, JSON.stringify(res.body)).toBe(200)
      if (killedAt < 0 && everything.received.length >= 1500) {
        killedAt = everything.received.length
        doomed.child.kill('SIGKILL')
        leased = await leasedNow()
      }
    })
    if (killedAt < 0) {
      // the writes outran the deliveries: kill it now, mid-delivery all the same
      await everything.until((got) => got.length >= 1500, 60_000)
      killedAt = everything.received.length
      doomed.child.kill('SIGKILL')
      leased = await leasedNow()
    }
    const writesSeconds = (Date.now() - started) / 1000
    await doomed.exited

    // every event after the first subscription was made (the second subscription's creation too)
    const events = (await client.query<{ id: string; type: string }>(`SELECT id, type FROM events WHERE created_at > (SELECT min(created_at) FROM webhooks)`)).rows
    const forEverything = new Set(events.map((e) => e.id))
    const forCustomers = new Set(events.filter((e) => e.type.startsWith('customer.')).map((e) => e.id))
    expect(forCustomers.size).toBe(CUSTOMERS + UPDATES)
    const has = (want: Set<string>) => (got: Received[]) => {
      const ok = new Set(got.filter((r) => r.status === 200).map((r) => r.event.id))
      for (const id of want) if (!ok.has(id)) return false
      return true
    }
    try {
      await everything.until(has(forEverything), 120_000)
      await customersOnly.until(has(forCustomers), 120_000)
    } catch (err) {
      throw new Error(`${(err as Error).message.slice(0, 300)}…\nthe surviving hub's errors: ${survivor.stderr().slice(-3000)}${survivor.stdout.filter((l) => l.includes('"level":50')).slice(-5).join('\n')}`)
    }
    const seconds = (Date.now() - started) / 1000

    for (const receiver of [everything, customersOnly]) {
      for (const [customer, sequences] of firstArrivals(receiver.received)) {
        const sorted = [...sequences].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
        expect(sequences, `the events of ${customer} arrived out of order`).toEqual(sorted)
      }
      // nothing arrived that was not written
      for (const r of receiver.received) expect(forEverything.has(r.event.id), r.event.id).toBe(true)
    }
    const repeats = (r: Receiver) => r.received.filter((x) => x.status === 200).length - new Set(r.received.filter((x) => x.status === 200).map((x) => x.event.id)).size
    const pending = (await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM webhook_deliveries WHERE status <> 'succeeded'`)).rows[0]!.n
    expect(pending).toBe(0)
    console.log(
      `webhook delivery (2 processes, one SIGKILLed after ${killedAt} requests, ${leased} deliveries leased then): ${forEverything.size} + ${forCustomers.size} events delivered in ${seconds.toFixed(1)} s (the writes took ${writesSeconds.toFixed(1)} s); ` +
        `repeats (at least once): ${repeats(everything)} and ${repeats(customersOnly)}; retried after a 500: ${everything.received.filter((x) => x.status === 500).length}`,
    )
  })
})
