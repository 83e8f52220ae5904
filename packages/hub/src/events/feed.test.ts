import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest'
import type { Customer, EventPage, HubEvent } from '@his-her/contract'
import { createTestDatabase, createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { client, expectError, unique, type Call } from '../../test/helpers/requests.js'

// On a shared PostgreSQL the feed holds back events while older transactions (of other test
// files) run, so the tests read with `wait` or until what they expect is there, and each asserts
// on events of customers of its own.

let hub: TestHub
let call: Call

beforeAll(async () => {
  // few connections: waiting readers must not hold one
  hub = await createTestHub({ captureLogs: true, database: await createTestDatabase({ poolSize: 3 }) })
  call = client(hub)
})
afterAll(async () => {
  await hub?.close()
  await hub?.database.close()
})

const feed = () => hub.app.services.feed

async function newCustomer(): Promise<Customer> {
  const res = await call('POST', '/customer', { email: `${unique('feed')}@example.com` })
  expect(res.status, res.raw).toBe(201)
  return res.body
}

async function rename(customer: Customer, firstName: string): Promise<void> {
  const res = await call('PATCH', `/customer/${customer.id}`, { firstName })
  expect(res.status, res.raw).toBe(200)
}

async function read(query: string): Promise<EventPage> {
  const res = await call('GET', `/events?${query}`)
  expect(res.status, res.raw).toBe(200)
  return res.body
}

/** Reads `query` from the start, page after page (each waiting up to 5 s), until `count` events came. */
async function readAll(query: string, count: number): Promise<{ events: HubEvent[]; nextAfter: string }> {
  const events: HubEvent[] = []
  let after = '0'
  const deadline = Date.now() + 30_000
  while (events.length < count) {
    if (Date.now() > deadline) throw new Error(`${query}: ${events.length} of ${count} events came`)
    const page = await read(`${query}&after=${after}&wait=5`)
    events.push(...page.data)
    after = page.nextAfter
  }
  return { events, nextAfter: after }
}

/** The debug lines of the feed's waiting readers, parsed. */
function wakes(): { reqId: string; reason: string }[] {
  return logLines('feed reader woken')
}

function logLines(msg: string): { reqId: string; reason: string }[] {
  return hub.logs.map((l) => JSON.parse(l) as { msg?: string; reqId: string; reason: string }).filter((l) => l.msg === msg)
}

describe('GET /events filters', () => {
  let a: Customer
  let b: Customer

  beforeAll(async () => {
    a = await newCustomer()
    b = await newCustomer()
    await rename(a, 'Ada')
    await rename(b, 'Bea')
    const group = await call('POST', `/customer/${a.id}/group`, { group: 'vip' })
    expect(group.status, group.raw).toBe(200)
  })

  test('by customer: only that customer’s events, in order', async () => {
    const { events } = await readAll(`customerId=${a.id}`, 3)
    expect(events.map((e) => e.type)).toEqual(['customer.created', 'customer.updated', 'customer.group_added'])
    expect(events.every((e) => e.customerId === a.id)).toBe(true)
    const sequences = events.map((e) => BigInt(e.sequence))
    expect([...sequences].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))).toEqual(sequences)
  })

  test('by type, repeated types, and a prefix', async () => {
    const updated = await readAll(`customerId=${b.id}&type=customer.updated`, 1)
    expect(updated.events.map((e) => [e.type, e.customerId])).toEqual([['customer.updated', b.id]])

    const two = await readAll(`customerId=${a.id}&type=customer.created&type=customer.group_added`, 2)
    expect(two.events.map((e) => e.type)).toEqual(['customer.created', 'customer.group_added'])

    const prefixed = await readAll(`customerId=${a.id}&type=customer.*`, 3)
    expect(prefixed.events.map((e) => e.type)).toEqual(['customer.created', 'customer.updated', 'customer.group_added'])
    // no event of another prefix is in the feed of a
    expect((await read(`customerId=${a.id}&type=order.*&after=${prefixed.nextAfter}`)).data).toEqual([])

    // without a customer: every event of the type, of both customers
    const created = await readAll('type=customer.created', 2)
    expect(created.events.every((e) => e.type === 'customer.created')).toBe(true)
    expect(created.events.map((e) => e.customerId)).toEqual(expect.arrayContaining([a.id, b.id]))
  })

  test('a filtered page that is not full moves nextAfter past the events it did not want', async () => {
    // once b's update is visible, every event before it is too
    const seen = (await readAll(`customerId=${b.id}&type=customer.updated`, 1)).events[0]!
    const none = await read(`customerId=${b.id}&type=customer.deleted&after=0`)
    expect(none.data).toEqual([])
    expect(BigInt(none.nextAfter)).toBeGreaterThanOrEqual(BigInt(seen.sequence))
    // read again from there: nothing of the range before is read twice
    const again = await read(`type=customer.updated&customerId=${b.id}&after=${none.nextAfter}`)
    expect(again.data).toEqual([])
  })

  test('a full filtered page ends at its last event', async () => {
    const page = await read(`customerId=${a.id}&limit=1&after=0&wait=5`)
    expect(page.data).toHaveLength(1)
    expect(page.nextAfter).toBe(page.data[0]!.sequence)
  })

  test('bad filters are refused with 400', async () => {
    expectError(await call('GET', '/events?type=nothing.like_this'), 400, 'EVENT_TYPE_UNKNOWN')
    expectError(await call('GET', '/events?type=nothing.*'), 400, 'EVENT_TYPE_UNKNOWN')
    expectError(await call('GET', '/events?type=customer'), 400, 'EVENT_TYPE_UNKNOWN')
    expectError(await call('GET', '/events?type=customer.created&type=customer.nothing'), 400, 'EVENT_TYPE_UNKNOWN')
    const unknown = await call('GET', '/events?type=nothing.*')
    expect(unknown.body.details).toEqual({ type: 'nothing.*' })
    for (const bad of ['type=*', 'type=Customer.Created', 'type=customer.*.x', `type=${'a'.repeat(101)}`, 'customerId=abc', 'customerId=', 'wait=61', 'wait=-1', 'wait=1.5', 'wait=soon']) {
      expectError(await call('GET', `/events?${bad}`), 400, 'VALIDATION_FAILED')
    }
  })
})

