import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { sql } from 'kysely'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose'
import type { Customer, Session } from '@his-her/contract'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { bearer, expectError } from '../../test/helpers/requests.js'

let hub: TestHub
let seq = 0
const password = 'correct horse battery'

beforeAll(async () => {
  hub = await createTestHub({ customer: { requireEmailVerification: false }, auth: { loginLimitPerEmail: 1000, loginLimitPerAddress: 1000 } })
})
afterAll(async () => {
  await hub?.close()
})

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')

async function register(): Promise<{ customer: Customer; email: string }> {
  const email = `session${++seq}@example.com`
  const res = await hub.app.inject({ method: 'POST', url: '/customer', headers: hub.admin, payload: { email, password } })
  expect(res.statusCode, res.body).toBe(201)
  const customer = res.json<Customer>()
  expect(customer.hasAccount).toBe(true)
  return { customer, email }
}

async function login(email: string): Promise<Session> {
  const res = await hub.app.inject({ method: 'POST', url: '/auth/login', payload: { email, password } })
  expect(res.statusCode, res.body).toBe(200)
  return res.json<Session>()
}

const refresh = (refreshToken: string) => hub.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken } })
const me = (accessToken: string) => hub.app.inject({ method: 'GET', url: '/customer/me', headers: bearer(accessToken) })

async function jwks(): Promise<JSONWebKeySet> {
  const res = await hub.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
  expect(res.statusCode).toBe(200)
  return res.json<JSONWebKeySet>()
}

describe('customer login', () => {
  test('login answers a Bearer session whose access token verifies against the JWKS', async () => {
    const { customer, email } = await register()
    const session = await login(email)
    expect(Object.keys(session).sort()).toEqual(['accessToken', 'expiresIn', 'refreshToken', 'tokenType'])
    expect(session.tokenType).toBe('Bearer')
    expect(session.expiresIn).toBe(hub.config.auth.accessTokenTtl)
    expect(session.refreshToken).not.toBe(session.accessToken)

    const set = await jwks()
    const header = decodeProtectedHeader(session.accessToken)
    expect(header.alg).toBe('EdDSA')
    expect(set.keys.map((k) => k.kid)).toContain(header.kid)
    for (const key of set.keys) expect(key, 'no private part in the JWKS').not.toHaveProperty('d')

    const { payload } = await jwtVerify(session.accessToken, createLocalJWKSet(set), { issuer: 'customer-hub', audience: 'customer-hub' })
    expect(payload.sub).toBe(customer.id)
    expect(payload.role).toBe('customer')
    expect(payload.exp! - payload.iat!).toBe(hub.config.auth.accessTokenTtl)

    const mine = await me(session.accessToken)
    expect(mine.statusCode, mine.body).toBe(200)
    expect(mine.json<Customer>().id).toBe(customer.id)

    const who = await hub.app.inject({ method: 'GET', url: '/auth/session', headers: bearer(session.accessToken) })
    expect(who.json()).toEqual({ kind: 'customer', role: 'customer', customerId: customer.id })
  })

  test('the email is matched without regard to case and surrounding spaces', async () => {
    const { email } = await register()
    const res = await hub.app.inject({ method: 'POST', url: '/auth/login', payload: { email: `  ${email.toUpperCase()} `, password } })
    expect(res.statusCode, res.body).toBe(200)
  })

  test('a guest record cannot log in', async () => {
    const email = `guest${++seq}@example.com`
    expect((await hub.app.inject({ method: 'POST', url: '/customer', headers: hub.admin, payload: { email } })).statusCode).toBe(201)
    expectError(await hub.app.inject({ method: 'POST', url: '/auth/login', payload: { email, password } }), 401, 'INVALID_CREDENTIALS')
  })

  test('a deleted customer cannot log in', async () => {
    const { customer, email } = await register()
    expect((await hub.app.inject({ method: 'DELETE', url: `/customer/${customer.id}`, headers: hub.admin })).statusCode).toBe(200)
    expectError(await hub.app.inject({ method: 'POST', url: '/auth/login', payload: { email, password } }), 401, 'INVALID_CREDENTIALS')
  })
})

