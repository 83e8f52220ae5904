import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { sql } from 'kysely'
import type { Customer, OrderResult } from '@his-her/contract'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { expectError } from '../../test/helpers/requests.js'
import { newId } from '../ids.js'

let hub: TestHub
let seq = 0

beforeAll(async () => {
  hub = await createTestHub()
})
afterAll(async () => {
  await hub?.close()
})

async function createCustomer(fields: Record<string, unknown> = {}): Promise<Customer> {
  const res = await hub.app.inject({
    method: 'POST',
    url: '/customer',
    headers: hub.admin,
    payload: { email: `buyer${++seq}@example.com`, ...fields },
  })
  expect(res.statusCode, res.body).toBe(201)
  return res.json()
}

async function getCustomer(id: string): Promise<Customer> {
  const res = await hub.app.inject({ method: 'GET', url: `/customer/${id}`, headers: hub.admin })
  expect(res.statusCode, res.body).toBe(200)
  return res.json()
}

function report(customerId: string, fields: Partial<Record<'platform' | 'externalId' | 'currency' | 'placedAt', string> & { total: number }> = {}) {
  return {
    platform: 'shopify',
    externalId: `order-${++seq}`,
    customerId,
    total: 1000,
    currency: 'USD',
    placedAt: '2024-05-01T10:00:00.000Z',
    ...fields,
  }
}

function postOrder(payload: object, headers: Record<string, string> = hub.admin) {
  return hub.app.inject({ method: 'POST', url: '/orders', headers, payload })
}

/** The order events of one customer, read straight from the outbox. */
async function orderEvents(customerId: string) {
  const { rows } = await sql<{ type: string; payload: Record<string, unknown> }>`
    SELECT type, payload FROM events WHERE customer_id = ${customerId} AND type LIKE 'order.%' ORDER BY position`.execute(hub.database.db)
  return rows
}

async function orderRows(customerId: string) {
  const { rows } = await sql<{ external_id: string; total: string }>`
    SELECT external_id, total::text AS total FROM orders WHERE customer_id = ${customerId} ORDER BY external_id`.execute(hub.database.db)
  return rows
}

