import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { Accepted, EmailRequestInput, LoginInput, OneTimeTokenInput, PasswordResetInput, RefreshInput, ServiceAccount, ServiceAccountInput, Session, WhoAmI } from '@his-her/contract'
import type { SessionService } from './session-service.js'
import type { SigningKeys } from './signing-keys.js'
import type { ServiceAccountService } from './service-account-service.js'
import { roles } from './principal.js'

const ErrorRef = Type.Ref('Error')
const errors = { 400: ErrorRef, 401: ErrorRef, 403: ErrorRef, 404: ErrorRef, 409: ErrorRef, 429: ErrorRef }

export function authRoutes({ sessions, keys, serviceAccounts }: { sessions: SessionService; keys: SigningKeys; serviceAccounts: ServiceAccountService }) {
  return async function routes(fastify: FastifyInstance) {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
    const tags = ['auth']
    const open = { access: 'public' } as const
    const security: never[] = []

    app.post('/auth/login', {
      config: open,
      schema: { tags, security, summary: 'Log in a customer or a service account with email and password', body: LoginInput, response: { 200: Session, ...errors } },
    }, async (req) => sessions.login(req.body.email, req.body.password, req.ip))

    app.post('/auth/refresh', {
      config: open,
      schema: { tags, security, summary: 'Trade a refresh token for a new session (the old token is used up)', body: RefreshInput, response: { 200: Session, ...errors } },
    }, async (req) => sessions.refresh(req.body.refreshToken))

    app.post('/auth/logout', {
      config: open,
      schema: { tags, security, summary: 'End the session of a refresh token', body: RefreshInput, response: { 200: Type.Object({ loggedOut: Type.Literal(true) }), ...errors } },
    }, async (req) => {
      await sessions.logout(req.body.refreshToken)
      return { loggedOut: true as const }
    })

    app.post('/auth/verify-email/request', {
      config: open,
      schema: { tags, security, summary: 'Send a verification token (event customer.verification_requested)', body: EmailRequestInput, response: { 202: Accepted, ...errors } },
    }, async (req, reply) => {
      await sessions.requestVerification(req.body.email, req.ip)
      return reply.code(202).send({ accepted: true as const })
    })

    app.post('/auth/verify-email', {
      config: open,
      schema: { tags, security, summary: 'Verify an email with its token', body: OneTimeTokenInput, response: { 200: Type.Object({ customerId: Type.String(), emailVerified: Type.Literal(true) }), ...errors } },
    }, async (req) => ({ ...(await sessions.verifyEmail(req.body.token)), emailVerified: true as const }))

    app.post('/auth/password-reset/request', {
      config: open,
      schema: { tags, security, summary: 'Send a password-reset token (event customer.password_reset_requested)', body: EmailRequestInput, response: { 202: Accepted, ...errors } },
    }, async (req, reply) => {
      await sessions.requestPasswordReset(req.body.email, req.ip)
      return reply.code(202).send({ accepted: true as const })
    })

    app.post('/auth/password-reset', {
      config: open,
      schema: { tags, security, summary: 'Set a new password with a reset token; every session is revoked', body: PasswordResetInput, response: { 200: Type.Object({ customerId: Type.String(), passwordChanged: Type.Literal(true) }), ...errors } },
    }, async (req) => ({ ...(await sessions.resetPassword(req.body.token, req.body.password)), passwordChanged: true as const }))

    app.get('/auth/session', {
      config: { access: roles },
      schema: { tags, summary: 'Who the bearer token stands for', response: { 200: WhoAmI, ...errors } },
    }, async (req) => {
      const p = req.principal!
      if (p.kind === 'customer') return { kind: p.kind, role: p.role, customerId: p.customerId }
      if (p.kind === 'service') return { kind: p.kind, role: p.role, serviceAccountId: p.serviceAccountId, providerId: p.providerId, organizationId: p.organizationId, name: p.name }
      return { kind: p.kind, role: p.role, name: p.name }
    })

    app.get('/.well-known/jwks.json', {
      config: open,
      schema: { tags, security, summary: 'The public keys that verify access tokens (JWKS)', response: { 200: Type.Object({ keys: Type.Array(Type.Object({}, { additionalProperties: true })) }) } },
    }, async (_req, reply) => {
      reply.header('cache-control', 'public, max-age=300')
      return keys.jwks()
    })

    app.post('/keys/rotate', {
      config: { access: ['admin'] },
      schema: { tags, summary: 'Start signing with a new key; tokens signed before stay valid until they expire', response: { 200: Type.Object({ kid: Type.String() }), ...errors } },
    }, async () => ({ kid: await keys.rotate() }))

    app.post('/service-accounts', {
      config: { access: ['admin'] },
      schema: { tags: ['service accounts'], summary: 'Create a service account (email <handle>@<service email domain>)', body: ServiceAccountInput, response: { 201: ServiceAccount, ...errors } },
    }, async (req, reply) => reply.code(201).send(await serviceAccounts.create(req.body)))

    app.get('/service-accounts', {
      config: { access: ['admin'] },
      schema: { tags: ['service accounts'], summary: 'List service accounts', response: { 200: Type.Object({ data: Type.Array(ServiceAccount) }), ...errors } },
    }, async () => ({ data: await serviceAccounts.list() }))
  }
}
