import { sql, type Insertable, type Updateable } from 'kysely'
import type { Address, AddressInput, AddressPatch } from '@his-her/contract'
import type { Tx } from '../db/executor.js'
import { HubError } from '../errors.js'
import { newId, isId } from '../ids.js'
import { normalizeCountry, normalizePhone } from '../identity/normalize.js'
import type { EventService } from '../events/event-store.js'
import type { CustomerSettings } from './settings.js'
import type { CustomerService } from './customer-service.js'
import { toAddress } from './customer-mapper.js'
import type { AddressesTable } from './tables.js'

/** An address's identity for "the customer has it already": line1, line2, city, postal code and country, without regard to case or whitespace (`SW1A 1AA` is `sw1a1aa`). */
const sameAddress = (...parts: (string | null | undefined)[]): string => parts.map((p) => (p ?? '').trim().replace(/\s+/g, '').toLowerCase()).join('\u0000')

/**
 * A customer's saved addresses. Rules, each guarded in the database:
 * - at most `max_addresses`: adding is a guarded `address_count < max` update of the customer row;
 * - exactly one default while there are addresses: the first is the default, a new default
 *   unsets the old one, and a partial unique index forbids two.
 * Every change first takes the customer row's lock (that guarded update), so concurrent changes
 * to one customer's addresses run one after another.
 */
