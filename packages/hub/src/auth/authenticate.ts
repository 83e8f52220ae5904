import type { FastifyInstance } from 'fastify'
import type { ApiRole } from '@his-her/contract'
import { HubError } from '../errors.js'
import type { ApiTokenService, Principal } from './api-token-service.js'

export type Role = ApiRole

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route: `'public'`, or the roles allowed. A route without it is closed. */
    access?: 'public' | readonly Role[]
  }
  interface FastifyRequest {
    principal: Principal | undefined
  }
}

/**
 * Checks `Authorization: Bearer <token>` on every request against the route's `access`.
 * Routes are closed by default: one registered without `access` answers 403 to everyone.
 */
export function registerAuthentication(app: FastifyInstance, tokens: ApiTokenService): void {
  app.decorateRequest('principal', undefined)
  app.addHook('onRequest', async (request) => {
    if (request.is404) return
    const access = request.routeOptions.config.access
    if (access === 'public') return
    const header = request.headers.authorization
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null
    if (!match) throw new HubError('UNAUTHORIZED', 'Send Authorization: Bearer <token>.')
    const principal = await tokens.authenticate(match[1]!)
    if (!principal) throw new HubError('UNAUTHORIZED', 'The token is unknown, revoked or expired.')
    request.principal = principal
    if (!access || !access.includes(principal.role)) {
      throw new HubError('FORBIDDEN', `A ${principal.role} token may not call ${request.method} ${request.routeOptions.url}.`)
    }
  })
}
