import { defineModule } from '../module.js'
import { ConfigError } from '../errors.js'
import { createApiTokenService, type ApiTokenService } from './api-token-service.js'
import { createSigningKeys, type SigningKeys } from './signing-keys.js'
import { createRateLimiter, type RateLimiter } from './rate-limiter.js'
import { createServiceAccountService, type ServiceAccountService } from './service-account-service.js'
import { createSessionService, type SessionService } from './session-service.js'
import { createStaffService, type StaffService } from './staff-service.js'
import { authSection } from './settings.js'
import './tables.js'

declare module '../module.js' {
  interface Services {
    tokens: ApiTokenService
    keys: SigningKeys
    limiter: RateLimiter
    serviceAccounts: ServiceAccountService
    sessions: SessionService
    staff: StaffService
  }
}

/** Access: API tokens, signing keys, service accounts, staff users, sessions of customers, service accounts and staff. */
export const authModule = defineModule({
  name: 'auth',
  folder: 'auth',
  tables: ['api_tokens', 'signing_keys', 'service_accounts', 'staff_users', 'refresh_tokens', 'refresh_families', 'customer_session_cutoffs', 'one_time_tokens', 'rate_limits'],
  migrations: new URL('./migrations/', import.meta.url),
  config: authSection,
  services: ({ config, services, log }) => {
    if (!config.secret) throw new ConfigError('HUB_SECRET is not set: it encrypts the token-signing keys (32 characters or more)')
    const keys = createSigningKeys({ secret: config.secret, accessTokenTtl: config.auth.accessTokenTtl })
    const limiter = createRateLimiter({ log })
    const serviceAccounts = createServiceAccountService({ settings: config.auth, passwordMinLength: config.customer.passwordMinLength })
    const staff = createStaffService({ passwordMinLength: config.customer.passwordMinLength })
    const sessions = createSessionService({
      keys,
      limiter,
      serviceAccounts,
      staff,
      customers: services.customers,
      identities: services.identities,
      events: services.events,
      auth: config.auth,
      customer: config.customer,
      secret: config.secret,
      log,
      devLink: config.devLogLinks ? (purpose, token) => log.info(`development link (${purpose}): token=${token}`) : undefined,
    })
    return { tokens: createApiTokenService({ envAdminToken: config.adminToken }), keys, limiter, serviceAccounts, sessions, staff }
  },
  // what sign-ins left for after their answers (attempts given back, failed attempts' families deleted) is done before the database closes
  start: async ({ services }) => () => services.sessions.settled(),
  handlers: ({ sessions, keys, serviceAccounts, tokens, staff }) => ({
    login: async ({ db, body, request }) => sessions.login(db, body.email, body.password, request.ip),
    staffLogin: async ({ db, body, request }) => sessions.staffLogin(db, body.email, body.password, request.ip),
    createStaffUser: async ({ tx, body }) => staff.create(tx, body),
    listStaffUsers: async ({ db }) => ({ data: await staff.list(db) }),
    updateStaffUser: async ({ tx, params, body }) => staff.update(tx, params.id, body),
    disableStaffUser: async ({ tx, params }) => {
      await staff.disable(tx, params.id)
      return { disabled: true as const, id: params.id }
    },
    refreshSession: async ({ db, body }) => sessions.refresh(db, body.refreshToken),
    logout: async ({ db, body }) => {
      await sessions.logout(db, body.refreshToken)
      return { loggedOut: true as const }
    },
    requestVerification: async ({ db, body, request }) => {
      await sessions.requestVerification(db, body.email, request.ip)
      return { accepted: true as const }
    },
    requestPasswordReset: async ({ db, body, request }) => {
      await sessions.requestPasswordReset(db, body.email, request.ip)
      return { accepted: true as const }
    },
    resetPassword: async ({ db, body, request }) => ({ ...(await sessions.resetPassword(db, body.token, body.password, request.ip)), passwordChanged: true as const }),
    getSession: async ({ principal: p }) => {
      if (p.kind === 'customer') return { kind: p.kind, role: p.role, customerId: p.customerId }
      if (p.kind === 'service') return { kind: p.kind, role: p.role, serviceAccountId: p.serviceAccountId, providerId: p.providerId, organizationId: p.organizationId, name: p.name }
      if (p.kind === 'staff') return { kind: p.kind, role: p.role, staffId: p.staffId, name: p.name }
      return { kind: p.kind, role: p.role, name: p.name }
    },
    jwks: async ({ db, reply }) => {
      reply.header('cache-control', 'public, max-age=300')
      return (await keys.jwks(db)) as { keys: Record<string, unknown>[] }
    },
    rotateKeys: async ({ tx }) => ({ kid: await keys.rotate(tx) }),
    createServiceAccount: async ({ tx, body }) => serviceAccounts.create(tx, body),
    listServiceAccounts: async ({ db }) => ({ data: await serviceAccounts.list(db) }),
    createToken: async ({ tx, body }) => tokens.create(tx, body.name, body.role, { components: body.components, platforms: body.platforms }),
    listTokens: async ({ db }) => ({ data: await tokens.list(db) }),
    revokeToken: async ({ tx, params }) => {
      await tokens.revoke(tx, params.name)
      return { revoked: true as const, name: params.name }
    },
  }),
})