describe('GET /events?wait=', () => {
  test('a waiting reader is answered when another request writes a matching event', async () => {
    const c = await newCustomer()
    const waiting = call('GET', `/events?customerId=${c.id}&type=customer.updated&wait=30`)
    await vi.waitFor(() => expect(feed().waiting).toBe(1), { timeout: 10_000, interval: 5 })
    const reqId = logLines('feed reader waiting').at(-1)!.reqId
    await rename(c, 'Cleo')
    const res = await waiting
    expect(res.status, res.raw).toBe(200)
    expect(res.body.data.map((e: HubEvent) => [e.type, e.customerId, (e.payload as { customer?: { firstName?: string } }).customer?.firstName])).toEqual([
      ['customer.updated', c.id, 'Cleo'],
    ])
    expect(res.body.nextAfter).toBe(res.body.data[0].sequence)
    // it was the database's notification of the commit that woke it, not the slow re-check
    expect(wakes().filter((w) => w.reqId === reqId).at(-1)?.reason).toBe('notified')
  })

  test('nothing matching within the wait: an empty page', async () => {
    const d = await newCustomer()
    const page = await read(`customerId=${d.id}&type=customer.deleted&wait=1`)
    expect(page.data).toEqual([])
    expect(page.nextAfter).toMatch(/^[0-9]+$/)
  })

  test('events that do not match do not answer a waiting reader', async () => {
    const e = await newCustomer()
    const waiting = call('GET', `/events?customerId=${e.id}&type=customer.deleted&wait=30`)
    await vi.waitFor(() => expect(feed().waiting).toBe(1), { timeout: 10_000, interval: 5 })
    const notified = () => wakes().filter((w) => w.reason === 'notified').length
    const before = notified()
    await rename(e, 'Eve') // customer.updated: not what it waits for
    // woken by its commit, it read, found nothing it wants and sleeps again
    await vi.waitFor(() => expect(notified()).toBeGreaterThan(before), { timeout: 10_000, interval: 5 })
    await vi.waitFor(() => expect(feed().waiting).toBe(1), { timeout: 10_000, interval: 5 })
    expect(feed().waiting).toBe(1)
    expect((await call('DELETE', `/customer/${e.id}`)).status).toBe(200)
    const res = await waiting
    expect(res.body.data.map((x: HubEvent) => [x.type, x.customerId])).toEqual([['customer.deleted', e.id]])
  })

  test('50 waiting readers on a pool of 3 connections: other requests still run, and all 50 are answered', async () => {
    const f = await newCustomer()
    const readers = Array.from({ length: 50 }, () => call('GET', `/events?customerId=${f.id}&type=customer.updated&wait=30`))
    await vi.waitFor(() => expect(feed().waiting).toBe(50), { timeout: 20_000, interval: 5 })
    // the pool is free for everything else meanwhile
    expect((await call('GET', `/customer/${f.id}`)).status).toBe(200)
    await rename(f, 'Fay')
    const answers = await Promise.all(readers)
    for (const res of answers) {
      expect(res.status, res.raw).toBe(200)
      expect(res.body.data.map((x: HubEvent) => [x.type, x.customerId])).toEqual([['customer.updated', f.id]])
    }
    expect(feed().waiting).toBe(0)
  })

  test('a hub that shuts down answers its waiting readers at once', async () => {
    const other = await createTestHub({ captureLogs: true })
    try {
      const waiting = other.app.inject({ method: 'GET', url: '/events?type=customer.deleted&wait=60', headers: other.admin })
      await vi.waitFor(() => expect(other.app.services.feed.waiting).toBe(1), { timeout: 10_000, interval: 5 })
      const closed = other.close()
      const res = await waiting
      expect(res.statusCode, res.body).toBe(200)
      expect(res.json<EventPage>().data).toEqual([])
      await closed
    } finally {
      await other.close().catch(() => {})
    }
  })
})
