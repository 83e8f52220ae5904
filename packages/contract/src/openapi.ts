import { routeErrors, type ErrorSpec, type RouteSpec } from './define.js'

export interface OpenApiInfo {
  title: string
  version: string
  description?: string
}

/** What the hub's own document says of itself (`GET /openapi.json`); the Go SDK is generated from the same document. */
export const hubApiInfo: OpenApiInfo = {
  title: 'Customer Hub API',
  version: '0.2.0',
  description: 'One record per real person across every store and platform.',
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/**
 * The OpenAPI 3.1 document of a route table. Every schema with an `$id` (Customer, Address, …)
 * becomes a component referenced by `$ref`; each route's error codes are listed under their
 * status (`x-error-codes`), with the one error shape (`Error`) as the body.
 *
 * @example
 * ```ts
 * const document = buildOpenApi(routes, errorCatalogue, ErrorResponse, { title: 'Customer Hub API', version: '0.2.0' })
 * ```
 */
export function buildOpenApi(
  table: Record<string, RouteSpec>,
  catalogue: Record<string, ErrorSpec>,
  errorSchema: object,
  info: OpenApiInfo,
): Record<string, unknown> {
  const components: Record<string, Json> = {}

  // Plain JSON first (schemas may carry non-JSON markers), then every $id'd object to a component.
  const walk = (node: Json): Json => {
    if (Array.isArray(node)) return node.map(walk)
    if (node === null || typeof node !== 'object') return node
    const { $id, ...rest } = node
    const copy: Record<string, Json> = {}
    for (const [k, v] of Object.entries(rest)) copy[k] = walk(v)
    if (typeof $id !== 'string') return copy
    const existing = components[$id]
    if (existing !== undefined && JSON.stringify(existing) !== JSON.stringify(copy)) {
      throw new Error(`openapi: two different schemas have the $id "${$id}"`)
    }
    components[$id] = copy
    return { $ref: `#/components/schemas/${$id}` }
  }
  const schema = (s: object): Json => walk(JSON.parse(JSON.stringify(s)) as Json)
  const errorRef = schema(errorSchema)

  const paths: Record<string, Record<string, unknown>> = {}
  const tags = new Set<string>()
  for (const [operationId, route] of Object.entries(table)) {
    const path = route.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')
    const parameters: unknown[] = []
    for (const [where, source] of [['path', route.params], ['query', route.query]] as const) {
      if (!source) continue
      const s = schema(source) as { properties?: Record<string, Json>; required?: string[] }
      for (const [name, property] of Object.entries(s.properties ?? {})) {
        parameters.push({ name, in: where, required: where === 'path' || (s.required ?? []).includes(name), schema: property })
      }
    }
    const responses: Record<string, unknown> = {}
    for (const [status, body] of Object.entries(route.responses)) {
      responses[status] = { description: route.summary, content: { [route.answerType ?? 'application/json']: { schema: schema(body as object) } } }
    }
    const byStatus = new Map<number, string[]>()
    for (const code of routeErrors(route)) {
      const spec = catalogue[code]
      if (!spec) throw new Error(`openapi: route ${operationId} names the unknown error code ${code}`)
      byStatus.set(spec.status, [...(byStatus.get(spec.status) ?? []), code])
    }
    for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
      responses[String(status)] = {
        description: codes.join(', '),
        'x-error-codes': codes,
        content: { 'application/json': { schema: errorRef } },
      }
    }
    const roles = route.access === 'public' ? 'public (no token)' : route.access.join(', ')
    for (const t of route.tags) tags.add(t)
    paths[path] ??= {}
    paths[path]![route.method.toLowerCase()] = {
      operationId,
      summary: route.summary,
      description: `${route.description ? `${route.description}\n\n` : ''}Roles: ${roles}.`,
      tags: route.tags,
      'x-roles': route.access === 'public' ? [] : route.access,
      ...(route.access === 'public' ? { security: [] } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: schema(route.body) } } } } : {}),
      ...(route.upload ? { requestBody: { required: true, content: Object.fromEntries(route.upload.map((type) => [type, { schema: { type: 'string', format: 'binary' } }])) } } : {}),
      responses,
    }
  }

  return {
    openapi: '3.1.0',
    info,
    tags: [...tags].map((name) => ({ name })),
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: Object.fromEntries(Object.entries(components).sort(([a], [b]) => a.localeCompare(b))),
    },
  }
}
