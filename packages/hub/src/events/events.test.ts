import type { InjectOptions } from 'fastify'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { sql } from 'kysely'
import { eventTypes, type Customer, type EventPage, type HubEvent } from '@his-her/contract'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'

let hub: TestHub
let seq = 0

beforeAll(async () => {
  hub = await createTestHub()
})
afterAll(async () => {
  await hub?.close()
})

type Inject = InjectOptions

async function call(opts: Inject, status: number) {
  const res = await hub.app.inject({ headers: hub.admin, ...opts })
  expect(res.statusCode, `${opts.method} ${opts.url}: ${res.body}`).toBe(status)
  return res
}

async function eventCount(): Promise<number> {
  const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM events`.execute(hub.database.db)
  return rows[0]!.n
}

/** All events in the outbox, straight from the table, in feed order. */
async function tableEvents(): Promise<{ position: string; type: string; customer_id: string | null; payload: Record<string, unknown> }[]> {
  const { rows } = await sql<{ position: string; type: string; customer_id: string | null; payload: Record<string, unknown> }>`
    SELECT position::text AS position, type, customer_id, payload FROM events ORDER BY position`.execute(hub.database.db)
  return rows
}

function readFeed(after: string | undefined, limit: number, headers: Record<string, string> = hub.admin) {
  const qs = new URLSearchParams({ limit: String(limit), ...(after !== undefined ? { after } : {}) })
  return hub.app.inject({ method: 'GET', url: `/events?${qs}`, headers })
}

/**
 * Reads the feed from the start in pages of `limit` until it has returned `expected` events.
 * The feed holds back events while older transactions (of other schemas on a shared
 * PostgreSQL) are still open, so an empty page before `expected` is re-read until the deadline.
 */
async function readAll(expected: number, limit: number): Promise<{ events: HubEvent[]; pages: number; last: string }> {
  const events: HubEvent[] = []
  let after = '0'
  let pages = 0
  const deadline = Date.now() + 15_000
  while (events.length < expected) {
    const res = await readFeed(after, limit)
    expect(res.statusCode, res.body).toBe(200)
    const page = res.json<EventPage>()
    pages++
    expect(page.data.length).toBeLessThanOrEqual(limit)
    if (page.data.length === 0) {
      expect(page.nextAfter).toBe(after)
      if (Date.now() > deadline) throw new Error(`the feed stopped at ${events.length} of ${expected} events`)
      continue
    }
    expect(page.nextAfter).toBe(page.data.at(-1)!.sequence)
    events.push(...page.data)
    after = page.nextAfter
  }
  return { events, pages, last: after }
}

let customer: Customer
let addressId: string
const password = 'correct-horse-battery'

describe('events of every change', () => {
  test('each change writes its event with its type and payload', async () => {
    const before = await eventCount()
    expect(before).toBe(0)

    customer = (await call({ method: 'POST', url: '/customer', payload: { email: `ev${++seq}@example.com`, password, firstName: 'Ada', phone: '+14155551234' } }, 201)).json()
    await call({ method: 'PATCH', url: `/customer/${customer.id}`, payload: { lastName: 'Lovelace' } }, 200)
    await call({ method: 'POST', url: `/customer/${customer.id}/group`, payload: { group: 'vip' } }, 200)
    await call({ method: 'DELETE', url: `/customer/${customer.id}/group/vip` }, 200)
    addressId = (await call({ method: 'POST', url: `/customer/${customer.id}/address`, payload: { line1: '1 Main St', city: 'Springfield', country: 'us' } }, 201)).json().id
    await call({ method: 'PATCH', url: `/customer/${customer.id}/address/${addressId}`, payload: { city: 'Shelbyville' } }, 200)
    await call({ method: 'DELETE', url: `/customer/${customer.id}/address/${addressId}` }, 200)
    const order = { platform: 'shopify', externalId: 'ev-1', customerId: customer.id, total: 1200, currency: 'USD', placedAt: '2024-01-02T03:04:05.000Z' }
    const recorded = (await call({ method: 'POST', url: '/orders', payload: order }, 201)).json()
    await call({ method: 'POST', url: '/orders', payload: { ...order, total: 1500 } }, 200)
    await call({ method: 'DELETE', url: `/customer/${customer.id}` }, 200)

    const rows = await tableEvents()
    expect(rows.map((r) => r.type)).toEqual([
      'customer.created',
      'customer.updated',
      'customer.group_added',
      'customer.group_removed',
      'customer.address_added',
      'customer.address_updated',
      'customer.address_removed',
      'order.recorded',
      'order.corrected',
      'customer.deleted',
    ])
    for (const r of rows) expect(eventTypes as readonly string[]).toContain(r.type)
    for (const r of rows) expect(r.customer_id).toBe(customer.id)

    const [created, updated, groupAdded, groupRemoved, addrAdded, addrUpdated, addrRemoved, orderRecorded, orderCorrected, deleted] = rows.map((r) => r.payload)
    expect(created).toMatchObject({ customer: { id: customer.id, email: customer.email, firstName: 'Ada', phone: '+14155551234', hasAccount: true } })
    expect(updated).toMatchObject({ customer: { id: customer.id, lastName: 'Lovelace' }, changed: ['lastName'] })
    expect(groupAdded).toEqual({ customerId: customer.id, group: 'vip' })
    expect(groupRemoved).toEqual({ customerId: customer.id, group: 'vip' })
    expect(addrAdded).toMatchObject({ customerId: customer.id, address: { id: addressId, city: 'Springfield', country: 'US', isDefault: true } })
    expect(addrUpdated).toMatchObject({ customerId: customer.id, address: { id: addressId, city: 'Shelbyville' } })
    expect(addrRemoved).toEqual({ customerId: customer.id, addressId })
    expect(orderRecorded).toMatchObject({ order: { id: recorded.id, platform: 'shopify', externalId: 'ev-1', total: 1200, currency: 'USD' }, orderCount: 1, totalSpent: 1200 })
    expect(orderCorrected).toMatchObject({ order: { id: recorded.id, total: 1500 }, orderCount: 1, totalSpent: 1500 })
    expect(deleted).toEqual({ customerId: customer.id })
  })

  test('no payload holds a secret', async () => {
    const { rows } = await sql<{ password_hash: string | null }>`SELECT password_hash FROM customers WHERE id = ${customer.id}`.execute(hub.database.db)
    const passwordHash = rows[0]!.password_hash!
    expect(passwordHash).toMatch(/^\$argon2id\$/)
    for (const r of await tableEvents()) {
      const text = JSON.stringify(r.payload)
      expect(text).not.toContain(password)
      expect(text).not.toContain(passwordHash)
      expect(text).not.toContain('$argon2')
      expect(text.toLowerCase()).not.toMatch(/password|token_hash|"hash"/)
    }
  })

  test('a failed change writes no event', async () => {
    const taken = `taken${++seq}@example.com`
    await call({ method: 'POST', url: '/customer', payload: { email: taken } }, 201)
    const other = (await call({ method: 'POST', url: '/customer', payload: { email: `free${++seq}@example.com` } }, 201)).json<Customer>()
    const before = await eventCount()

    const failures: [Inject, number, string][] = [
      [{ method: 'POST', url: '/customer', payload: { email: taken, firstName: 'Copy' } }, 409, 'EMAIL_TAKEN'],
      [{ method: 'PATCH', url: `/customer/${other.id}`, payload: { email: taken } }, 409, 'EMAIL_TAKEN'],
      [{ method: 'POST', url: '/customer', payload: { email: 'not an email' } }, 400, 'INVALID_EMAIL'],
      [{ method: 'PATCH', url: `/customer/${other.id}/address/addr_01AAAAAAAAAAAAAAAAAAAAAAAA`, payload: { city: 'X' } }, 404, 'ADDRESS_NOT_FOUND'],
      [{ method: 'POST', url: `/customer/${other.id}/address`, payload: { line1: '1 A St', city: 'B', country: 'ZZ' } }, 400, 'INVALID_COUNTRY'],
      [{ method: 'POST', url: '/orders', payload: { platform: 'shop', externalId: 'x1', customerId: customer.id, total: 1, currency: 'USD', placedAt: '2024-01-01T00:00:00Z' } }, 404, 'CUSTOMER_NOT_FOUND'],
      [{ method: 'DELETE', url: `/customer/${customer.id}` }, 404, 'CUSTOMER_NOT_FOUND'],
    ]
    for (const [opts, status, code] of failures) {
      const res = await call(opts, status)
      expect(res.json()).toMatchObject({ statusCode: status, code })
    }
    expect(await eventCount()).toBe(before)
    // and the taken email was not moved to the other customer
    const again = (await call({ method: 'GET', url: `/customer/${other.id}` }, 200)).json<Customer>()
    expect(again.email).toBe(other.email)
  })

  test('a change that changes nothing writes no event', async () => {
    const c = (await call({ method: 'POST', url: '/customer', payload: { email: `same${++seq}@example.com`, firstName: 'Sam' } }, 201)).json<Customer>()
    await call({ method: 'POST', url: `/customer/${c.id}/group`, payload: { group: 'b2b' } }, 200)
    const before = await eventCount()
    await call({ method: 'PATCH', url: `/customer/${c.id}`, payload: { firstName: 'Sam' } }, 200)
    await call({ method: 'POST', url: `/customer/${c.id}/group`, payload: { group: 'b2b' } }, 200)
    await call({ method: 'DELETE', url: `/customer/${c.id}/group/wholesale` }, 200)
    expect(await eventCount()).toBe(before)
  })
})

describe('GET /events', () => {
  test('pages through every event exactly once, in strictly increasing sequence', async () => {
    // more events, some from concurrent transactions
    await Promise.all(
      Array.from({ length: 25 }, () => call({ method: 'POST', url: '/customer', payload: { email: `feed${++seq}@example.com` } }, 201)),
    )
    const stored = await tableEvents()
    expect(stored.length).toBeGreaterThan(30)

    const { events, pages, last } = await readAll(stored.length, 7)
    expect(pages).toBeGreaterThanOrEqual(Math.ceil(stored.length / 7))
    const ids = events.map((e) => e.id)
    expect(new Set(ids).size).toBe(ids.length)
    expect(events.map((e) => e.sequence)).toEqual(stored.map((r) => r.position))
    for (let i = 1; i < events.length; i++) {
      expect(BigInt(events[i]!.sequence) > BigInt(events[i - 1]!.sequence)).toBe(true)
    }
    for (const e of events) {
      expect(e.sequence).toMatch(/^[0-9]+$/)
      expect(e.id).toMatch(/^evt_[0-9A-Z]{26}$/)
      expect(eventTypes as readonly string[]).toContain(e.type)
      expect(new Date(e.createdAt).toISOString()).toBe(e.createdAt)
    }

    // at the end: an empty page, nextAfter unchanged
    const end = await readFeed(last, 50)
    expect(end.statusCode).toBe(200)
    expect(end.json()).toEqual({ data: [], nextAfter: last })

    // a new event shows up after the last position read, and only it
    const late = (await call({ method: 'POST', url: '/customer', payload: { email: `late${++seq}@example.com` } }, 201)).json<Customer>()
    let next: EventPage = { data: [], nextAfter: last }
    const deadline = Date.now() + 15_000
    while (next.data.length === 0 && Date.now() < deadline) next = (await readFeed(last, 50)).json<EventPage>()
    expect(next.data).toHaveLength(1)
    expect(next.data[0]).toMatchObject({ type: 'customer.created', customerId: late.id })
    expect(BigInt(next.nextAfter) > BigInt(last)).toBe(true)
  })

  test('reads from the start without after, 100 at most by default', async () => {
    const res = await call({ method: 'GET', url: '/events' }, 200)
    const page = res.json<EventPage>()
    expect(page.data.length).toBeGreaterThan(0)
    expect(page.data.length).toBeLessThanOrEqual(100)
    expect(page.data[0]!.type).toBe('customer.created')
    expect(page.data[0]!.customerId).toBe(customer.id)
    const one = (await call({ method: 'GET', url: '/events?after=0&limit=1' }, 200)).json<EventPage>()
    expect(one.data).toEqual([page.data[0]])
    expect(one.nextAfter).toBe(page.data[0]!.sequence)
  })

  test('bad after and limit are 400 with the error shape', async () => {
    for (const q of ['after=abc', 'after=-1', 'after=1.5', 'after=99999999999999999999', 'limit=0', 'limit=1001', 'limit=ten', 'other=1']) {
      const res = await hub.app.inject({ method: 'GET', url: `/events?${q}`, headers: hub.admin })
      expect(res.statusCode, q).toBe(400)
      const body = res.json()
      expect(body).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED', error: 'Bad Request' })
      expect(typeof body.message).toBe('string')
    }
    // 19 digits but beyond bigint
    const big = await hub.app.inject({ method: 'GET', url: '/events?after=9999999999999999999', headers: hub.admin })
    expect(big.statusCode).toBe(400)
    expect(big.json()).toMatchObject({ statusCode: 400, code: 'INVALID_CURSOR' })
  })

  test('is for admins only', async () => {
    const platform = await hub.platform()
    const forbidden = await readFeed('0', 10, platform)
    expect(forbidden.statusCode).toBe(403)
    expect(forbidden.json()).toMatchObject({ statusCode: 403, code: 'FORBIDDEN' })
    const anonymous = await readFeed('0', 10, {})
    expect(anonymous.statusCode).toBe(401)
    expect(anonymous.json()).toMatchObject({ statusCode: 401, code: 'UNAUTHORIZED' })
  })
})
