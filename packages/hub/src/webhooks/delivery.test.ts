import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { sql } from 'kysely'
import { Webhook as ReferenceWebhook } from 'standardwebhooks'
import type { Customer, HubEvent, WebhookDelivery, WebhookWithSecret } from '@his-her/contract'
import { verifyWebhook } from '@his-her/connect'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { expectError } from '../../test/helpers/requests.js'
import { startReceiver, type Answer, type Receiver } from '../../test/helpers/webhook-receiver.js'
import { retryAfterSeconds, retryDelay } from './delivery.js'

let hub: TestHub
const receivers: Receiver[] = []
let seq = 0

beforeAll(async () => {
  hub = await createTestHub({
    customer: { requireEmailVerification: false },
    // fast retries, a short timeout, and a worker that looks for due retries often
    webhooks: { deliver: true, retrySchedule: [0, 0.05, 0.05, 0.05], timeout: 2, pollIntervalMs: 20 },
  })
})
afterAll(async () => {
  await hub?.close()
  for (const r of receivers) await r.close()
})

async function receiver(answer?: (event: HubEvent, tries: number) => Answer | Promise<Answer>): Promise<Receiver> {
  const r = await startReceiver(answer)
  receivers.push(r)
  return r
}

async function subscribe(url: string, events: string[] = ['customer.*'], extra: Record<string, unknown> = {}): Promise<WebhookWithSecret> {
  const res = await hub.app.inject({ method: 'POST', url: '/webhooks', headers: hub.admin, payload: { url, events, ...extra } })
  expect(res.statusCode, res.body).toBe(201)
  return res.json<WebhookWithSecret>()
}

const unsubscribe = async (id: string) => expect((await hub.app.inject({ method: 'DELETE', url: `/webhooks/${id}`, headers: hub.admin })).statusCode).toBe(200)

async function newCustomer(): Promise<Customer> {
  const res = await hub.app.inject({ method: 'POST', url: '/customer', headers: hub.admin, payload: { email: `deliver${++seq}@example.com`, firstName: 'Dee' } })
  expect(res.statusCode, res.body).toBe(201)
  return res.json<Customer>()
}

async function rename(id: string, firstName: string): Promise<void> {
  const res = await hub.app.inject({ method: 'PATCH', url: `/customer/${id}`, headers: hub.admin, payload: { firstName } })
  expect(res.statusCode, res.body).toBe(200)
}

async function deliveries(webhookId: string): Promise<WebhookDelivery[]> {
  const res = await hub.app.inject({ method: 'GET', url: `/webhooks/${webhookId}/deliveries?limit=100`, headers: hub.admin })
  expect(res.statusCode, res.body).toBe(200)
  return res.json<{ data: WebhookDelivery[] }>().data
}

/** Waits, on the hub's own record, until the deliveries of a subscription satisfy `done`. */
async function deliveriesUntil(webhookId: string, done: (d: WebhookDelivery[]) => boolean, ms = 20_000): Promise<WebhookDelivery[]> {
  const deadline = Date.now() + ms
  for (;;) {
    const list = await deliveries(webhookId)
    if (done(list)) return list
    if (Date.now() > deadline) throw new Error(`deliveries not as awaited: ${JSON.stringify(list)}`)
    // the worker records an outcome after the receiver saw the request: wait for the next event written
    await hub.app.inject({ method: 'GET', url: `/events?after=${(await latestSequence()) ?? '0'}&wait=1`, headers: hub.admin })
  }
}

async function latestSequence(): Promise<string | undefined> {
  const { rows } = await sql<{ p: string }>`SELECT max(position)::text AS p FROM events`.execute(hub.database.db)
  return rows[0]?.p ?? undefined
}

const eventsOf = (r: Receiver, customerId: string) => r.received.filter((x) => x.event.customerId === customerId)

