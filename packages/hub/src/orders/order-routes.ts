import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { OrderInput, OrderResult } from '@his-her/contract'
import type { OrderService } from './order-service.js'

const ErrorRef = Type.Ref('Error')

export function orderRoutes({ orders }: { orders: OrderService }) {
  return async function routes(fastify: FastifyInstance) {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
    app.post('/orders', {
      config: { access: ['admin', 'platform'] },
      schema: {
        tags: ['orders'],
        summary: 'Report an order (idempotent per platform and externalId)',
        description: '201 when first recorded; 200 when a repeat (unchanged) or a correction of the total.',
        body: OrderInput,
        response: { 200: OrderResult, 201: OrderResult, 400: ErrorRef, 401: ErrorRef, 403: ErrorRef, 404: ErrorRef, 409: ErrorRef, 422: ErrorRef },
      },
    }, async (req, reply) => {
      const result = await orders.record(req.body)
      return reply.code(result.outcome === 'recorded' ? 201 : 200).send(result)
    })
  }
}
