import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { CustomerIdParams, MergeInput, MergeResult, UndoResult } from '@his-her/contract'
import type { MergeService } from './merge-service.js'

const ErrorRef = Type.Ref('Error')
const errors = { 400: ErrorRef, 401: ErrorRef, 403: ErrorRef, 404: ErrorRef, 409: ErrorRef, 410: ErrorRef, 422: ErrorRef }
const MergeParams = Type.Object({ id: Type.String({ maxLength: 100 }) })

export function mergeRoutes({ merges }: { merges: MergeService }) {
  return async function routes(fastify: FastifyInstance) {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
    const tags = ['merges']
    const admin = { access: ['admin'] } as const

    app.post('/customer/:id/merge', {
      config: admin,
      schema: {
        tags,
        summary: "Merge another customer (sourceId) into this one; it is recorded and can be undone",
        params: CustomerIdParams,
        body: MergeInput,
        response: { 200: MergeResult, ...errors },
      },
    }, async (req) => merges.merge(req.params.id, req.body.sourceId))

    app.get('/merges/:id', {
      config: admin,
      schema: { tags, summary: 'A merge record: what moved', params: MergeParams, response: { 200: Type.Ref('Merge'), ...errors } },
    }, async (req) => merges.get(req.params.id))

    app.post('/merges/:id/undo', {
      config: admin,
      schema: { tags, summary: 'Undo a merge: put back exactly what moved', params: MergeParams, response: { 200: UndoResult, ...errors } },
    }, async (req) => merges.undo(req.params.id))
  }
}
