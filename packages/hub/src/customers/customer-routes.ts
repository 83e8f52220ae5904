import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import {
  AddressInput,
  AddressParams,
  AddressPatch,
  CustomerIdParams,
  CustomerInput,
  CustomerListQuery,
  CustomerPage,
  CustomerPatch,
  GroupInput,
  GroupParams,
} from '@his-her/contract'
import type { CustomerService } from './customer-service.js'
import type { AddressService } from './address-service.js'
import { listCustomers } from './customer-list.js'
import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.js'

const CustomerRef = Type.Ref('Customer')
const AddressRef = Type.Ref('Address')
const ErrorRef = Type.Ref('Error')
const errors = { 400: ErrorRef, 401: ErrorRef, 403: ErrorRef, 404: ErrorRef, 409: ErrorRef }
const Deleted = Type.Object({ deleted: Type.Literal(true), id: Type.String() })

export function customerRoutes(deps: { customers: CustomerService; addresses: AddressService; db: Kysely<Database> }) {
  const { customers, addresses, db } = deps
  return async function routes(fastify: FastifyInstance) {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
    const tags = ['customers']
    const rw = { access: ['admin', 'platform'] } as const
    const admin = { access: ['admin'] } as const

    app.post('/customer', {
      config: rw,
      schema: { tags, summary: 'Register a customer (with password) or create a guest record', body: CustomerInput, response: { 201: CustomerRef, ...errors } },
    }, async (req, reply) => reply.code(201).send(await customers.create(req.body)))

    app.get('/customer', {
      config: admin,
      schema: { tags, summary: 'List customers with filters, sorted, in cursor pages', querystring: CustomerListQuery, response: { 200: CustomerPage, ...errors } },
    }, async (req) => listCustomers(db, req.query))

    app.get('/customer/:id', {
      config: rw,
      schema: { tags, summary: 'Read a customer', params: CustomerIdParams, response: { 200: CustomerRef, ...errors } },
    }, async (req) => customers.get(req.params.id))

    app.patch('/customer/:id', {
      config: rw,
      schema: { tags, summary: 'Change the given fields of a customer', params: CustomerIdParams, body: CustomerPatch, response: { 200: CustomerRef, ...errors } },
    }, async (req) => customers.update(req.params.id, req.body))

    app.delete('/customer/:id', {
      config: admin,
      schema: { tags, summary: 'Soft-delete a customer (its email and phone become free)', params: CustomerIdParams, response: { 200: Deleted, ...errors } },
    }, async (req) => {
      await customers.remove(req.params.id)
      return { deleted: true as const, id: req.params.id }
    })

    app.post('/customer/:id/address', {
      config: rw,
      schema: { tags, summary: 'Add an address (the first becomes the default)', params: CustomerIdParams, body: AddressInput, response: { 201: AddressRef, ...errors, 422: ErrorRef } },
    }, async (req, reply) => reply.code(201).send(await addresses.add(req.params.id, req.body)))

    app.patch('/customer/:id/address/:addressId', {
      config: rw,
      schema: { tags, summary: 'Change an address; isDefault: true makes it the default', params: AddressParams, body: AddressPatch, response: { 200: AddressRef, ...errors } },
    }, async (req) => addresses.update(req.params.id, req.params.addressId, req.body))

    app.delete('/customer/:id/address/:addressId', {
      config: rw,
      schema: { tags, summary: 'Remove an address (the oldest remaining becomes the default)', params: AddressParams, response: { 200: Deleted, ...errors } },
    }, async (req) => {
      await addresses.remove(req.params.id, req.params.addressId)
      return { deleted: true as const, id: req.params.addressId }
    })

    app.post('/customer/:id/group', {
      config: rw,
      schema: { tags, summary: 'Add the customer to a group (idempotent)', params: CustomerIdParams, body: GroupInput, response: { 200: CustomerRef, ...errors } },
    }, async (req) => customers.addGroup(req.params.id, req.body.group))

    app.delete('/customer/:id/group/:group', {
      config: rw,
      schema: { tags, summary: 'Remove the customer from a group (idempotent)', params: GroupParams, response: { 200: CustomerRef, ...errors } },
    }, async (req) => customers.removeGroup(req.params.id, req.params.group))
  }
}
