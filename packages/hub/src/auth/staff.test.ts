import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { sql } from 'kysely'
import type { Customer, Session, StaffUser } from '@his-her/contract'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { bearer, client, expectError, unique, type Call } from '../../test/helpers/requests.js'

let hub: TestHub
let call: Call
const password = 'staff secret passphrase'

beforeAll(async () => {
  hub = await createTestHub()
  call = client(hub)
})
afterAll(async () => {
  await hub?.close()
})

async function staffUser(role: 'admin' | 'support', extra: Record<string, unknown> = {}): Promise<StaffUser> {
  const res = await call('POST', '/staff', { email: `${unique(role)}@staff.example.com`, password, role, ...extra })
  expect(res.status, res.raw).toBe(201)
  return res.body as StaffUser
}
const signIn = (email: string, pw = password) => call('POST', '/auth/staff/login', { email, password: pw }, {})
async function session(user: StaffUser): Promise<Session> {
  const res = await signIn(user.email)
  expect(res.status, res.raw).toBe(200)
  return res.body as Session
}
const as = (s: Session) => bearer(s.accessToken)
const staffRows = async () => (await sql<{ n: number }>`SELECT count(*)::int AS n FROM staff_users`.execute(hub.database.db)).rows[0]!.n

describe('staff users', () => {
  test('an admin makes one: the email is stored trimmed and lower-cased, the password only as an argon2id hash, nothing secret in the answer', async () => {
    const res = await call('POST', '/staff', { email: '  Ada.Lovelace@Staff.Example.com ', password, role: 'support', name: 'Ada' })
    expect(res.status, res.raw).toBe(201)
    expect(res.body).toEqual({ id: expect.stringMatching(/^stf_[0-9A-Z]{26}$/), email: 'ada.lovelace@staff.example.com', name: 'Ada', role: 'support', createdAt: expect.any(String), updatedAt: expect.any(String) })
    expect(res.raw).not.toMatch(/password|hash|argon/i)
    const { rows } = await sql<{ password_hash: string }>`SELECT password_hash FROM staff_users WHERE id = ${res.body.id}`.execute(hub.database.db)
    expect(rows[0]!.password_hash).toMatch(/^\$argon2id\$/)
    expect(rows[0]!.password_hash).not.toContain(password)

    const list = await call('GET', '/staff')
    expect(list.body.data).toContainEqual(res.body)
    expect(list.raw).not.toMatch(/password|hash|argon/i)
  })

  test('bad input is refused and changes nothing: a taken email (any case), a short password, a bad email, an unknown role or field', async () => {
    const user = await staffUser('admin')
    const before = await staffRows()
    expectError(await call('POST', '/staff', { email: user.email.toUpperCase(), password, role: 'support' }), 409, 'STAFF_USER_TAKEN')
    expectError(await call('POST', '/staff', { email: 'short@staff.example.com', password: 'short', role: 'support' }), 400, 'PASSWORD_TOO_SHORT')
    expectError(await call('POST', '/staff', { email: 'not an email', password, role: 'support' }), 400, 'INVALID_EMAIL')
    expectError(await call('POST', '/staff', { email: 'owner@staff.example.com', password, role: 'owner' }), 400, 'VALIDATION_FAILED')
    expectError(await call('POST', '/staff', { email: 'extra@staff.example.com', password, role: 'admin', isRoot: true }), 400, 'VALIDATION_FAILED')
    expectError(await call('PATCH', `/staff/${user.id}`, {}), 400, 'VALIDATION_FAILED')
    expectError(await call('PATCH', `/staff/${user.id}`, { password: 'short' }), 400, 'PASSWORD_TOO_SHORT')
    expectError(await call('PATCH', '/staff/stf_01AAAAAAAAAAAAAAAAAAAAAAAA', { role: 'admin' }), 404, 'STAFF_USER_NOT_FOUND')
    expectError(await call('DELETE', '/staff/stf_01AAAAAAAAAAAAAAAAAAAAAAAA'), 404, 'STAFF_USER_NOT_FOUND')
    expect(await staffRows()).toBe(before)
    expect((await session(user)).accessToken).toBeTruthy() // the short password did not replace it
  })

  test('sign-in: the session says who it is; a wrong password, an unknown email and a customer’s credentials answer the same 401', async () => {
    const user = await staffUser('admin', { name: 'Lead' })
    const s = await session(user)
    expect(s).toMatchObject({ tokenType: 'Bearer', expiresIn: expect.any(Number) })
    const who = await call('GET', '/auth/session', undefined, as(s))
    expect(who.body).toEqual({ kind: 'staff', role: 'admin', staffId: user.id, name: user.email })

    expectError(await signIn(user.email, 'wrong password entirely'), 401, 'INVALID_CREDENTIALS')
    expectError(await signIn('nobody@staff.example.com'), 401, 'INVALID_CREDENTIALS')
    // a customer account is not a staff account, nor the other way round
    const email = `${unique('customer')}@example.com`
    expect((await call('POST', '/customer', { email, password })).status).toBe(201)
    expectError(await signIn(email), 401, 'INVALID_CREDENTIALS')
    expectError(await call('POST', '/auth/login', { email: user.email, password }, {}), 401, 'INVALID_CREDENTIALS')
  })

  test('a staff session refreshes and logs out as a customer’s', async () => {
    const s = await session(await staffUser('support'))
    const refreshed = await call('POST', '/auth/refresh', { refreshToken: s.refreshToken }, {})
    expect(refreshed.status, refreshed.raw).toBe(200)
    expect((await call('GET', '/auth/session', undefined, bearer(refreshed.body.accessToken))).body.kind).toBe('staff')
    expectError(await call('POST', '/auth/refresh', { refreshToken: s.refreshToken }, {}), 401, 'REFRESH_TOKEN_REUSED')
    const again = await session(await staffUser('support'))
    expect((await call('POST', '/auth/logout', { refreshToken: again.refreshToken }, {})).status).toBe(200)
    expectError(await call('POST', '/auth/refresh', { refreshToken: again.refreshToken }, {}), 401, 'INVALID_REFRESH_TOKEN')
  })

  test('support reads everything and changes profiles, addresses and groups; merges, erasures, exports, tokens and webhooks are refused and change nothing', async () => {
    const s = await session(await staffUser('support'))
    const a = (await call('POST', '/customer', { email: `${unique('a')}@example.com`, firstName: 'Ann' })).body as Customer
    const b = (await call('POST', '/customer', { email: `${unique('b')}@example.com` })).body as Customer

    expect((await call('GET', '/customer?limit=5', undefined, as(s))).status).toBe(200)
    expect((await call('GET', `/customer/${a.id}`, undefined, as(s))).body.firstName).toBe('Ann')
    expect((await call('GET', `/customer/lookup?email=${encodeURIComponent(a.email!)}`, undefined, as(s))).status).toBe(200)
    expect((await call('GET', `/customer/${a.id}/history`, undefined, as(s))).status).toBe(200)
    expect((await call('GET', '/events?limit=5', undefined, as(s))).status).toBe(200)
    const patched = await call('PATCH', `/customer/${a.id}`, { firstName: 'Anna' }, as(s))
    expect(patched.status, patched.raw).toBe(200)
    expect(patched.body.firstName).toBe('Anna')
    const address = await call('POST', `/customer/${a.id}/address`, { line1: '1 Main St', city: 'Springfield', country: 'US' }, as(s))
    expect(address.status, address.raw).toBe(201)
    expect((await call('POST', `/customer/${a.id}/group`, { group: 'vip' }, as(s))).status).toBe(200)

    expectError(await call('POST', `/customer/${a.id}/merge`, { sourceId: b.id }, as(s)), 403, 'FORBIDDEN')
    expectError(await call('POST', `/customer/${b.id}/erase`, {}, as(s)), 403, 'FORBIDDEN')
    expectError(await call('GET', `/customer/${b.id}/export`, undefined, as(s)), 403, 'FORBIDDEN')
    expectError(await call('DELETE', `/customer/${b.id}`, undefined, as(s)), 403, 'FORBIDDEN')
    expectError(await call('POST', '/tokens', { name: unique('t'), role: 'admin' }, as(s)), 403, 'FORBIDDEN')
    expectError(await call('GET', '/webhooks', undefined, as(s)), 403, 'FORBIDDEN')
    expectError(await call('POST', '/staff', { email: 'x@staff.example.com', password, role: 'admin' }, as(s)), 403, 'FORBIDDEN')
    const after = await call('GET', `/customer/${b.id}`)
    expect(after.status).toBe(200)
    expect(after.body.email).toBe(b.email)
  })

  test('a staff admin does what an admin token does: a merge, a staff user', async () => {
    const s = await session(await staffUser('admin'))
    const a = (await call('POST', '/customer', { email: `${unique('a')}@example.com` })).body as Customer
    const b = (await call('POST', '/customer', { email: `${unique('b')}@example.com` })).body as Customer
    const merged = await call('POST', `/customer/${a.id}/merge`, { sourceId: b.id }, as(s))
    expect(merged.status, merged.raw).toBe(200)
    expect((await call('POST', '/staff', { email: `${unique('new')}@staff.example.com`, password, role: 'support' }, as(s))).status).toBe(201)
  })

  test('a changed role applies at the next request of a token already issued', async () => {
    const user = await staffUser('support')
    const s = await session(user)
    expectError(await call('GET', '/tokens', undefined, as(s)), 403, 'FORBIDDEN')
    const promoted = await call('PATCH', `/staff/${user.id}`, { role: 'admin', name: 'Promoted' })
    expect(promoted.body).toMatchObject({ role: 'admin', name: 'Promoted' })
    expect((await call('GET', '/tokens', undefined, as(s))).status).toBe(200)
    await call('PATCH', `/staff/${user.id}`, { role: 'support' })
    expectError(await call('GET', '/tokens', undefined, as(s)), 403, 'FORBIDDEN')
  })

  test('a new password ends every session: access and refresh tokens issued before are refused, the new password signs in', async () => {
    const user = await staffUser('support')
    const s = await session(user)
    const changed = await call('PATCH', `/staff/${user.id}`, { password: 'another staff passphrase' })
    expect(changed.status, changed.raw).toBe(200)
    expectError(await call('GET', '/auth/session', undefined, as(s)), 401, 'UNAUTHORIZED')
    expectError(await call('POST', '/auth/refresh', { refreshToken: s.refreshToken }, {}), 401, 'INVALID_REFRESH_TOKEN')
    expectError(await signIn(user.email), 401, 'INVALID_CREDENTIALS')
    expect((await signIn(user.email, 'another staff passphrase')).status).toBe(200)
  })

  test('a disabled user cannot sign in and its tokens stop at once; its email can be given to a new user', async () => {
    const user = await staffUser('admin')
    const s = await session(user)
    const disabled = await call('DELETE', `/staff/${user.id}`)
    expect(disabled.body).toEqual({ disabled: true, id: user.id })
    expectError(await call('GET', '/auth/session', undefined, as(s)), 401, 'UNAUTHORIZED')
    expectError(await call('POST', '/auth/refresh', { refreshToken: s.refreshToken }, {}), 401, 'INVALID_REFRESH_TOKEN')
    expectError(await signIn(user.email), 401, 'INVALID_CREDENTIALS')
    expect((await call('GET', '/staff')).body.data.map((u: StaffUser) => u.id)).not.toContain(user.id)
    expectError(await call('DELETE', `/staff/${user.id}`), 404, 'STAFF_USER_NOT_FOUND')

    const successor = await call('POST', '/staff', { email: user.email, password, role: 'support' })
    expect(successor.status, successor.raw).toBe(201)
    expect(successor.body.id).not.toBe(user.id)
    expect((await signIn(user.email)).status).toBe(200)
  })

  test('wrong passwords are limited per address as a customer’s sign-in is', async () => {
    const limited = await createTestHub({ auth: { loginLimitPerAddress: 3 } })
    try {
      const res = await limited.app.inject({ method: 'POST', url: '/staff', headers: limited.admin, payload: { email: 'lim@staff.example.com', password, role: 'admin' } })
      expect(res.statusCode, res.body).toBe(201)
      const attempt = (pw: string) => limited.app.inject({ method: 'POST', url: '/auth/staff/login', payload: { email: 'lim@staff.example.com', password: pw } })
      const answers: number[] = []
      for (let i = 0; i < 6; i++) answers.push((await attempt('wrong password here')).statusCode)
      expect(answers.slice(0, 1)).toEqual([401])
      expect(answers.at(-1)).toBe(429)
      expectError(await attempt(password), 429, 'RATE_LIMITED')
    } finally {
      await limited.close()
    }
  })
})
