import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { ApiTokenInfo, CreatedToken, TokenInput } from '@his-her/contract'
import type { ApiTokenService } from './api-token-service.js'

const ErrorRef = Type.Ref('Error')
const errors = { 400: ErrorRef, 401: ErrorRef, 403: ErrorRef, 404: ErrorRef, 409: ErrorRef }

export function tokenRoutes({ tokens }: { tokens: ApiTokenService }) {
  return async function routes(fastify: FastifyInstance) {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
    const tags = ['tokens']
    const config = { access: ['admin'] } as const
    app.post('/tokens', {
      config,
      schema: { tags, summary: 'Create an API token (shown once)', body: TokenInput, response: { 201: CreatedToken, ...errors } },
    }, async (req, reply) => reply.code(201).send(await tokens.create(req.body.name, req.body.role)))
    app.get('/tokens', {
      config,
      schema: { tags, summary: 'List active API tokens (never the tokens themselves)', response: { 200: Type.Object({ data: Type.Array(ApiTokenInfo) }), ...errors } },
    }, async () => ({ data: await tokens.list() }))
    app.delete('/tokens/:name', {
      config,
      schema: { tags, summary: 'Revoke an API token by name', params: Type.Object({ name: Type.String({ maxLength: 64 }) }), response: { 200: Type.Object({ revoked: Type.Literal(true), name: Type.String() }), ...errors } },
    }, async (req) => {
      await tokens.revoke(req.params.name)
      return { revoked: true as const, name: req.params.name }
    })
  }
}
