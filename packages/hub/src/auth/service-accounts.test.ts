import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { sql } from 'kysely'
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose'
import type { Customer, ServiceAccount, Session } from '@his-her/contract'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { bearer, expectError } from '../../test/helpers/requests.js'

let hub: TestHub
let seq = 0
const password = 'seller secret passphrase'

beforeAll(async () => {
  // require_email_verification stays on: it concerns customers, not service accounts
  hub = await createTestHub()
})
afterAll(async () => {
  await hub?.close()
})

function input(extra: Record<string, unknown> = {}) {
  return { handle: `seller-${++seq}`, password, roleId: 'role_seller', organizationId: 'org_market', providerId: `prov_${seq}`, ...extra }
}

const create = (payload: Record<string, unknown>, headers = hub.admin) => hub.app.inject({ method: 'POST', url: '/service-accounts', headers, payload })
const login = (email: string, pw = password) => hub.app.inject({ method: 'POST', url: '/auth/login', payload: { email, password: pw } })

describe('service accounts', () => {
  test('an admin creates one: email <handle>@service.local, no password or hash in the answer', async () => {
    const body = input()
    const res = await create(body)
    expect(res.statusCode, res.body).toBe(201)
    const account = res.json<ServiceAccount>()
    expect(account).toEqual({
      id: expect.stringMatching(/^svc_/),
      handle: body.handle,
      email: `${body.handle}@service.local`,
      roleId: 'role_seller',
      organizationId: 'org_market',
      providerId: body.providerId,
      createdAt: expect.any(String),
    })
    expect(res.body).not.toContain(password)
    expect(res.body).not.toMatch(/password|hash|argon/i)

    const list = await hub.app.inject({ method: 'GET', url: '/service-accounts', headers: hub.admin })
    expect(list.statusCode).toBe(200)
    expect(list.json<{ data: ServiceAccount[] }>().data).toContainEqual(account)
    expect(list.body).not.toMatch(/password|hash|argon/i)

    const { rows } = await sql<{ password_hash: string }>`SELECT password_hash FROM service_accounts WHERE id = ${account.id}`.execute(hub.database.db)
    expect(rows[0]!.password_hash).toMatch(/^\$argon2id\$/)
    expect(rows[0]!.password_hash).not.toContain(password)
  })

  test('without a provider the account has providerId null', async () => {
    const { providerId: _omit, ...body } = input()
    const res = await create(body)
    expect(res.statusCode, res.body).toBe(201)
    expect(res.json<ServiceAccount>().providerId).toBeNull()
  })

  test('only an admin may create or list them', async () => {
    const platform = await hub.platform()
    expectError(await create(input(), platform), 403, 'FORBIDDEN')
    expectError(await hub.app.inject({ method: 'GET', url: '/service-accounts', headers: platform }), 403, 'FORBIDDEN')
    expectError(await hub.app.inject({ method: 'POST', url: '/service-accounts', payload: input() }), 401, 'UNAUTHORIZED')
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM service_accounts WHERE handle LIKE 'seller-%' AND created_at > now() - interval '1 minute' AND organization_id = 'nope'`.execute(hub.database.db)
    expect(rows[0]!.n).toBe(0)
  })

  test('a taken handle is 409 SERVICE_ACCOUNT_TAKEN; bad input is 400', async () => {
    const body = input()
    expect((await create(body)).statusCode).toBe(201)
    expectError(await create({ ...body, password: 'another passphrase', providerId: 'prov_other' }), 409, 'SERVICE_ACCOUNT_TAKEN')
    expectError(await create(input({ password: 'short' })), 400, 'PASSWORD_TOO_SHORT')
    expectError(await create(input({ handle: 'Has Space' })), 400, 'VALIDATION_FAILED')
    expectError(await create(input({ handle: 'evil@example.com' })), 400, 'VALIDATION_FAILED')
    expectError(await create(input({ role: 'admin' })), 400, 'VALIDATION_FAILED')
    expectError(await create({}), 400, 'VALIDATION_FAILED')
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM service_accounts WHERE handle = ${body.handle}`.execute(hub.database.db)
    expect(rows[0]!.n).toBe(1)
  })

  test('it logs in with email and password and gets a service token', async () => {
    const body = input()
    const account = (await create(body)).json<ServiceAccount>()
    expectError(await login(account.email, 'not the password'), 401, 'INVALID_CREDENTIALS')
    const res = await login(account.email)
    expect(res.statusCode, res.body).toBe(200)
    const session = res.json<Session>()

    const jwks = (await hub.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json<JSONWebKeySet>()
    const { payload } = await jwtVerify(session.accessToken, createLocalJWKSet(jwks), { issuer: 'customer-hub', audience: 'customer-hub' })
    expect(payload).toMatchObject({ sub: account.id, role: 'service' })

    const who = await hub.app.inject({ method: 'GET', url: '/auth/session', headers: bearer(session.accessToken) })
    expect(who.statusCode, who.body).toBe(200)
    expect(who.json()).toEqual({
      kind: 'service',
      role: 'service',
      serviceAccountId: account.id,
      providerId: body.providerId,
      organizationId: 'org_market',
      name: body.handle,
    })

    // the session refreshes like a customer's, and stays a service session
    const refreshed = await hub.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken: session.refreshToken } })
    expect(refreshed.statusCode, refreshed.body).toBe(200)
    const again = await hub.app.inject({ method: 'GET', url: '/auth/session', headers: bearer(refreshed.json<Session>().accessToken) })
    expect(again.json()).toMatchObject({ kind: 'service', serviceAccountId: account.id, providerId: body.providerId })
  })

  test('a service token may not call customer routes', async () => {
    const account = (await create(input())).json<ServiceAccount>()
    const token = (await login(account.email)).json<Session>().accessToken
    const someone = await hub.app.inject({ method: 'POST', url: '/customer', headers: hub.admin, payload: { email: `buyer${++seq}@example.com` } })
    const id = someone.json<Customer>().id
    const requests = [
      { method: 'GET', url: '/customer/me' },
      { method: 'PATCH', url: '/customer/me', payload: { firstName: 'X' } },
      { method: 'POST', url: '/customer/me/address', payload: { line1: '1 Main St', city: 'Springfield', country: 'US' } },
      { method: 'GET', url: '/customer/me/identities' },
      { method: 'GET', url: `/customer/${id}` },
      { method: 'PATCH', url: `/customer/${id}`, payload: { firstName: 'X' } },
      { method: 'GET', url: '/customer' },
      { method: 'POST', url: '/customer', payload: { email: `x${++seq}@example.com` } },
      { method: 'POST', url: '/customer/sync', payload: { platform: 'shop', email: `y${++seq}@example.com` } },
      { method: 'GET', url: '/events' },
      { method: 'GET', url: '/tokens' },
      { method: 'GET', url: '/service-accounts' },
      { method: 'POST', url: '/keys/rotate' },
    ] as const
    for (const r of requests) {
      const res = await hub.app.inject({ ...r, headers: bearer(token) })
      expect(res.statusCode, `${r.method} ${r.url}: ${res.body}`).toBe(403)
      expect(res.json()).toMatchObject({ code: 'FORBIDDEN' })
    }
    const read = await hub.app.inject({ method: 'GET', url: `/customer/${id}`, headers: hub.admin })
    expect(read.json<Customer>().firstName).toBeNull()
  })

  test('a customer registered under a service account\'s email neither locks it out nor gets in', async () => {
    const account = (await create(input())).json<ServiceAccount>()
    // a customer registered with the same email address: the service account keeps its own login
    const res = await hub.app.inject({ method: 'POST', url: '/customer', headers: hub.admin, payload: { email: account.email, password: 'customer passphrase' } })
    if (res.statusCode === 201) {
      const asCustomer = await login(account.email, 'customer passphrase')
      expect(asCustomer.statusCode, asCustomer.body).not.toBe(200)
    } else {
      expect(res.statusCode).toBeGreaterThanOrEqual(400)
      expect(res.statusCode).toBeLessThan(500)
    }
    const asService = await login(account.email)
    expect(asService.statusCode, asService.body).toBe(200)
    const who = await hub.app.inject({ method: 'GET', url: '/auth/session', headers: bearer(asService.json<Session>().accessToken) })
    expect(who.json()).toMatchObject({ kind: 'service', serviceAccountId: account.id })
  })
})
