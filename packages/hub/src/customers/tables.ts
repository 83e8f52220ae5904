import type { ColumnType, Generated, Selectable } from 'kysely'
import type { Json, Timestamp } from '../db/database.js'

export interface CustomersTable {
  id: string
  /** The customer's primary email: always one of its email identities, or null (see `contactField`). */
  email: string | null
  first_name: string | null
  last_name: string | null
  /** The customer's primary phone, E.164: always one of its phone identities, or null. */
  phone: string | null
  password_hash: string | null
  groups: ColumnType<string[], string[] | undefined, string[]>
  metadata: Json<Record<string, unknown>>
  order_count: Generated<number>
  /** bigint, read as text. */
  total_spent: ColumnType<string, number | string | undefined, number | string>
  currency: string | null
  has_account: Generated<boolean>
  email_verified: Generated<boolean>
  /** Kept by the guarded update that adds an address: the guard of max_addresses. */
  address_count: Generated<number>
  created_at: Timestamp
  updated_at: Timestamp
  deleted_at: Date | null
  merged_into: string | null
  /** Set by an erase (with deleted_at): the personal fields are cleared and stay so. */
  erased_at: ColumnType<Date | null, never, Date | null>
  search: ColumnType<string, never, never>
}

export interface AddressesTable {
  id: string
  customer_id: string
  label: string | null
  first_name: string | null
  last_name: string | null
  line1: string
  line2: string | null
  city: string
  state: string | null
  postal_code: string | null
  country: string
  phone: string | null
  is_default: Generated<boolean>
  created_at: Timestamp
  updated_at: Timestamp
}

export type CustomerRow = Selectable<CustomersTable>
export type AddressRow = Selectable<AddressesTable>

declare module '../db/database.js' {
  interface Database {
    customers: CustomersTable
    addresses: AddressesTable
  }
}

declare module '../ids.js' {
  interface IdPrefixes {
    cus: 'customer'
    addr: 'address'
  }
}
