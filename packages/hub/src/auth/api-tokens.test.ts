import { createHash } from 'node:crypto'
import type { InjectOptions } from 'fastify'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { sql } from 'kysely'
import type { ApiTokenInfo, CreatedToken, Customer } from '@his-her/contract'
import { createTestDatabase, createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { bearer, expectError } from '../../test/helpers/requests.js'
import { createApiTokenService, hashToken } from './api-token-service.js'
import { withTransaction } from '../db/executor.js'

let hub: TestHub
let seq = 0

beforeAll(async () => {
  hub = await createTestHub()
})
afterAll(async () => {
  await hub?.close()
})

type Inject = InjectOptions

function send(opts: Inject) {
  return hub.app.inject(opts)
}

async function createToken(name: string, role: 'admin' | 'platform' | 'metrics:read' = 'platform'): Promise<CreatedToken> {
  const res = await send({ method: 'POST', url: '/tokens', headers: hub.admin, payload: { name, role } })
  expect(res.statusCode, res.body).toBe(201)
  return res.json()
}

describe('API tokens', () => {
  test('a created token works as a bearer token and is stored only as its SHA-256', async () => {
    const created = await createToken('shop-main')
    expect(created).toMatchObject({ name: 'shop-main', role: 'platform', lastUsedAt: null })
    expect(created.id).toMatch(/^tok_/)
    expect(created.token.length).toBeGreaterThanOrEqual(40)

    const use = await send({ method: 'POST', url: '/customer', headers: bearer(created.token), payload: { email: `tok${++seq}@example.com` } })
    expect(use.statusCode, use.body).toBe(201)

    const { rows } = await sql<{ token_hash: string }>`SELECT token_hash FROM api_tokens WHERE id = ${created.id}`.execute(hub.database.db)
    expect(rows[0]!.token_hash).toMatch(/^[0-9a-f]{64}$/)
    expect(rows[0]!.token_hash).toBe(createHash('sha256').update(created.token).digest('hex'))
    // no column of any token row holds a plain token
    const all = await sql<Record<string, unknown>>`SELECT * FROM api_tokens`.execute(hub.database.db)
    expect(JSON.stringify(all.rows)).not.toContain(created.token)
  })

  test('the list never shows a token or its hash', async () => {
    const a = await createToken('list-a')
    const b = await createToken('list-b', 'admin')
    const res = await send({ method: 'GET', url: '/tokens', headers: hub.admin })
    expect(res.statusCode).toBe(200)
    const list = res.json<{ data: ApiTokenInfo[] }>().data
    expect(list.map((t) => t.name)).toEqual(expect.arrayContaining(['list-a', 'list-b']))
    for (const t of list) expect(Object.keys(t).sort()).toEqual(['components', 'createdAt', 'id', 'lastUsedAt', 'name', 'platforms', 'role'])
    for (const secret of [a.token, b.token, hashToken(a.token), hashToken(b.token)]) expect(res.body).not.toContain(secret)
    expect(res.body).not.toMatch(/token_?hash|"token"/i)
  })

  test('a revoked token is 401 UNAUTHORIZED; revoking twice is 404 TOKEN_NOT_FOUND', async () => {
    const created = await createToken('to-revoke')
    expect((await send({ method: 'GET', url: '/customer/cus_01AAAAAAAAAAAAAAAAAAAAAAAA', headers: bearer(created.token) })).statusCode).toBe(404)

    const revoke = await send({ method: 'DELETE', url: '/tokens/to-revoke', headers: hub.admin })
    expect(revoke.statusCode).toBe(200)
    expect(revoke.json()).toEqual({ revoked: true, name: 'to-revoke' })

    expectError(await send({ method: 'GET', url: '/customer/cus_01AAAAAAAAAAAAAAAAAAAAAAAA', headers: bearer(created.token) }), 401, 'UNAUTHORIZED')
    expectError(await send({ method: 'POST', url: '/customer', headers: bearer(created.token), payload: { email: `rev${++seq}@example.com` } }), 401, 'UNAUTHORIZED')
    expectError(await send({ method: 'DELETE', url: '/tokens/to-revoke', headers: hub.admin }), 404, 'TOKEN_NOT_FOUND')
    const list = (await send({ method: 'GET', url: '/tokens', headers: hub.admin })).json<{ data: ApiTokenInfo[] }>().data
    expect(list.map((t) => t.name)).not.toContain('to-revoke')

    // the name is free again once revoked
    const again = await createToken('to-revoke')
    expect(again.token).not.toBe(created.token)
    expect((await send({ method: 'GET', url: '/customer/cus_01AAAAAAAAAAAAAAAAAAAAAAAA', headers: bearer(again.token) })).statusCode).toBe(404)
  })

  test('a duplicate active name is 409 TOKEN_NAME_TAKEN and makes no token', async () => {
    await createToken('dup-name')
    const count = async () => (await sql<{ n: number }>`SELECT count(*)::int AS n FROM api_tokens`.execute(hub.database.db)).rows[0]!.n
    const before = await count()
    const res = await send({ method: 'POST', url: '/tokens', headers: hub.admin, payload: { name: 'dup-name', role: 'admin' } })
    expectError(res, 409, 'TOKEN_NAME_TAKEN')
    expect(await count()).toBe(before)
  })

  test('bad token input is 400', async () => {
    for (const payload of [{ name: 'x' }, { name: 'bad name', role: 'platform' }, { name: 'ok', role: 'root' }, { name: 'ok', role: 'admin', extra: 1 }]) {
      expectError(await send({ method: 'POST', url: '/tokens', headers: hub.admin, payload }), 400, 'VALIDATION_FAILED')
    }
  })

  test('missing, garbage or non-bearer authorization is 401 UNAUTHORIZED', async () => {
    const headersList: Record<string, string>[] = [
      {},
      { authorization: '' },
      { authorization: 'Bearer' },
      { authorization: 'Bearer ' },
      { authorization: 'Bearer not-a-token' },
      { authorization: `Bearer ${hub.adminToken}x` },
      { authorization: `Bearer ${hub.adminToken} extra` },
      { authorization: `Basic ${Buffer.from(`admin:${hub.adminToken}`).toString('base64')}` },
      { authorization: `Basic ${hub.adminToken}` },
      { authorization: hub.adminToken },
      { authorization: `Token ${hub.adminToken}` },
    ]
    for (const headers of headersList) {
      for (const [method, url] of [['GET', '/tokens'], ['GET', '/customer'], ['POST', '/orders'], ['GET', '/events']] as const) {
        const res = await send({ method, url, headers })
        expect(res.statusCode, `${JSON.stringify(headers)} ${method} ${url}`).toBe(401)
        expect(res.json()).toMatchObject({ statusCode: 401, code: 'UNAUTHORIZED', error: 'Unauthorized' })
      }
    }
    // the scheme name is case-insensitive
    expect((await send({ method: 'GET', url: '/tokens', headers: { authorization: `bearer ${hub.adminToken}` } })).statusCode).toBe(200)
  })

  test('a platform token may create, read and update customers and report orders', async () => {
    const platform = await hub.platform()
    const created = await send({ method: 'POST', url: '/customer', headers: platform, payload: { email: `plat${++seq}@example.com` } })
    expect(created.statusCode, created.body).toBe(201)
    const id = created.json<Customer>().id
    expect((await send({ method: 'GET', url: `/customer/${id}`, headers: platform })).statusCode).toBe(200)
    const patched = await send({ method: 'PATCH', url: `/customer/${id}`, headers: platform, payload: { firstName: 'Pat' } })
    expect(patched.statusCode).toBe(200)
    expect(patched.json().firstName).toBe('Pat')
    const order = await send({
      method: 'POST',
      url: '/orders',
      headers: platform,
      payload: { platform: 'shop', externalId: `p-${seq}`, customerId: id, total: 10, currency: 'USD', placedAt: '2024-01-01T00:00:00Z' },
    })
    expect(order.statusCode, order.body).toBe(201)
  })

  test('a platform token is 403 FORBIDDEN on admin routes and changes nothing', async () => {
    const platform = await hub.platform()
    const victim = (await send({ method: 'POST', url: '/customer', headers: hub.admin, payload: { email: `victim${++seq}@example.com` } })).json<Customer>()
    await createToken('keep-me')
    const forbidden: Inject[] = [
      { method: 'DELETE', url: `/customer/${victim.id}` },
      { method: 'GET', url: '/customer' },
      { method: 'GET', url: '/customer?email=a@example.com' },
      { method: 'GET', url: '/events' },
      { method: 'GET', url: '/tokens' },
      { method: 'POST', url: '/tokens', payload: { name: 'escalate', role: 'admin' } },
      { method: 'DELETE', url: '/tokens/keep-me' },
    ]
    for (const opts of forbidden) {
      const res = await send({ ...opts, headers: platform })
      expect(res.statusCode, `${opts.method} ${opts.url}`).toBe(403)
      expect(res.json()).toMatchObject({ statusCode: 403, code: 'FORBIDDEN', error: 'Forbidden' })
    }
    expect((await send({ method: 'GET', url: `/customer/${victim.id}`, headers: hub.admin })).statusCode).toBe(200)
    const names = (await send({ method: 'GET', url: '/tokens', headers: hub.admin })).json<{ data: ApiTokenInfo[] }>().data.map((t) => t.name)
    expect(names).toContain('keep-me')
    expect(names).not.toContain('escalate')
  })

  test('a metrics:read token reads the metrics and nothing else, and cannot be made into another role', async () => {
    const scraper = await createToken('prometheus', 'metrics:read')
    expect(scraper).toMatchObject({ name: 'prometheus', role: 'metrics:read', components: null, platforms: null })
    const metrics = await send({ method: 'GET', url: '/metrics', headers: bearer(scraper.token) })
    expect(metrics.statusCode, metrics.body).toBe(200)
    expect(metrics.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8')
    expect(metrics.body).toContain('# TYPE hub_http_requests_total counter')
    const session = await send({ method: 'GET', url: '/auth/session', headers: bearer(scraper.token) })
    expect(session.json()).toMatchObject({ kind: 'api-token', role: 'metrics:read' })

    // neither it nor another token can be given a wider role through it
    await createToken('keep-me-too')
    const forbidden: Inject[] = [
      { method: 'POST', url: '/tokens', payload: { name: 'escalate', role: 'admin' } },
      { method: 'POST', url: '/tokens', payload: { name: 'prometheus-2', role: 'metrics:read' } },
      { method: 'GET', url: '/tokens' },
      { method: 'DELETE', url: '/tokens/keep-me-too' },
      { method: 'DELETE', url: '/tokens/prometheus' },
      { method: 'GET', url: '/events' },
      { method: 'GET', url: '/customer' },
      { method: 'POST', url: '/customer', payload: { email: `scrape${++seq}@example.com` } },
    ]
    for (const opts of forbidden) expectError(await send({ ...opts, headers: bearer(scraper.token) }), 403, 'FORBIDDEN')
    const list = (await send({ method: 'GET', url: '/tokens', headers: hub.admin })).json<{ data: ApiTokenInfo[] }>().data
    expect(list.filter((t) => ['prometheus', 'prometheus-2', 'escalate', 'keep-me-too'].includes(t.name)).map((t) => [t.name, t.role]).sort()).toEqual([
      ['keep-me-too', 'platform'],
      ['prometheus', 'metrics:read'],
    ])

    // a scope is for platform tokens alone; the name stays taken by the metrics:read token
    const scoped = await send({ method: 'POST', url: '/tokens', headers: hub.admin, payload: { name: 'scoped-scraper', role: 'metrics:read', components: ['identity.shop'] } })
    expectError(scoped, 400, 'TOKEN_SCOPE_INVALID')
    expect(scoped.json<{ message: string }>().message).toContain('metrics:read token')
    expectError(await send({ method: 'POST', url: '/tokens', headers: hub.admin, payload: { name: 'prometheus', role: 'admin' } }), 409, 'TOKEN_NAME_TAKEN')

    // the table takes the new role and no unknown one
    await expect(sql`UPDATE api_tokens SET role = 'metrics:write' WHERE id = ${scraper.id}`.execute(hub.database.db)).rejects.toThrow(/api_tokens_role_check/)
    expect((await send({ method: 'GET', url: '/metrics', headers: bearer(scraper.token) })).statusCode).toBe(200)
  })

  test('an admin token made through the API may do what the environment admin token may', async () => {
    const admin = await createToken('second-admin', 'admin')
    expect((await send({ method: 'GET', url: '/events', headers: bearer(admin.token) })).statusCode).toBe(200)
    expect((await send({ method: 'GET', url: '/tokens', headers: bearer(admin.token) })).statusCode).toBe(200)
    expect((await send({ method: 'GET', url: '/customer', headers: bearer(admin.token) })).statusCode).toBe(200)
  })
})

describe('tokens.bootstrap()', () => {
  test('makes one admin token on an empty table, once, even when called concurrently', async () => {
    const database = await createTestDatabase()
    try {
      // several services stand for several hub processes starting together
      const services = Array.from({ length: 5 }, () => createApiTokenService())
      const { db } = database
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => withTransaction(db, (tx) => services[i % services.length]!.bootstrap(tx))))
      const made = results.filter((r): r is string => typeof r === 'string')
      expect(made).toHaveLength(1)
      expect(await withTransaction(db, (tx) => services[0]!.bootstrap(tx))).toBeUndefined()

      const { rows } = await sql<{ name: string; role: string; token_hash: string; bootstrap: boolean }>`
        SELECT name, role, token_hash, bootstrap FROM api_tokens`.execute(database.db)
      expect(rows).toEqual([{ name: 'admin', role: 'admin', token_hash: hashToken(made[0]!), bootstrap: true }])
      expect(await services[1]!.authenticate(db, made[0]!)).toMatchObject({ role: 'admin', name: 'admin' })

      // once revoked, the table is still not empty: no second bootstrap token
      await withTransaction(db, (tx) => services[0]!.revoke(tx, 'admin'))
      expect(await withTransaction(db, (tx) => services[0]!.bootstrap(tx))).toBeUndefined()
      expect(await services[0]!.authenticate(db, made[0]!)).toBeUndefined()
    } finally {
      await database.close()
    }
  })

  test('makes one when only platform tokens exist, and none once an admin token exists', async () => {
    const database = await createTestDatabase()
    try {
      const service = createApiTokenService()
      const { db } = database
      const platform = await withTransaction(db, (tx) => service.create(tx, 'first', 'platform'))
      const made = await withTransaction(db, (tx) => service.bootstrap(tx))
      expect(made).toMatch(/^chub_/)
      expect(await service.authenticate(db, made!)).toMatchObject({ role: 'admin', name: 'admin' })
      expect(await withTransaction(db, (tx) => service.bootstrap(tx))).toBeUndefined()
      const { rows } = await sql<{ name: string }>`SELECT name FROM api_tokens ORDER BY name`.execute(database.db)
      expect(rows).toEqual([{ name: 'admin' }, { name: 'first' }])
      expect(await service.authenticate(db, platform.token)).toMatchObject({ role: 'platform', name: 'first' })
    } finally {
      await database.close()
    }
  })

  test('makes nothing when an admin token was made another way', async () => {
    const database = await createTestDatabase()
    try {
      const service = createApiTokenService()
      await withTransaction(database.db, (tx) => service.create(tx, 'ops', 'admin'))
      expect(await withTransaction(database.db, (tx) => service.bootstrap(tx))).toBeUndefined()
      const { rows } = await sql<{ name: string }>`SELECT name FROM api_tokens`.execute(database.db)
      expect(rows).toEqual([{ name: 'ops' }])
    } finally {
      await database.close()
    }
  })

})
