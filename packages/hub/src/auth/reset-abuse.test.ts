import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest'
import { sql } from 'kysely'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { expectError } from '../../test/helpers/requests.js'
import { sentToken } from '../../test/helpers/sent-tokens.js'

// Every argon2id hash the hub computes, counted (the real function still does the work).
const hashed = vi.hoisted(() => ({ count: 0 }))
vi.mock('./passwords.js', async (original) => {
  const real = await original<typeof import('./passwords.js')>()
  return { ...real, hashPassword: async (password: string) => (hashed.count++, real.hashPassword(password)) }
})

// POST /auth/password-reset needs no login: it used to hash the new password (argon2id, the
// hub's most expensive work) before it looked at the token, with no limit — anyone could make
// the hub hash as fast as they could send requests.
describe('POST /auth/password-reset abuse', () => {
  let hub: TestHub
  const post = (url: string, payload: object, ip = '203.0.113.7') => hub.app.inject({ method: 'POST', url, payload, remoteAddress: ip })

  beforeAll(async () => {
    hub = await createTestHub({ auth: { loginLimitPerAddress: 5, loginLimitPerEmail: 1000 } })
  })
  afterAll(() => hub.close())

  test('a token that is not valid costs no password hash', async () => {
    const before = hashed.count
    for (const token of ['rst_not-a-token', 'rst_0000000000', 'x'.repeat(100)]) {
      expectError(await post('/auth/password-reset', { token, password: 'a long new password' }, '198.51.100.1'), 400, 'INVALID_TOKEN')
    }
    expect(hashed.count).toBe(before)
  })

  test('a valid token still resets the password (one hash) and cannot be used twice', async () => {
    const email = 'reset-abuse@example.com'
    const created = await hub.app.inject({ method: 'POST', url: '/customer', headers: hub.admin, payload: { email, password: 'the first password' } })
    const id = created.json().id
    expect((await post('/auth/password-reset/request', { email }, '198.51.100.2')).statusCode).toBe(202)
    const token = await sentToken(hub, id, 'customer.password_reset_requested')
    const before = hashed.count
    const reset = await post('/auth/password-reset', { token, password: 'the second password' }, '198.51.100.2')
    expect(reset.json()).toEqual({ customerId: id, passwordChanged: true })
    expect(hashed.count).toBe(before + 1)
    expectError(await post('/auth/password-reset', { token, password: 'a third password' }, '198.51.100.2'), 400, 'INVALID_TOKEN')
    expect(hashed.count).toBe(before + 1)
  })

  test('is limited per client address: past login_limit_per_address it is 429 RATE_LIMITED with Retry-After', async () => {
    const tries = await Promise.all(Array.from({ length: 5 }, () => post('/auth/password-reset', { token: 'rst_guessing', password: 'a long new password' })))
    for (const res of tries) expectError(res, 400, 'INVALID_TOKEN')
    const limited = await post('/auth/password-reset', { token: 'rst_guessing', password: 'a long new password' })
    expectError(limited, 429, 'RATE_LIMITED')
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
    // another address is not limited by this one's attempts
    expectError(await post('/auth/password-reset', { token: 'rst_guessing', password: 'a long new password' }, '192.0.2.9'), 400, 'INVALID_TOKEN')
  })
})
