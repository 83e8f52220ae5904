import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { AddressInput, AddressPatch, CustomerMePatch } from '@his-her/contract'
import type { CustomerService } from './customer-service.js'
import type { AddressService } from './address-service.js'
import type { IdentityService } from '../identity/identity-service.js'

const ErrorRef = Type.Ref('Error')
const errors = { 400: ErrorRef, 401: ErrorRef, 403: ErrorRef, 404: ErrorRef, 409: ErrorRef, 422: ErrorRef }
const AddressIdParams = Type.Object({ addressId: Type.String({ maxLength: 100 }) })

/** The logged-in customer's own record: the id comes from the token, never from the request. */
const me = (req: FastifyRequest): string => {
  const p = req.principal
  if (p?.kind !== 'customer') throw new Error('me routes are for customer tokens only') // access config guarantees it
  return p.customerId
}

export function meRoutes({ customers, addresses, identities }: { customers: CustomerService; addresses: AddressService; identities: IdentityService }) {
  return async function routes(fastify: FastifyInstance) {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
    const tags = ['me']
    const config = { access: ['customer'] } as const

    app.get('/customer/me', { config, schema: { tags, summary: 'My record', response: { 200: Type.Ref('Customer'), ...errors } } }, async (req) => customers.get(me(req)))
    app.patch('/customer/me', {
      config,
      schema: { tags, summary: 'Change my name, email or phone', body: CustomerMePatch, response: { 200: Type.Ref('Customer'), ...errors } },
    }, async (req) => customers.update(me(req), req.body))
    app.post('/customer/me/address', {
      config,
      schema: { tags, summary: 'Add one of my addresses', body: AddressInput, response: { 201: Type.Ref('Address'), ...errors } },
    }, async (req, reply) => reply.code(201).send(await addresses.add(me(req), req.body)))
    app.patch('/customer/me/address/:addressId', {
      config,
      schema: { tags, summary: 'Change one of my addresses', params: AddressIdParams, body: AddressPatch, response: { 200: Type.Ref('Address'), ...errors } },
    }, async (req) => addresses.update(me(req), req.params.addressId, req.body))
    app.delete('/customer/me/address/:addressId', {
      config,
      schema: { tags, summary: 'Remove one of my addresses', params: AddressIdParams, response: { 200: Type.Object({ deleted: Type.Literal(true), id: Type.String() }), ...errors } },
    }, async (req) => {
      await addresses.remove(me(req), req.params.addressId)
      return { deleted: true as const, id: req.params.addressId }
    })
    app.get('/customer/me/identities', {
      config,
      schema: { tags, summary: 'My identities', response: { 200: Type.Object({ data: Type.Array(Type.Ref('Identity')) }), ...errors } },
    }, async (req) => ({ data: await identities.list(me(req)) }))
    app.get('/customer/me/reward-accounts', {
      config,
      schema: { tags, summary: 'My reward accounts', response: { 200: Type.Object({ data: Type.Array(Type.Ref('RewardAccount')) }), ...errors } },
    }, async (req) => ({ data: await identities.listRewardAccounts(me(req)) }))
  }
}
