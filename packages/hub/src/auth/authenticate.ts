import type { FastifyInstance } from 'fastify'
import type { Role } from '@his-her/contract'
import type { Executor } from '../db/executor.js'
import { HubError } from '../errors.js'
import type { ApiTokenService } from './api-token-service.js'
import type { SessionService } from './session-service.js'
import type { Principal } from './principal.js'
import type { RateLimiter } from './rate-limiter.js'
import type { AuthSettings } from './settings.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route: `'public'`, or the roles allowed. A route without it is closed. */
    access?: 'public' | readonly Role[]
  }
  interface FastifyRequest {
    principal: Principal | undefined
  }
}

const jwtShape = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

/**
 * Checks `Authorization: Bearer <token>` on every request against the route's `access`.
 * A JWT is a customer's or service account's access token (verified against the hub's keys);
 * anything else is an API token. Routes are closed by default: one registered without
 * `access` answers 403 to everyone.
 *
 * Failed tokens are counted per client address (`tokenFailuresPerAddress` per
 * `tokenFailureWindow`; an expired access token is not a failure, nor a missing header). Past the
 * limit the address gets 429 `RATE_LIMITED` for a failed token, and for every API token before
 * it is compared or looked up (a right guess is not told apart) — but for one this process
 * accepted within the last 5 s, which needs no lookup. A valid access token still passes: its
 * signature cannot be guessed. Only failures write: a success adds no write, and a cached API
 * token or an access token no query either.
 */
export function registerAuthentication(
  app: FastifyInstance,
  db: Executor,
  tokens: ApiTokenService,
  sessions: SessionService,
  limits: { limiter: RateLimiter; settings: AuthSettings },
): void {
  const { limiter, settings } = limits
  const failuresKey = (address: string) => `token-failures:address:${address}`

  app.decorateRequest('principal', undefined)
  app.addHook('onRequest', async (request) => {
    if (request.is404) return
    const access = request.routeOptions.config.access
    if (access === 'public') return
    const header = request.headers.authorization
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null
    if (!match) throw new HubError('UNAUTHORIZED', 'Send Authorization: Bearer <token>.')
    const token = match[1]!
    const key = failuresKey(request.ip)
    let principal: Principal | undefined
    try {
      principal = jwtShape.test(token)
        ? await sessions.verifyAccess(db, token)
        : await tokens.authenticate(db, token, () => limiter.check(db, key, settings.tokenFailuresPerAddress, settings.tokenFailureWindow))
      if (!principal) throw new HubError('UNAUTHORIZED', 'The token is unknown, revoked or expired.')
    } catch (err) {
      // counted on the database, outside any transaction; past the limit this throws 429 instead
      if (err instanceof HubError && err.code === 'UNAUTHORIZED') await limiter.hit(db, key, settings.tokenFailuresPerAddress, settings.tokenFailureWindow)
      throw err
    }
    request.principal = principal
    if (!access || !access.includes(principal.role)) {
      throw new HubError('FORBIDDEN', `A ${principal.role} token may not call ${request.method} ${request.routeOptions.url}.`)
    }
  })
}