describe('signing key rotation', () => {
  test('a new key signs new tokens; tokens signed before keep working and both keys are in the JWKS', async () => {
    const { email } = await register()
    const before = await login(email)
    const oldKid = decodeProtectedHeader(before.accessToken).kid!

    const rotated = await hub.app.inject({ method: 'POST', url: '/keys/rotate', headers: hub.admin })
    expect(rotated.statusCode, rotated.body).toBe(200)
    const newKid = rotated.json<{ kid: string }>().kid
    expect(newKid).toMatch(/^key_/)
    expect(newKid).not.toBe(oldKid)

    const set = await jwks()
    expect(set.keys.map((k) => k.kid)).toEqual(expect.arrayContaining([oldKid, newKid]))
    // the old token still verifies, for the hub and for anyone holding the JWKS
    expect((await me(before.accessToken)).statusCode).toBe(200)
    await jwtVerify(before.accessToken, createLocalJWKSet(set), { issuer: 'customer-hub', audience: 'customer-hub' })

    const after = await login(email)
    expect(decodeProtectedHeader(after.accessToken).kid).toBe(newKid)
    expect((await me(after.accessToken)).statusCode).toBe(200)
    await jwtVerify(after.accessToken, createLocalJWKSet(set), { issuer: 'customer-hub', audience: 'customer-hub' })
    // a refresh also signs with the new key
    const refreshed = await refresh(before.refreshToken)
    expect(refreshed.statusCode).toBe(200)
    expect(decodeProtectedHeader(refreshed.json<Session>().accessToken).kid).toBe(newKid)
  })

  test('only an admin may rotate', async () => {
    const { email } = await register()
    const session = await login(email)
    expectError(await hub.app.inject({ method: 'POST', url: '/keys/rotate', headers: await hub.platform() }), 403, 'FORBIDDEN')
    expectError(await hub.app.inject({ method: 'POST', url: '/keys/rotate', headers: bearer(session.accessToken) }), 403, 'FORBIDDEN')
    expectError(await hub.app.inject({ method: 'POST', url: '/keys/rotate' }), 401, 'UNAUTHORIZED')
  })
})

describe('refresh tokens', () => {
  test('a refresh rotates the token; presenting the old one again revokes the whole family', async () => {
    const { customer, email } = await register()
    const first = await login(email)
    const second = await refresh(first.refreshToken)
    expect(second.statusCode, second.body).toBe(200)
    const s2 = second.json<Session>()
    expect(s2.refreshToken).not.toBe(first.refreshToken)
    expect(s2.accessToken).not.toBe(first.accessToken)
    expect((await me(s2.accessToken)).json<Customer>().id).toBe(customer.id)

    const third = await refresh(s2.refreshToken)
    expect(third.statusCode).toBe(200)
    const s3 = third.json<Session>()

    // the first token again: theft is assumed
    expectError(await refresh(first.refreshToken), 401, 'REFRESH_TOKEN_REUSED')
    // and the newest token of that family is dead too
    expectError(await refresh(s3.refreshToken), 401, 'INVALID_REFRESH_TOKEN')
    expectError(await refresh(s2.refreshToken), 401, 'INVALID_REFRESH_TOKEN')

    // another session (another family) of the same customer is untouched
    const other = await login(email)
    expect((await refresh(other.refreshToken)).statusCode).toBe(200)
  })

  test('two concurrent refreshes with one token: exactly one succeeds, and reuse kills the family', async () => {
    const { email } = await register()
    for (let round = 0; round < 5; round++) {
      const session = await login(email)
      const answers = await Promise.all([refresh(session.refreshToken), refresh(session.refreshToken)])
      const codes = answers.map((a) => a.statusCode).sort()
      expect(codes, answers.map((a) => a.body).join(' ')).toEqual([200, 401])
      const winner = answers.find((a) => a.statusCode === 200)!.json<Session>()
      const loser = answers.find((a) => a.statusCode === 401)!
      expect(['REFRESH_TOKEN_REUSED', 'INVALID_REFRESH_TOKEN']).toContain(loser.json<{ code: string }>().code)
      // the reuse was seen, so the winner's new refresh token (of the same family) is revoked as well
      expectError(await refresh(winner.refreshToken), 401, 'INVALID_REFRESH_TOKEN')
    }
  })

  test('logout revokes the session; unknown and malformed tokens are refused', async () => {
    const { email } = await register()
    const session = await login(email)
    const out = await hub.app.inject({ method: 'POST', url: '/auth/logout', payload: { refreshToken: session.refreshToken } })
    expect(out.statusCode, out.body).toBe(200)
    expect(out.json()).toEqual({ loggedOut: true })
    expectError(await refresh(session.refreshToken), 401, 'INVALID_REFRESH_TOKEN')

    expectError(await refresh('rft_' + 'A'.repeat(43)), 401, 'INVALID_REFRESH_TOKEN')
    expectError(await refresh('short'), 400, 'VALIDATION_FAILED')
    expectError(await hub.app.inject({ method: 'POST', url: '/auth/refresh', payload: {} }), 400, 'VALIDATION_FAILED')
    // an access token is not a refresh token
    expectError(await refresh(session.accessToken.slice(0, 200)), 401, 'INVALID_REFRESH_TOKEN')
  })

  test('an expired refresh token is refused', async () => {
    const { email } = await register()
    const session = await login(email)
    await sql`UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = ${sha256(session.refreshToken)}`.execute(hub.database.db)
    expectError(await refresh(session.refreshToken), 401, 'INVALID_REFRESH_TOKEN')
  })

  test("a family begun before the account's sessions_valid_after is refused, even one a revocation missed", async () => {
    const { customer, email } = await register()
    const before = await login(email)
    const earlier = (await refresh(before.refreshToken)).json<Session>()
    // a password reset, with the token its email would carry
    const token = `rst_${'r'.repeat(40)}${++seq}`
    await sql`
      INSERT INTO one_time_tokens (id, purpose, customer_id, email, token_hash, expires_at)
      VALUES (${`ott_cutoff${seq}`}, 'password_reset', ${customer.id}, ${email}, ${sha256(token)}, now() + interval '10 minutes')`.execute(hub.database.db)
    const newPassword = 'a brand new passphrase'
    const reset = await hub.app.inject({ method: 'POST', url: '/auth/password-reset', payload: { token, password: newPassword } })
    expect(reset.statusCode, reset.body).toBe(200)
    const cutoff = await sql<{ n: number }>`SELECT count(*)::int AS n FROM customer_session_cutoffs WHERE customer_id = ${customer.id} AND sessions_valid_after <= now()`.execute(hub.database.db)
    expect(cutoff.rows[0]!.n).toBe(1)
    // as if the reset's revocation had not seen the family (a sign-in committed after it looked)
    const family = sql`(SELECT family_id FROM refresh_tokens WHERE token_hash = ${sha256(earlier.refreshToken)})`
    await sql`UPDATE refresh_families SET revoked_at = NULL WHERE id = ${family}`.execute(hub.database.db)
    await sql`UPDATE refresh_tokens SET revoked_at = NULL WHERE family_id = ${family}`.execute(hub.database.db)
    expectError(await refresh(earlier.refreshToken), 401, 'INVALID_REFRESH_TOKEN')
    // the refusal revoked the family again
    const revoked = await sql<{ revoked: boolean }>`SELECT revoked_at IS NOT NULL AS revoked FROM refresh_families WHERE id = ${family}`.execute(hub.database.db)
    expect(revoked.rows[0]!.revoked).toBe(true)

    // a session begun after the reset refreshes
    const after = await hub.app.inject({ method: 'POST', url: '/auth/login', payload: { email, password: newPassword } })
    expect(after.statusCode, after.body).toBe(200)
    expect((await refresh(after.json<Session>().refreshToken)).statusCode).toBe(200)
  })

  test('a refresh token of a customer deleted since is refused', async () => {
    const { customer, email } = await register()
    const session = await login(email)
    expect((await hub.app.inject({ method: 'DELETE', url: `/customer/${customer.id}`, headers: hub.admin })).statusCode).toBe(200)
    expectError(await refresh(session.refreshToken), 401, 'INVALID_REFRESH_TOKEN')
  })
})

