import { defineModule } from '../module.js'
import { createCustomerService, type CustomerService } from './customer-service.js'
import { createAddressService, type AddressService } from './address-service.js'
import { customerSection } from './settings.js'
import { createSearchStatistics, type SearchStatistics } from './search-pattern.js'
import './tables.js'

declare module '../module.js' {
  interface Services {
    customers: CustomerService
    addresses: AddressService
    /** Which trigrams are common among the customers, for `q=` ({@link createSearchStatistics}). */
    customerSearch: SearchStatistics
  }
}

/**
 * The Customer Module: customer records, their addresses and groups. Work on a customer that
 * also touches identities (create, change of email, delete, merge) is a flow (`flows/`).
 */
export const customersModule = defineModule({
  name: 'customers',
  folder: 'customers',
  tables: ['customers', 'addresses'],
  migrations: new URL('./migrations/', import.meta.url),
  config: customerSection,
  services: ({ config, services }) => {
    const customers = createCustomerService({ events: services.events })
    return { customers, addresses: createAddressService({ settings: config.customer, customers, events: services.events }), customerSearch: createSearchStatistics() }
  },
  handlers: ({ customers, addresses }) => ({
    getCustomer: async ({ db, params }) => customers.get(db, params.id),
    addAddress: async ({ tx, params, body }) => addresses.add(tx, params.id, body),
    updateAddress: async ({ tx, params, body }) => addresses.update(tx, params.id, params.addressId, body),
    removeAddress: async ({ tx, params }) => {
      await addresses.remove(tx, params.id, params.addressId)
      return { deleted: true as const, id: params.addressId }
    },
    addToGroup: async ({ tx, params, body }) => customers.addGroup(tx, params.id, body.group),
    removeFromGroup: async ({ tx, params }) => customers.removeGroup(tx, params.id, params.group),
    addMyAddress: async ({ tx, principal, body }) => addresses.add(tx, customerOf(principal), body),
    updateMyAddress: async ({ tx, principal, params, body }) => addresses.update(tx, customerOf(principal), params.addressId, body),
    removeMyAddress: async ({ tx, principal, params }) => {
      await addresses.remove(tx, customerOf(principal), params.addressId)
      return { deleted: true as const, id: params.addressId }
    },
  }),
  // a serving hub samples the customers' common trigrams before the first search needs them
  start: async ({ db, services, background }) => {
    if (background) void services.customerSearch.common(db)
  },
})

/** The logged-in customer's id: the `/customer/me` routes take it from the token, never from the request. */
export function customerOf(principal: { kind: string; customerId?: string }): string {
  if (principal.kind !== 'customer' || !principal.customerId) throw new Error('a /customer/me route reached without a customer token') // access guarantees it
  return principal.customerId
}
