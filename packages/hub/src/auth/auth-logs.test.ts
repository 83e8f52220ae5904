import { afterAll, beforeAll, expect, test } from 'vitest'
import { sql } from 'kysely'
import type { InjectOptions } from 'fastify'
import type { CreatedToken, Customer, ServiceAccount, Session } from '@his-her/contract'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { sentToken } from '../../test/helpers/sent-tokens.js'

let hub: TestHub

beforeAll(async () => {
  hub = await createTestHub({ captureLogs: true, customer: { requireEmailVerification: true } })
})
afterAll(async () => {
  await hub?.close()
})

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

async function lastToken(customerId: string, type: string): Promise<string> {
  return sentToken(hub, customerId, type)
}

test('no log line, event, kept answer or merge record holds a password, an access or refresh token, a one-time token or an API token', async () => {
  const secrets: string[] = []
  const keep = <T extends string>(s: T): T => {
    secrets.push(s)
    return s
  }
  const send = (o: InjectOptions) => hub.app.inject(o)

  const apiToken = (await send({ method: 'POST', url: '/tokens', headers: hub.admin, payload: { name: 'logs-platform', role: 'platform' } })).json<CreatedToken>().token
  keep(apiToken)
  keep(hub.adminToken)

  const password = keep('Pa55word-in-the-clear-1')
  const email = 'logs@example.com'
  const created = await send({ method: 'POST', url: '/customer', headers: bearer(apiToken), payload: { email, password } })
  expect(created.statusCode, created.body).toBe(201)
  const customer = created.json<Customer>()

  // a login before verification, a wrong password, an unknown email
  expect((await send({ method: 'POST', url: '/auth/login', payload: { email, password } })).statusCode).toBe(403)
  expect((await send({ method: 'POST', url: '/auth/login', payload: { email, password: keep('Wrong-pa55word-typed') } })).statusCode).toBe(401)
  expect((await send({ method: 'POST', url: '/auth/login', payload: { email: 'nobody@example.com', password: keep('Another-pa55word-x') } })).statusCode).toBe(401)
  // secrets where they do not belong: in the query string, in an unknown field
  expect((await send({ method: 'POST', url: `/auth/login?password=${password}`, payload: { email, password, extra: password } })).statusCode).toBe(400)

  expect((await send({ method: 'POST', url: '/auth/verify-email/request', payload: { email } })).statusCode).toBe(202)
  const verifyToken = keep(await lastToken(customer.id, 'customer.verification_requested'))
  expect((await send({ method: 'POST', url: '/auth/verify-email', payload: { token: verifyToken } })).statusCode).toBe(200)
  expect((await send({ method: 'POST', url: '/auth/verify-email', payload: { token: verifyToken } })).statusCode).toBe(400)

  const login = await send({ method: 'POST', url: '/auth/login', payload: { email, password } })
  expect(login.statusCode, login.body).toBe(200)
  const session = login.json<Session>()
  keep(session.accessToken)
  keep(session.refreshToken)
  expect((await send({ method: 'GET', url: '/customer/me', headers: bearer(session.accessToken) })).statusCode).toBe(200)
  expect((await send({ method: 'GET', url: '/customer', headers: bearer(session.accessToken) })).statusCode).toBe(403)

  const refreshed = (await send({ method: 'POST', url: '/auth/refresh', payload: { refreshToken: session.refreshToken } })).json<Session>()
  keep(refreshed.accessToken)
  keep(refreshed.refreshToken)
  // reuse of the old one, then logout
  expect((await send({ method: 'POST', url: '/auth/refresh', payload: { refreshToken: session.refreshToken } })).statusCode).toBe(401)
  expect((await send({ method: 'POST', url: '/auth/logout', payload: { refreshToken: refreshed.refreshToken } })).statusCode).toBe(200)

  expect((await send({ method: 'POST', url: '/auth/password-reset/request', payload: { email } })).statusCode).toBe(202)
  const resetToken = keep(await lastToken(customer.id, 'customer.password_reset_requested'))
  const newPassword = keep('Brand-new-pa55word-2')
  expect((await send({ method: 'POST', url: '/auth/password-reset', payload: { token: resetToken, password: 'short' } })).statusCode).toBe(400)
  expect((await send({ method: 'POST', url: '/auth/password-reset', payload: { token: resetToken, password: newPassword } })).statusCode).toBe(200)
  const second = (await send({ method: 'POST', url: '/auth/login', payload: { email, password: newPassword } })).json<Session>()
  keep(second.accessToken)
  keep(second.refreshToken)

  const servicePassword = keep('Service-pa55word-3')
  const account = await send({ method: 'POST', url: '/service-accounts', headers: hub.admin, payload: { handle: 'logs-seller', password: servicePassword, roleId: 'r1', organizationId: 'o1' } })
  expect(account.statusCode, account.body).toBe(201)
  expect((await send({ method: 'POST', url: '/service-accounts', headers: hub.admin, payload: { handle: 'logs-seller', password: servicePassword, roleId: 'r1', organizationId: 'o1' } })).statusCode).toBe(409)
  const service = (await send({ method: 'POST', url: '/auth/login', payload: { email: account.json<ServiceAccount>().email, password: servicePassword } })).json<Session>()
  keep(service.accessToken)
  keep(service.refreshToken)
  expect((await send({ method: 'GET', url: '/auth/session', headers: bearer(service.accessToken) })).statusCode).toBe(200)

  // a bad bearer value is logged no more than a good one
  const forged = keep(`${session.accessToken.split('.').slice(0, 2).join('.')}.AAAA`)
  expect((await send({ method: 'GET', url: '/customer/me', headers: bearer(forged) })).statusCode).toBe(401)

  // a change of email asked with an Idempotency-Key, and an API token made with one
  const changed = await send({ method: 'PATCH', url: '/customer/me', headers: { ...bearer(second.accessToken), 'idempotency-key': 'logs-change-1' }, payload: { email: 'logs-new@example.com', currentPassword: newPassword } })
  expect(changed.statusCode, changed.body).toBe(200)
  keep(await lastToken(customer.id, 'customer.email_change_requested'))
  const keyed = await send({ method: 'POST', url: '/tokens', headers: { ...hub.admin, 'idempotency-key': 'logs-token-1' }, payload: { name: 'logs-keyed', role: 'platform' } })
  expect(keyed.statusCode, keyed.body).toBe(201)
  keep(keyed.json<CreatedToken>().token)

  // nothing at rest either: no event, kept answer or merge record holds any of them
  const db = hub.database.db
  const stored = [
    ...(await sql<{ t: string }>`SELECT payload::text AS t FROM events`.execute(db)).rows,
    ...(await sql<{ t: string }>`SELECT coalesce(response, '') AS t FROM idempotency_keys`.execute(db)).rows,
    ...(await sql<{ t: string }>`SELECT moved::text AS t FROM merges`.execute(db)).rows,
  ].map((r) => r.t)
  expect(stored.some((t) => t.includes('customer.email_change_requested') || t.includes(customer.id))).toBe(true)
  for (const text of stored) {
    for (const secret of secrets) expect(text.includes(secret), `a stored row holds a secret (${secret.slice(0, 6)}…)`).toBe(false)
  }

  // the logs were captured: every request left its lines
  expect(hub.logs.length).toBeGreaterThanOrEqual(20)
  expect(hub.logs.some((line) => line.includes('/auth/login'))).toBe(true)
  for (const line of hub.logs) {
    for (const secret of secrets) {
      expect(line.includes(secret), `a log line holds a secret (${secret.slice(0, 6)}…): ${line.slice(0, 300)}`).toBe(false)
    }
    // no part of a JWT either: its payload names the customer and role
    for (const jwt of [session.accessToken, refreshed.accessToken, second.accessToken, service.accessToken]) {
      for (const part of jwt.split('.')) expect(line.includes(part)).toBe(false)
    }
  }
})
