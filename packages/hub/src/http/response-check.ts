import type { FastifyInstance } from 'fastify'
import { errorCatalogue, routeErrors, routes, type RouteSpec } from '@his-her/contract'

/** An answer a route gave that its entry in the route table does not declare. */
export interface UndeclaredAnswer {
  operationId: string
  method: string
  url: string
  status: number
  code: string | undefined
}

/**
 * Checks every answer against the route table: a success status the route does not list, or an
 * error code (or its status) that is not among the route's codes, is reported. The test suite
 * turns this on for every hub it builds and fails on any report.
 */
export function registerResponseCheck(app: FastifyInstance, report: (answer: UndeclaredAnswer) => void): void {
  app.addHook('onSend', async (request, reply, payload) => {
    const operationId = request.routeOptions.config?.operationId
    if (!operationId) return payload
    const route = (routes as Record<string, RouteSpec>)[operationId]!
    const status = reply.statusCode
    const at = { operationId, method: request.method, url: request.url.split('?')[0]!, status }
    if (status < 400) {
      if (!(status in route.responses)) report({ ...at, code: undefined })
      return payload
    }
    let code: string | undefined
    try {
      code = (JSON.parse(String(payload)) as { code?: string }).code
    } catch {
      code = undefined
    }
    const known = code !== undefined && (errorCatalogue as Record<string, { status: number }>)[code]
    if (!code || !known || known.status !== status || !routeErrors(route).includes(code)) report({ ...at, code })
    return payload
  })
}
