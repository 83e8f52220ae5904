import { createHmac } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { decodeProtectedHeader, generateKeyPair, SignJWT, type JSONWebKeySet, type JWTPayload } from 'jose'
import type { Customer, Session } from '@his-her/contract'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { createSigningKeys } from './signing-keys.js'

let hub: TestHub
let customer: Customer
let session: Session
let hubKid: string
let publicX: string
const password = 'correct horse battery'

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')
const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
const me = (token: string) => hub.app.inject({ method: 'GET', url: '/customer/me', headers: bearer(token) })
const now = () => Math.floor(Date.now() / 1000)

beforeAll(async () => {
  hub = await createTestHub({ customer: { requireEmailVerification: false } })
  const created = await hub.app.inject({ method: 'POST', url: '/customer', headers: hub.admin, payload: { email: 'attacked@example.com', password } })
  expect(created.statusCode, created.body).toBe(201)
  customer = created.json<Customer>()
  const res = await hub.app.inject({ method: 'POST', url: '/auth/login', payload: { email: 'attacked@example.com', password } })
  expect(res.statusCode, res.body).toBe(200)
  session = res.json<Session>()
  hubKid = decodeProtectedHeader(session.accessToken).kid!
  const jwks = (await hub.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json<JSONWebKeySet>()
  publicX = jwks.keys.find((k) => k.kid === hubKid)!.x!
  // the real token works: every refusal below is about the forgery, not the setup
  expect((await me(session.accessToken)).statusCode).toBe(200)
})
afterAll(async () => {
  await hub?.close()
})

/** Claims a valid customer token of `customer` would carry. */
function claims(extra: JWTPayload = {}): JWTPayload {
  return { role: 'customer', sub: customer.id, iss: 'customer-hub', aud: 'customer-hub', iat: now(), exp: now() + 600, ...extra }
}

function expectUnauthorized(res: { statusCode: number; body: string; json(): unknown }, code = 'UNAUTHORIZED') {
  expect(res.statusCode, res.body).toBe(401)
  expect(res.json()).toMatchObject({ statusCode: 401, code, error: 'Unauthorized' })
}

/** Signs with the hub's own current private key, loaded the way the hub loads it. */
async function signWithHubKey(payload: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  const signer = await createSigningKeys({ secret: hub.config.secret!, accessTokenTtl: hub.config.auth.accessTokenTtl }).signer(hub.database.db)
  expect(signer.kid).toBe(hubKid)
  return new SignJWT(payload).setProtectedHeader({ alg: 'EdDSA', kid: signer.kid, typ: 'JWT', ...header }).sign(signer.privateKey)
}

describe('forged and broken access tokens', () => {
  test('alg "none" with an empty signature is refused', async () => {
    for (const header of [{ alg: 'none', typ: 'JWT' }, { alg: 'none', kid: hubKid }, { alg: 'None', kid: hubKid }, { alg: 'EdDSA', kid: hubKid }]) {
      const token = `${b64(header)}.${b64(claims())}.`
      expectUnauthorized(await me(token))
    }
  })

  test('HS256 signed with the public key as the HMAC secret is refused', async () => {
    const header = { alg: 'HS256', typ: 'JWT', kid: hubKid }
    const input = `${b64(header)}.${b64(claims())}`
    for (const secret of [Buffer.from(publicX, 'base64url'), Buffer.from(publicX)]) {
      const token = `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
      expectUnauthorized(await me(token))
    }
  })

  test('a token signed by another Ed25519 key is refused, under its own kid or the hub\'s', async () => {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' })
    for (const kid of ['key_01AAAAAAAAAAAAAAAAAAAAAAAA', hubKid]) {
      const token = await new SignJWT(claims()).setProtectedHeader({ alg: 'EdDSA', kid, typ: 'JWT' }).sign(privateKey)
      expectUnauthorized(await me(token))
    }
  })

  test('an expired token is 401 TOKEN_EXPIRED; the same token unexpired works', async () => {
    const fresh = await signWithHubKey(claims())
    expect((await me(fresh)).statusCode, 'a token minted with the hub key is accepted').toBe(200)
    const expired = await signWithHubKey(claims({ iat: now() - 1000, exp: now() - 10 }))
    expectUnauthorized(await me(expired), 'TOKEN_EXPIRED')
  })

  test('tokens signed by the hub key but with a wrong issuer, audience, role or no expiry are refused', async () => {
    expectUnauthorized(await me(await signWithHubKey(claims({ iss: 'someone-else' }))))
    expectUnauthorized(await me(await signWithHubKey(claims({ aud: 'another-service' }))))
    expectUnauthorized(await me(await signWithHubKey(claims({ role: 'admin' }))))
    const noExp = claims()
    delete noExp.exp
    expectUnauthorized(await me(await signWithHubKey(noExp)))
    // an admin role claim gets no admin rights
    const adminClaim = await signWithHubKey(claims({ role: 'admin' }))
    expectUnauthorized(await hub.app.inject({ method: 'GET', url: '/customer', headers: bearer(adminClaim) }))
  })

  test('a tampered payload or signature is refused', async () => {
    const [h, p, s] = session.accessToken.split('.') as [string, string, string]
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as JWTPayload
    for (const change of [{ role: 'admin' }, { sub: 'cus_01AAAAAAAAAAAAAAAAAAAAAAAA' }, { exp: now() + 86_400 * 365 }]) {
      expectUnauthorized(await me(`${h}.${b64({ ...payload, ...change })}.${s}`))
    }
    const flipped = Buffer.from(s, 'base64url')
    flipped[0] = flipped[0]! ^ 1
    expectUnauthorized(await me(`${h}.${p}.${flipped.toString('base64url')}`))
    expectUnauthorized(await me(`${h}.${p}.`))
    // the header's kid swapped for another: no key, refused
    expectUnauthorized(await me(`${b64({ alg: 'EdDSA', kid: 'key_nope' })}.${p}.${s}`))
  })

  test('malformed bearer values are 401, never 500', async () => {
    for (const token of ['a.b.c', 'e30.e30.', '!!!.???.***', `${b64('not json')}.${b64(claims())}.`, `${b64({ alg: 'EdDSA', kid: 42 })}.${b64(claims())}.x`, 'x'.repeat(5000)]) {
      const res = await hub.app.inject({ method: 'GET', url: '/customer/me', headers: { authorization: `Bearer ${token}` } })
      expect(res.statusCode, `${token.slice(0, 40)}: ${res.body}`).toBe(401)
    }
  })

  test('a revoked API token is refused', async () => {
    const created = await hub.app.inject({ method: 'POST', url: '/tokens', headers: hub.admin, payload: { name: 'attack-revoked', role: 'admin' } })
    expect(created.statusCode).toBe(201)
    const token = created.json<{ token: string }>().token
    expect((await hub.app.inject({ method: 'GET', url: '/customer', headers: bearer(token) })).statusCode).toBe(200)
    expect((await hub.app.inject({ method: 'DELETE', url: '/tokens/attack-revoked', headers: hub.admin })).statusCode).toBe(200)
    expectUnauthorized(await hub.app.inject({ method: 'GET', url: '/customer', headers: bearer(token) }))
  })
})
