import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { sql } from 'kysely'
import type { Session } from '@his-her/contract'
import { createTestDatabase, createTestHub, type TestDatabase, type TestHub } from '../../test/helpers/test-hub.js'
import { bearer, expectError } from '../../test/helpers/requests.js'
import { sentToken } from '../../test/helpers/sent-tokens.js'

const password = 'correct horse battery'
let seq = 0
const email = (tag: string) => `${tag}-${++seq}-${Date.now().toString(36)}@example.com`

let database: TestDatabase
let hub: TestHub
beforeAll(async () => {
  database = await createTestDatabase()
  // three wrong passwords per window, so the limit shows in a test
  hub = await createTestHub({ database, customer: { requireEmailVerification: false }, auth: { loginLimitPerEmail: 3 } })
})
afterAll(async () => {
  await hub?.close()
  await database?.close()
})

const inject = (h: TestHub, method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object, headers: Record<string, string> = {}) =>
  h.app.inject({ method, url, headers, ...(payload ? { payload: payload as Record<string, unknown> } : {}) })

async function account(h: TestHub, tag = 'me') {
  const address = email(tag)
  const created = await inject(h, 'POST', '/customer', { email: address, password, firstName: 'Ada' }, h.admin)
  expect(created.statusCode, created.body).toBe(201)
  const id = created.json().id as string
  await sql`UPDATE customers SET email_verified = true WHERE id = ${id}`.execute(h.database.db)
  const login = await inject(h, 'POST', '/auth/login', { email: address, password })
  expect(login.statusCode, login.body).toBe(200)
  const session = login.json<Session>()
  return { id, email: address, session, headers: bearer(session.accessToken) }
}

/** Everything of one customer a change could touch. */
async function state(h: TestHub, id: string) {
  const customer = (await sql`SELECT email, phone, email_verified, password_hash FROM customers WHERE id = ${id}`.execute(h.database.db)).rows[0]
  const identities = (await sql`SELECT kind, value FROM identities WHERE customer_id = ${id} ORDER BY kind, value`.execute(h.database.db)).rows
  return { customer, identities }
}

