import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net'
import { sql } from 'kysely'
import { connect, nanos } from 'nats'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { testNatsUrl, testStream, type TestStream } from '../../test/helpers/nats-stream.js'
import { DUPLICATE_WINDOW_MS } from './publisher.js'
import { eventSection } from './settings.js'

async function until(check: () => Promise<boolean>, ms = 20_000, what = 'the condition'): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

let seq = 0
async function createCustomer(hub: TestHub): Promise<string> {
  const res = await hub.app.inject({ method: 'POST', url: '/customer', headers: hub.admin, payload: { email: `nats${++seq}@example.com`, firstName: 'Nat' } })
  expect(res.statusCode, res.body).toBe(201)
  return res.json().id
}
async function rename(hub: TestHub, id: string, firstName: string): Promise<void> {
  const res = await hub.app.inject({ method: 'PATCH', url: `/customer/${id}`, headers: hub.admin, payload: { firstName } })
  expect(res.statusCode, res.body).toBe(200)
}
async function outboxEvents(hub: TestHub) {
  const { rows } = await sql<{ position: string; id: string; type: string; customer_id: string | null; payload: Record<string, unknown> }>`
    SELECT position::text AS position, id, type, customer_id, payload FROM events ORDER BY position`.execute(hub.database.db)
  return rows
}
async function lagLine(hub: TestHub, stream: string): Promise<string | undefined> {
  const res = await hub.app.inject({ method: 'GET', url: '/metrics', headers: hub.admin })
  return res.body.split('\n').find((l) => l.startsWith(`hub_outbox_lag_seconds{sink="nats:${stream}"}`))
}

describe('publishing to NATS JetStream', () => {
  let target: TestStream
  let hub: TestHub
  beforeAll(async () => {
    target = await testStream('burst')
    hub = await createTestHub({ nats: { url: testNatsUrl, stream: target.stream, subjectPrefix: target.prefix } })
  })
  afterAll(async () => {
    await hub?.close()
    await target?.remove()
  })

  it('every event of a burst arrives once, with Nats-Msg-Id = its id, on <prefix>.<type>, a customer’s in order', async () => {
    const ids = await Promise.all(Array.from({ length: 20 }, () => createCustomer(hub)))
    await Promise.all(Array.from({ length: 100 }, (_, i) => rename(hub, ids[i % ids.length]!, `Name${i}`)))
    const events = await outboxEvents(hub)
    expect(events.length).toBeGreaterThanOrEqual(120)
    const last = events.at(-1)!.position
    // the cursor reaches the last event: everything was published and acknowledged
    await until(async () => (await sql<{ position: string }>`SELECT position::text AS position FROM nats_cursors WHERE stream = ${target.stream}`.execute(hub.database.db)).rows[0]?.position === last, 20_000, 'the cursor reaching the last event')

    const messages = await target.messages()
    expect(messages.length).toBe(events.length)
    expect(new Set(messages.map((m) => m.msgId)).size).toBe(events.length)
    const byId = new Map(events.map((e) => [e.id, e]))
    for (const m of messages) {
      const e = byId.get(m.msgId!)
      expect(e, `an unknown id ${m.msgId}`).toBeDefined()
      expect(m.event.id).toBe(e!.id)
      expect(m.subject).toBe(`${target.prefix}.${e!.type}`)
      expect(m.event).toMatchObject({ sequence: e!.position, type: e!.type, customerId: e!.customer_id, payload: e!.payload })
    }
    // the stream holds the outbox in feed order, so each customer's events too
    expect(messages.map((m) => m.event.sequence)).toEqual(events.map((e) => e.position))
    const perCustomer = new Map<string, bigint[]>()
    for (const m of messages) if (m.event.customerId) perCustomer.set(m.event.customerId, [...(perCustomer.get(m.event.customerId) ?? []), BigInt(m.event.sequence)])
    for (const [customer, list] of perCustomer) expect(list, customer).toEqual([...list].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)))

    expect(await lagLine(hub, target.stream)).toBe(`hub_outbox_lag_seconds{sink="nats:${target.stream}"} 0`)
  })
})

describe('an existing stream', () => {
  it('keeps its settings; only the prefix’s subjects are added and a short duplicate window lengthened', async () => {
    const target = await testStream('existing')
    const nc = await connect({ servers: testNatsUrl })
    const jsm = await nc.jetstreamManager()
    let hub: TestHub | undefined
    try {
      await jsm.streams.add({ name: target.stream, subjects: [`${target.prefix}-other.>`], duplicate_window: nanos(30_000), max_msgs: 100_000, description: 'kept' })
      hub = await createTestHub({ nats: { url: testNatsUrl, stream: target.stream, subjectPrefix: target.prefix } })
      await createCustomer(hub)
      await target.waitFor(1)
      const { config } = await jsm.streams.info(target.stream)
      expect(config.subjects).toEqual([`${target.prefix}-other.>`, `${target.prefix}.>`])
      expect(config.duplicate_window).toBe(nanos(DUPLICATE_WINDOW_MS))
      expect(config.max_msgs).toBe(100_000)
      expect(config.description).toBe('kept')
    } finally {
      await hub?.close()
      await nc.close()
      await target.remove()
    }
  })
})

