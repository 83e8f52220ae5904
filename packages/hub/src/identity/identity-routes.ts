import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { CustomerIdParams, EnsuredRewardAccount, IdentityInput, IdentityParams, LookupQuery, LookupResult, RewardAccountInput, SyncInput, SyncResult } from '@his-her/contract'
import type { IdentityService } from './identity-service.js'
import type { SyncService } from './sync-service.js'

const ErrorRef = Type.Ref('Error')
const errors = { 400: ErrorRef, 401: ErrorRef, 403: ErrorRef, 404: ErrorRef, 409: ErrorRef, 410: ErrorRef }

export function identityRoutes({ identities, sync }: { identities: IdentityService; sync: SyncService }) {
  return async function routes(fastify: FastifyInstance) {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
    const tags = ['identity']
    const rw = { access: ['admin', 'platform'] } as const

    app.post('/customer/sync', {
      config: rw,
      schema: {
        tags,
        summary: 'Find or create one person from what a platform knows (platform id → email → phone)',
        description: '201 when the sync created the customer, 200 when it matched one. See docs/identity.md for the rules.',
        body: SyncInput,
        response: { 200: SyncResult, 201: SyncResult, ...errors, 503: ErrorRef },
      },
    }, async (req, reply) => {
      const result = await sync.sync(req.body)
      return reply.code(result.created ? 201 : 200).send(result)
    })

    app.get('/customer/lookup', {
      config: rw,
      schema: { tags, summary: 'Run the matching cascade without writing', querystring: LookupQuery, response: { 200: LookupResult, ...errors } },
    }, async (req) => identities.lookup(req.query))

    app.get('/customer/:id/identities', {
      config: rw,
      schema: { tags, summary: "A customer's identities", params: CustomerIdParams, response: { 200: Type.Object({ data: Type.Array(Type.Ref('Identity')) }), ...errors } },
    }, async (req) => ({ data: await identities.list(req.params.id) }))

    app.post('/customer/:id/identities', {
      config: rw,
      schema: {
        tags,
        summary: 'Link an identity (409 IDENTITY_TAKEN with the holder when another customer has it)',
        params: CustomerIdParams,
        body: IdentityInput,
        response: { 200: Type.Ref('Identity'), 201: Type.Ref('Identity'), ...errors },
      },
    }, async (req, reply) => {
      const { identity, created } = await identities.link(req.params.id, req.body)
      return reply.code(created ? 201 : 200).send(identity)
    })

    app.delete('/customer/:id/identities/:identityId', {
      config: rw,
      schema: { tags, summary: 'Unlink an identity', params: IdentityParams, response: { 200: Type.Object({ deleted: Type.Literal(true), id: Type.String() }), ...errors } },
    }, async (req) => {
      await identities.unlink(req.params.id, req.params.identityId)
      return { deleted: true as const, id: req.params.identityId }
    })

    app.get('/customer/:id/reward-accounts', {
      config: rw,
      schema: { tags: ['loyalty'], summary: "A customer's reward accounts", params: CustomerIdParams, response: { 200: Type.Object({ data: Type.Array(Type.Ref('RewardAccount')) }), ...errors } },
    }, async (req) => ({ data: await identities.listRewardAccounts(req.params.id) }))

    app.post('/customer/:id/reward-accounts', {
      config: rw,
      schema: {
        tags: ['loyalty'],
        summary: 'Make sure the customer has an account in a ledger (idempotent)',
        params: CustomerIdParams,
        body: RewardAccountInput,
        response: { 200: EnsuredRewardAccount, 201: EnsuredRewardAccount, ...errors },
      },
    }, async (req, reply) => {
      const result = await identities.ensureRewardAccount(req.params.id, req.body.ledger)
      return reply.code(result.created ? 201 : 200).send(result)
    })
  }
}
