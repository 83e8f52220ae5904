import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { SignJWT } from 'jose'
import { sql } from 'kysely'
import type { Session } from '@his-her/contract'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { expectError } from '../../test/helpers/requests.js'
import { createSigningKeys } from './signing-keys.js'

// A client could present wrong bearer tokens (API tokens, the admin token, broken JWTs) without
// limit: each was one more guess, and one more lookup in the database.
const limit = 5
const password = 'correct horse battery'
let a: TestHub
let b: TestHub
let platform: Record<string, string>
let session: Session

const get = (hub: TestHub, url: string, remoteAddress: string, headers: Record<string, string> = {}) => hub.app.inject({ method: 'GET', url, remoteAddress, headers })
const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
const guess = (i: number | string) => bearer(`chub_guess-${i}`)

async function rateLimitRows(): Promise<number> {
  const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM rate_limits`.execute(a.database.db)
  return rows[0]!.n
}

beforeAll(async () => {
  // two hubs on one database, as two processes behind a load balancer
  a = await createTestHub({ customer: { requireEmailVerification: false }, auth: { tokenFailuresPerAddress: limit } })
  b = await createTestHub({ customer: { requireEmailVerification: false }, auth: { tokenFailuresPerAddress: limit }, database: a.database })
  platform = await a.platform()
  const created = await a.app.inject({ method: 'POST', url: '/customer', headers: a.admin, payload: { email: 'guessed@example.com', password } })
  expect(created.statusCode, created.body).toBe(201)
  const res = await a.app.inject({ method: 'POST', url: '/auth/login', payload: { email: 'guessed@example.com', password }, remoteAddress: '198.51.100.250' })
  expect(res.statusCode, res.body).toBe(200)
  session = res.json<Session>()
})
afterAll(async () => {
  await b?.close()
  await a?.close()
})

describe('failed bearer tokens are limited per client address', () => {
  test(`past ${limit} wrong API tokens from one address, every API token from there is 429 RATE_LIMITED with Retry-After`, async () => {
    const from = '203.0.113.10'
    for (let i = 0; i < limit; i++) expectError(await get(a, '/auth/session', from, guess(i)), 401, 'UNAUTHORIZED')
    const held = await get(a, '/auth/session', from, guess('next'))
    expectError(held, 429, 'RATE_LIMITED')
    expect(Number(held.headers['retry-after'])).toBeGreaterThan(0)
    expect(Number(held.headers['retry-after'])).toBeLessThanOrEqual(a.config.auth.tokenFailureWindow)
    // a right guess would not be told apart: the admin token from there is held too
    expectError(await get(a, '/auth/session', from, a.admin), 429, 'RATE_LIMITED')
    // another address is not held: a valid token works, a wrong one is 401
    expect((await get(a, '/auth/session', '198.51.100.1', a.admin)).statusCode).toBe(200)
    expectError(await get(a, '/auth/session', '198.51.100.1', guess('elsewhere')), 401, 'UNAUTHORIZED')
    // an access token cannot be guessed (it is signed): a valid one still works from the held address
    expect((await get(a, '/customer/me', from, bearer(session.accessToken))).statusCode).toBe(200)
  })

  test('another hub process holds the address too (the count is in the database), and lets it go when the window has passed', async () => {
    const from = '203.0.113.11'
    for (let i = 0; i < limit; i++) expectError(await get(a, '/auth/session', from, guess(`x${i}`)), 401, 'UNAUTHORIZED')
    // b has seen no failure from this address, and accepted no token yet
    expectError(await get(b, '/auth/session', from, guess('on-b')), 429, 'RATE_LIMITED')
    expectError(await get(b, '/auth/session', from, platform), 429, 'RATE_LIMITED')
    expect((await get(b, '/auth/session', '198.51.100.2', platform)).statusCode).toBe(200)
    await sql`UPDATE rate_limits SET window_start = window_start - make_interval(secs => ${a.config.auth.tokenFailureWindow})`.execute(a.database.db)
    expectError(await get(b, '/auth/session', from, guess('later')), 401, 'UNAUTHORIZED')
    expect((await get(b, '/auth/session', from, platform)).statusCode).toBe(200)
  })

  test('malformed and forged JWTs count as failures', async () => {
    const from = '203.0.113.12'
    const { privateKey } = await import('jose').then((j) => j.generateKeyPair('EdDSA', { crv: 'Ed25519' }))
    const forged = await new SignJWT({ role: 'customer' }).setProtectedHeader({ alg: 'EdDSA', kid: 'key_forged' }).setSubject('cus_x').setIssuedAt().setExpirationTime('5m').sign(privateKey)
    const broken = ['a.b.c', 'eyJhbGciOiJub25lIn0.e30.', forged, `${session.accessToken.slice(0, -4)}AAAA`, forged]
    for (const token of broken) expectError(await get(a, '/customer/me', from, bearer(token)), 401, 'UNAUTHORIZED')
    expectError(await get(a, '/auth/session', from, platform), 429, 'RATE_LIMITED')
  })

  test('an expired access token and a request without a token are not guesses', async () => {
    const from = '203.0.113.13'
    const signer = await createSigningKeys({ secret: a.config.secret!, accessTokenTtl: a.config.auth.accessTokenTtl }).signer(a.database.db)
    const now = Math.floor(Date.now() / 1000)
    const expired = await new SignJWT({ role: 'customer' }).setProtectedHeader({ alg: 'EdDSA', kid: signer.kid, typ: 'JWT' })
      .setSubject('cus_x').setIssuer('customer-hub').setAudience('customer-hub').setIssuedAt(now - 1000).setExpirationTime(now - 10).sign(signer.privateKey)
    for (let i = 0; i < 2 * limit; i++) {
      expectError(await get(a, '/customer/me', from, bearer(expired)), 401, 'TOKEN_EXPIRED')
      expectError(await get(a, '/auth/session', from), 401, 'UNAUTHORIZED')
    }
    expect((await get(a, '/auth/session', from, platform)).statusCode).toBe(200)
  })

  test('a successful authentication writes nothing and counts nothing', async () => {
    const from = '203.0.113.14'
    const rows = await rateLimitRows()
    for (let i = 0; i < 3 * limit; i++) {
      expect((await get(a, '/auth/session', from, i % 2 ? platform : a.admin)).statusCode).toBe(200)
      expect((await get(a, '/customer/me', from, bearer(session.accessToken))).statusCode).toBe(200)
    }
    expect(await rateLimitRows()).toBe(rows)
    // failures below the limit and successes between them: the failures alone are counted
    for (let i = 0; i < limit; i++) {
      expect((await get(a, '/auth/session', from, a.admin)).statusCode).toBe(200)
      expectError(await get(a, '/auth/session', from, guess(`y${i}`)), 401, 'UNAUTHORIZED')
    }
    expectError(await get(a, '/auth/session', from, guess('past')), 429, 'RATE_LIMITED')
  })
})
