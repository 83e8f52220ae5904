import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { sql } from 'kysely'
import type { Customer, Session } from '@his-her/contract'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { expectError } from '../../test/helpers/requests.js'
import { sentToken } from '../../test/helpers/sent-tokens.js'

let hub: TestHub
let seq = 0
const password = 'correct horse battery'
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')

beforeAll(async () => {
  // require_email_verification keeps its default (true)
  hub = await createTestHub({ auth: { oneTimeTokenTtl: 60, loginLimitPerEmail: 1000, loginLimitPerAddress: 1000 } })
  expect(hub.config.customer.requireEmailVerification).toBe(true)
})
afterAll(async () => {
  await hub?.close()
})

async function register(): Promise<{ customer: Customer; email: string }> {
  const email = `verify${++seq}@example.com`
  const res = await hub.app.inject({ method: 'POST', url: '/customer', headers: hub.admin, payload: { email, password } })
  expect(res.statusCode, res.body).toBe(201)
  expect(res.json<Customer>().emailVerified).toBe(false)
  return { customer: res.json<Customer>(), email }
}

const login = (email: string, pw = password) => hub.app.inject({ method: 'POST', url: '/auth/login', payload: { email, password: pw } })
const post = (url: string, payload: unknown) => hub.app.inject({ method: 'POST', url, payload: payload as Record<string, unknown> })

/** The payloads of the customer's events of `type`, oldest first. */
async function eventPayloads(customerId: string, type: string): Promise<Array<{ tokenId: string; email: string; expiresAt: string; customerId: string }>> {
  const { rows } = await sql<{ payload: unknown }>`SELECT payload FROM events WHERE customer_id = ${customerId} AND type = ${type} ORDER BY position`.execute(hub.database.db)
  return rows.map((r) => (typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload))
}

async function requestVerification(customerId: string, email: string): Promise<string> {
  const res = await post('/auth/verify-email/request', { email })
  expect(res.statusCode, res.body).toBe(202)
  const events = await eventPayloads(customerId, 'customer.verification_requested')
  expect(events.length).toBeGreaterThan(0)
  const last = events.at(-1)!
  expect(last).toMatchObject({ customerId, email, registration: false })
  const token = await sentToken(hub, customerId, 'customer.verification_requested')
  expect(token).toMatch(/^vrf_/)
  return token
}

async function requestReset(customerId: string, email: string): Promise<string> {
  const res = await post('/auth/password-reset/request', { email })
  expect(res.statusCode, res.body).toBe(202)
  const last = (await eventPayloads(customerId, 'customer.password_reset_requested')).at(-1)!
  expect(last).toMatchObject({ customerId, email })
  const token = await sentToken(hub, customerId, 'customer.password_reset_requested')
  expect(token).toMatch(/^rst_/)
  return token
}