describe('a customer changing its email or phone', () => {
  test("typing another person's email links nothing: the next checkout with that email does not reach the typist", async () => {
    const attacker = await account(hub, 'attacker')
    const victim = email('victim')
    const before = await state(hub, attacker.id)

    // no password: refused, nothing changes
    expectError(await inject(hub, 'PATCH', '/customer/me', { email: victim }, attacker.headers), 403, 'CURRENT_PASSWORD_REQUIRED')
    expect(await state(hub, attacker.id)).toEqual(before)

    // with the password: accepted, but only pending
    const patched = await inject(hub, 'PATCH', '/customer/me', { email: victim, currentPassword: password }, attacker.headers)
    expect(patched.statusCode, patched.body).toBe(200)
    expect(patched.json()).toMatchObject({ email: attacker.email, pending: { email: victim, phone: null } })
    expect(await state(hub, attacker.id)).toEqual(before)

    // the victim checks out on a store: the sync makes (or finds) the victim's own record
    const sync = await inject(hub, 'POST', '/customer/sync', { platform: { component: 'identity.shop', externalId: `v${seq}` }, email: victim, firstName: 'Victim' }, hub.admin)
    expect(sync.statusCode, sync.body).toBe(201)
    expect(sync.json().documentId).not.toBe(attacker.id)

    // the token went to the victim's address, not to the attacker
    const events = (await sql<{ type: string; payload: any }>`SELECT type, payload FROM events WHERE customer_id = ${attacker.id} AND type IN ('customer.email_change_requested', 'customer.contact_change_notice') ORDER BY position`.execute(hub.database.db)).rows
    expect(events.map((e) => e.type)).toEqual(['customer.email_change_requested', 'customer.contact_change_notice'])
    expect(events[0]!.payload).toMatchObject({ customerId: attacker.id, email: victim })
    expect(events[0]!.payload).not.toHaveProperty('token')
    // the current address is told, with the new one masked
    expect(events[1]!.payload).toEqual({ customerId: attacker.id, email: attacker.email, change: 'email', newValue: `v***@example.com` })

    // once the victim's record holds the email, the change cannot complete even with the token
    const token = await sentToken(hub, attacker.id, 'customer.email_change_requested')
    expectError(await inject(hub, 'POST', '/auth/verify-email', { token }), 409, 'EMAIL_TAKEN')
    expect(await state(hub, attacker.id)).toEqual(before)
  })

  test('a wrong current password changes nothing and is counted: a stolen access token cannot guess it', async () => {
    const me = await account(hub)
    const before = await state(hub, me.id)
    for (let i = 0; i < 3; i++) {
      expectError(await inject(hub, 'PATCH', '/customer/me', { email: email('new'), currentPassword: `wrong ${i}` }, me.headers), 403, 'CURRENT_PASSWORD_REQUIRED')
    }
    // the limit is reached: even the right password waits now
    const limited = await inject(hub, 'PATCH', '/customer/me', { email: email('new'), currentPassword: password }, me.headers)
    expectError(limited, 429, 'RATE_LIMITED')
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
    expect(await state(hub, me.id)).toEqual(before)
    const pending = await sql<{ n: number }>`SELECT count(*)::int AS n FROM one_time_tokens WHERE customer_id = ${me.id}`.execute(hub.database.db)
    expect(pending.rows[0]!.n).toBe(0)
  })

  test('the token moves the email and verifies it; the old email no longer logs in, the new one does', async () => {
    const me = await account(hub)
    const next = email('next')
    expect((await inject(hub, 'PATCH', '/customer/me', { email: next, currentPassword: password }, me.headers)).statusCode).toBe(200)
    const token = await sentToken(hub, me.id, 'customer.email_change_requested')
    expect(token).toMatch(/^vrf_/)
    const verified = await inject(hub, 'POST', '/auth/verify-email', { token })
    expect(verified.json()).toEqual({ customerId: me.id, emailVerified: true })
    expect(await state(hub, me.id)).toMatchObject({ customer: { email: next, email_verified: true }, identities: [{ kind: 'email', value: next }] })
    expectError(await inject(hub, 'POST', '/auth/login', { email: me.email, password }), 401, 'INVALID_CREDENTIALS')
    expect((await inject(hub, 'POST', '/auth/login', { email: next, password })).statusCode).toBe(200)
    // single use
    expectError(await inject(hub, 'POST', '/auth/verify-email', { token }), 400, 'INVALID_TOKEN')
    expect((await inject(hub, 'GET', '/customer/me', undefined, me.headers)).json().pending).toEqual({ email: null, phone: null })
  })

  test('a newer request replaces a pending one; an email changed meanwhile voids the token', async () => {
    const me = await account(hub)
    await inject(hub, 'PATCH', '/customer/me', { email: email('first'), currentPassword: password }, me.headers)
    const first = await sentToken(hub, me.id, 'customer.email_change_requested')
    const second = email('second')
    await inject(hub, 'PATCH', '/customer/me', { email: second, currentPassword: password }, me.headers)
    const latest = await sentToken(hub, me.id, 'customer.email_change_requested')
    expectError(await inject(hub, 'POST', '/auth/verify-email', { token: first }), 400, 'INVALID_TOKEN')
    expect((await inject(hub, 'GET', '/customer/me', undefined, me.headers)).json().pending.email).toBe(second)

    // an admin changes the email: the pending change (asked under the old email) is void
    expect((await inject(hub, 'PATCH', `/customer/${me.id}`, { email: email('admin') }, hub.admin)).statusCode).toBe(200)
    expectError(await inject(hub, 'POST', '/auth/verify-email', { token: latest }), 400, 'INVALID_TOKEN')
  })

  test('a new phone waits for its token; removing the phone needs the password and happens at once', async () => {
    const me = await account(hub)
    const phone = '+14155550142'
    expectError(await inject(hub, 'PATCH', '/customer/me', { phone }, me.headers), 403, 'CURRENT_PASSWORD_REQUIRED')
    const patched = await inject(hub, 'PATCH', '/customer/me', { phone: '(415) 555-0142', currentPassword: password }, me.headers)
    expect(patched.json()).toMatchObject({ phone: null, pending: { email: null, phone } })
    const event = (await sql<{ payload: any }>`SELECT payload FROM events WHERE customer_id = ${me.id} AND type = 'customer.phone_change_requested'`.execute(hub.database.db)).rows[0]!
    expect(event.payload).toMatchObject({ customerId: me.id, phone })
    expect(event.payload).not.toHaveProperty('token')
    const notice = (await sql<{ payload: any }>`SELECT payload FROM events WHERE customer_id = ${me.id} AND type = 'customer.contact_change_notice'`.execute(hub.database.db)).rows[0]!
    expect(notice.payload).toEqual({ customerId: me.id, email: me.email, change: 'phone', newValue: '+14*****0142' })

    const token = await sentToken(hub, me.id, 'customer.phone_change_requested')
    expect(token).toMatch(/^vph_/)
    // a phone token is not an email token, and the other way round
    expectError(await inject(hub, 'POST', '/auth/verify-email', { token }), 400, 'INVALID_TOKEN')
    expect((await inject(hub, 'POST', '/auth/verify-phone', { token })).json()).toEqual({ customerId: me.id, phone })
    expect(await state(hub, me.id)).toMatchObject({ customer: { phone }, identities: expect.arrayContaining([{ kind: 'phone', value: phone }]) })

    expectError(await inject(hub, 'PATCH', '/customer/me', { phone: null }, me.headers), 403, 'CURRENT_PASSWORD_REQUIRED')
    const removed = await inject(hub, 'PATCH', '/customer/me', { phone: null, currentPassword: password }, me.headers)
    expect(removed.json()).toMatchObject({ phone: null })
  })

  test('a phone another customer took while the change waited is 409 PHONE_TAKEN at the token, changing nothing', async () => {
    const me = await account(hub)
    const phone = '+14155550177'
    await inject(hub, 'PATCH', '/customer/me', { phone, currentPassword: password }, me.headers)
    const token = await sentToken(hub, me.id, 'customer.phone_change_requested')
    expect((await inject(hub, 'POST', '/customer', { email: email('holder'), phone }, hub.admin)).statusCode).toBe(201)
    const before = await state(hub, me.id)
    expectError(await inject(hub, 'POST', '/auth/verify-phone', { token }), 409, 'PHONE_TAKEN')
    expect(await state(hub, me.id)).toEqual(before)
  })

  test('a name needs no password; a password alone is an empty patch', async () => {
    const me = await account(hub)
    expect((await inject(hub, 'PATCH', '/customer/me', { firstName: 'Grace' }, me.headers)).json()).toMatchObject({ firstName: 'Grace' })
    expectError(await inject(hub, 'PATCH', '/customer/me', { currentPassword: password }, me.headers), 400, 'EMPTY_PATCH')
    // the same email again is no change and needs no password
    expect((await inject(hub, 'PATCH', '/customer/me', { email: me.email.toUpperCase() }, me.headers)).statusCode).toBe(200)
  })
})

describe('sessions of accounts that must verify their email', () => {
  test('refresh refuses a session once the email is no longer verified', async () => {
    const strict = await createTestHub({ database, customer: { requireEmailVerification: true } })
    try {
      const me = await account(strict, 'strict')
      const refreshed = await inject(strict, 'POST', '/auth/refresh', { refreshToken: me.session.refreshToken })
      expect(refreshed.statusCode, refreshed.body).toBe(200)
      // an admin changes the email: the new one is not verified
      expect((await inject(strict, 'PATCH', `/customer/${me.id}`, { email: email('changed') }, strict.admin)).statusCode).toBe(200)
      expectError(await inject(strict, 'POST', '/auth/refresh', { refreshToken: refreshed.json<Session>().refreshToken }), 401, 'INVALID_REFRESH_TOKEN')
    } finally {
      await strict.close()
    }
  })
})