describe('what the database keeps', () => {
  test('refresh tokens only as SHA-256, private signing keys only encrypted', async () => {
    const { email } = await register()
    const session = await login(email)
    const refreshed = (await refresh(session.refreshToken)).json<Session>()

    const { rows } = await sql<Record<string, unknown>>`SELECT * FROM refresh_tokens`.execute(hub.database.db)
    const dump = JSON.stringify(rows)
    for (const token of [session.refreshToken, refreshed.refreshToken, session.accessToken, refreshed.accessToken]) expect(dump).not.toContain(token)
    const hashes = rows.map((r) => r.token_hash)
    expect(hashes).toContain(sha256(session.refreshToken))
    expect(hashes).toContain(sha256(refreshed.refreshToken))

    const keys = await sql<{ kid: string; public_jwk: Record<string, unknown>; private_key_enc: string }>`SELECT kid, public_jwk, private_key_enc FROM signing_keys`.execute(hub.database.db)
    expect(keys.rows.length).toBeGreaterThan(0)
    for (const key of keys.rows) {
      expect(key.public_jwk, 'the public JWK carries no private part').not.toHaveProperty('d')
      expect(key.public_jwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: key.kid })
      expect(key.private_key_enc).not.toMatch(/BEGIN|PRIVATE KEY/)
      // an Ed25519 PKCS#8 key in base64 starts with MC4CAQAwBQYDK2Vw
      expect(key.private_key_enc).not.toContain('MC4CAQAwBQYDK2Vw')
      const parts = key.private_key_enc.split('.')
      expect(parts).toHaveLength(3)
      for (const part of parts) {
        const bytes = Buffer.from(part, 'base64url')
        expect(bytes.toString('latin1')).not.toMatch(/PRIVATE KEY|MC4CAQ/)
        // the DER of a PKCS#8 Ed25519 key: 30 2e 02 01 00 30 05 06 03 2b 65 70
        expect(bytes.includes(Buffer.from('302e020100300506032b6570', 'hex'))).toBe(false)
      }
    }
  })
})
