import { sql, type Kysely } from 'kysely'
import type { Address, AddressInput, AddressPatch } from '@his-her/contract'
import type { Database } from '../db/schema.js'
import type { CustomerSettings } from '../config.js'
import { HubError } from '../errors.js'
import { newId, isId } from '../ids.js'
import { normalizeCountry, normalizePhone } from '../identity/normalize.js'
import { createEventWriter } from '../events/event-store.js'
import { assertCustomerId } from './customer-service.js'
import { toAddress, type AddressRow } from './customer-mapper.js'

/**
 * A customer's saved addresses. Rules, each guarded in the database:
 * - at most `max_addresses`: adding is a guarded `address_count < max` update of the customer row;
 * - exactly one default while there are addresses: the first is the default, a new default
 *   unsets the old one, and a partial unique index forbids two.
 * Every change first takes the customer row's lock (that guarded update), so concurrent changes
 * to one customer's addresses run one after another.
 */
export function createAddressService({ db, settings }: { db: Kysely<Database>; settings: CustomerSettings }) {
  function fields(input: AddressPatch) {
    const out: Record<string, unknown> = {}
    if (input.label !== undefined) out.label = input.label
    if (input.firstName !== undefined) out.first_name = input.firstName
    if (input.lastName !== undefined) out.last_name = input.lastName
    if (input.line1 !== undefined) out.line1 = input.line1
    if (input.line2 !== undefined) out.line2 = input.line2
    if (input.city !== undefined) out.city = input.city
    if (input.state !== undefined) out.state = input.state
    if (input.postalCode !== undefined) out.postal_code = input.postalCode
    if (input.country !== undefined) out.country = normalizeCountry(input.country)
    if (input.phone !== undefined) out.phone = input.phone === null ? null : normalizePhone(input.phone, settings.defaultCountry)
    return out
  }

  /** Locks the live customer's row for this transaction; 404 when there is none. */
  async function lockCustomer(tx: Kysely<Database>, customerId: string, addressDelta = 0): Promise<number | undefined> {
    const row = await tx
      .updateTable('customers')
      .set((eb) => ({ updated_at: new Date(), address_count: eb('address_count', '+', addressDelta) }))
      .where('id', '=', customerId)
      .where('deleted_at', 'is', null)
      .$if(addressDelta > 0, (q) => q.where('address_count', '<', settings.maxAddresses))
      .returning('address_count')
      .executeTakeFirst()
    return row?.address_count
  }

  async function notFoundOrLimit(customerId: string): Promise<never> {
    const exists = await db.selectFrom('customers').select('id').where('id', '=', customerId).where('deleted_at', 'is', null).executeTakeFirst()
    if (!exists) throw new HubError('CUSTOMER_NOT_FOUND', `No live customer has the id ${customerId}.`)
    throw new HubError('ADDRESS_LIMIT_REACHED', `The customer already has ${settings.maxAddresses} addresses (max_addresses).`)
  }

  function assertAddressId(addressId: string) {
    if (!isId('addr', addressId)) throw new HubError('INVALID_ID', `"${addressId}" is not an address id (addr_…).`)
  }

  return {
    async add(customerId: string, input: AddressInput): Promise<Address> {
      assertCustomerId(customerId)
      const values = fields(input)
      let limitHit = false
      const address = await db.transaction().execute(async (tx) => {
        const count = await lockCustomer(tx, customerId, 1)
        if (count === undefined) {
          limitHit = true
          return undefined
        }
        const isDefault = count === 1 || input.isDefault === true
        if (isDefault && count > 1) {
          await tx.updateTable('addresses').set({ is_default: false, updated_at: new Date() }).where('customer_id', '=', customerId).where('is_default', '=', true).execute()
        }
        const now = new Date()
        const row = await tx
          .insertInto('addresses')
          .values({ id: newId('addr'), customer_id: customerId, ...(values as { line1: string; city: string; country: string }), is_default: isDefault, created_at: now, updated_at: now })
          .returningAll()
          .executeTakeFirstOrThrow()
        const address = toAddress(row as AddressRow)
        await createEventWriter(tx).emit({ type: 'customer.address_added', customerId, payload: { customerId, address } })
        return address
      })
      if (limitHit || !address) return notFoundOrLimit(customerId)
      return address
    },

    async update(customerId: string, addressId: string, patch: AddressPatch): Promise<Address> {
      assertCustomerId(customerId)
      assertAddressId(addressId)
      if (Object.keys(patch).length === 0) throw new HubError('EMPTY_PATCH')
      const values = fields(patch)
      return db.transaction().execute(async (tx) => {
        if ((await lockCustomer(tx, customerId)) === undefined) throw new HubError('CUSTOMER_NOT_FOUND', `No live customer has the id ${customerId}.`)
        const current = await tx.selectFrom('addresses').select('is_default').where('id', '=', addressId).where('customer_id', '=', customerId).executeTakeFirst()
        if (!current) throw new HubError('ADDRESS_NOT_FOUND')
        if (patch.isDefault === false && current.is_default) throw new HubError('DEFAULT_ADDRESS_REQUIRED')
        if (patch.isDefault === true && !current.is_default) {
          await tx.updateTable('addresses').set({ is_default: false, updated_at: new Date() }).where('customer_id', '=', customerId).where('is_default', '=', true).execute()
          values.is_default = true
        }
        const row = await tx
          .updateTable('addresses')
          .set({ ...values, updated_at: new Date() })
          .where('id', '=', addressId)
          .returningAll()
          .executeTakeFirstOrThrow()
        const address = toAddress(row as AddressRow)
        await createEventWriter(tx).emit({ type: 'customer.address_updated', customerId, payload: { customerId, address } })
        return address
      })
    },

    /** Removes an address; when it was the default, the oldest remaining one becomes the default. */
    async remove(customerId: string, addressId: string): Promise<void> {
      assertCustomerId(customerId)
      assertAddressId(addressId)
      await db.transaction().execute(async (tx) => {
        if ((await lockCustomer(tx, customerId)) === undefined) throw new HubError('CUSTOMER_NOT_FOUND', `No live customer has the id ${customerId}.`)
        const removed = await tx.deleteFrom('addresses').where('id', '=', addressId).where('customer_id', '=', customerId).returning('is_default').executeTakeFirst()
        if (!removed) throw new HubError('ADDRESS_NOT_FOUND')
        await tx.updateTable('customers').set((eb) => ({ address_count: eb('address_count', '-', 1) })).where('id', '=', customerId).execute()
        if (removed.is_default) {
          await sql`
            UPDATE addresses SET is_default = true, updated_at = now()
            WHERE id = (SELECT id FROM addresses WHERE customer_id = ${customerId} ORDER BY created_at, id LIMIT 1)`.execute(tx)
        }
        await createEventWriter(tx).emit({ type: 'customer.address_removed', customerId, payload: { customerId, addressId } })
      })
    },
  }
}
export type AddressService = ReturnType<typeof createAddressService>
