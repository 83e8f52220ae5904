import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { sql } from 'kysely'
import { Webhook as ReferenceWebhook } from 'standardwebhooks'
import type { Webhook, WebhookWithSecret } from '@his-her/contract'
import { verifyWebhook, WebhookVerificationError } from '@his-her/connect'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { client, expectError, type Call } from '../../test/helpers/requests.js'
import { newWebhookSecret, sign } from './signature.js'
import { checkEventPatterns, matchesEvent } from './webhook-service.js'

const body = JSON.stringify({ id: 'evt_01JDA9Q3C7M2ZK8V4T6N1R5XWE', sequence: '1', type: 'customer.created', customerId: 'cus_1', payload: { customer: { id: 'cus_1' } }, createdAt: '2026-01-01T00:00:00.000Z' })
const msgId = 'evt_01JDA9Q3C7M2ZK8V4T6N1R5XWE'
const nowSeconds = () => Math.floor(Date.now() / 1000)

function headersOf(id: string, timestamp: number, signature: string): Record<string, string> {
  return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signature }
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err, 'the message was accepted').toBeInstanceOf(WebhookVerificationError)
  return (err as WebhookVerificationError).code
}

describe('Standard Webhooks signatures', () => {
  test('the example of the specification: the same signature as the reference', () => {
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'
    const reference = new ReferenceWebhook(secret).sign('msg_p5jXN8AQM9LWM0D4loKWxJek', new Date(1614265330 * 1000), '{"test": 2432232314}')
    expect(sign([secret], 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}')).toBe(reference)
    expect(reference).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=')
  })

  test("the hub's signature verifies with the reference package and with verifyWebhook", async () => {
    const secret = newWebhookSecret()
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/)
    const ts = nowSeconds()
    const headers = headersOf(msgId, ts, sign([secret], msgId, ts, body))
    expect(new ReferenceWebhook(secret).verify(body, headers)).toEqual(JSON.parse(body))
    expect(await verifyWebhook(secret, headers, body)).toEqual(JSON.parse(body))
    expect(await verifyWebhook(secret, headers, new TextEncoder().encode(body))).toEqual(JSON.parse(body))
  })

  test("the reference package's signatures verify with verifyWebhook", async () => {
    const secret = newWebhookSecret()
    const ts = nowSeconds()
    const signature = new ReferenceWebhook(secret).sign(msgId, new Date(ts * 1000), body)
    const event = await verifyWebhook(secret, headersOf(msgId, ts, signature), body)
    expect(event.type).toBe('customer.created')
  })

  test('two secrets: two entries, and each secret verifies alone (reference and verifyWebhook)', async () => {
    const [current, previous] = [newWebhookSecret(), newWebhookSecret()]
    const ts = nowSeconds()
    const signature = sign([current, previous], msgId, ts, body)
    expect(signature.split(' ')).toEqual([sign([current], msgId, ts, body), sign([previous], msgId, ts, body)])
    for (const secret of [current, previous]) {
      expect(new ReferenceWebhook(secret).verify(body, headersOf(msgId, ts, signature))).toEqual(JSON.parse(body))
      expect((await verifyWebhook(secret, headersOf(msgId, ts, signature), body)).id).toBe(msgId)
    }
    expect(await refusal(verifyWebhook(newWebhookSecret(), headersOf(msgId, ts, signature), body))).toBe('WEBHOOK_SIGNATURE_INVALID')
  })

  test('verifyWebhook refuses a tampered body, id or timestamp, a wrong secret, an old or future timestamp, a missing header', async () => {
    const secret = newWebhookSecret()
    const ts = nowSeconds()
    const good = sign([secret], msgId, ts, body)
    const headers = headersOf(msgId, ts, good)
    expect(await refusal(verifyWebhook(secret, headers, body.replace('cus_1', 'cus_2')))).toBe('WEBHOOK_SIGNATURE_INVALID')
    expect(await refusal(verifyWebhook(secret, { ...headers, 'webhook-id': 'evt_other' }, body))).toBe('WEBHOOK_SIGNATURE_INVALID')
    expect(await refusal(verifyWebhook(secret, { ...headers, 'webhook-timestamp': String(ts - 1) }, body))).toBe('WEBHOOK_SIGNATURE_INVALID')
    expect(await refusal(verifyWebhook(newWebhookSecret(), headers, body))).toBe('WEBHOOK_SIGNATURE_INVALID')
    expect(await refusal(verifyWebhook(secret, headersOf(msgId, ts, 'v2,' + good.slice(3)), body))).toBe('WEBHOOK_SIGNATURE_INVALID')
    expect(await refusal(verifyWebhook(secret, headersOf(msgId, ts, 'v1,not base64!'), body))).toBe('WEBHOOK_SIGNATURE_INVALID')

    const old = ts - 301
    expect(await refusal(verifyWebhook(secret, headersOf(msgId, old, sign([secret], msgId, old, body)), body))).toBe('WEBHOOK_TIMESTAMP_INVALID')
    const future = ts + 301
    expect(await refusal(verifyWebhook(secret, headersOf(msgId, future, sign([secret], msgId, future, body)), body))).toBe('WEBHOOK_TIMESTAMP_INVALID')
    // the tolerance is an option; a message 10 minutes old passes a 15-minute tolerance
    const tenMinutes = ts - 600
    const late = headersOf(msgId, tenMinutes, sign([secret], msgId, tenMinutes, body))
    expect(await refusal(verifyWebhook(secret, late, body))).toBe('WEBHOOK_TIMESTAMP_INVALID')
    expect((await verifyWebhook(secret, late, body, { toleranceSeconds: 900 })).id).toBe(msgId)
    expect(await refusal(verifyWebhook(secret, { ...headers, 'webhook-timestamp': '1.5e9' }, body))).toBe('WEBHOOK_TIMESTAMP_INVALID')

    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      const without = { ...headers }
      delete without[name]
      expect(await refusal(verifyWebhook(secret, without, body)), name).toBe('WEBHOOK_HEADERS_MISSING')
    }
    expect(await refusal(verifyWebhook('whsec_', headers, body))).toBe('WEBHOOK_SECRET_INVALID')
    const notJson = 'not json'
    expect(await refusal(verifyWebhook(secret, headersOf(msgId, ts, sign([secret], msgId, ts, notJson)), notJson))).toBe('WEBHOOK_BODY_INVALID')
  })

  test('headers: a fetch Headers or a plain object in any case; a list of secrets verifies under any', async () => {
    const secret = newWebhookSecret()
    const ts = nowSeconds()
    const signature = sign([secret], msgId, ts, body)
    expect((await verifyWebhook(secret, new Headers(headersOf(msgId, ts, signature)), body)).id).toBe(msgId)
    expect((await verifyWebhook(secret, { 'Webhook-Id': msgId, 'WEBHOOK-TIMESTAMP': String(ts), 'Webhook-Signature': signature }, body)).id).toBe(msgId)
    expect((await verifyWebhook([newWebhookSecret(), secret], headersOf(msgId, ts, signature), body)).id).toBe(msgId)
    // an unknown version's entry beside a valid one does not spoil it
    expect((await verifyWebhook(secret, headersOf(msgId, ts, `v1a,AAAA ${signature}`), body)).id).toBe(msgId)
  })
})

