import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { isWrite, routes, type OperationId, type RouteSpec } from '@his-her/contract'
import type { Handlers } from '../module.js'
import type { Executor } from '../db/executor.js'
import { HubError } from '../errors.js'
import type { KeyClaim, UnitOfWork } from './unit-of-work.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route's operation id in the contract's route table. */
    operationId?: OperationId
    /** The media types an upload route streams to its handler. */
    upload?: readonly string[] | undefined
  }
}

const keyPattern = /^[\x21-\x7e]{1,200}$/

// Fastify gets each schema without `$id`: the contract marks components with it (for the
// OpenAPI document), and one schema appears in many routes.
const plain = new WeakMap<object, object>()
function forFastify(schema: object): object {
  let copy = plain.get(schema)
  if (!copy) {
    copy = JSON.parse(JSON.stringify(schema), (key, value) => (key === '$id' ? undefined : value)) as object
    plain.set(schema, copy)
  }
  return copy
}

/** A handler's answer as status and body: routes with several success statuses say which. */
function toAnswer(route: RouteSpec, result: unknown): { status: number; body: unknown } {
  const statuses = Object.keys(route.responses).map(Number)
  if (statuses.length > 1) return result as { status: number; body: unknown }
  return { status: statuses[0]!, body: result }
}

/**
 * Registers every route of the contract's route table with the handler a module gives for it:
 * its schemas validate the request and serialize the answer, its `access` is checked before
 * anything runs. A route without a handler, or a handler without a route, stops start-up.
 *
 * Reads and public writes run on the database. Every other write runs as one unit of work (see
 * `unit-of-work.ts`): its Idempotency-Key claim, its effect, its events and the answer kept for
 * retries commit together; the answer is serialized inside the transaction so that a replay sends
 * exactly the bytes the first request did.
 */
export function registerRoutes(app: FastifyInstance, options: { handlers: Partial<Handlers>; db: Executor; unitOfWork: UnitOfWork }): void {
  const { handlers, db, unitOfWork } = options
  const table = routes as Record<OperationId, RouteSpec>
  for (const operationId of Object.keys(handlers)) {
    if (!(operationId in table)) throw new Error(`a module handles "${operationId}", which the route table does not have`)
  }
  // the bodies of upload routes are streamed to their handlers, unparsed; any other route refuses those media types
  const uploadTypes = [...new Set(Object.values(table).flatMap((r) => r.upload ?? []))]
  if (uploadTypes.length) {
    app.addContentTypeParser(uploadTypes, (request, payload, done) => {
      const accepted = request.routeOptions.config.upload
      const type = String(request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
      if (accepted?.includes(type)) done(null, payload)
      else done(new HubError('UNSUPPORTED_MEDIA_TYPE'), undefined)
    })
  }
  for (const [operationId, route] of Object.entries(table) as [OperationId, RouteSpec][]) {
    const handler = handlers[operationId] as ((ctx: object) => Promise<unknown>) | undefined
    if (!handler) throw new Error(`no module handles the route ${operationId} (${route.method} ${route.path})`)
    const schema: Record<string, unknown> = {
      response: Object.fromEntries(Object.entries(route.responses).map(([status, s]) => [status, forFastify(s as object)])),
    }
    if (route.params) schema.params = forFastify(route.params)
    if (route.query) schema.querystring = forFastify(route.query)
    if (route.body) schema.body = forFastify(route.body)

    // an upload is keyed by its content, not by an Idempotency-Key, and opens its own transactions
    const write = isWrite(route) && route.access !== 'public' && !route.upload
    app.route({
      method: route.method,
      url: route.path,
      config: { access: route.access, operationId, upload: route.upload },
      schema,
      handler: async (request: FastifyRequest, reply: FastifyReply) => {
        const context = { params: request.params, query: request.query, body: request.body, principal: request.principal, request, reply }
        if (!write) {
          const { status, body } = toAnswer(route, await handler({ ...context, db }))
          // a string answer in another media type (the metrics) is sent as it is, not as JSON
          if (route.answerType) reply.type(route.answerType)
          return reply.code(status).send(body)
        }
        const outcome = await unitOfWork.run(keyClaim(request, route, unitOfWork), async (tx) => {
          const { status, body } = toAnswer(route, await handler({ ...context, tx }))
          reply.code(status)
          return { status, body: reply.serialize(body) as string }
        })
        if (outcome.replayed) reply.header('idempotent-replayed', 'true')
        return reply.code(outcome.answer.status).type('application/json; charset=utf-8').send(outcome.answer.body)
      },
    })
  }
}

/**
 * The Idempotency-Key of a write, scoped to the caller's token: the same key from another
 * token is another key. Undefined when the request has none.
 */
function keyClaim(request: FastifyRequest, route: RouteSpec, unitOfWork: UnitOfWork): KeyClaim | undefined {
  const header = request.headers['idempotency-key']
  if (header === undefined) return undefined
  if (typeof header !== 'string' || !keyPattern.test(header)) throw new HubError('INVALID_IDEMPOTENCY_KEY')
  const principal = request.principal!
  const scope = principal.tokenId ?? `${principal.kind}:${principal.name}`
  return { scope, key: header, ...unitOfWork.fingerprints(request.method, request.url, request.body), secret: route.secretAnswer === true }
}
