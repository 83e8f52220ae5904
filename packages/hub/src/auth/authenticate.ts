import type { FastifyInstance } from 'fastify'
import type { Role } from '@his-her/contract'
import type { Executor } from '../db/executor.js'
import { HubError } from '../errors.js'
import type { ApiTokenService } from './api-token-service.js'
import type { SessionService } from './session-service.js'
import type { Principal } from './principal.js'

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
 */
export function registerAuthentication(app: FastifyInstance, db: Executor, tokens: ApiTokenService, sessions: SessionService): void {
  app.decorateRequest('principal', undefined)
  app.addHook('onRequest', async (request) => {
    if (request.is404) return
    const access = request.routeOptions.config.access
    if (access === 'public') return
    const header = request.headers.authorization
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null
    if (!match) throw new HubError('UNAUTHORIZED', 'Send Authorization: Bearer <token>.')
    const token = match[1]!
    const principal = jwtShape.test(token) ? await sessions.verifyAccess(db, token) : await tokens.authenticate(db, token)
    if (!principal) throw new HubError('UNAUTHORIZED', 'The token is unknown, revoked or expired.')
    request.principal = principal
    if (!access || !access.includes(principal.role)) {
      throw new HubError('FORBIDDEN', `A ${principal.role} token may not call ${request.method} ${request.routeOptions.url}.`)
    }
  })
}