describe('event patterns', () => {
  test('types, prefixes and * are known; anything else is refused', () => {
    expect(checkEventPatterns(['customer.created', 'customer.*', '*', 'customer.created'])).toEqual(['customer.created', 'customer.*', '*'])
    for (const bad of ['customer', 'customer.nothing', 'cust.*', 'customer*', '*.created', 'customer.created.*', '**']) {
      expect(() => checkEventPatterns([bad]), bad).toThrow(expect.objectContaining({ code: 'WEBHOOK_EVENT_UNKNOWN' }))
    }
    expect(matchesEvent(['customer.*'], 'customer.created')).toBe(true)
    expect(matchesEvent(['customer.*'], 'coupon.created')).toBe(false)
    expect(matchesEvent(['*'], 'coupon.created')).toBe(true)
    expect(matchesEvent(['coupon.redeemed'], 'coupon.created')).toBe(false)
  })
})

describe('webhook subscriptions', () => {
  let hub: TestHub
  let call: Call
  let now = new Date()

  beforeAll(async () => {
    hub = await createTestHub({ clock: () => now })
    call = client(hub)
  })
  afterAll(async () => {
    await hub?.close()
  })

  async function create(input: Record<string, unknown>): Promise<WebhookWithSecret> {
    const res = await call('POST', '/webhooks', input)
    expect(res.status, res.raw).toBe(201)
    return res.body as WebhookWithSecret
  }

  /** Every row of the table and of the outbox, and every stored idempotency answer, as text. */
  async function everythingStored(): Promise<string> {
    const tables = await Promise.all(['webhooks', 'events', 'idempotency_keys'].map((t) => sql<Record<string, unknown>>`SELECT * FROM ${sql.table(t)}`.execute(hub.database.db)))
    return JSON.stringify(tables.map((t) => t.rows))
  }

  const keyOf = (secret: string) => secret.slice('whsec_'.length)

  test('created: its secret shown once, sealed in the table, in no event, answer or idempotency record', async () => {
    const created = await call('POST', '/webhooks', { url: 'http://127.0.0.1:4000/hooks', events: ['customer.*', 'order.recorded'], description: 'warehouse' }, { ...hub.admin, 'idempotency-key': 'create-webhook-1' })
    expect(created.status, created.raw).toBe(201)
    const webhook = created.body as WebhookWithSecret
    expect(webhook).toMatchObject({ url: 'http://127.0.0.1:4000/hooks', events: ['customer.*', 'order.recorded'], description: 'warehouse', enabled: true, allowSecrets: false, previousSecretExpiresAt: null })
    expect(webhook.id).toMatch(/^whk_[0-9A-Z]{26}$/)
    expect(webhook.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/)

    const one = await call('GET', `/webhooks/${webhook.id}`)
    expect(one.status).toBe(200)
    const { secret, ...rest } = webhook
    expect(one.body).toEqual(rest)
    const list = await call('GET', '/webhooks')
    expect(list.body.data).toContainEqual(rest)
    for (const answer of [one.raw, list.raw]) {
      expect(answer).not.toContain(keyOf(secret))
      expect(answer).not.toMatch(/secret"/)
    }

    const stored = await everythingStored()
    expect(stored).toContain(webhook.id)
    expect(stored).not.toContain(keyOf(secret))
    const { rows } = await sql<{ secret_sealed: string }>`SELECT secret_sealed FROM webhooks WHERE id = ${webhook.id}`.execute(hub.database.db)
    expect(rows[0]!.secret_sealed).not.toContain(keyOf(secret))
    expect(await hub.app.services.webhooks.signingSecrets(hub.database.db, webhook.id)).toEqual([secret])

    const events = await sql<{ type: string; payload: { webhook: Webhook } }>`SELECT type, payload FROM events WHERE payload -> 'webhook' ->> 'id' = ${webhook.id}`.execute(hub.database.db)
    expect(events.rows).toEqual([{ type: 'webhook.created', payload: { webhook: rest } }])

    // a retry with the same Idempotency-Key answers the first answer again (kept sealed), not a new secret
    const again = await call('POST', '/webhooks', { url: 'http://127.0.0.1:4000/hooks', events: ['customer.*', 'order.recorded'], description: 'warehouse' }, { ...hub.admin, 'idempotency-key': 'create-webhook-1' })
    expect(again.status).toBe(201)
    expect(again.body).toEqual(webhook)
  })

  test('allowSecrets is off unless asked for; the url is kept as the hub will call it', async () => {
    const mailer = await create({ url: 'https://Mailer.Example.com:8443/hub?x=1', events: ['*'], allowSecrets: true })
    expect(mailer).toMatchObject({ url: 'https://mailer.example.com:8443/hub?x=1', events: ['*'], allowSecrets: true, description: null })
  })

  test('updated: url, events, description, enabled; an update event without the secret', async () => {
    const webhook = await create({ url: 'http://localhost:4001/', events: ['coupon.*'] })
    const res = await call('PATCH', `/webhooks/${webhook.id}`, { url: 'http://10.0.0.7/in', events: ['coupon.redeemed', 'coupon.redeemed'], description: 'till', enabled: false })
    expect(res.status, res.raw).toBe(200)
    expect(res.body).toMatchObject({ id: webhook.id, url: 'http://10.0.0.7/in', events: ['coupon.redeemed'], description: 'till', enabled: false })
    const cleared = await call('PATCH', `/webhooks/${webhook.id}`, { description: null, enabled: true })
    expect(cleared.body).toMatchObject({ description: null, enabled: true, url: 'http://10.0.0.7/in' })
    const events = await sql<{ type: string }>`SELECT type FROM events WHERE payload -> 'webhook' ->> 'id' = ${webhook.id} ORDER BY position`.execute(hub.database.db)
    expect(events.rows.map((r) => r.type)).toEqual(['webhook.created', 'webhook.updated', 'webhook.updated'])
    expect(await everythingStored()).not.toContain(keyOf(webhook.secret))
    expect(await hub.app.services.webhooks.signingSecrets(hub.database.db, webhook.id)).toEqual([webhook.secret])
  })

  test('deleted: gone, a delete event, and a second delete is 404', async () => {
    const webhook = await create({ url: 'http://127.0.0.1:4002/', events: ['*'] })
    const res = await call('DELETE', `/webhooks/${webhook.id}`)
    expect(res.status, res.raw).toBe(200)
    expect(res.body).toEqual({ deleted: true, id: webhook.id })
    expectError(await call('GET', `/webhooks/${webhook.id}`), 404, 'WEBHOOK_NOT_FOUND')
    expectError(await call('DELETE', `/webhooks/${webhook.id}`), 404, 'WEBHOOK_NOT_FOUND')
    expectError(await call('PATCH', `/webhooks/${webhook.id}`, { enabled: false }), 404, 'WEBHOOK_NOT_FOUND')
    expectError(await call('POST', `/webhooks/${webhook.id}/rotate-secret`), 404, 'WEBHOOK_NOT_FOUND')
    const events = await sql<{ type: string }>`SELECT type FROM events WHERE payload -> 'webhook' ->> 'id' = ${webhook.id} ORDER BY position`.execute(hub.database.db)
    expect(events.rows.map((r) => r.type)).toEqual(['webhook.created', 'webhook.deleted'])
    expect(await everythingStored()).not.toContain(keyOf(webhook.secret))
  })

  test('rotated: a new secret shown once; the old one signs too for 24 hours, then no more', async () => {
    const webhook = await create({ url: 'http://127.0.0.1:4003/', events: ['*'] })
    const res = await call('POST', `/webhooks/${webhook.id}/rotate-secret`)
    expect(res.status, res.raw).toBe(200)
    const rotated = res.body as WebhookWithSecret
    expect(rotated.secret).not.toBe(webhook.secret)
    expect(rotated.previousSecretExpiresAt).toBe(new Date(now.getTime() + 24 * 3600_000).toISOString())
    expect((await call('GET', `/webhooks/${webhook.id}`)).body.previousSecretExpiresAt).toBe(rotated.previousSecretExpiresAt)
    const stored = await everythingStored()
    for (const s of [webhook.secret, rotated.secret]) expect(stored).not.toContain(keyOf(s))

    // a message signed now carries both signatures: a receiver with either secret accepts it
    const secrets = await hub.app.services.webhooks.signingSecrets(hub.database.db, webhook.id)
    expect(secrets).toEqual([rotated.secret, webhook.secret])
    const ts = nowSeconds()
    const headers = headersOf(msgId, ts, sign(secrets, msgId, ts, body))
    for (const s of [webhook.secret, rotated.secret]) {
      expect((await verifyWebhook(s, headers, body)).id).toBe(msgId)
      expect(new ReferenceWebhook(s).verify(body, headers)).toEqual(JSON.parse(body))
    }

    // 24 hours later the old secret no longer signs
    const rotatedAt = now
    now = new Date(rotatedAt.getTime() + 24 * 3600_000 + 1000)
    try {
      const later = await hub.app.services.webhooks.signingSecrets(hub.database.db, webhook.id)
      expect(later).toEqual([rotated.secret])
      expect((await call('GET', `/webhooks/${webhook.id}`)).body.previousSecretExpiresAt).toBeNull()
      const laterHeaders = headersOf(msgId, ts, sign(later, msgId, ts, body))
      expect(await refusal(verifyWebhook(webhook.secret, laterHeaders, body))).toBe('WEBHOOK_SIGNATURE_INVALID')
      expect((await verifyWebhook(rotated.secret, laterHeaders, body)).id).toBe(msgId)
    } finally {
      now = new Date()
    }

    // rotating again: the secret current until then is the previous one, the first is gone
    const third = (await call('POST', `/webhooks/${webhook.id}/rotate-secret`)).body as WebhookWithSecret
    expect(await hub.app.services.webhooks.signingSecrets(hub.database.db, webhook.id)).toEqual([third.secret, rotated.secret])
  })

  test('bad input answers 400 with a stable code and changes nothing', async () => {
    const before = await everythingStored()
    const url = (u: unknown) => call('POST', '/webhooks', { url: u, events: ['*'] })
    for (const bad of ['not a url', '/relative/path', 'ftp://example.com/x', 'mailto:ops@example.com', 'javascript:alert(1)', 'http://user:pw@example.com/', 'http://token@example.com/', 'file:///etc/passwd']) {
      expectError(await url(bad), 400, 'WEBHOOK_URL_INVALID')
    }
    expectError(await url(''), 400, 'VALIDATION_FAILED')
    expectError(await url('http://example.com/' + 'a'.repeat(2100)), 400, 'VALIDATION_FAILED')
    for (const events of [['customer.nothing'], ['cust.*'], ['customer.created', 'nope']]) {
      const res = await call('POST', '/webhooks', { url: 'http://127.0.0.1/', events })
      expectError(res, 400, 'WEBHOOK_EVENT_UNKNOWN')
    }
    expectError(await call('POST', '/webhooks', { url: 'http://127.0.0.1/', events: [] }), 400, 'VALIDATION_FAILED')
    expectError(await call('POST', '/webhooks', { url: 'http://127.0.0.1/' }), 400, 'VALIDATION_FAILED')
    expectError(await call('POST', '/webhooks', { url: 'http://127.0.0.1/', events: ['*'], secret: 'whsec_AAAA' }), 400, 'VALIDATION_FAILED')
    expectError(await call('POST', '/webhooks', { url: 'http://127.0.0.1/', events: ['*'], allowSecrets: 'yes' }), 400, 'VALIDATION_FAILED')
    expectError(await call('GET', '/webhooks/whk_nothing'), 404, 'WEBHOOK_NOT_FOUND')

    const webhook = await create({ url: 'http://127.0.0.1:4004/', events: ['*'] })
    const afterCreate = await everythingStored()
    expectError(await call('PATCH', `/webhooks/${webhook.id}`, {}), 400, 'VALIDATION_FAILED')
    expectError(await call('PATCH', `/webhooks/${webhook.id}`, { url: 'gopher://x' }), 400, 'WEBHOOK_URL_INVALID')
    expectError(await call('PATCH', `/webhooks/${webhook.id}`, { events: ['nope.*'] }), 400, 'WEBHOOK_EVENT_UNKNOWN')
    expectError(await call('PATCH', `/webhooks/${webhook.id}`, { allowSecrets: true }), 400, 'VALIDATION_FAILED')
    expect(await everythingStored()).toBe(afterCreate)
    expect(before).not.toBe(afterCreate)
  })

  test('only an admin manages subscriptions', async () => {
    const platform = await hub.platform()
    expectError(await call('POST', '/webhooks', { url: 'http://127.0.0.1/', events: ['*'] }, platform), 403, 'FORBIDDEN')
    expectError(await call('GET', '/webhooks', undefined, platform), 403, 'FORBIDDEN')
    expectError(await call('GET', '/webhooks', undefined, {}), 401, 'UNAUTHORIZED')
  })
})
