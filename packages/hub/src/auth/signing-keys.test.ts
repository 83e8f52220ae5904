import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { decodeJwt, decodeProtectedHeader, importPKCS8, SignJWT, type JSONWebKeySet } from 'jose'
import { sql } from 'kysely'
import type { Session } from '@his-her/contract'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { createSealer } from '../secrets.js'

// Two hub instances on one database, as two processes behind a load balancer.
let a: TestHub
let b: TestHub
const password = 'correct horse battery'

beforeAll(async () => {
  a = await createTestHub({ customer: { requireEmailVerification: false } })
  b = await createTestHub({ customer: { requireEmailVerification: false }, database: a.database })
  const created = await a.app.inject({ method: 'POST', url: '/customer', headers: a.admin, payload: { email: 'two@example.com', password } })
  expect(created.statusCode, created.body).toBe(201)
})
afterAll(async () => {
  await b?.close()
  await a?.close()
})

async function login(hub: TestHub): Promise<Session> {
  const res = await hub.app.inject({ method: 'POST', url: '/auth/login', payload: { email: 'two@example.com', password } })
  expect(res.statusCode, res.body).toBe(200)
  return res.json<Session>()
}

const me = (hub: TestHub, token: string) => hub.app.inject({ method: 'GET', url: '/customer/me', headers: { authorization: `Bearer ${token}` } })

