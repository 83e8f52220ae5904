import { randomChunk } from '../ids.js'
import Fastify, { LogController, type FastifyInstance, type FastifyReply } from 'fastify'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { Ajv } from 'ajv'
import addFormatsModule from 'ajv-formats'
import Type from 'typebox'
import { Address, Customer, ErrorResponse, HubEvent, Identity, Merge, RewardAccount } from '@his-her/contract'
import type { HubConfig } from '../config.js'
import type { HubDatabase } from '../db/create-database.js'
import { registerErrorHandling, toErrorBody } from './error-handler.js'
import { registerAuthentication } from '../auth/authenticate.js'
import { HubError } from '../errors.js'
import { createApiTokenService, type ApiTokenService } from '../auth/api-token-service.js'
import { tokenRoutes } from '../auth/token-routes.js'
import { createCustomerService } from '../customers/customer-service.js'
import { createAddressService } from '../customers/address-service.js'
import { customerRoutes } from '../customers/customer-routes.js'
import { createOrderService } from '../orders/order-service.js'
import { orderRoutes } from '../orders/order-routes.js'
import { eventRoutes } from '../events/event-routes.js'
import { registerIdempotency } from './idempotency.js'
import { createSigningKeys } from '../auth/signing-keys.js'
import { createRateLimiter } from '../auth/rate-limiter.js'
import { createServiceAccountService } from '../auth/service-account-service.js'
import { createSessionService } from '../auth/session-service.js'
import { authRoutes } from '../auth/auth-routes.js'
import { meRoutes } from '../customers/me-routes.js'
import { ConfigError } from '../errors.js'
import { createLedgerCheck, ensureConfiguredLedgers } from '../loyalty/ledger-check.js'
import { createIdentityService } from '../identity/identity-service.js'
import { createSyncService } from '../identity/sync-service.js'
import { identityRoutes } from '../identity/identity-routes.js'
import { createMergeService } from '../customers/merge-service.js'
import { mergeRoutes } from '../customers/merge-routes.js'

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

export interface AppOptions {
  config: HubConfig
  database: HubDatabase
  /** Logging: JSON lines at `config.logLevel` on stdout by default; another `stream` or `level`
   * (tests capture the lines), or `false` for none. */
  logger?: false | { stream?: NodeJS.WritableStream; level?: string }
}

export interface HubApp extends FastifyInstance {
  tokens: ApiTokenService
}

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
  })
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })
  app.addHook('onResponse', async (request, reply) => {
    request.log.info({ req: request, res: reply, responseTime: Math.round(reply.elapsedTime * 100) / 100 }, 'request completed')
  })
  for (const schema of [ErrorResponse, Address, Customer, HubEvent, Identity, RewardAccount, Merge]) app.addSchema(schema)

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Customer Hub API',
        version: '0.1.0',
        description: 'One record per real person across every store and platform.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  })
  await app.register(async (scope) => {
    // the documentation pages are public
    scope.addHook('onRoute', (route) => {
      route.config = { ...(route.config ?? {}), access: 'public' }
    })
    await scope.register(swaggerUi, { routePrefix: '/docs' })
  })

  const tokens = createApiTokenService(db, { envAdminToken: config.adminToken })
  app.decorate('tokens', tokens)
  registerErrorHandling(app)
  if (!config.secret) throw new ConfigError('HUB_SECRET is not set: it encrypts the token-signing keys (32 characters or more)')
  const keys = createSigningKeys(db, { secret: config.secret, accessTokenTtl: config.auth.accessTokenTtl })
  const serviceAccounts = createServiceAccountService({ db, settings: config.auth, passwordMinLength: config.customer.passwordMinLength })
  const sessions = createSessionService({
    db,
    keys,
    limiter: createRateLimiter(db),
    serviceAccounts,
    auth: config.auth,
    customer: config.customer,
    devLink: config.devLogLinks ? (purpose, token) => app.log.info(`development link (${purpose}): token=${token}`) : undefined,
  })
  registerAuthentication(app, tokens, sessions)
  registerIdempotency(app, db)
  await ensureConfiguredLedgers(db, config.ledgers)
  const ledgers = createLedgerCheck(db)

  const customers = createCustomerService({ db, settings: config.customer })
  const addresses = createAddressService({ db, settings: config.customer })
  const orders = createOrderService({ db })
  const identities = createIdentityService({ db, settings: config.customer, ledgers })
  const sync = createSyncService({ db, settings: config.customer, ledgers })
  const merges = createMergeService({ db, customers })

  app.get('/health', {
    config: { access: 'public' },
    schema: {
      tags: ['operations'],
      summary: 'Is the hub up and its database reachable?',
      security: [],
      response: { 200: Type.Object({ status: Type.Literal('ok'), database: Type.Literal('up') }), 503: Type.Ref('Error') },
    },
  }, async (_req, reply) => {
    if (await database.ping()) return { status: 'ok' as const, database: 'up' as const }
    return reply.code(503).send({ statusCode: 503, code: 'DATABASE_UNAVAILABLE', error: 'Service Unavailable', message: 'The database does not answer.' })
  })
  app.get('/openapi.json', { config: { access: 'public' }, schema: { hide: true } }, async () => app.swagger())

  await app.register(customerRoutes({ customers, addresses, db }))
  await app.register(authRoutes({ sessions, keys, serviceAccounts }))
  await app.register(meRoutes({ customers, addresses, identities }))
  await app.register(identityRoutes({ identities, sync }))
  await app.register(mergeRoutes({ merges }))
  await app.register(orderRoutes({ orders }))
  await app.register(eventRoutes({ db }))
  await app.register(tokenRoutes({ tokens }))
  await app.ready()
  return app
}
