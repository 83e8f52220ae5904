import { sql, type Kysely } from 'kysely'
import type { Customer, CustomerInput, CustomerPatch, Identity } from '@his-her/contract'
import type { Database } from '../db/schema.js'
import type { CustomerSettings } from '../config.js'
import { HubError } from '../errors.js'
import { newId, isId } from '../ids.js'
import { normalizeEmail, normalizePhone } from '../identity/normalize.js'
import { hashPassword } from '../auth/passwords.js'
import { createEventWriter, eventRow } from '../events/event-store.js'
import { insertCustomer } from './customer-insert.js'
import { customerColumns, mergeMetadata, toCustomer, type CustomerRow } from './customer-mapper.js'

export interface CustomerServiceOptions {
  db: Kysely<Database>
  settings: CustomerSettings
}

/** Throws 400 `INVALID_ID` unless `id` has the shape of a customer id. */
export function assertCustomerId(id: string): void {
  if (!isId('cus', id)) throw new HubError('INVALID_ID', `"${id}" is not a customer id (cus_…).`)
}

/**
 * The Customer Module: create, read, update, soft-delete customers and keep their groups.
 * Addresses live in `address-service.ts`, lists in `customer-list.ts`.
 */
export function createCustomerService({ db, settings }: CustomerServiceOptions) {
  /** Reads one live customer with its addresses, or throws 404 `CUSTOMER_NOT_FOUND`. */
  async function get(id: string, executor: Kysely<Database> = db): Promise<Customer> {
    assertCustomerId(id)
    const { rows } = await sql<CustomerRow & { deleted_at: Date | null; merged_into: string | null }>`
      SELECT ${customerColumns}, c.deleted_at, c.merged_into FROM customers c WHERE c.id = ${id}`.execute(executor)
    const row = rows[0]
    if (row?.merged_into) {
      throw new HubError('CUSTOMER_MERGED', `The customer ${id} was merged into ${row.merged_into}.`, { mergedInto: row.merged_into })
    }
    if (!row || row.deleted_at) throw new HubError('CUSTOMER_NOT_FOUND', `No live customer has the id ${id}.`)
    return toCustomer(row)
  }

  /**
   * Registration with the email of a guest record turns that guest into the account: same id,
   * its orders, groups, identities and reward accounts kept. The guarded update (`has_account =
   * false`) lets exactly one of two concurrent registrations win; the other gets EMAIL_TAKEN.
   * Returns undefined when no guest holds the email.
   */
  async function registerGuest(email: string, phone: string | null, passwordHash: string, input: CustomerInput): Promise<Customer | undefined> {
    const holder = await db
      .selectFrom('identities as i')
      .innerJoin('customers as c', 'c.id', 'i.customer_id')
      .select(['c.id', 'c.has_account', 'c.phone'])
      .where('i.kind', '=', 'email')
      .where('i.value', '=', email)
      .where('c.deleted_at', 'is', null)
      .executeTakeFirst()
    if (!holder || holder.has_account) return undefined
    return db.transaction().execute(async (tx) => {
      const converted = await sql<{ id: string }>`
        UPDATE customers SET has_account = true, password_hash = ${passwordHash},
          first_name = coalesce(${input.firstName ?? null}, first_name),
          last_name = coalesce(${input.lastName ?? null}, last_name),
          metadata = metadata || ${JSON.stringify(input.metadata ?? {})}::jsonb,
          currency = coalesce(currency, ${input.currency ?? null}),
          updated_at = now()
        WHERE id = ${holder.id} AND has_account = false AND deleted_at IS NULL
        RETURNING id`.execute(tx)
      if (!converted.rows[0]) throw new HubError('EMAIL_TAKEN')
      if (phone && holder.phone !== phone) {
        // the guest may already hold this phone as a second identity; another customer may not
        const held = await tx.selectFrom('identities').select('customer_id').where('kind', '=', 'phone').where('value', '=', phone).executeTakeFirst()
        if (held && held.customer_id !== holder.id) throw new HubError('PHONE_TAKEN')
        if (!held) await tx.insertInto('identities').values({ id: newId('idn'), customer_id: holder.id, kind: 'phone', value: phone, raw_value: input.phone! }).execute()
        if (holder.phone === null) await tx.updateTable('customers').set({ phone }).where('id', '=', holder.id).execute()
      }
      const customer = await get(holder.id, tx)
      await createEventWriter(tx).emit({
        type: 'customer.merged',
        customerId: holder.id,
        payload: { reason: 'guest_registered', targetId: holder.id, sourceId: holder.id, customer },
      })
      return customer
    })
  }

  return {
    get,

    /**
     * Creates a customer: an account when a password is given, else a guest record (when
     * `allow_guest_checkout`). An account whose email a guest holds becomes that guest (when
     * `auto_merge_guest`; else 409 `EMAIL_TAKEN`). The row, its email and phone identities and `customer.created`
     * are written by one statement, so they exist together or not at all; a taken email or
     * phone is refused by the identities' unique indexes (409 `EMAIL_TAKEN` / `PHONE_TAKEN`).
     */
    async create(input: CustomerInput): Promise<Customer> {
      const email = input.email !== undefined ? normalizeEmail(input.email) : null
      const phone = input.phone != null ? normalizePhone(input.phone, settings.defaultCountry) : null
      const hasAccount = input.password !== undefined
      if (hasAccount) {
        if (!email) throw new HubError('VALIDATION_FAILED', 'An account needs an email address.')
        if (input.password!.length < settings.passwordMinLength) {
          throw new HubError('PASSWORD_TOO_SHORT', `The password must have at least ${settings.passwordMinLength} characters.`)
        }
      } else {
        if (!settings.allowGuestCheckout) throw new HubError('GUEST_CHECKOUT_DISABLED')
        if (!email && !phone) throw new HubError('IDENTIFIER_REQUIRED')
      }
      const passwordHash = hasAccount ? await hashPassword(input.password!) : null
      if (hasAccount && settings.autoMergeGuest) {
        const guest = await registerGuest(email!, phone, passwordHash!, input)
        if (guest) return guest
      }

      const now = new Date()
      const customer: Customer = {
        id: newId('cus'),
        email,
        firstName: input.firstName ?? null,
        lastName: input.lastName ?? null,
        phone,
        addresses: [],
        groups: [],
        metadata: input.metadata ?? {},
        orderCount: 0,
        totalSpent: 0,
        currency: input.currency ?? null,
        hasAccount,
        emailVerified: false,
        createdAt: now.toISOString(),
        updatedAt: now.toISOString(),
      }
      const identities: Identity[] = []
      const identity = (kind: 'email' | 'phone', value: string, raw: string): Identity => ({
        id: newId('idn'), customerId: customer.id, kind, namespace: '', value, rawValue: raw, externalIdField: null, createdAt: customer.createdAt,
      })
      if (email) identities.push(identity('email', email, input.email!))
      if (phone) identities.push(identity('phone', phone, input.phone!))
      await insertCustomer({ customer, passwordHash, identities }).execute(db)
      return customer
    },

    /**
     * Changes the given fields and nothing else. A changed email or phone moves the customer's
     * identity with it (refused with 409 when another customer holds the new value); a new
     * email is unverified. `metadata` is merged key by key, a null value removing the key.
     */
    async update(id: string, patch: CustomerPatch): Promise<Customer> {
      assertCustomerId(id)
      if (Object.keys(patch).length === 0) throw new HubError('EMPTY_PATCH')
      const email = patch.email !== undefined ? normalizeEmail(patch.email) : undefined
      const phone = patch.phone === undefined ? undefined : patch.phone === null ? null : normalizePhone(patch.phone, settings.defaultCountry)

      return db.transaction().execute(async (tx) => {
        const current = await tx
          .selectFrom('customers')
          .select(['email', 'phone', 'first_name', 'last_name', 'metadata'])
          .where('id', '=', id)
          .where('deleted_at', 'is', null)
          .forUpdate()
          .executeTakeFirst()
        if (!current) throw new HubError('CUSTOMER_NOT_FOUND', `No live customer has the id ${id}.`)

        const set: Record<string, unknown> = {}
        const changed: string[] = []
        if (email !== undefined && email !== current.email) {
          set.email = await replaceIdentity(tx, id, 'email', current.email, email, patch.email!)
          set.email_verified = false
          changed.push('email')
        }
        if (phone !== undefined && phone !== current.phone) {
          set.phone = await replaceIdentity(tx, id, 'phone', current.phone, phone, patch.phone ?? null)
          changed.push('phone')
        }
        if (patch.firstName !== undefined && patch.firstName !== current.first_name) {
          set.first_name = patch.firstName
          changed.push('firstName')
        }
        if (patch.lastName !== undefined && patch.lastName !== current.last_name) {
          set.last_name = patch.lastName
          changed.push('lastName')
        }
        if (patch.metadata !== undefined) {
          const merged = mergeMetadata(current.metadata, patch.metadata)
          if (JSON.stringify(merged) !== JSON.stringify(current.metadata)) {
            set.metadata = JSON.stringify(merged)
            changed.push('metadata')
          }
        }
        if (changed.length === 0) return get(id, tx)

        await tx.updateTable('customers').set({ ...set, updated_at: new Date() }).where('id', '=', id).execute()
        const customer = await get(id, tx)
        await createEventWriter(tx).emit({ type: 'customer.updated', customerId: id, payload: { customer, changed } })
        return customer
      })
    },

    /**
     * Soft-deletes a customer: the row stays (orders and totals keep their arithmetic) but its
     * identities are removed, so its email and phone are free for another customer.
     */
    async remove(id: string): Promise<void> {
      assertCustomerId(id)
      await db.transaction().execute(async (tx) => {
        const res = await tx
          .updateTable('customers')
          .set({ deleted_at: new Date(), updated_at: new Date() })
          .where('id', '=', id)
          .where('deleted_at', 'is', null)
          .executeTakeFirst()
        if (res.numUpdatedRows === 0n) throw new HubError('CUSTOMER_NOT_FOUND', `No live customer has the id ${id}.`)
        await tx.deleteFrom('identities').where('customer_id', '=', id).execute()
        await createEventWriter(tx).emit({ type: 'customer.deleted', customerId: id, payload: { customerId: id } })
      })
    },

    /**
     * Adds the customer to a group. Idempotent: the guarded update adds the tag only when it
     * is missing (re-checked on the newest row version under concurrency), and only a real
     * addition emits `customer.group_added`.
     */
    async addGroup(id: string, group: string): Promise<Customer> {
      assertCustomerId(id)
      await sql`
        WITH u AS (
          UPDATE customers SET groups = array_append(groups, ${group}::text), updated_at = now()
          WHERE id = ${id} AND deleted_at IS NULL AND NOT (${group}::text = ANY (groups))
          RETURNING id
        )
        INSERT INTO events (position, id, type, customer_id, payload)
        SELECT * FROM (VALUES ${eventRow(1, { type: 'customer.group_added', customerId: id, payload: { customerId: id, group } })}) e
        WHERE EXISTS (SELECT 1 FROM u)`.execute(db)
      return get(id)
    },

    /** Removes the customer from a group; idempotent like `addGroup`. */
    async removeGroup(id: string, group: string): Promise<Customer> {
      assertCustomerId(id)
      await sql`
        WITH u AS (
          UPDATE customers SET groups = array_remove(groups, ${group}::text), updated_at = now()
          WHERE id = ${id} AND deleted_at IS NULL AND ${group}::text = ANY (groups)
          RETURNING id
        )
        INSERT INTO events (position, id, type, customer_id, payload)
        SELECT * FROM (VALUES ${eventRow(1, { type: 'customer.group_removed', customerId: id, payload: { customerId: id, group } })}) e
        WHERE EXISTS (SELECT 1 FROM u)`.execute(db)
      return get(id)
    },
  }
}
export type CustomerService = ReturnType<typeof createCustomerService>

/**
 * Moves the customer's primary email or phone from `previous` to `value`: the identity of the
 * previous value goes, the new one is linked (unless the customer already holds it; another
 * customer holding it fails the unique index). Other identities of the kind are kept. Returns
 * what the field becomes: the new value, or — when cleared — another identity of the kind, or null.
 */
async function replaceIdentity(
  tx: Kysely<Database>,
  customerId: string,
  kind: 'email' | 'phone',
  previous: string | null,
  value: string | null,
  raw: string | null,
): Promise<string | null> {
  if (previous !== null) {
    await tx.deleteFrom('identities').where('customer_id', '=', customerId).where('kind', '=', kind).where('value', '=', previous).execute()
  }
  if (value !== null) {
    const held = await tx.selectFrom('identities').select('id').where('customer_id', '=', customerId).where('kind', '=', kind).where('value', '=', value).executeTakeFirst()
    if (!held) await tx.insertInto('identities').values({ id: newId('idn'), customer_id: customerId, kind, value, raw_value: raw ?? value }).execute()
    return value
  }
  const other = await tx.selectFrom('identities').select('value').where('customer_id', '=', customerId).where('kind', '=', kind)
    .orderBy('created_at').orderBy('id').executeTakeFirst()
  return other?.value ?? null
}
