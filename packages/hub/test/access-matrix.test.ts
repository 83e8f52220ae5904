import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { generateKeyPair, SignJWT } from 'jose'
import type { Customer, ServiceAccount, Session } from '@his-her/contract'
import { createTestHub, type TestHub } from './helpers/test-hub.js'
import { createSigningKeys } from '../src/auth/signing-keys.js'

const docPath = fileURLToPath(new URL('../../../docs/access.md', import.meta.url))
const columns = ['admin', 'platform', 'events:read', 'metrics:read', 'service', 'customer', 'support', 'none'] as const
type Column = (typeof columns)[number]

interface Route {
  method: string
  path: string
}
const key = (r: Route) => `${r.method} ${r.path}`

/** The matrix of docs/access.md: `METHOD /path` → which columns are allowed. */
function documentedMatrix(): Map<string, Record<Column, boolean>> {
  const rows = new Map<string, Record<Column, boolean>>()
  for (const line of readFileSync(docPath, 'utf8').split('\n')) {
    const m = /^\|\s*`([A-Z]+) (\/\S*)`\s*\|(.*)\|\s*$/.exec(line)
    if (!m) continue
    const cells = m[3]!.split('|').map((c) => c.trim())
    expect(cells, `the row of ${m[1]} ${m[2]} has a cell per column`).toHaveLength(columns.length)
    const entry = {} as Record<Column, boolean>
    columns.forEach((column, i) => {
      expect(['✓', '✗'], `cell ${column} of ${m[1]} ${m[2]}`).toContain(cells[i])
      entry[column] = cells[i] === '✓'
    })
    const k = `${m[1]} ${m[2]}`
    expect(rows.has(k), `${k} has one row`).toBe(false)
    rows.set(k, entry)
  }
  return rows
}

/** Every route the app registers, read from its route tree (`printRoutes`). */
function registeredRoutes(hub: TestHub): Route[] {
  const routes: Route[] = []
  const stack: string[] = []
  for (const line of hub.app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^(.*?)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/.exec(line)
    if (!m) continue
    const depth = m[1]!.length / 4
    stack.length = depth
    const path = (stack[depth - 1] ?? '') + m[2]!
    stack[depth] = path
    for (const method of (m[3] ?? '').split(',').map((s) => s.trim()).filter(Boolean)) routes.push({ method, path })
  }
  return routes
}

/** A syntactically valid value for each path parameter. */
function fill(path: string): string {
  const id = (prefix: string) => `${prefix}_01${'A'.repeat(24)}`
  return path
    .replace(/^\/merges\/:id/, `/merges/${id('mrg')}`)
    .replace(/^\/staff\/:id/, `/staff/${id('stf')}`)
    .replace(/:id\b/, id('cus'))
    .replace(/:addressId\b/, id('addr'))
    .replace(/:identityId\b/, id('idn'))
    .replace(/:group\b/, 'vip')
    .replace(/:name\b/, 'no-such-token')
    .replace(/\*$/, 'no-such-file.js')
}

let hub: TestHub
const callers = {} as Record<Column | 'staff admin' | 'expired customer JWT' | 'JWT of another key' | 'revoked API token', string | undefined>
/** Callers that must be answered as another column says: a staff user with role admin acts as an admin token. */
const answeredAs: Partial<Record<keyof typeof callers, Column>> = { 'staff admin': 'admin' }