describe('POST /orders', () => {
  test('a first report is recorded (201) and adds to the customer sums', async () => {
    const customer = await createCustomer()
    const order = report(customer.id, { total: 2599 })
    const res = await postOrder(order)
    expect(res.statusCode, res.body).toBe(201)
    const result = res.json<OrderResult>()
    expect(result).toMatchObject({
      platform: 'shopify',
      externalId: order.externalId,
      customerId: customer.id,
      total: 2599,
      currency: 'USD',
      placedAt: order.placedAt,
      outcome: 'recorded',
      orderCount: 1,
      totalSpent: 2599,
    })
    expect(result.id).toMatch(/^ord_[0-9A-Z]{26}$/)

    const after = await getCustomer(customer.id)
    expect(after).toMatchObject({ orderCount: 1, totalSpent: 2599, currency: 'USD' })

    const second = await postOrder(report(customer.id, { total: 401 }))
    expect(second.statusCode).toBe(201)
    expect(second.json()).toMatchObject({ outcome: 'recorded', orderCount: 2, totalSpent: 3000 })
    expect(await getCustomer(customer.id)).toMatchObject({ orderCount: 2, totalSpent: 3000 })

    const events = await orderEvents(customer.id)
    expect(events.map((e) => e.type)).toEqual(['order.recorded', 'order.recorded'])
    expect(events[0]!.payload).toMatchObject({
      order: { id: result.id, externalId: order.externalId, total: 2599, currency: 'USD' },
      orderCount: 1,
      totalSpent: 2599,
    })
  })

  test('a total beyond 2^31 minor units (3 billion VND) is recorded, corrected and cancelled, up to the limit of 10^15', async () => {
    // the totals' update compared the amount with 0 as a 32-bit integer: such an order was a 500
    const customer = await createCustomer()
    const order = report(customer.id, { total: 3_000_000_000, currency: 'VND' })
    const res = await postOrder(order)
    expect(res.statusCode, res.body).toBe(201)
    expect(res.json()).toMatchObject({ total: 3_000_000_000, orderCount: 1, totalSpent: 3_000_000_000 })
    const corrected = await postOrder({ ...order, total: 1e15 })
    expect(corrected.statusCode, corrected.body).toBe(200)
    expect(corrected.json()).toMatchObject({ outcome: 'corrected', totalSpent: 1e15 })
    const cancelled = await hub.app.inject({ method: 'POST', url: '/orders/cancel', headers: hub.admin, payload: { platform: order.platform, externalId: order.externalId } })
    expect(cancelled.statusCode, cancelled.body).toBe(200)
    expect(await getCustomer(customer.id)).toMatchObject({ orderCount: 0, totalSpent: 0 })
  })

  test('the same report again is 200 unchanged: sums stay, no second event', async () => {
    const customer = await createCustomer()
    const order = report(customer.id, { total: 1500 })
    const first = await postOrder(order)
    expect(first.statusCode).toBe(201)

    const again = await postOrder(order)
    expect(again.statusCode, again.body).toBe(200)
    expect(again.json()).toMatchObject({ id: first.json().id, outcome: 'unchanged', orderCount: 1, totalSpent: 1500 })
    // the same instant written another way is still the same report
    const sameInstant = await postOrder({ ...order, placedAt: '2024-05-01T12:00:00+02:00' })
    expect(sameInstant.statusCode).toBe(200)
    expect(sameInstant.json().outcome).toBe('unchanged')

    expect(await getCustomer(customer.id)).toMatchObject({ orderCount: 1, totalSpent: 1500 })
    expect((await orderEvents(customer.id)).map((e) => e.type)).toEqual(['order.recorded'])
    expect(await orderRows(customer.id)).toHaveLength(1)
  })

  test('reports delivered out of order end with the newest state: an older reportedAt than the newest given changes nothing', async () => {
    const customer = await createCustomer()
    const order = report(customer.id, { total: 8000 })
    const at = (minute: number) => `2024-05-01T10:${String(minute).padStart(2, '0')}:00.000Z`
    expect((await postOrder({ ...order, reportedAt: at(0) })).statusCode).toBe(201)
    // refunded to 5500 at :20; the same state again at :30
    expect((await postOrder({ ...order, total: 5500, reportedAt: at(20) })).json()).toMatchObject({ outcome: 'corrected', totalSpent: 5500 })
    expect((await postOrder({ ...order, total: 5500, reportedAt: at(30) })).json()).toMatchObject({ outcome: 'unchanged', totalSpent: 5500 })
    // late: the placed state (:00) and a state between (:25, 6000) arrive after the :30 report
    for (const late of [{ total: 8000, reportedAt: at(0) }, { total: 6000, reportedAt: at(25) }]) {
      const res = await postOrder({ ...order, ...late })
      expect(res.statusCode, res.body).toBe(200)
      expect(res.json()).toMatchObject({ outcome: 'unchanged', total: 5500, totalSpent: 5500 })
    }
    // a newer one applies; one without reportedAt applies as before
    expect((await postOrder({ ...order, total: 5000, reportedAt: at(40) })).json()).toMatchObject({ outcome: 'corrected', totalSpent: 5000 })
    expect((await postOrder({ ...order, total: 4000 })).json()).toMatchObject({ outcome: 'corrected', totalSpent: 4000 })
    expect((await orderEvents(customer.id)).map((e) => e.type)).toEqual(['order.recorded', 'order.corrected', 'order.corrected', 'order.corrected'])
    expect(await getCustomer(customer.id)).toMatchObject({ orderCount: 1, totalSpent: 4000 })
    expectError(await postOrder({ ...order, reportedAt: 'yesterday' }), 400, 'VALIDATION_FAILED')
  })

  test('a changed total is 200 corrected: totalSpent moves by the difference, order.corrected is written', async () => {
    const customer = await createCustomer()
    await postOrder(report(customer.id, { total: 700 }))
    const order = report(customer.id, { total: 5000 })
    expect((await postOrder(order)).statusCode).toBe(201)

    const down = await postOrder({ ...order, total: 4200 })
    expect(down.statusCode, down.body).toBe(200)
    expect(down.json()).toMatchObject({ outcome: 'corrected', total: 4200, orderCount: 2, totalSpent: 4900 })
    expect(await getCustomer(customer.id)).toMatchObject({ orderCount: 2, totalSpent: 4900 })

    const up = await postOrder({ ...order, total: 6000 })
    expect(up.json()).toMatchObject({ outcome: 'corrected', total: 6000, orderCount: 2, totalSpent: 6700 })
    expect(await getCustomer(customer.id)).toMatchObject({ orderCount: 2, totalSpent: 6700 })

    const events = await orderEvents(customer.id)
    expect(events.map((e) => e.type)).toEqual(['order.recorded', 'order.recorded', 'order.corrected', 'order.corrected'])
    expect(events[2]!.payload).toMatchObject({ order: { externalId: order.externalId, total: 4200 }, orderCount: 2, totalSpent: 4900 })
    expect(await orderRows(customer.id)).toContainEqual({ external_id: order.externalId, total: '6000' })
  })

  test('the same platform order for another customer is 409 ORDER_CUSTOMER_MISMATCH and changes nothing', async () => {
    const owner = await createCustomer()
    const other = await createCustomer()
    const order = report(owner.id, { total: 900 })
    expect((await postOrder(order)).statusCode).toBe(201)

    const res = await postOrder({ ...order, customerId: other.id })
    expectError(res, 409, 'ORDER_CUSTOMER_MISMATCH')
    expect(res.json().details).toEqual({ customerId: owner.id })
    expect(await getCustomer(owner.id)).toMatchObject({ orderCount: 1, totalSpent: 900 })
    expect(await getCustomer(other.id)).toMatchObject({ orderCount: 0, totalSpent: 0, currency: null })
    expect(await orderEvents(other.id)).toEqual([])

    // the same external id on another platform is another order
    const elsewhere = await postOrder({ ...order, platform: 'woocommerce', customerId: other.id })
    expect(elsewhere.statusCode).toBe(201)
  })

  test("a currency other than the customer's is 422 CURRENCY_MISMATCH and changes nothing", async () => {
    const customer = await createCustomer({ currency: 'EUR' })
    const res = await postOrder(report(customer.id, { currency: 'USD', total: 1234 }))
    expectError(res, 422, 'CURRENCY_MISMATCH')
    expect(await getCustomer(customer.id)).toMatchObject({ orderCount: 0, totalSpent: 0, currency: 'EUR' })
    expect(await orderRows(customer.id)).toEqual([])
    expect(await orderEvents(customer.id)).toEqual([])

    // the first order of a customer without a currency sets it; later orders must match it
    const open = await createCustomer()
    const first = report(open.id, { currency: 'THB', total: 100 })
    expect((await postOrder(first)).statusCode).toBe(201)
    expectError(await postOrder(report(open.id, { currency: 'USD' })), 422, 'CURRENCY_MISMATCH')
    // a repeat of a recorded order in another currency is refused too
    expectError(await postOrder({ ...first, currency: 'USD' }), 422, 'CURRENCY_MISMATCH')
    expect(await getCustomer(open.id)).toMatchObject({ orderCount: 1, totalSpent: 100, currency: 'THB' })
    expect(await orderRows(open.id)).toHaveLength(1)
  })

  test('an unknown customer is 404 CUSTOMER_NOT_FOUND and no order is kept', async () => {
    const ghost = newId('cus')
    const order = report(ghost)
    expectError(await postOrder(order), 404, 'CUSTOMER_NOT_FOUND')
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM orders WHERE external_id = ${order.externalId}`.execute(hub.database.db)
    expect(rows[0]!.n).toBe(0)
  })

  test('a deleted customer is 404 CUSTOMER_NOT_FOUND and keeps its sums', async () => {
    const customer = await createCustomer()
    expect((await postOrder(report(customer.id, { total: 300 }))).statusCode).toBe(201)
    const del = await hub.app.inject({ method: 'DELETE', url: `/customer/${customer.id}`, headers: hub.admin })
    expect(del.statusCode).toBe(200)

    expectError(await postOrder(report(customer.id, { total: 50 })), 404, 'CUSTOMER_NOT_FOUND')
    const { rows } = await sql<{ order_count: number; total_spent: string }>`
      SELECT order_count, total_spent::text AS total_spent FROM customers WHERE id = ${customer.id}`.execute(hub.database.db)
    expect(rows[0]).toEqual({ order_count: 1, total_spent: '300' })
    expect(await orderRows(customer.id)).toHaveLength(1)
  })

  test('bad input is 400 and changes nothing', async () => {
    const customer = await createCustomer()
    const bad = [
      { ...report(customer.id), total: -1 },
      { ...report(customer.id), total: 1.5 },
      { ...report(customer.id), currency: 'usd' },
      { ...report(customer.id), placedAt: 'yesterday' },
      { ...report(customer.id), platform: 'Shop Ify' },
      { ...report(customer.id), customerId: 'not-an-id' },
      { ...report(customer.id), extra: true },
    ]
    for (const payload of bad) expectError(await postOrder(payload), 400, 'VALIDATION_FAILED')
    expect(await getCustomer(customer.id)).toMatchObject({ orderCount: 0, totalSpent: 0 })
    expect(await orderRows(customer.id)).toEqual([])
  })

  test('a platform token may report orders; a request without a token may not', async () => {
    const customer = await createCustomer()
    const platform = await hub.platform()
    expect((await postOrder(report(customer.id), platform)).statusCode).toBe(201)
    expectError(await postOrder(report(customer.id), {}), 401, 'UNAUTHORIZED')
    expect(await getCustomer(customer.id)).toMatchObject({ orderCount: 1 })
  })
})

describe('POST /orders under concurrency', () => {
  test('30 concurrent identical reports count the order once', async () => {
    const customer = await createCustomer()
    const order = report(customer.id, { total: 4321 })
    const answers = await Promise.all(Array.from({ length: 30 }, () => postOrder(order)))
    const statuses = answers.map((a) => a.statusCode)
    expect(statuses.filter((s) => s === 201)).toHaveLength(1)
    expect(statuses.filter((s) => s === 200)).toHaveLength(29)
    const outcomes = answers.map((a) => a.json<OrderResult>().outcome)
    expect(outcomes.filter((o) => o === 'recorded')).toHaveLength(1)
    expect(outcomes.filter((o) => o === 'unchanged')).toHaveLength(29)
    expect(new Set(answers.map((a) => a.json<OrderResult>().id)).size).toBe(1)
    for (const a of answers) expect(a.json()).toMatchObject({ orderCount: 1, totalSpent: 4321 })

    expect(await getCustomer(customer.id)).toMatchObject({ orderCount: 1, totalSpent: 4321 })
    expect(await orderRows(customer.id)).toHaveLength(1)
    expect((await orderEvents(customer.id)).map((e) => e.type)).toEqual(['order.recorded'])
  })

  test('concurrent distinct orders of one customer are all counted, sums exact', async () => {
    const customer = await createCustomer()
    const orders = Array.from({ length: 40 }, (_, i) => report(customer.id, { total: 100 + i * 37 }))
    const answers = await Promise.all(orders.map((o) => postOrder(o)))
    for (const a of answers) expect(a.statusCode, a.body).toBe(201)
    const expectedSpent = orders.reduce((sum, o) => sum + o.total, 0)

    expect(await getCustomer(customer.id)).toMatchObject({ orderCount: 40, totalSpent: expectedSpent })
    // each answer saw a distinct count: the updates ran one after another
    expect(new Set(answers.map((a) => a.json<OrderResult>().orderCount)).size).toBe(40)
    expect(await orderRows(customer.id)).toHaveLength(40)
    expect(await orderEvents(customer.id)).toHaveLength(40)
  })

  test('concurrent repeats, corrections and new orders keep the sums equal to the stored orders', async () => {
    const customer = await createCustomer()
    const base = Array.from({ length: 10 }, (_, i) => report(customer.id, { total: 1000 + i }))
    for (const o of base) expect((await postOrder(o)).statusCode).toBe(201)

    const mixed = [
      ...base.map((o) => ({ ...o })), // repeats
      ...base.slice(0, 5).map((o) => ({ ...o, total: o.total * 2 })), // corrections
      ...Array.from({ length: 10 }, (_, i) => report(customer.id, { total: 50 + i })), // new
    ]
    const answers = await Promise.all(mixed.map((o) => postOrder(o)))
    for (const a of answers) expect([200, 201]).toContain(a.statusCode)

    const stored = await orderRows(customer.id)
    const storedSum = stored.reduce((sum, r) => sum + Number(r.total), 0)
    expect(stored).toHaveLength(20)
    expect(await getCustomer(customer.id)).toMatchObject({ orderCount: 20, totalSpent: storedSum })

    // every correction that changed a total left exactly one order.corrected event behind
    const corrected = answers.filter((a) => a.json<OrderResult>().outcome === 'corrected').length
    const events = await orderEvents(customer.id)
    expect(events.filter((e) => e.type === 'order.corrected')).toHaveLength(corrected)
    expect(events.filter((e) => e.type === 'order.recorded')).toHaveLength(20)
  })

  test('concurrent first orders in two currencies: one currency wins, the other is refused', async () => {
    const customer = await createCustomer()
    const orders = Array.from({ length: 20 }, (_, i) => report(customer.id, { currency: i % 2 === 0 ? 'USD' : 'EUR', total: 10 + i }))
    const answers = await Promise.all(orders.map((o) => postOrder(o)))
    const after = await getCustomer(customer.id)
    expect(['USD', 'EUR']).toContain(after.currency)
    for (const [i, a] of answers.entries()) {
      if (orders[i]!.currency === after.currency) expect(a.statusCode, a.body).toBe(201)
      else expectError(a, 422, 'CURRENCY_MISMATCH')
    }
    const kept = orders.filter((o) => o.currency === after.currency)
    expect(after).toMatchObject({ orderCount: kept.length, totalSpent: kept.reduce((sum, o) => sum + o.total, 0) })
    expect(await orderRows(customer.id)).toHaveLength(kept.length)
  })
})

describe('GET /customer/:id/orders', () => {
  test('newest placed first, ties by id, cancelled ones with their time; pages with the cursor reach each order once', async () => {
    const customer = await createCustomer()
    const placed = ['2031-01-01T00:00:00.000Z', '2031-03-01T00:00:00.000Z', '2031-03-01T00:00:00.000Z', '2031-03-01T00:00:00.000Z', '2031-02-01T00:00:00.500Z']
    const recorded: OrderResult[] = []
    for (const placedAt of placed) {
      const res = await hub.app.inject({ method: 'POST', url: '/orders', headers: hub.admin, payload: report(customer.id, { placedAt }) })
      expect(res.statusCode, res.body).toBe(201)
      recorded.push(res.json())
    }
    const cancelled = await hub.app.inject({ method: 'POST', url: '/orders/cancel', headers: hub.admin, payload: { platform: 'shopify', externalId: recorded[0]!.externalId } })
    expect(cancelled.statusCode, cancelled.body).toBe(200)

    const expected = [...recorded].sort((a, b) => b.placedAt.localeCompare(a.placedAt) || b.id.localeCompare(a.id)).map((o) => o.id)
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const res: { statusCode: number; body: string; json<T>(): T } = await hub.app.inject({ method: 'GET', url: `/customer/${customer.id}/orders?limit=2${cursor ? `&cursor=${cursor}` : ''}`, headers: hub.admin })
      expect(res.statusCode, res.body).toBe(200)
      const page: { data: { id: string; cancelledAt: string | null; orderCount: number; total: number }[]; nextCursor: string | null } = res.json<{ data: { id: string; cancelledAt: string | null; orderCount: number; total: number }[]; nextCursor: string | null }>()
      seen.push(...page.data.map((o) => o.id))
      for (const o of page.data) {
        expect(o.orderCount).toBe(1)
        expect(o.cancelledAt !== null).toBe(o.id === recorded[0]!.id)
      }
      cursor = page.nextCursor
      pages++
    } while (cursor)
    expect(seen).toEqual(expected)
    expect(pages).toBe(3)
  })

  test('support reads them; a bad cursor, an unknown and a merged customer are refused', async () => {
    const a = await createCustomer()
    const b = await createCustomer()
    await hub.app.inject({ method: 'POST', url: '/orders', headers: hub.admin, payload: report(b.id) })
    expectError(await hub.app.inject({ method: 'GET', url: `/customer/${a.id}/orders?cursor=nope`, headers: hub.admin }), 400, 'INVALID_CURSOR')
    expectError(await hub.app.inject({ method: 'GET', url: '/customer/cus_01AAAAAAAAAAAAAAAAAAAAAAAA/orders', headers: hub.admin }), 404, 'CUSTOMER_NOT_FOUND')
    expect((await hub.app.inject({ method: 'POST', url: `/customer/${a.id}/merge`, headers: hub.admin, payload: { sourceId: b.id } })).statusCode).toBe(200)
    expectError(await hub.app.inject({ method: 'GET', url: `/customer/${b.id}/orders`, headers: hub.admin }), 410, 'CUSTOMER_MERGED')
    // the merge moved the order
    const moved = await hub.app.inject({ method: 'GET', url: `/customer/${a.id}/orders`, headers: hub.admin })
    expect(moved.json<{ data: unknown[] }>().data).toHaveLength(1)
    const platform = await hub.platform()
    expect((await hub.app.inject({ method: 'GET', url: `/customer/${a.id}/orders`, headers: platform })).statusCode).toBe(200)
  })
})
