import Fastify from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorCatalogue, eventTypes, routeErrors, routes, type RouteSpec } from '@his-her/contract'
import { registerResponseCheck, type UndeclaredAnswer } from '../src/http/response-check.js'
import { openApiDocument } from '../src/http/operations-module.js'
import { createTestHub, type TestHub } from './helpers/test-hub.js'

const table = routes as Record<string, RouteSpec>

describe('the route table of the contract', () => {
  let hub: TestHub
  beforeAll(async () => {
    hub = await createTestHub()
  })
  afterAll(async () => hub?.close())

  it('is what the hub registers: every route, with the access it declares', () => {
    for (const [id, route] of Object.entries(table)) {
      expect(hub.app.hasRoute({ method: route.method, url: route.path }), `${id}: ${route.method} ${route.path}`).toBe(true)
    }
  })

  it('names only codes of the catalogue, each with the status the catalogue gives', () => {
    for (const [id, route] of Object.entries(table)) {
      for (const code of routeErrors(route)) expect(errorCatalogue, `${id} names ${code}`).toHaveProperty(code)
    }
  })

  it('is the OpenAPI document: each route with its success answers and its error codes under their statuses', () => {
    const doc = openApiDocument() as { paths: Record<string, Record<string, { operationId: string; responses: Record<string, { 'x-error-codes'?: string[] }> }>> }
    for (const [id, route] of Object.entries(table)) {
      const op = doc.paths[route.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')]?.[route.method.toLowerCase()]
      expect(op?.operationId, id).toBe(id)
      for (const status of Object.keys(route.responses)) expect(op!.responses, `${id} ${status}`).toHaveProperty(status)
      const documented = Object.values(op!.responses).flatMap((r) => r['x-error-codes'] ?? [])
      expect(documented.sort()).toEqual(routeErrors(route).sort())
      for (const [status, response] of Object.entries(op!.responses)) {
        for (const code of response['x-error-codes'] ?? []) expect(String((errorCatalogue as Record<string, { status: number }>)[code]!.status)).toBe(status)
      }
    }
  })

  it('gives event types and error codes as closed lists (a client can switch on them)', () => {
    expect(eventTypes).toContain('customer.created')
    expect(new Set(eventTypes).size).toBe(eventTypes.length)
    const doc = openApiDocument() as { components: { schemas: Record<string, { properties: Record<string, { enum?: string[] }> }> } }
    expect(doc.components.schemas.Error!.properties.code!.enum).toEqual(Object.keys(errorCatalogue))
    expect(doc.components.schemas.Event!.properties.type!.enum).toEqual(eventTypes)
  })
})

describe('the check of declared answers (on for every hub the tests build)', () => {
  // a route standing in for GET /customer/:id, answering what it is told to
  async function appAnswering(status: number, body: object) {
    const reports: UndeclaredAnswer[] = []
    const app = Fastify()
    registerResponseCheck(app, (a) => reports.push(a))
    app.get('/customer/:id', { config: { operationId: 'getCustomer' } }, async (_req, reply) => reply.code(status).send(body))
    await app.inject({ method: 'GET', url: '/customer/cus_1' })
    await app.close()
    return reports
  }
  const error = (statusCode: number, code: string) => ({ statusCode, code, error: 'x', message: 'y' })

  it('lets through what the route declares', async () => {
    expect(await appAnswering(200, { id: 'cus_1' })).toEqual([])
    expect(await appAnswering(404, error(404, 'CUSTOMER_NOT_FOUND'))).toEqual([])
    expect(await appAnswering(410, error(410, 'CUSTOMER_MERGED'))).toEqual([])
    expect(await appAnswering(401, error(401, 'UNAUTHORIZED'))).toEqual([])
  })

  it('reports a success status, a code or a status the route does not declare', async () => {
    expect(await appAnswering(201, { id: 'cus_1' })).toMatchObject([{ operationId: 'getCustomer', status: 201 }])
    expect(await appAnswering(409, error(409, 'EMAIL_TAKEN'))).toMatchObject([{ status: 409, code: 'EMAIL_TAKEN' }])
    expect(await appAnswering(400, error(400, 'CUSTOMER_NOT_FOUND'))).toMatchObject([{ status: 400, code: 'CUSTOMER_NOT_FOUND' }])
    expect(await appAnswering(418, { whatever: true })).toMatchObject([{ status: 418, code: undefined }])
  })
})
