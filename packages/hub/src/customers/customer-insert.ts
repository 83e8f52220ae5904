import { sql, type RawBuilder } from 'kysely'
import type { Customer, Identity, RewardAccount } from '@his-her/contract'
import { eventRow, type EventInput } from '../events/event-store.js'

/** The row values of an identity, in the order of `identityColumns`. */
export function identityRow(i: Identity): RawBuilder<unknown> {
  return sql`(${i.id}, ${i.customerId}, ${i.kind}, ${i.namespace}, ${i.value}, ${i.rawValue}, ${i.externalIdField}, ${i.createdAt}::timestamptz)`
}

/** The columns `identityRow` fills. */
export const identityColumns = sql`(id, customer_id, kind, namespace, value, raw_value, external_id_field, created_at)`

export interface NewCustomer {
  customer: Customer
  passwordHash: string | null
  identities: Identity[]
  rewardAccount?: RewardAccount | undefined
  /** Events after `customer.created` (which is always first). */
  events?: EventInput[]
}

/**
 * One statement that writes a new customer, its identities, optionally a reward account, and
 * its events — all or nothing, in one round trip. A taken identity fails the statement with a
 * unique violation of `identities_*_key`.
 */
export function insertCustomer({ customer, passwordHash, identities, rewardAccount, events = [] }: NewCustomer): RawBuilder<unknown> {
  const identityRows = identities.map(identityRow)
  const allEvents: EventInput[] = [{ type: 'customer.created', customerId: customer.id, payload: { customer } }, ...events]
  return sql`
    WITH c AS (
      INSERT INTO customers (id, email, first_name, last_name, phone, password_hash, metadata, currency, has_account, created_at, updated_at)
      VALUES (${customer.id}, ${customer.email}, ${customer.firstName}, ${customer.lastName}, ${customer.phone}, ${passwordHash},
              ${JSON.stringify(customer.metadata)}::jsonb, ${customer.currency}, ${customer.hasAccount},
              ${customer.createdAt}::timestamptz, ${customer.updatedAt}::timestamptz)
      RETURNING id
    )${identityRows.length ? sql`, i AS (
      INSERT INTO identities ${identityColumns}
      VALUES ${sql.join(identityRows)}
    )` : sql``}${rewardAccount ? sql`, r AS (
      INSERT INTO reward_accounts (id, ledger_id, customer_id, created_at)
      SELECT ${rewardAccount.id}, ${rewardAccount.ledger}, c.id, ${rewardAccount.createdAt}::timestamptz FROM c
    )` : sql``}
    INSERT INTO events (position, id, type, customer_id, payload)
    VALUES ${sql.join(allEvents.map((e, n) => eventRow(n + 1, e)))}`
}
