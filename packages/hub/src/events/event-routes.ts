import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Kysely } from 'kysely'
import Type from 'typebox'
import { EventListQuery, EventPage } from '@his-her/contract'
import type { Database } from '../db/schema.js'
import { readEvents } from './event-store.js'

const ErrorRef = Type.Ref('Error')

export function eventRoutes({ db }: { db: Kysely<Database> }) {
  return async function routes(fastify: FastifyInstance) {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
    app.get('/events', {
      config: { access: ['admin'] },
      schema: {
        tags: ['events'],
        summary: 'Read the event feed in order, after a sequence',
        querystring: EventListQuery,
        response: { 200: EventPage, 400: ErrorRef, 401: ErrorRef, 403: ErrorRef },
      },
    }, async (req) => readEvents(db, req.query.after ?? '0', req.query.limit ?? 100))
  }
}