describe('delivery', () => {
  test('each event is POSTed once, signed per Standard Webhooks: the reference package and verifyWebhook accept it, and the body is the event of the feed', async () => {
    const r = await receiver()
    const hook = await subscribe(r.url)
    const customer = await newCustomer()
    await r.until((got) => got.some((x) => x.event.customerId === customer.id && x.event.type === 'customer.created'))
    const got = eventsOf(r, customer.id)[0]!
    expect(got.headers['webhook-id']).toBe(got.event.id)
    expect(got.headers['content-type']).toBe('application/json')
    expect(Math.abs(Number(got.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(60)
    const headers = { 'webhook-id': String(got.headers['webhook-id']), 'webhook-timestamp': String(got.headers['webhook-timestamp']), 'webhook-signature': String(got.headers['webhook-signature']) }
    expect(new ReferenceWebhook(hook.secret).verify(got.body, headers)).toEqual(got.event)
    expect(await verifyWebhook(hook.secret, headers, got.body)).toEqual(got.event)
    const feed = await hub.app.inject({ method: 'GET', url: `/events?customerId=${customer.id}`, headers: hub.admin })
    expect(feed.json<{ data: HubEvent[] }>().data[0]).toEqual(got.event)
    const [delivery] = await deliveriesUntil(hook.id, (d) => d[0]?.status === 'succeeded')
    expect(delivery).toMatchObject({ eventId: got.event.id, status: 'succeeded', attempts: 1, lastStatus: 200, lastError: null, nextAttemptAt: null })
    expect(r.tries(got.event.id)).toBe(1)
    await unsubscribe(hook.id)
  })

  test('a subscription gets only the types it names, and only events written after it was made', async () => {
    const before = await newCustomer()
    const r = await receiver()
    const hook = await subscribe(r.url, ['customer.updated'])
    const after = await newCustomer()
    await rename(after.id, 'Renamed')
    await r.until((got) => got.some((x) => x.event.customerId === after.id))
    await rename(before.id, 'Also')
    await r.until((got) => got.some((x) => x.event.customerId === before.id))
    expect(r.received.map((x) => x.event.type)).toEqual(['customer.updated', 'customer.updated'])
    expect(r.received.map((x) => x.event.customerId)).toEqual([after.id, before.id])
    await unsubscribe(hook.id)
  })

  test('a failed attempt is retried until a 2xx; the deliveries show the attempts and the last answer', async () => {
    const r = await receiver((_, tries) => (tries < 3 ? 500 : 204))
    const hook = await subscribe(r.url, ['customer.created'])
    const customer = await newCustomer()
    await r.until((got) => got.some((x) => x.event.customerId === customer.id && x.status === 204))
    expect(eventsOf(r, customer.id).map((x) => x.status)).toEqual([500, 500, 204])
    const [d] = await deliveriesUntil(hook.id, (list) => list[0]?.status === 'succeeded')
    expect(d).toMatchObject({ status: 'succeeded', attempts: 3, lastStatus: 204 })
    await unsubscribe(hook.id)
  })

  test("a customer's events arrive in order: the next waits while one is retried, other customers' events do not", async () => {
    const slow = await newCustomer()
    const other = await newCustomer()
    // the first event of `slow` fails twice; everything else is answered at once
    let firstOfSlow: string | undefined
    const r = await receiver((event, tries) => {
      if (event.customerId !== slow.id) return 200
      firstOfSlow ??= event.id
      return event.id === firstOfSlow && tries <= 2 ? 503 : 200
    })
    const hook = await subscribe(r.url, ['customer.updated'])
    await rename(slow.id, 'One')
    await rename(slow.id, 'Two')
    await rename(other.id, 'Three')
    await r.until((got) => eventsOf(r, slow.id).filter((x) => x.status === 200).length === 2 && got.some((x) => x.event.customerId === other.id))
    const slowOnes = eventsOf(r, slow.id)
    // One, One, One (ok), then Two: Two never overtook One
    expect(slowOnes.map((x) => [(x.event.payload as { customer: Customer }).customer.firstName, x.status])).toEqual([
      ['One', 503],
      ['One', 503],
      ['One', 200],
      ['Two', 200],
    ])
    // the other customer's event was not held up by the retries of the first (it came before the one that succeeded)
    const otherAt = eventsOf(r, other.id)[0]!.n
    expect(otherAt).toBeLessThan(slowOnes[2]!.n)
    await unsubscribe(hook.id)
  })

  test('after the last attempt the delivery has failed for good: webhook.delivery_failed is written and the next event goes on', async () => {
    let doomed: string | undefined
    const r = await receiver((event) => {
      doomed ??= event.id
      return event.id === doomed ? 500 : 200
    })
    const hook = await subscribe(r.url, ['customer.updated'])
    const customer = await newCustomer()
    await rename(customer.id, 'Doomed')
    await rename(customer.id, 'Next')
    await r.until((got) => got.some((x) => (x.event.payload as { customer: Customer }).customer.firstName === 'Next'))
    expect(r.tries(doomed!)).toBe(4) // the schedule has four attempts
    const list = await deliveriesUntil(hook.id, (d) => d.every((x) => x.status !== 'pending'))
    expect(list.find((x) => x.eventId === doomed)).toMatchObject({ status: 'failed', attempts: 4, lastStatus: 500 })
    const failed = await hub.app.inject({ method: 'GET', url: '/events?type=webhook.delivery_failed&limit=100', headers: hub.admin })
    const mine = failed.json<{ data: HubEvent[] }>().data.filter((e) => (e.payload as { webhookId: string }).webhookId === hook.id)
    expect(mine.map((e) => e.payload)).toEqual([{ webhookId: hook.id, eventId: doomed, eventType: 'customer.updated', attempts: 4, lastStatus: 500, lastError: null }])
    const got = await hub.app.inject({ method: 'GET', url: `/webhooks/${hook.id}`, headers: hub.admin })
    expect(got.json().failingSince).toBeNull() // the success after it cleared it
    await unsubscribe(hook.id)
  })

  test('410 Gone disables the subscription (webhook.disabled, reason gone); a test send to it is 409 WEBHOOK_DISABLED', async () => {
    const r = await receiver(() => 410)
    const hook = await subscribe(r.url, ['customer.created'])
    const customer = await newCustomer()
    await r.until((got) => got.some((x) => x.event.customerId === customer.id))
    const [d] = await deliveriesUntil(hook.id, (list) => list[0]?.status === 'failed')
    expect(d).toMatchObject({ attempts: 1, lastStatus: 410 })
    const got = (await hub.app.inject({ method: 'GET', url: `/webhooks/${hook.id}`, headers: hub.admin })).json()
    expect(got).toMatchObject({ enabled: false, disabledReason: 'gone' })
    const disabled = (await hub.app.inject({ method: 'GET', url: '/events?type=webhook.disabled&limit=100', headers: hub.admin })).json<{ data: HubEvent[] }>().data
    expect(disabled.filter((e) => (e.payload as { webhook: { id: string } }).webhook.id === hook.id).map((e) => (e.payload as { reason: string }).reason)).toEqual(['gone'])
    expectError(await hub.app.inject({ method: 'POST', url: `/webhooks/${hook.id}/test`, headers: hub.admin }), 409, 'WEBHOOK_DISABLED')
    // a disabled subscription is sent nothing new
    await newCustomer()
    expect(r.received).toHaveLength(1)
    // enabling starts afresh
    const enabled = await hub.app.inject({ method: 'PATCH', url: `/webhooks/${hook.id}`, headers: hub.admin, payload: { enabled: true } })
    expect(enabled.json()).toMatchObject({ enabled: true, disabledReason: null, failingSince: null })
    await unsubscribe(hook.id)
  })

  test('failing for longer than disable_after disables the subscription (reason failing)', async () => {
    const r = await receiver(() => 500)
    const hook = await subscribe(r.url, ['customer.created'])
    // as if it had been failing for six days
    await sql`UPDATE webhooks SET failing_since = now() - interval '6 days' WHERE id = ${hook.id}`.execute(hub.database.db)
    await newCustomer()
    await r.until((got) => got.length >= 1)
    const deadline = Date.now() + 20_000
    let got = (await hub.app.inject({ method: 'GET', url: `/webhooks/${hook.id}`, headers: hub.admin })).json()
    while (got.enabled && Date.now() < deadline) {
      await hub.app.inject({ method: 'GET', url: `/events?type=webhook.disabled&after=${(await latestSequence()) ?? '0'}&wait=1`, headers: hub.admin })
      got = (await hub.app.inject({ method: 'GET', url: `/webhooks/${hook.id}`, headers: hub.admin })).json()
    }
    expect(got).toMatchObject({ enabled: false, disabledReason: 'failing' })
    await unsubscribe(hook.id)
  })

  test('a slow endpoint: an answer later than the timeout is a failed attempt ("timeout"), tried again', async () => {
    let release!: () => void
    const held = new Promise<Answer>((resolve) => (release = () => resolve(200)))
    const r = await receiver((_, tries) => (tries === 1 ? 'hang' : held))
    const hook = await subscribe(r.url, ['customer.created'])
    const customer = await newCustomer()
    // the second attempt came: the first was recorded as timed out (the second's answer is held back meanwhile)
    await r.until((got) => got.filter((x) => x.event.customerId === customer.id).length === 2)
    const [during] = await deliveries(hook.id)
    expect(during).toMatchObject({ status: 'pending', attempts: 1, lastStatus: null, lastError: 'timeout' })
    release()
    const [d] = await deliveriesUntil(hook.id, (list) => list[0]?.status === 'succeeded')
    expect(d).toMatchObject({ attempts: 2, lastStatus: 200, lastError: null })
    await unsubscribe(hook.id)
  })

  test('Retry-After of a 429 or 503 is honoured: the next attempt waits at least that long', async () => {
    let release!: () => void
    const held = new Promise<Answer>((resolve) => (release = () => resolve(200)))
    const r = await receiver((_, tries) => (tries === 1 ? { status: 429, headers: { 'retry-after': '1' } } : held))
    const hook = await subscribe(r.url, ['customer.created'])
    await newCustomer()
    // the second attempt came (its answer held back): the first was recorded with the wait it asked for
    await r.until((got) => got.length === 2)
    const [d] = await deliveries(hook.id)
    expect(d).toMatchObject({ status: 'pending', attempts: 1, lastStatus: 429 })
    // the schedule's next wait is 0.05 s; the answer asked for 1 s
    expect(Date.parse(d!.nextAttemptAt!) - Date.parse(d!.lastAttemptAt!)).toBeGreaterThanOrEqual(950)
    release()
    await deliveriesUntil(hook.id, (list) => list[0]?.status === 'succeeded')
    await unsubscribe(hook.id)
  })
})

describe('replay, test sends, secrets', () => {
  test('replay from an event id sends it and everything after it again; still pending ones are left alone', async () => {
    const r = await receiver()
    const hook = await subscribe(r.url, ['customer.updated'])
    const customer = await newCustomer()
    await rename(customer.id, 'A')
    await rename(customer.id, 'B')
    await r.until((got) => got.length === 2)
    await deliveriesUntil(hook.id, (d) => d.length === 2 && d.every((x) => x.status === 'succeeded'))
    const [first, second] = r.received.map((x) => x.event.id)
    const replay = await hub.app.inject({ method: 'POST', url: `/webhooks/${hook.id}/replay`, headers: hub.admin, payload: { from: second } })
    expect(replay.statusCode, replay.body).toBe(200)
    expect(replay.json()).toEqual({ replayed: 1 })
    await r.until((got) => got.length === 3)
    expect(r.received[2]!.event.id).toBe(second)
    expect(r.received[2]!.headers['webhook-id']).toBe(second) // the same id: a receiver de-duplicates by it
    const list = await deliveriesUntil(hook.id, (d) => d.every((x) => x.status === 'succeeded'))
    expect(list.find((x) => x.eventId === second)).toMatchObject({ replays: 1, attempts: 1 })
    expect(list.find((x) => x.eventId === first)).toMatchObject({ replays: 0 })
    // from a time: both
    const since = await hub.app.inject({ method: 'POST', url: `/webhooks/${hook.id}/replay`, headers: hub.admin, payload: { from: '2000-01-01T00:00:00Z' } })
    expect(since.json()).toEqual({ replayed: 2 })
    await r.until((got) => got.length === 5)
    await unsubscribe(hook.id)
  })

  test('replay from something that is neither a time nor an event of the subscription is 400 REPLAY_FROM_INVALID', async () => {
    const r = await receiver()
    const hook = await subscribe(r.url)
    expectError(await hub.app.inject({ method: 'POST', url: `/webhooks/${hook.id}/replay`, headers: hub.admin, payload: { from: 'yesterday' } }), 400, 'REPLAY_FROM_INVALID')
    expectError(await hub.app.inject({ method: 'POST', url: `/webhooks/${hook.id}/replay`, headers: hub.admin, payload: { from: 'evt_01JDA9Q3C7M2ZK8V4T6N1R5XWE' } }), 400, 'REPLAY_FROM_INVALID')
    expectError(await hub.app.inject({ method: 'POST', url: '/webhooks/whk_01JDA9Q3C7M2ZK8V4T6N1R5XWE/replay', headers: hub.admin, payload: { from: '2000-01-01T00:00:00Z' } }), 404, 'WEBHOOK_NOT_FOUND')
    await unsubscribe(hook.id)
  })

  test('a test send reaches only its subscription, whatever it subscribes to', async () => {
    const a = await receiver()
    const b = await receiver()
    const hookA = await subscribe(a.url, ['order.recorded'])
    const hookB = await subscribe(b.url, ['*'])
    const res = await hub.app.inject({ method: 'POST', url: `/webhooks/${hookA.id}/test`, headers: hub.admin })
    expect(res.statusCode, res.body).toBe(202)
    const { eventId } = res.json<{ eventId: string }>()
    await a.until((got) => got.some((x) => x.event.id === eventId))
    expect(a.received[0]!.event).toMatchObject({ id: eventId, type: 'webhook.test', payload: { webhookId: hookA.id } })
    // b subscribes to everything, and still gets no test event of a's: it gets the next event, not that one
    await newCustomer()
    await b.until((got) => got.some((x) => x.event.type === 'customer.created'))
    expect(b.received.map((x) => x.event.type)).not.toContain('webhook.test')
    await unsubscribe(hookA.id)
    await unsubscribe(hookB.id)
  })

  test('a one-time token reaches only a subscription allowed secrets, derived at delivery: it works, and it is stored nowhere', async () => {
    const mailer = await receiver()
    const other = await receiver()
    const hookMailer = await subscribe(mailer.url, ['customer.password_reset_requested'], { allowSecrets: true })
    const hookOther = await subscribe(other.url, ['customer.password_reset_requested'])
    const email = `reset${++seq}@example.com`
    expect((await hub.app.inject({ method: 'POST', url: '/customer', headers: hub.admin, payload: { email, password: 'correct horse battery' } })).statusCode).toBe(201)
    expect((await hub.app.inject({ method: 'POST', url: '/auth/password-reset/request', payload: { email } })).statusCode).toBe(202)
    await mailer.until((got) => got.length === 1)
    await other.until((got) => got.length === 1)
    const token = (mailer.received[0]!.event.payload as { token?: string }).token
    expect(token).toMatch(/^[a-z]+_[A-Za-z0-9_-]{20,}$/)
    expect(other.received[0]!.event.payload).not.toHaveProperty('token')
    expect(other.received[0]!.event.id).toBe(mailer.received[0]!.event.id)
    // nowhere at rest: not in the events, not in the deliveries
    const { rows } = await sql<{ n: number }>`
      SELECT (SELECT count(*) FROM events WHERE payload::text LIKE ${`%${token}%`})::int
           + (SELECT count(*) FROM webhook_deliveries WHERE last_error LIKE ${`%${token}%`})::int AS n`.execute(hub.database.db)
    expect(rows[0]!.n).toBe(0)
    const reset = await hub.app.inject({ method: 'POST', url: '/auth/password-reset', payload: { token, password: 'a brand new password' } })
    expect(reset.statusCode, reset.body).toBe(200)
    await unsubscribe(hookMailer.id)
    await unsubscribe(hookOther.id)
  })

  test('the deliveries list pages newest first and filters by status; an unknown subscription is 404', async () => {
    const r = await receiver()
    const hook = await subscribe(r.url, ['customer.created'])
    for (let i = 0; i < 3; i++) await newCustomer()
    await r.until((got) => got.length === 3)
    await deliveriesUntil(hook.id, (d) => d.length === 3 && d.every((x) => x.status === 'succeeded'))
    const page1 = (await hub.app.inject({ method: 'GET', url: `/webhooks/${hook.id}/deliveries?limit=2`, headers: hub.admin })).json<{ data: WebhookDelivery[]; nextCursor: string }>()
    expect(page1.data).toHaveLength(2)
    const page2 = (await hub.app.inject({ method: 'GET', url: `/webhooks/${hook.id}/deliveries?limit=2&cursor=${page1.nextCursor}`, headers: hub.admin })).json<{ data: WebhookDelivery[]; nextCursor: string | null }>()
    expect(page2.data).toHaveLength(1)
    expect(page2.nextCursor).toBeNull()
    const all = [...page1.data, ...page2.data].map((d) => d.eventId)
    // three customers' events travel side by side, so they may arrive in any order; the list is by sequence
    expect(all).toEqual([...r.received].sort((x, y) => Number(BigInt(y.event.sequence) - BigInt(x.event.sequence))).map((x) => x.event.id))
    const failed = (await hub.app.inject({ method: 'GET', url: `/webhooks/${hook.id}/deliveries?status=failed`, headers: hub.admin })).json<{ data: unknown[] }>()
    expect(failed.data).toEqual([])
    expectError(await hub.app.inject({ method: 'GET', url: '/webhooks/whk_01JDA9Q3C7M2ZK8V4T6N1R5XWE/deliveries', headers: hub.admin }), 404, 'WEBHOOK_NOT_FOUND')
    await unsubscribe(hook.id)
  })

  test('metrics: attempts by result and the outbox lag per subscription', async () => {
    const r = await receiver()
    const hook = await subscribe(r.url, ['customer.created'])
    await newCustomer()
    await r.until((got) => got.length === 1)
    await deliveriesUntil(hook.id, (d) => d[0]?.status === 'succeeded')
    const text = (await hub.app.inject({ method: 'GET', url: '/metrics', headers: hub.admin })).body
    expect(text).toMatch(/hub_webhook_deliveries_total\{result="succeeded"\} [1-9]/)
    expect(text).toContain(`hub_outbox_lag_seconds{sink="webhook:${hook.id}"} 0`)
    await unsubscribe(hook.id)
  })
})

describe('retention', () => {
  test('deliveries that ended longer ago than retention_days are removed; pending and recent ones stay', async () => {
    const r = await receiver()
    const hook = await subscribe(r.url, ['customer.updated'])
    const customer = await newCustomer()
    for (const name of ['Old', 'Recent']) await rename(customer.id, name)
    await r.until((got) => got.length === 2)
    const [recent, old] = await deliveriesUntil(hook.id, (d) => d.length === 2 && d.every((x) => x.status === 'succeeded'))
    await sql`UPDATE webhook_deliveries SET completed_at = now() - interval '31 days' WHERE webhook_id = ${hook.id} AND event_id = ${old!.eventId}`.execute(hub.database.db)
    // and one still pending, however old
    await sql`UPDATE webhook_deliveries SET status = 'pending', completed_at = NULL, created_at = now() - interval '90 days', next_attempt_at = now() + interval '1 day' WHERE webhook_id = ${hook.id} AND event_id = ${recent!.eventId}`.execute(hub.database.db)
    expect(await hub.app.services.webhookDelivery.prune(hub.database.db)).toBe(1)
    expect((await deliveries(hook.id)).map((d) => [d.eventId, d.status])).toEqual([[recent!.eventId, 'pending']])
    await unsubscribe(hook.id)
  })
})

describe('schedule arithmetic', () => {
  test('retry waits are the schedule spread by ±20 %', () => {
    expect(retryDelay([0, 5, 300], 1, () => 0)).toBe(4)
    expect(retryDelay([0, 5, 300], 1, () => 1)).toBeCloseTo(6, 9)
    expect(retryDelay([0, 5, 300], 2, () => 0.5)).toBe(300)
  })

  test('Retry-After: seconds or an HTTP date, capped at a day; junk is ignored', () => {
    const now = Date.parse('2026-12-04T10:00:00Z')
    expect(retryAfterSeconds('120', now)).toBe(120)
    expect(retryAfterSeconds('Fri, 04 Dec 2026 10:01:00 GMT', now)).toBe(60)
    expect(retryAfterSeconds('999999999', now)).toBe(24 * 3600)
    expect(retryAfterSeconds('soon', now)).toBeUndefined()
    expect(retryAfterSeconds(null, now)).toBeUndefined()
  })
})
