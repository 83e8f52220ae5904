import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createTestDatabase, createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import type { HubApp } from './app.js'
import { createDatabase } from '../db/create-database.js'

let hub: TestHub

beforeAll(async () => {
  hub = await createTestHub()
})
afterAll(async () => {
  await hub?.close()
})

interface OpenApiDocument {
  openapi: string
  info: { title: string; version: string }
  paths: Record<string, Record<string, { summary?: string; responses?: Record<string, unknown> }>>
}

const httpMethods = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace']

/**
 * Every (method, path) the app has registered, read from Fastify's route tree
 * (`printRoutes` without common prefixes prints one path segment per node).
 */
function registeredRoutes(app: HubApp): { method: string; path: string }[] {
  const routes: { method: string; path: string }[] = []
  const segments: string[] = []
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^((?:│ {3}| {4})*)(?:├── |└── )(.*?)(?: \(([A-Z, ]+)\))?$/.exec(line)
    if (!m) continue
    segments.length = m[1]!.length / 4
    segments.push(m[2]!)
    if (!m[3]) continue
    for (const method of m[3].split(',').map((s) => s.trim())) routes.push({ method, path: segments.join('') })
  }
  return routes
}

const toOpenApiPath = (path: string) => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')
const toFastifyPath = (path: string) => path.replace(/\{([A-Za-z0-9_]+)\}/g, ':$1')
// the documentation itself (the UI's pages and assets, and this document) is not an API route
// the pages of swagger-ui and the console's files; /openapi.json itself is a route of the table and documented like the others
const isDocumentationRoute = (path: string) => path === '/docs' || path.startsWith('/docs/') || path === '/console' || path.startsWith('/console/')

describe('GET /health', () => {
  test('is public and answers 200 {status: ok, database: up}', async () => {
    const res = await hub.app.inject({ method: 'GET', url: '/health' })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ status: 'ok', database: 'up' })
    // a bad token does not matter on a public route
    const withBadToken = await hub.app.inject({ method: 'GET', url: '/health', headers: { authorization: 'Bearer nope' } })
    expect(withBadToken.statusCode).toBe(200)
  })

  test('answers 503 DATABASE_UNAVAILABLE with the error shape once the database is closed', async () => {
    const database = await createTestDatabase()
    const local = await createTestHub({ database })
    try {
      expect((await local.app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200)
      await database.close()
      const res = await local.app.inject({ method: 'GET', url: '/health' })
      expect(res.statusCode).toBe(503)
      expect(res.headers['content-type']).toMatch(/^application\/json/)
      const body = res.json()
      expect(body).toMatchObject({ statusCode: 503, code: 'DATABASE_UNAVAILABLE', error: 'Service Unavailable' })
      expect(typeof body.message).toBe('string')
      expect(res.headers['x-request-id']).toBeTruthy()
    } finally {
      await local.close()
    }
  })

  test('answers 503 while the database refuses connections, and so do data routes', async () => {
    const unreachable = await createDatabase({ url: 'postgres://hub@127.0.0.1:1/none' })
    const local = await createTestHub({ database: { ...unreachable, schema: undefined } })
    try {
      for (const [url, headers] of [['/health', {}], ['/customer/cus_01AAAAAAAAAAAAAAAAAAAAAAAA', local.admin], ['/events', local.admin]] as const) {
        const res = await local.app.inject({ method: 'GET', url, headers })
        expect(res.statusCode, url).toBe(503)
        expect(res.json()).toMatchObject({ statusCode: 503, code: 'DATABASE_UNAVAILABLE', error: 'Service Unavailable' })
      }
      // a token that must be looked up in the database cannot be checked either
      const res = await local.app.inject({ method: 'GET', url: '/customer/cus_01AAAAAAAAAAAAAAAAAAAAAAAA', headers: { authorization: 'Bearer chub_unknown' } })
      expect(res.statusCode).toBe(503)
    } finally {
      await local.close()
      await unreachable.close()
    }
  })
})

