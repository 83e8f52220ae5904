import Fastify, { LogController, type FastifyInstance, type FastifyReply } from 'fastify'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { Ajv } from 'ajv'
import addFormatsModule from 'ajv-formats'
import type { ApiRole, CreatedToken } from '@his-her/contract'
import { randomChunk } from '../ids.js'
import type { HubConfig } from '../config.js'
import type { HubDatabase } from '../db/create-database.js'
import { withTransaction } from '../db/executor.js'
import { hubModules } from '../modules.js'
import type { Handlers, HubModule, Services } from '../module.js'
import { registerErrorHandling, toErrorBody } from './error-handler.js'
import { registerAuthentication } from '../auth/authenticate.js'
import type { TokenScope } from '../auth/api-token-service.js'
import { isDatabaseUnavailable } from '../db/pg-errors.js'
import { HubError, ConfigError } from '../errors.js'
import { createUnitOfWork } from './unit-of-work.js'
import { registerRoutes } from './routes.js'
import { registerResponseCheck, type UndeclaredAnswer } from './response-check.js'
import { openApiDocument } from './operations-module.js'
import { createHubMetrics } from './metrics.js'
import { registerConsole } from './console.js'
import type { TrustProxy } from './settings.js'

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

export interface AppOptions {
  config: HubConfig
  database: HubDatabase
  /** Logging: JSON lines at `config.logLevel` on stdout by default; another `stream` or `level`
   * (tests capture the lines), or `false` for none. */
  logger?: false | { stream?: NodeJS.WritableStream; level?: string }
  /** Called with every answer a route gives that the route table does not declare (the tests fail on any). */
  onUndeclaredAnswer?: (answer: UndeclaredAnswer) => void
  /** The modules to build from; the hub's own list by default. */
  modules?: readonly HubModule[]
  /**
   * `false`: none of the background work of a serving hub (webhook deliveries, NATS, taking over
   * imports, the feed's listener, timers), only what requests need prepared (see
   * `StartContext.background`). A command does only what it was asked, and leaves the database's
   * connections to it.
   */
  background?: boolean
  /**
   * `false`: the services without the HTTP API (no routes, no documentation pages, no console),
   * for a command that serves no requests: it starts about half a second sooner.
   */
  routes?: boolean
  /** The time the services see (tests move it); `new Date()` by default. */
  clock?: () => Date
}

export interface HubApp extends FastifyInstance {
  /** Every module's services. */
  services: Services
  /** API tokens outside a request (first start, tests): each call is a transaction of its own. */
  tokens: {
    create(name: string, role: ApiRole, scope?: TokenScope): Promise<CreatedToken>
    bootstrap(): Promise<string | undefined>
  }
}

/** How often old Idempotency-Key answers are swept. */
const SWEEP_MS = 60 * 60 * 1000

const requestIdPattern = /^[A-Za-z0-9._-]{1,64}$/

// A client may put an email or a phone number in the path by mistake (GET /customer/jane@example.com).
const personalSegment = /@|^\+?[0-9][0-9 ().-]{5,}$/

/** The path as logged: no query string, and no segment that looks like an email or a phone number. */
function loggedPath(url: string): string {
  return url.split('?')[0]!.split('/').map((segment) => {
    let decoded = segment
    try {
      decoded = decodeURIComponent(segment)
    } catch {
      // a malformed escape is logged as sent
    }
    return personalSegment.test(decoded) ? '[redacted]' : segment
  }).join('/')
}

/** Deepest nesting a JSON body may have: far beyond any customer's data, well short of what
 * would exhaust the stack when the body is serialized again (into the database, an event). */
const maxBodyDepth = 32

/** How deeply `value` nests arrays and objects (a scalar is 0), walked without recursion. */
function nestingDepth(value: unknown): number {
  let deepest = 0
  const stack: [unknown, number][] = [[value, 0]]
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!
    if (node === null || typeof node !== 'object') continue
    if (depth + 1 > deepest) deepest = depth + 1
    if (deepest > maxBodyDepth) return deepest
    for (const child of Object.values(node)) stack.push([child, depth + 1])
  }
  return deepest
}

