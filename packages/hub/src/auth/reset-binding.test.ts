import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { sql } from 'kysely'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { expectError } from '../../test/helpers/requests.js'
import { sentToken } from '../../test/helpers/sent-tokens.js'

// A reset or verification link belongs to the address it was sent to: once the account's email
// changes, or once a reset is done, the other links sent before must stop working — or whoever
// still has an old mailbox (or an old email) can take the account back.
describe('one-time tokens are bound to their email and revoked when it no longer holds', () => {
  let hub: TestHub
  const post = (url: string, payload: object) => hub.app.inject({ method: 'POST', url, payload, remoteAddress: '198.51.100.40' })
  const login = (email: string, password: string) => post('/auth/login', { email, password })
  let n = 0

  async function account(): Promise<{ id: string; email: string }> {
    const email = `bound${++n}@example.com`
    const res = await hub.app.inject({ method: 'POST', url: '/customer', headers: hub.admin, payload: { email, password: 'the first password' } })
    expect(res.statusCode, res.body).toBe(201)
    return { id: res.json().id, email }
  }
  async function tokenSent(customerId: string, email: string, kind: 'reset' | 'verify'): Promise<string> {
    const res = await post(kind === 'reset' ? '/auth/password-reset/request' : '/auth/verify-email/request', { email })
    expect(res.statusCode).toBe(202)
    const type = kind === 'reset' ? 'customer.password_reset_requested' : 'customer.verification_requested'
    return sentToken(hub, customerId, type)
  }

  beforeAll(async () => {
    hub = await createTestHub({ customer: { requireEmailVerification: false }, auth: { loginLimitPerEmail: 1000, loginLimitPerAddress: 1000 } })
  })
  afterAll(() => hub.close())

  test('a changed email revokes the reset and verification links sent to the old one', async () => {
    const { id, email } = await account()
    const reset = await tokenSent(id, email, 'reset')
    const verify = await tokenSent(id, email, 'verify')
    const changed = await hub.app.inject({ method: 'PATCH', url: `/customer/${id}`, headers: hub.admin, payload: { email: `moved${n}@example.com` } })
    expect(changed.statusCode).toBe(200)
    expectError(await post('/auth/password-reset', { token: reset, password: 'an attacker password' }), 400, 'INVALID_TOKEN')
    expectError(await post('/auth/verify-email', { token: verify }), 400, 'INVALID_TOKEN')
    expect((await login(`moved${n}@example.com`, 'the first password')).statusCode).toBe(200)
  })

  test('a reset revokes every other reset link of the account', async () => {
    const { id, email } = await account()
    const first = await tokenSent(id, email, 'reset')
    const second = await tokenSent(id, email, 'reset')
    expect((await post('/auth/password-reset', { token: second, password: 'the second password' })).statusCode).toBe(200)
    expectError(await post('/auth/password-reset', { token: first, password: 'an attacker password' }), 400, 'INVALID_TOKEN')
    expect((await login(email, 'the second password')).statusCode).toBe(200)
  })

  test('a reset token works only while the account has the email it was sent to', async () => {
    const { id, email } = await account()
    const reset = await tokenSent(id, email, 'reset')
    // the email changes behind the token's back (as a path that revokes nothing would)
    await sql`UPDATE customers SET email = ${`elsewhere${n}@example.com`} WHERE id = ${id}`.execute(hub.database.db)
    expectError(await post('/auth/password-reset', { token: reset, password: 'an attacker password' }), 400, 'INVALID_TOKEN')
    await sql`UPDATE customers SET email = ${email} WHERE id = ${id}`.execute(hub.database.db)
    expect((await login(email, 'the first password')).statusCode).toBe(200)
  })
})