describe('GET /openapi.json', () => {
  let doc: OpenApiDocument

  beforeAll(async () => {
    const res = await hub.app.inject({ method: 'GET', url: '/openapi.json' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/^application\/json/)
    doc = res.json()
  })

  test('is public OpenAPI 3.1', () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/)
    expect(doc.info.title).toBeTruthy()
    expect(doc.info.version).toBeTruthy()
  })

  test('lists every route the app registers, each with a summary, and no other', () => {
    const routes = registeredRoutes(hub.app).filter((r) => r.method !== 'HEAD' && !isDocumentationRoute(r.path))
    // the route tree was read: the known routes are among them
    expect(routes).toEqual(expect.arrayContaining([
      { method: 'GET', path: '/health' },
      { method: 'POST', path: '/orders' },
      { method: 'PATCH', path: '/customer/:id/address/:addressId' },
      { method: 'DELETE', path: '/tokens/:name' },
    ]))
    for (const r of routes) {
      expect(hub.app.hasRoute({ method: r.method as 'GET', url: r.path }), `${r.method} ${r.path}`).toBe(true)
    }

    const documented = new Set<string>()
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        if (!httpMethods.includes(method)) continue
        documented.add(`${method.toUpperCase()} ${path}`)
        expect(op.summary, `${method.toUpperCase()} ${path} has a summary`).toMatch(/\S/)
        expect(Object.keys(op.responses ?? {}).length, `${method.toUpperCase()} ${path} has responses`).toBeGreaterThan(0)
        // and the document names no route the app does not have
        expect(hub.app.hasRoute({ method: method.toUpperCase() as 'GET', url: toFastifyPath(path) }), `${method.toUpperCase()} ${path} exists`).toBe(true)
      }
    }
    const missing = routes.map((r) => `${r.method} ${toOpenApiPath(r.path)}`).filter((key) => !documented.has(key))
    expect(missing).toEqual([])
    expect(documented.size).toBe(routes.length)
  })

  test('documents the error shape', () => {
    const text = JSON.stringify(doc)
    expect(text).toContain('statusCode')
    expect(text).toContain('UPPER_SNAKE')
  })
})

describe('GET /docs', () => {
  test('serves an HTML page without a token', async () => {
    const res = await hub.app.inject({ method: 'GET', url: '/docs' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/^text\/html/)
    expect(res.body).toMatch(/<html/i)
  })
})

describe('unknown routes', () => {
  test('are 404 ROUTE_NOT_FOUND with the error shape, with or without a token', async () => {
    for (const [method, url, headers] of [
      ['GET', '/nope', {}],
      ['POST', '/customers', hub.admin],
      ['PUT', '/customer/cus_01AAAAAAAAAAAAAAAAAAAAAAAA', hub.admin],
      ['GET', '/orders', hub.admin],
      ['GET', '/nope?token=secret', {}],
    ] as const) {
      const res = await hub.app.inject({ method, url, headers })
      expect(res.statusCode, `${method} ${url}`).toBe(404)
      const body = res.json()
      expect(body).toMatchObject({ statusCode: 404, code: 'ROUTE_NOT_FOUND', error: 'Not Found' })
      expect(body.message).toContain(url.split('?')[0])
      expect(body.message).not.toContain('secret')
    }
  })
})

describe('x-request-id', () => {
  test('is on every response, whatever its status', async () => {
    const cases = [
      { method: 'GET', url: '/health' },
      { method: 'GET', url: '/docs' },
      { method: 'GET', url: '/openapi.json' },
      { method: 'GET', url: '/nope' },
      { method: 'GET', url: '/tokens' },
      { method: 'GET', url: '/tokens', headers: hub.admin },
      { method: 'GET', url: '/customer/bad-id', headers: hub.admin },
      { method: 'POST', url: '/customer', headers: hub.admin, payload: { email: 'rid@example.com' } },
      { method: 'POST', url: '/customer', headers: { ...hub.admin, 'content-type': 'application/json' }, payload: '{not json' },
      { method: 'POST', url: '/customer', headers: { ...hub.admin, 'content-type': 'text/plain' }, payload: 'hello' },
    ] as const
    const statuses = new Set<number>()
    const ids = new Set<string>()
    for (const c of cases) {
      const res = await hub.app.inject(c)
      statuses.add(res.statusCode)
      const id = res.headers['x-request-id']
      expect(typeof id, `${c.method} ${c.url} → ${res.statusCode}`).toBe('string')
      expect(id).toMatch(/^req_[0-9a-f]{16}$/)
      ids.add(id as string)
    }
    expect(ids.size).toBe(cases.length)
    expect([...statuses].sort()).toEqual([200, 201, 400, 401, 404, 415])
  })

  test('echoes a well-formed incoming id and replaces a malformed one', async () => {
    const echoed = await hub.app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'client-42.a_b' } })
    expect(echoed.headers['x-request-id']).toBe('client-42.a_b')
    for (const bad of ['has space', 'x'.repeat(65), 'semi;colon', '']) {
      const res = await hub.app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': bad } })
      expect(res.headers['x-request-id']).toMatch(/^req_[0-9a-f]{16}$/)
    }
  })
})