describe('a NATS server that does not answer', () => {
  let target: TestStream
  let hub: TestHub
  let proxy: Server | undefined
  const sockets = new Set<Socket>()
  let port: number
  beforeAll(async () => {
    target = await testStream('down')
    // a port nothing listens on yet; later, a pass-through to the real server (it "comes back")
    port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const p = (probe.address() as { port: number }).port
        probe.close(() => resolve(p))
      })
    })
    hub = await createTestHub({ captureLogs: true, nats: { url: `nats://127.0.0.1:${port}`, stream: target.stream, subjectPrefix: target.prefix } })
  })
  afterAll(async () => {
    await hub?.close()
    for (const s of sockets) s.destroy()
    await new Promise((r) => (proxy ? proxy.close(r) : r(undefined)))
    await target?.remove()
  })

  it('does not stop the hub starting or answering; the events are published once it answers', async () => {
    const id = await createCustomer(hub)
    await rename(hub, id, 'Down')
    await until(async () => hub.logs.some((l) => l.includes('cannot publish events to NATS')), 10_000, 'the warning')
    // the metrics name the stream's lag while nothing is published
    expect(await lagLine(hub, target.stream)).toMatch(new RegExp(`^hub_outbox_lag_seconds\\{sink="nats:${target.stream}"\\} [0-9.e-]+$`))
    expect((await target.messages().catch(() => [])).length).toBe(0)

    proxy = createServer((client) => {
      const upstream = tcpConnect(4222, '127.0.0.1')
      for (const s of [client, upstream]) {
        sockets.add(s)
        s.on('error', () => s.destroy())
        s.on('close', () => sockets.delete(s))
      }
      client.pipe(upstream).pipe(client)
    })
    await new Promise<void>((resolve) => proxy!.listen(port, '127.0.0.1', resolve))
    const events = await outboxEvents(hub)
    await target.waitFor(events.length, 45_000)
    const messages = await target.messages()
    expect(messages.map((m) => m.msgId)).toEqual(events.map((e) => e.id))
    await until(async () => hub.logs.some((l) => l.includes('publishing events to NATS again')), 5000, 'the recovery line')
  })
})

describe('the events.nats configuration', () => {
  it('reads YAML and the environment; NATS is off without a URL', () => {
    const defaults = eventSection.defaults()
    expect(defaults.nats).toEqual({ url: undefined, stream: 'HUB_EVENTS', subjectPrefix: 'hub', leaseSeconds: 10 })
    const fromYaml = eventSection.read({ nats: { url: 'nats://10.0.0.1:4222', stream: 'SHOP', subject_prefix: 'shop.hub' } }, defaults, 'hub.yaml')
    expect(fromYaml.nats).toEqual({ url: 'nats://10.0.0.1:4222', stream: 'SHOP', subjectPrefix: 'shop.hub', leaseSeconds: 10 })
    const fromEnv = eventSection.env!({ HUB_EVENTS_NATS_URL: 'nats://127.0.0.1:4222', HUB_EVENTS_NATS_STREAM: 'S', HUB_EVENTS_NATS_SUBJECT_PREFIX: 'p', HUB_EVENTS_NATS_LEASE_SECONDS: '3' }, fromYaml)
    expect(fromEnv.nats).toEqual({ url: 'nats://127.0.0.1:4222', stream: 'S', subjectPrefix: 'p', leaseSeconds: 3 })
  })

  it('names the bad key', () => {
    const d = eventSection.defaults()
    expect(() => eventSection.read({ nats: { url: 'http://x' } }, d, 'hub.yaml')).toThrow(/events\.nats\.url/)
    expect(() => eventSection.read({ nats: { stream: 'a.b' } }, d, 'hub.yaml')).toThrow(/events\.nats\.stream/)
    expect(() => eventSection.read({ nats: { subject_prefix: 'hub.>' } }, d, 'hub.yaml')).toThrow(/events\.nats\.subject_prefix/)
    expect(() => eventSection.read({ nats: { port: 1 } }, d, 'hub.yaml')).toThrow(/unknown key "events\.nats\.port"/)
    expect(() => eventSection.read({ kafka: {} }, d, 'hub.yaml')).toThrow(/unknown key "events\.kafka"/)
    expect(() => eventSection.env!({ HUB_EVENTS_NATS_LEASE_SECONDS: '600' }, d)).toThrow(/HUB_EVENTS_NATS_LEASE_SECONDS/)
  })
})