/**
 * What no field accepts: NUL (U+0000), which PostgreSQL cannot store in text or JSON, and an
 * unpaired surrogate (a `"\ud800"` escape in a JSON body), which is no Unicode character at all:
 * JSON columns refuse it and text would keep U+FFFD in its place.
 */
const unstorable = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/
const unstorableAll = new RegExp(unstorable.source, 'g')

const escaped = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`

/**
 * Where an unstorable character sits in a request's body, query or path parameters — in a string
 * or a key — as a path such as `body/email`, with what it is; undefined when there is none. It is
 * refused before anything runs.
 */
function unstorablePath(value: unknown, at: string): { path: string; character: string } | undefined {
  const stack: [unknown, string][] = [[value, at]]
  while (stack.length > 0) {
    const [node, path] = stack.pop()!
    if (typeof node === 'string') {
      const found = unstorable.exec(node)
      if (found) return { path, character: found[0] }
      continue
    }
    if (node === null || typeof node !== 'object') continue
    for (const [key, child] of Object.entries(node)) {
      const found = unstorable.exec(key)
      if (found) return { path: `${path}/${key.replace(unstorableAll, escaped)}`, character: found[0] }
      stack.push([child, `${path}/${key}`])
    }
  }
  return undefined
}

/**
 * Fastify's `trustProxy` for the `http.trust_proxy` setting. Fastify trusts no hop for a bare
 * number (it cannot check the nearest peer); a hop count here means what it says — the nearest
 * `n` addresses are proxies — for a hub that no client can reach but through them.
 */
function trustProxyOption(setting: TrustProxy): boolean | string[] | ((address: string, hop: number) => boolean) {
  return typeof setting === 'number' ? (_address, hop) => hop < setting : setting
}

/** The validators: bodies are taken as sent (no coercion, unknown fields refused); query and
 * path strings are coerced to the schema's types. */
function validatorCompiler() {
  const make = (coerceTypes: false | 'array') => {
    const ajv = new Ajv({ coerceTypes, useDefaults: true, removeAdditional: false, allErrors: false, strict: false })
    addFormats(ajv)
    return ajv
  }
  const body = make(false)
  const strings = make('array')
  return ({ schema, httpPart }: { schema: object; httpPart?: string }) => (httpPart === 'body' ? body : strings).compile(schema)
}

/**
 * Builds the hub's HTTP application without listening, ready for `inject()` in tests or
 * `listen()` in `server.ts`.
 *
 * @example
 * ```ts
 * const app = await buildApp({ config: loadConfig(), database })
 * const res = await app.inject({ method: 'GET', url: '/health' })
 * ```
 */
export async function buildApp(options: AppOptions): Promise<HubApp> {
  const { config, database } = options
  const { db } = database
  const app = Fastify({
    bodyLimit: 1024 * 1024,
    // who the client is (request.ip), for the per-address limits: the connection, unless a trusted proxy says
    trustProxy: trustProxyOption(config.http.trustProxy),
    logger: options.logger === false ? false : {
      level: options.logger?.level ?? config.logLevel,
      ...(options.logger?.stream ? { stream: options.logger.stream } : {}),
      // no headers, no query string, no body: tokens and personal fields stay out of the logs
      serializers: {
        req: (req: { method: string; url: string; ip?: string }) => ({ method: req.method, path: loggedPath(req.url) }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
        err: (err: Error & { code?: string }) => ({ type: err.name, code: err.code, message: err.message, stack: err.stack ?? '' }),
      },
    },
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && requestIdPattern.test(given) ? given : `req_${randomChunk(8).toString('hex')}`
    },
    requestIdHeader: false,
    // one line per request, when it completes (below), instead of two
    logController: new LogController({ disableRequestLogging: true }),
    ajv: { customOptions: { strict: false } },
    // refused by the router before any route runs (a malformed URL, a path parameter over
    // 100 characters): answered in the one error shape like every other error
    frameworkErrors: (err, _request, reply) => {
      const answer = toErrorBody(err)
      void (reply as unknown as FastifyReply).code(answer.statusCode).type('application/json; charset=utf-8').send(answer)
    },
  }) as unknown as HubApp
  // the API speaks JSON only: a text/plain body is refused with 415 like any other media type
  app.removeContentTypeParser('text/plain')

  app.setValidatorCompiler(validatorCompiler())
  app.addHook('preValidation', async (request) => {
    if (nestingDepth(request.body) > maxBodyDepth) {
      throw new HubError('VALIDATION_FAILED', `The request body is nested deeper than ${maxBodyDepth} levels.`)
    }
    // a query string the route reads no schema for is ignored whole, like any parameter it does not read
    const readsQuery = request.routeOptions.schema?.querystring !== undefined
    const bad = unstorablePath(request.body, 'body') ?? (readsQuery ? unstorablePath(request.query, 'query') : undefined) ?? unstorablePath(request.params, 'params')
    if (bad) {
      const what = bad.character === '\u0000' ? 'a NUL character (\\u0000)' : `an unpaired surrogate (${escaped(bad.character)}), which is not a Unicode character`
      throw new HubError('VALIDATION_FAILED', `${bad.path} contains ${what}; no field accepts it.`)
    }
  })
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })
  app.addHook('onResponse', async (request, reply) => {
    request.log.info({ req: request, res: reply, responseTime: Math.round(reply.elapsedTime * 100) / 100 }, 'request completed')
  })
  // counted for every route, the documentation pages' too: the hooks come before any route
  const metrics = createHubMetrics(app)
  metrics.observePool(database)
  if (options.onUndeclaredAnswer) registerResponseCheck(app, options.onUndeclaredAnswer)

  const serving = options.routes !== false
  if (serving) {
    // the API's description, built from the route table; the documentation pages are public
    await app.register(swagger, { mode: 'static', specification: { document: openApiDocument() as never } })
    await app.register(async (scope) => {
      scope.addHook('onRoute', (route) => {
        route.config = { ...(route.config ?? {}), access: 'public' }
      })
      await scope.register(swaggerUi, { routePrefix: '/docs' })
    })
    await registerConsole(app)
  }

  registerErrorHandling(app)
  if (!config.secret) throw new ConfigError('HUB_SECRET is not set: it encrypts the token-signing keys (32 characters or more)')

  // the modules: their services in list order, then their handlers and start-up work
  const modules = options.modules ?? hubModules
  const services = { metrics } as Services
  for (const module of modules) Object.assign(services, module.services?.({ config, services, log: app.log, clock: options.clock ?? (() => new Date()) }) ?? {})
  // a database that is down at start-up is no reason to refuse to start (requests answer 503
  // meanwhile); one whose transaction counter is behind its events is
  await services.events?.checkPositions(db).catch((err: unknown) => {
    if (!isDatabaseUnavailable(err)) throw err
    app.log.warn({ err }, 'could not compare the database\'s transaction counter with its newest event at start-up')
  })
  const handlers: Partial<Handlers> = {}
  for (const module of modules) {
    for (const [operationId, handler] of Object.entries(module.handlers?.(services, config) ?? {})) {
      if (operationId in handlers) throw new Error(`two modules handle the route ${operationId}`)
      ;(handlers as Record<string, unknown>)[operationId] = handler
    }
  }
  const stops: (() => Promise<void> | void)[] = []
  for (const module of modules) {
    const stop = await module.start?.({ db, database, config, services, log: app.log, onClosing: (fn) => app.addHook('preClose', async () => fn()), background: options.background !== false })
    if (typeof stop === 'function') stops.push(stop)
  }
  app.addHook('onClose', async () => {
    for (const stop of stops.reverse()) await stop()
  })

  app.decorate('services', services)
  app.decorate('tokens', {
    create: (name: string, role: ApiRole, scope?: TokenScope) => withTransaction(db, (tx) => services.tokens.create(tx, name, role, scope)),
    bootstrap: () => withTransaction(db, (tx) => services.tokens.bootstrap(tx)),
  })
  const unitOfWork = createUnitOfWork(db, { secret: config.secret })
  if (serving) {
    registerAuthentication(app, db, services.tokens, services.sessions, { limiter: services.limiter, settings: config.auth })
    registerRoutes(app, { handlers, db, unitOfWork })
  }

  const sweep = setInterval(() => {
    void unitOfWork.sweep().catch(() => {})
    void services.limiter.sweep(db).catch(() => {})
    void services.sessions.sweepLapsed(db).catch(() => {})
  }, SWEEP_MS)
  sweep.unref()
  app.addHook('onClose', async () => clearInterval(sweep))
  await app.ready()
  return app
}