describe('signing keys shared by several hub processes', () => {
  test('both sign with the same first key, and each accepts the tokens of the other', async () => {
    const fromA = await login(a)
    const fromB = await login(b)
    expect(decodeProtectedHeader(fromA.accessToken).kid).toBe(decodeProtectedHeader(fromB.accessToken).kid)
    expect((await me(b, fromA.accessToken)).statusCode).toBe(200)
    expect((await me(a, fromB.accessToken)).statusCode).toBe(200)
  })

  test('a key made by one process verifies at once in the other, for many requests at the same time', async () => {
    await login(b) // b has its key set loaded
    const rotated = await a.app.inject({ method: 'POST', url: '/keys/rotate', headers: a.admin })
    expect(rotated.statusCode).toBe(200)
    const kid = rotated.json<{ kid: string }>().kid
    const session = await login(a)
    expect(decodeProtectedHeader(session.accessToken).kid).toBe(kid)

    const jwks = (await b.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json<JSONWebKeySet>()
    expect(jwks.keys.map((k) => k.kid)).toContain(kid)

    const answers = await Promise.all(Array.from({ length: 8 }, () => me(b, session.accessToken)))
    expect(answers.map((r) => r.statusCode)).toEqual(Array(8).fill(200))
  })

  test('a token of an unknown kid does not stop the next process-made key from verifying', async () => {
    const forged = `${Buffer.from(JSON.stringify({ alg: 'EdDSA', kid: 'key_01AAAAAAAAAAAAAAAAAAAAAAAA' })).toString('base64url')}.e30.AAAA`
    expect((await me(b, forged)).statusCode).toBe(401)
    const rotated = await a.app.inject({ method: 'POST', url: '/keys/rotate', headers: a.admin })
    expect(rotated.statusCode).toBe(200)
    const session = await login(a)
    // b looked the unknown kid up a moment ago; the new key must verify all the same
    expect((await me(b, forged)).statusCode).toBe(401)
    expect((await me(b, session.accessToken)).statusCode).toBe(200)
  })
})

describe('one current signing key, guarded by the database', () => {
  test('a second unretired key is refused by signing_keys_one_current; rotations and first keys made together end with one current key', async () => {
    await login(a)
    const current = async () => (await sql<{ kid: string }>`SELECT kid FROM signing_keys WHERE retired_at IS NULL`.execute(a.database.db)).rows
    expect(await current()).toHaveLength(1)
    const second = sql`INSERT INTO signing_keys (kid, public_jwk, private_key_enc) VALUES ('key_second', '{}'::jsonb, 'x')`.execute(a.database.db)
    await expect(second).rejects.toMatchObject({ code: '23505', constraint: 'signing_keys_one_current' })

    // two processes rotating at once: one current key after both
    const rotations = await Promise.all([a, b].map((hub) => hub.app.inject({ method: 'POST', url: '/keys/rotate', headers: hub.admin })))
    expect(rotations.map((r) => r.statusCode), rotations.map((r) => r.body).join()).toEqual([200, 200])
    expect(await current()).toHaveLength(1)

    // an empty key table, and both processes asked for a key at the same moment
    await sql`UPDATE signing_keys SET retired_at = now() - interval '1 day' WHERE retired_at IS NULL`.execute(a.database.db)
    const fresh = await createTestHub({ customer: { requireEmailVerification: false }, database: a.database })
    const other = await createTestHub({ customer: { requireEmailVerification: false }, database: a.database })
    try {
      const sessions = await Promise.all([login(fresh), login(other), login(fresh), login(other)])
      expect(new Set(sessions.map((s) => decodeProtectedHeader(s.accessToken).kid)).size).toBe(1)
      expect(await current()).toHaveLength(1)
    } finally {
      await other.app.close()
      await fresh.app.close()
    }
  })
})

describe('how long a token and its key verify', () => {
  /** A token the hub would sign, signed with the private key of `kid` (read as the hub reads it), with the times given. */
  async function forge(hub: TestHub, kid: string, customerId: string, iat: number, exp: number): Promise<string> {
    const { rows } = await sql<{ private_key_enc: string }>`SELECT private_key_enc FROM signing_keys WHERE kid = ${kid}`.execute(hub.database.db)
    const privateKey = await importPKCS8(createSealer(hub.config.secret!, 'signing keys').open(rows[0]!.private_key_enc), 'EdDSA')
    return new SignJWT({ role: 'customer' }).setProtectedHeader({ alg: 'EdDSA', kid, typ: 'JWT' }).setSubject(customerId)
      .setIssuer('customer-hub').setAudience('customer-hub').setIssuedAt(iat).setExpirationTime(exp).sign(privateKey)
  }

  test('a key retired longer ago than a token lives no longer verifies, even for a token not yet expired', async () => {
    const rotate = async () => expect((await a.app.inject({ method: 'POST', url: '/keys/rotate', headers: a.admin })).statusCode).toBe(200)
    await rotate() // a key of this test's own, current now
    const session = await login(a)
    const oldKid = decodeProtectedHeader(session.accessToken).kid!
    await rotate()
    const fresh = await createTestHub({ customer: { requireEmailVerification: false }, database: a.database })
    try {
      // retired a moment ago: its tokens still verify
      expect((await me(fresh, session.accessToken)).statusCode).toBe(200)
      // as if the rotation had been a token lifetime (15 minutes) and a minute ago
      await sql`UPDATE signing_keys SET retired_at = now() - make_interval(secs => ${15 * 60 + 61}) WHERE kid = ${oldKid}`.execute(a.database.db)
      const later = await createTestHub({ customer: { requireEmailVerification: false }, database: a.database })
      try {
        const now = Math.floor(Date.now() / 1000)
        const stillValid = await forge(a, oldKid, decodeJwt(session.accessToken).sub!, now, now + 600)
        expect((await me(later, stillValid)).statusCode).toBe(401)
        expect((await me(later, session.accessToken)).statusCode).toBe(401)
      } finally {
        await later.app.close()
      }
    } finally {
      await fresh.app.close()
    }
  })

  test('a token older than its lifetime (and the skew) is refused, whatever its exp says', async () => {
    expect((await a.app.inject({ method: 'POST', url: '/keys/rotate', headers: a.admin })).statusCode).toBe(200)
    const session = await login(a)
    const kid = decodeProtectedHeader(session.accessToken).kid!
    const now = Math.floor(Date.now() / 1000)
    const customerId = decodeJwt(session.accessToken).sub!
    const young = await forge(a, kid, customerId, now - 60, now + 3600)
    expect((await me(a, young)).statusCode).toBe(200)
    const old = await forge(a, kid, customerId, now - 2 * 3600, now + 3600)
    const res = await me(a, old)
    expect(res.statusCode).toBe(401)
    expect(res.json().code).toBe('TOKEN_EXPIRED')
  })
})