beforeAll(async () => {
  // the matrix sends hundreds of bad tokens from one address: their limit is tested in token-guessing.test.ts
  hub = await createTestHub({ customer: { requireEmailVerification: false }, auth: { tokenFailuresPerAddress: 1_000_000 } })
  callers.admin = hub.adminToken
  callers.platform = (await hub.platform()).authorization!.slice('Bearer '.length)
  const relay = await hub.app.inject({ method: 'POST', url: '/tokens', headers: hub.admin, payload: { name: 'matrix-relay', role: 'events:read' } })
  expect(relay.statusCode, relay.body).toBe(201)
  callers['events:read'] = relay.json<{ token: string }>().token
  const scraper = await hub.app.inject({ method: 'POST', url: '/tokens', headers: hub.admin, payload: { name: 'matrix-scraper', role: 'metrics:read' } })
  expect(scraper.statusCode, scraper.body).toBe(201)
  callers['metrics:read'] = scraper.json<{ token: string }>().token
  callers.none = undefined

  const password = 'correct horse battery'
  const created = await hub.app.inject({ method: 'POST', url: '/customer', headers: hub.admin, payload: { email: 'matrix@example.com', password } })
  expect(created.statusCode, created.body).toBe(201)
  const customer = created.json<Customer>()
  const login = await hub.app.inject({ method: 'POST', url: '/auth/login', payload: { email: 'matrix@example.com', password } })
  expect(login.statusCode, login.body).toBe(200)
  callers.customer = login.json<Session>().accessToken

  const account = await hub.app.inject({ method: 'POST', url: '/service-accounts', headers: hub.admin, payload: { handle: 'matrix-seller', password, roleId: 'r1', organizationId: 'o1', providerId: 'p1' } })
  expect(account.statusCode, account.body).toBe(201)
  const serviceLogin = await hub.app.inject({ method: 'POST', url: '/auth/login', payload: { email: account.json<ServiceAccount>().email, password } })
  expect(serviceLogin.statusCode, serviceLogin.body).toBe(200)
  callers.service = serviceLogin.json<Session>().accessToken

  for (const [caller, role] of [['support', 'support'], ['staff admin', 'admin']] as const) {
    const email = `matrix-${role}@staff.example.com`
    const made = await hub.app.inject({ method: 'POST', url: '/staff', headers: hub.admin, payload: { email, password, role } })
    expect(made.statusCode, made.body).toBe(201)
    const staffLogin = await hub.app.inject({ method: 'POST', url: '/auth/staff/login', payload: { email, password } })
    expect(staffLogin.statusCode, staffLogin.body).toBe(200)
    callers[caller] = staffLogin.json<Session>().accessToken
  }

  const now = Math.floor(Date.now() / 1000)
  const claims = { role: 'customer', sub: customer.id, iss: 'customer-hub', aud: 'customer-hub', iat: now - 1000 }
  const signer = await createSigningKeys({ secret: hub.config.secret!, accessTokenTtl: hub.config.auth.accessTokenTtl }).signer(hub.database.db)
  callers['expired customer JWT'] = await new SignJWT({ ...claims, exp: now - 10 }).setProtectedHeader({ alg: 'EdDSA', kid: signer.kid, typ: 'JWT' }).sign(signer.privateKey)
  const other = await generateKeyPair('EdDSA', { crv: 'Ed25519' })
  callers['JWT of another key'] = await new SignJWT({ ...claims, exp: now + 600 }).setProtectedHeader({ alg: 'EdDSA', kid: signer.kid, typ: 'JWT' }).sign(other.privateKey)

  const revoked = await hub.app.inject({ method: 'POST', url: '/tokens', headers: hub.admin, payload: { name: 'matrix-revoked', role: 'admin' } })
  expect(revoked.statusCode).toBe(201)
  callers['revoked API token'] = revoked.json<{ token: string }>().token
  expect((await hub.app.inject({ method: 'DELETE', url: '/tokens/matrix-revoked', headers: hub.admin })).statusCode).toBe(200)

  // every caller works where it should, so a refusal below is about access alone
  for (const role of ['admin', 'platform', 'events:read', 'metrics:read', 'service', 'customer', 'support'] as const) {
    const who = await hub.app.inject({ method: 'GET', url: '/auth/session', headers: { authorization: `Bearer ${callers[role]}` } })
    expect(who.statusCode, `${role}: ${who.body}`).toBe(200)
    expect(who.json<{ role: string }>().role).toBe(role)
  }
})
afterAll(async () => {
  await hub?.close()
})

describe('docs/access.md and the routes the hub registers', () => {
  test('every registered route has a row, and every row is a registered route', () => {
    const routes = registeredRoutes(hub)
    expect(routes.length).toBeGreaterThan(40)
    const documented = documentedMatrix()
    const registered = new Set(routes.filter((r) => r.method !== 'HEAD').map(key))
    const missing = [...registered].filter((k) => !documented.has(k))
    expect(missing, 'routes without a row in docs/access.md').toEqual([])
    const stale = [...documented.keys()].filter((k) => !registered.has(k))
    expect(stale, 'rows of docs/access.md naming no registered route').toEqual([])
    // HEAD is only the automatic twin of a GET
    for (const head of routes.filter((r) => r.method === 'HEAD')) expect(registered.has(`GET ${head.path}`), `HEAD ${head.path} has a GET`).toBe(true)
  })
})

describe('every route answers every caller as docs/access.md says', () => {
  test('admin, platform, events:read, metrics:read, service, customer, support, a staff admin, no token, and three bad tokens', async () => {
    const documented = documentedMatrix()
    const mismatches: string[] = []
    let requests = 0
    for (const route of registeredRoutes(hub)) {
      const row = documented.get(`${route.method === 'HEAD' ? 'GET' : route.method} ${route.path}`)
      expect(row, `row for ${key(route)}`).toBeDefined()
      const isPublic = columns.every((c) => row![c])
      for (const [caller, token] of Object.entries(callers) as [keyof typeof callers, string | undefined][]) {
        const res = await hub.app.inject({
          method: route.method as 'GET',
          url: fill(route.path),
          headers: token ? { authorization: `Bearer ${token}` } : {},
          ...(['POST', 'PATCH', 'PUT'].includes(route.method) ? { payload: {} } : {}),
        })
        requests++
        const status = res.statusCode
        const code = route.method === 'HEAD' || !res.body.startsWith('{') ? undefined : (res.json() as { code?: string }).code
        const where = `${caller} on ${key(route)} → ${status} ${code ?? ''}`
        if (status >= 500) mismatches.push(`${where}: a server error`)
        const refused = status === 401 || status === 403
        const column = answeredAs[caller] ?? caller
        if (column in row!) {
          const allowed = row![column as Column]
          if (allowed && refused) mismatches.push(`${where}: the table allows it`)
          if (!allowed && !refused) mismatches.push(`${where}: the table refuses it`)
          if (!allowed && caller !== 'none' && route.method !== 'HEAD' && (status !== 403 || code !== 'FORBIDDEN')) mismatches.push(`${where}: expected 403 FORBIDDEN`)
          if (!allowed && caller === 'none' && status !== 401) mismatches.push(`${where}: expected 401`)
        } else {
          // a bad token is ignored on a public route and refused with 401 everywhere else
          const expected = caller === 'expired customer JWT' ? 'TOKEN_EXPIRED' : 'UNAUTHORIZED'
          if (isPublic && refused) mismatches.push(`${where}: a public route refused it`)
          if (!isPublic && (status !== 401 || (code !== undefined && code !== expected))) mismatches.push(`${where}: expected 401 ${expected}`)
        }
      }
    }
    expect(requests).toBeGreaterThan(40 * 10)
    expect(mismatches).toEqual([])
  })
})
