import type { InjectOptions } from 'fastify'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { Customer } from '@his-her/contract'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { createDatabase } from '../db/create-database.js'

let hub: TestHub

beforeAll(async () => {
  hub = await createTestHub({ captureLogs: true })
})
afterAll(async () => {
  await hub?.close()
})

type Inject = InjectOptions

const email = 'Jane.Private@Example.com'
const phone = '+14155550123'
const nationalPhone = '(415) 555-0177'
const password = 'hunter2-very-secret'

/** Sends one request and returns it with the log lines written while it was served. */
async function served(opts: Inject) {
  const from = hub.logs.length
  const res = await hub.app.inject(opts)
  const lines = hub.logs.slice(from)
  return { res, lines }
}

describe('request logging', () => {
  test('every line written while serving a request carries its reqId; no line holds a secret or personal data', async () => {
    const platform = await hub.platform()
    const platformToken = platform.authorization!.slice('Bearer '.length)
    const created = await served({ method: 'POST', url: '/customer', headers: hub.admin, payload: { email, password, phone, firstName: 'Jane' } })
    expect(created.res.statusCode, created.res.body).toBe(201)
    const customer = created.res.json<Customer>()

    const requests: Inject[] = [
      { method: 'GET', url: `/customer?email=${encodeURIComponent(email)}`, headers: hub.admin },
      { method: 'GET', url: `/customer?q=${encodeURIComponent(phone)}&sort=createdAt:desc`, headers: hub.admin },
      { method: 'GET', url: `/customer/${customer.id}?email=${encodeURIComponent(email)}`, headers: platform },
      { method: 'PATCH', url: `/customer/${customer.id}`, headers: platform, payload: { phone: nationalPhone } },
      { method: 'POST', url: '/customer', headers: hub.admin, payload: { email, password } }, // 409 EMAIL_TAKEN
      { method: 'POST', url: '/customer', headers: hub.admin, payload: { email: 'not-an-email', password } }, // 400
      { method: 'POST', url: '/customer', headers: hub.admin, payload: { email: `x${email}`, password: 'short' } }, // 400 PASSWORD_TOO_SHORT
      { method: 'POST', url: '/customer', headers: hub.admin, payload: { email: `y${email}`, unknownField: password } }, // 400 schema
      { method: 'POST', url: '/customer', headers: { ...hub.admin, 'content-type': 'application/json' }, payload: `{"email":"${email}","password":"${password}"` }, // bad JSON
      { method: 'POST', url: `/customer/${customer.id}/address`, headers: hub.admin, payload: { line1: '1 Secret Lane', city: 'Hidden', country: 'US', phone: nationalPhone } },
      { method: 'GET', url: `/events?after=0&token=${hub.adminToken}`, headers: hub.admin }, // 400 unknown query field
      { method: 'GET', url: '/events?after=0', headers: hub.admin },
      { method: 'GET', url: '/events', headers: platform }, // 403
      { method: 'GET', url: '/tokens', headers: { authorization: `Bearer ${hub.adminToken}-wrong` } }, // 401
      { method: 'GET', url: '/tokens', headers: { authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}` } },
      { method: 'GET', url: `/no-such-route?email=${encodeURIComponent(email)}&password=${password}`, headers: hub.admin }, // 404
      // personal data put in the path by mistake, on a route and off any route
      { method: 'GET', url: `/customer/${email}`, headers: hub.admin }, // 404 CUSTOMER_NOT_FOUND
      { method: 'GET', url: `/customer/${encodeURIComponent(email)}/address`, headers: hub.admin }, // 404
      { method: 'DELETE', url: `/customer/${encodeURIComponent(phone)}`, headers: hub.admin }, // 404 CUSTOMER_NOT_FOUND
      { method: 'GET', url: `/lookup/${encodeURIComponent(nationalPhone)}`, headers: hub.admin }, // 404
      { method: 'GET', url: `/health?email=${encodeURIComponent(email)}`, headers: { 'x-request-id': 'trace-me-1' } },
    ]

    const all = [created]
    for (const opts of requests) all.push(await served(opts))

    const secrets = [
      hub.adminToken,
      platformToken,
      password,
      email,
      email.toLowerCase(),
      `x${email}`.toLowerCase(),
      phone,
      '4155550123',
      nationalPhone,
      '+14155550177',
      '4155550177',
      '1 Secret Lane',
      Buffer.from(`admin:${password}`).toString('base64'),
    ]
    let lineCount = 0
    for (const { res, lines } of all) {
      const requestId = res.headers['x-request-id']
      // at least the line that says the request completed
      expect(lines.length, `${res.statusCode} ${res.body}`).toBeGreaterThanOrEqual(1)
      expect(lines.map((l) => JSON.parse(l).msg)).toContain('request completed')
      for (const line of lines) {
        lineCount++
        const entry = JSON.parse(line) as Record<string, unknown>
        expect(entry.reqId, line).toBe(requestId)
        for (const secret of secrets) expect(line.toLowerCase(), `a log line holds "${secret}"`).not.toContain(secret.toLowerCase())
        // no query string, whatever it held
        expect(line).not.toMatch(/\?[A-Za-z0-9_]+=/)
        expect(line).not.toContain('%40')
        expect(line).not.toMatch(/[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/)
      }
    }
    expect(lineCount).toBeGreaterThanOrEqual(all.length)

    // an incoming request id is the reqId of its lines
    const traced = all.at(-1)!
    expect(traced.lines.every((l) => JSON.parse(l).reqId === 'trace-me-1')).toBe(true)

    // the lines do say what happened: method, path without the query, status
    const listLines = all[1]!.lines.map((l) => JSON.parse(l))
    expect(listLines).toContainEqual(expect.objectContaining({ req: { method: 'GET', path: '/customer' }, res: { statusCode: 200 } }))
  })

  test('error lines of a failed request carry its reqId and no personal data', async () => {
    // a PostgreSQL that refuses connections: every data route fails inside the handler
    const unreachable = await createDatabase({ url: 'postgres://hub@127.0.0.1:1/none' })
    const down = await createTestHub({ captureLogs: true, database: { ...unreachable, schema: undefined } })
    try {
      const from = down.logs.length
      const res = await down.app.inject({ method: 'GET', url: `/customer?email=${encodeURIComponent(email)}`, headers: down.admin })
      expect(res.statusCode).toBe(503)
      expect(res.json()).toMatchObject({ statusCode: 503, code: 'DATABASE_UNAVAILABLE', error: 'Service Unavailable' })
      const lines = down.logs.slice(from).map((l) => JSON.parse(l) as Record<string, unknown>)
      const failed = lines.filter((l) => l.msg === 'request failed')
      expect(failed).toHaveLength(1)
      expect(failed[0]).toMatchObject({ level: 50, err: { code: 'ECONNREFUSED' } })
      for (const line of lines) {
        expect(line.reqId).toBe(res.headers['x-request-id'])
        const text = JSON.stringify(line).toLowerCase()
        expect(text).not.toContain(email.toLowerCase())
        expect(text).not.toContain(down.adminToken)
        expect(text).not.toContain('?email')
      }
    } finally {
      await down.close()
      await unreachable.close()
    }
  })
})