describe('email verification', () => {
  test('login before verifying is 403 EMAIL_NOT_VERIFIED, but only after a correct password', async () => {
    const { email } = await register()
    expectError(await login(email), 403, 'EMAIL_NOT_VERIFIED')
    expectError(await login(email, 'not the password'), 401, 'INVALID_CREDENTIALS')
  })

  test('request → token in the event → verify → login works; the token is single use', async () => {
    const { customer, email } = await register()
    const token = await requestVerification(customer.id, email)
    const events = await eventPayloads(customer.id, 'customer.verification_requested')
    expect(Date.parse(events.at(-1)!.expiresAt) - Date.now()).toBeLessThanOrEqual(60_000)

    const verified = await post('/auth/verify-email', { token })
    expect(verified.statusCode, verified.body).toBe(200)
    expect(verified.json()).toEqual({ customerId: customer.id, emailVerified: true })
    expect((await eventPayloads(customer.id, 'customer.email_verified')).length).toBe(1)
    const read = await hub.app.inject({ method: 'GET', url: `/customer/${customer.id}`, headers: hub.admin })
    expect(read.json<Customer>().emailVerified).toBe(true)

    const res = await login(email)
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json<Session>().tokenType).toBe('Bearer')

    expectError(await post('/auth/verify-email', { token }), 400, 'INVALID_TOKEN')
  })

  test('known and unknown emails get the same 202 answer; only a known, unverified one gets a token', async () => {
    const { customer, email } = await register()
    const known = await post('/auth/verify-email/request', { email })
    const unknown = await post('/auth/verify-email/request', { email: `nobody${++seq}@example.com` })
    expect(known.statusCode).toBe(202)
    expect(unknown.statusCode).toBe(202)
    expect(unknown.body).toBe(known.body)
    expect(known.json()).toEqual({ accepted: true })
    expect((await eventPayloads(customer.id, 'customer.verification_requested')).length).toBe(1)
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM events WHERE type = 'customer.verification_requested' AND payload->>'email' LIKE 'nobody%'`.execute(hub.database.db)
    expect(rows[0]!.n).toBe(0)
  })

  test('an expired token is refused', async () => {
    const { customer, email } = await register()
    const token = await requestVerification(customer.id, email)
    await sql`UPDATE one_time_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = ${sha256(token)}`.execute(hub.database.db)
    expectError(await post('/auth/verify-email', { token }), 400, 'INVALID_TOKEN')
    expectError(await login(email), 403, 'EMAIL_NOT_VERIFIED')
  })

  test('unknown, malformed and wrong-purpose tokens are refused', async () => {
    const { customer, email } = await register()
    expectError(await post('/auth/verify-email', { token: 'vrf_' + 'A'.repeat(43) }), 400, 'INVALID_TOKEN')
    expectError(await post('/auth/verify-email', { token: 'x' }), 400, 'VALIDATION_FAILED')
    expectError(await post('/auth/verify-email', {}), 400, 'VALIDATION_FAILED')
    const resetToken = await requestReset(customer.id, email)
    expectError(await post('/auth/verify-email', { token: resetToken }), 400, 'INVALID_TOKEN')
    expectError(await login(email), 403, 'EMAIL_NOT_VERIFIED')
  })

  test('a token sent to an old email does not verify the new one', async () => {
    const { customer, email } = await register()
    const token = await requestVerification(customer.id, email)
    const newEmail = `moved${++seq}@example.com`
    const patched = await hub.app.inject({ method: 'PATCH', url: `/customer/${customer.id}`, headers: hub.admin, payload: { email: newEmail } })
    expect(patched.statusCode, patched.body).toBe(200)
    expectError(await post('/auth/verify-email', { token }), 400, 'INVALID_TOKEN')
    expectError(await login(newEmail), 403, 'EMAIL_NOT_VERIFIED')
  })

  test('one-time tokens are stored only as SHA-256', async () => {
    const { customer, email } = await register()
    const token = await requestVerification(customer.id, email)
    const { rows } = await sql<Record<string, unknown>>`SELECT * FROM one_time_tokens`.execute(hub.database.db)
    expect(JSON.stringify(rows)).not.toContain(token)
    expect(rows.map((r) => r.token_hash)).toContain(sha256(token))
  })
})

describe('password reset', () => {
  async function verifiedAccount() {
    const { customer, email } = await register()
    expect((await post('/auth/verify-email', { token: await requestVerification(customer.id, email) })).statusCode).toBe(200)
    return { customer, email }
  }

  test('reset sets the new password and revokes every refresh token of the customer', async () => {
    const { customer, email } = await verifiedAccount()
    const sessions = [(await login(email)).json<Session>(), (await login(email)).json<Session>()]
    const token = await requestReset(customer.id, email)

    expectError(await post('/auth/password-reset', { token, password: 'short' }), 400, 'PASSWORD_TOO_SHORT')
    // the refused attempt did not use the token up, nor change the password
    expect((await login(email)).statusCode).toBe(200)

    const newPassword = 'a brand new passphrase'
    const reset = await post('/auth/password-reset', { token, password: newPassword })
    expect(reset.statusCode, reset.body).toBe(200)
    expect(reset.json()).toEqual({ customerId: customer.id, passwordChanged: true })
    expect((await eventPayloads(customer.id, 'customer.password_changed')).length).toBe(1)

    expectError(await login(email), 401, 'INVALID_CREDENTIALS')
    expect((await login(email, newPassword)).statusCode).toBe(200)
    for (const s of sessions) {
      expectError(await post('/auth/refresh', { refreshToken: s.refreshToken }), 401, 'INVALID_REFRESH_TOKEN')
    }
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM refresh_tokens
      WHERE subject_kind = 'customer' AND subject_id = ${customer.id} AND revoked_at IS NULL`.execute(hub.database.db)
    expect(rows[0]!.n, 'only the session made after the reset is live').toBe(1)

    // single use
    expectError(await post('/auth/password-reset', { token, password: 'yet another passphrase' }), 400, 'INVALID_TOKEN')
    expect((await login(email, newPassword)).statusCode).toBe(200)
  })

  test('known and unknown emails get the same 202 answer', async () => {
    const { email } = await verifiedAccount()
    const known = await post('/auth/password-reset/request', { email })
    const unknown = await post('/auth/password-reset/request', { email: `nobody${++seq}@example.com` })
    expect(known.statusCode).toBe(202)
    expect(unknown.statusCode).toBe(202)
    expect(unknown.body).toBe(known.body)
  })

  test('an expired or verification token does not reset the password', async () => {
    const { customer, email } = await verifiedAccount()
    const token = await requestReset(customer.id, email)
    await sql`UPDATE one_time_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = ${sha256(token)}`.execute(hub.database.db)
    expectError(await post('/auth/password-reset', { token, password: 'a brand new passphrase' }), 400, 'INVALID_TOKEN')
    // a verified customer gets no new verification token
    expect((await post('/auth/verify-email/request', { email })).statusCode).toBe(202)
    expect((await eventPayloads(customer.id, 'customer.verification_requested')).length).toBe(1)
    const other = await register()
    const otherVerify = await requestVerification(other.customer.id, other.email)
    expectError(await post('/auth/password-reset', { token: otherVerify, password: 'a brand new passphrase' }), 400, 'INVALID_TOKEN')
    expect((await login(email)).statusCode).toBe(200)
  })
})