export function createAddressService({ settings, customers, events }: { settings: CustomerSettings; customers: CustomerService; events: EventService }) {
  function fields(input: AddressPatch): Updateable<AddressesTable> {
    const out: Updateable<AddressesTable> = {}
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

  /**
   * Locks the live customer's row for this transaction, adding `addressDelta` to its count (an
   * addition only while below max_addresses). Throws 404/410 for a customer that is not live,
   * 422 `ADDRESS_LIMIT_REACHED` at the limit. Returns the new count.
   */
  async function lockCustomer(tx: Tx, customerId: string, addressDelta = 0): Promise<number> {
    const row = await tx
      .updateTable('customers')
      .set((eb) => ({ updated_at: new Date(), address_count: eb('address_count', '+', addressDelta) }))
      .where('id', '=', customerId)
      .where('deleted_at', 'is', null)
      .$if(addressDelta > 0, (q) => q.where('address_count', '<', settings.maxAddresses))
      .returning('address_count')
      .executeTakeFirst()
    if (row) return row.address_count
    await customers.requireLive(tx, customerId)
    throw new HubError('ADDRESS_LIMIT_REACHED', `The customer already has ${settings.maxAddresses} addresses (max_addresses).`)
  }

  function assertAddressId(addressId: string) {
    if (!isId('addr', addressId)) throw new HubError('INVALID_ID', `"${addressId}" is not an address id (addr_…).`)
  }

  return {
    async add(tx: Tx, customerId: string, input: AddressInput): Promise<Address> {
      const values = fields(input)
      const count = await lockCustomer(tx, customerId, 1)
      const isDefault = count === 1 || input.isDefault === true
      if (isDefault && count > 1) {
        await tx.updateTable('addresses').set({ is_default: false, updated_at: new Date() }).where('customer_id', '=', customerId).where('is_default', '=', true).execute()
      }
      const now = new Date()
      const row = await tx
        .insertInto('addresses')
        .values({ id: newId('addr'), customer_id: customerId, line1: input.line1, city: input.city, country: input.country, ...values, is_default: isDefault, created_at: now, updated_at: now })
        .returningAll()
        .executeTakeFirstOrThrow()
      const address = toAddress(row)
      await events.emit(tx, { type: 'customer.address_added', customerId, payload: { customerId, address } })
      return address
    },

    /**
     * Adds addresses to many customers at once (a bulk import's batch), with the rules of
     * {@link add} — at most `maxAddresses` each, exactly one default, `customer.address_added`
     * for each — and two of its own: an address the customer already has (same line1, line2,
     * city, postal code and country, compared without regard to case and spacing) is not added
     * again, nor one given twice; and an address that does not fit (the limit, an invalid country
     * or phone) is left out and reported instead of refusing the rest. The first address a
     * customer gets is its default, or the first one given with `isDefault`. A few statements
     * for the whole batch: the rows are locked (id order), the addresses read, inserted, the counts
     * and defaults updated.
     */
    async addMany(tx: Tx, maxAddresses: number, items: { customerId: string; addresses: AddressInput[] }[]): Promise<Map<string, { added: Address[]; duplicates: number; overLimit: number; invalid: string[] }>> {
      const out = new Map<string, { added: Address[]; duplicates: number; overLimit: number; invalid: string[] }>()
      const ids = [...new Set(items.filter((i) => i.addresses.length > 0).map((i) => i.customerId))].sort()
      if (ids.length === 0) return out
      const { rows: live } = await sql<{ id: string; address_count: number }>`
        SELECT id, address_count FROM customers WHERE id = ANY (${ids}::text[]) AND deleted_at IS NULL AND merged_into IS NULL ORDER BY id FOR UPDATE`.execute(tx)
      const count = new Map(live.map((r) => [r.id, r.address_count]))
      const existing = await tx.selectFrom('addresses').select(['customer_id', 'line1', 'line2', 'city', 'postal_code', 'country']).where('customer_id', 'in', ids).execute()
      const seen = new Map<string, Set<string>>(ids.map((id) => [id, new Set()]))
      for (const a of existing) seen.get(a.customer_id)!.add(sameAddress(a.line1, a.line2, a.city, a.postal_code, a.country))
      const now = new Date()
      const rows: (Insertable<AddressesTable> & { id: string; customer_id: string })[] = []
      const newDefault = new Set<string>()
      for (const { customerId, addresses } of items) {
        const o = out.get(customerId) ?? { added: [], duplicates: 0, overLimit: 0, invalid: [] }
        out.set(customerId, o)
        if (!count.has(customerId)) continue // not live: nothing to add to
        for (const input of addresses) {
          let values: Updateable<AddressesTable>
          try {
            values = fields(input)
          } catch (err) {
            if (!(err instanceof HubError)) throw err
            o.invalid.push(`${err.code}: ${err.message}`)
            continue
          }
          const key = sameAddress(input.line1, input.line2 ?? null, input.city, input.postalCode ?? null, values.country as string)
          if (seen.get(customerId)!.has(key)) {
            o.duplicates++
            continue
          }
          const n = count.get(customerId)!
          if (n >= maxAddresses) {
            o.overLimit++
            continue
          }
          seen.get(customerId)!.add(key)
          count.set(customerId, n + 1)
          const isDefault = n === 0 || (input.isDefault === true && !newDefault.has(customerId))
          if (isDefault) newDefault.add(customerId)
          rows.push({ id: newId('addr'), customer_id: customerId, line1: input.line1, city: input.city, country: input.country, ...values, is_default: isDefault, created_at: now, updated_at: now })
        }
      }
      if (rows.length === 0) return out
      // a new default unsets the old one (the partial unique index allows one per customer)
      const replacing = rows.filter((r) => r.is_default).map((r) => r.customer_id)
      if (replacing.length) await tx.updateTable('addresses').set({ is_default: false, updated_at: now }).where('customer_id', 'in', replacing).where('is_default', '=', true).execute()
      const inserted = await tx.insertInto('addresses').values(rows).returningAll().execute()
      const grown = [...new Set(rows.map((r) => r.customer_id))].map((id) => sql`(${id}, ${count.get(id)!}::int)`)
      await sql`UPDATE customers c SET address_count = v.n, updated_at = now() FROM (VALUES ${sql.join(grown)}) v (id, n) WHERE c.id = v.id`.execute(tx)
      for (const row of inserted) out.get(row.customer_id)!.added.push(toAddress(row))
      await events.emit(tx, ...inserted.map((row) => ({ type: 'customer.address_added' as const, customerId: row.customer_id, payload: { customerId: row.customer_id, address: toAddress(row) } })))
      return out
    },

    async update(tx: Tx, customerId: string, addressId: string, patch: AddressPatch): Promise<Address> {
      assertAddressId(addressId)
      if (Object.keys(patch).length === 0) throw new HubError('EMPTY_PATCH')
      const values = fields(patch)
      await lockCustomer(tx, customerId)
      const current = await tx.selectFrom('addresses').select('is_default').where('id', '=', addressId).where('customer_id', '=', customerId).executeTakeFirst()
      if (!current) throw new HubError('ADDRESS_NOT_FOUND')
      if (patch.isDefault === false && current.is_default) throw new HubError('DEFAULT_ADDRESS_REQUIRED')
      if (patch.isDefault === true && !current.is_default) {
        await tx.updateTable('addresses').set({ is_default: false, updated_at: new Date() }).where('customer_id', '=', customerId).where('is_default', '=', true).execute()
        values.is_default = true
      }
      const row = await tx.updateTable('addresses').set({ ...values, updated_at: new Date() }).where('id', '=', addressId).returningAll().executeTakeFirstOrThrow()
      const address = toAddress(row)
      await events.emit(tx, { type: 'customer.address_updated', customerId, payload: { customerId, address } })
      return address
    },

    /** Removes an address; when it was the default, the oldest remaining one becomes the default. */
    async remove(tx: Tx, customerId: string, addressId: string): Promise<void> {
      assertAddressId(addressId)
      await lockCustomer(tx, customerId)
      const removed = await tx.deleteFrom('addresses').where('id', '=', addressId).where('customer_id', '=', customerId).returning('is_default').executeTakeFirst()
      if (!removed) throw new HubError('ADDRESS_NOT_FOUND')
      await tx.updateTable('customers').set((eb) => ({ address_count: eb('address_count', '-', 1) })).where('id', '=', customerId).execute()
      if (removed.is_default) await promoteOldest(tx, customerId)
      await events.emit(tx, { type: 'customer.address_removed', customerId, payload: { customerId, addressId } })
    },

    // ---- merges ----

    /**
     * Moves every address of `sourceId` to `targetId`. When both have a default, the source's
     * loses the flag. Returns the moved ids and the source's default before the move.
     */
    async moveAll(tx: Tx, sourceId: string, targetId: string): Promise<{ moved: string[]; sourceDefault: string | null }> {
      const sourceDefault = await tx.selectFrom('addresses').select('id').where('customer_id', '=', sourceId).where('is_default', '=', true).executeTakeFirst()
      const targetDefault = await tx.selectFrom('addresses').select('id').where('customer_id', '=', targetId).where('is_default', '=', true).executeTakeFirst()
      if (targetDefault && sourceDefault) await tx.updateTable('addresses').set({ is_default: false }).where('id', '=', sourceDefault.id).execute()
      const moved = await tx.updateTable('addresses').set({ customer_id: targetId }).where('customer_id', '=', sourceId).returning('id').execute()
      return { moved: moved.map((r) => r.id), sourceDefault: sourceDefault?.id ?? null }
    },

    /** Moves exactly these addresses back (undo); false when one is no longer on `fromId`. */
    async moveBack(tx: Tx, ids: string[], fromId: string, toId: string, defaultId: string | null): Promise<boolean> {
      if (ids.length > 0) {
        const res = await tx.updateTable('addresses').set({ customer_id: toId, is_default: false }).where('id', 'in', ids).where('customer_id', '=', fromId).executeTakeFirst()
        if (Number(res.numUpdatedRows) !== ids.length) return false
      }
      if (defaultId) await tx.updateTable('addresses').set({ is_default: true }).where('id', '=', defaultId).where('customer_id', '=', toId).execute()
      return true
    },

    /** Recomputes the customer's address count and makes sure one address is the default. */
    async settle(tx: Tx, customerId: string): Promise<void> {
      await sql`UPDATE customers c SET address_count = (SELECT count(*) FROM addresses a WHERE a.customer_id = c.id), updated_at = now() WHERE c.id = ${customerId}`.execute(tx)
      await sql`
        UPDATE addresses SET is_default = true, updated_at = now()
        WHERE id = (SELECT id FROM addresses WHERE customer_id = ${customerId} ORDER BY created_at, id LIMIT 1)
          AND NOT EXISTS (SELECT 1 FROM addresses WHERE customer_id = ${customerId} AND is_default)`.execute(tx)
    },
  }

  async function promoteOldest(tx: Tx, customerId: string): Promise<void> {
    await sql`
      UPDATE addresses SET is_default = true, updated_at = now()
      WHERE id = (SELECT id FROM addresses WHERE customer_id = ${customerId} ORDER BY created_at, id LIMIT 1)`.execute(tx)
  }
}
export type AddressService = ReturnType<typeof createAddressService>
