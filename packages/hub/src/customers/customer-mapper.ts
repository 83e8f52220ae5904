import { sql, type RawBuilder } from 'kysely'
import type { Address, Customer } from '@his-her/contract'

export interface AddressRow {
  id: string
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
  is_default: boolean
  created_at: Date | string
  updated_at: Date | string
}

export interface CustomerRow {
  id: string
  email: string | null
  first_name: string | null
  last_name: string | null
  phone: string | null
  groups: string[]
  metadata: Record<string, unknown>
  order_count: number
  total_spent: string | number
  currency: string | null
  has_account: boolean
  email_verified: boolean
  created_at: Date
  updated_at: Date
  addresses: AddressRow[]
}

const iso = (d: Date | string) => (d instanceof Date ? d : new Date(d)).toISOString()

export function toAddress(r: AddressRow): Address {
  return {
    id: r.id,
    label: r.label,
    firstName: r.first_name,
    lastName: r.last_name,
    line1: r.line1,
    line2: r.line2,
    city: r.city,
    state: r.state,
    postalCode: r.postal_code,
    country: r.country,
    phone: r.phone,
    isDefault: r.is_default,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  }
}

export function toCustomer(r: CustomerRow): Customer {
  return {
    id: r.id,
    email: r.email,
    firstName: r.first_name,
    lastName: r.last_name,
    phone: r.phone,
    addresses: r.addresses.map(toAddress),
    groups: r.groups,
    metadata: r.metadata,
    orderCount: r.order_count,
    totalSpent: Number(r.total_spent),
    currency: r.currency,
    hasAccount: r.has_account,
    emailVerified: r.email_verified,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  }
}

/**
 * The columns of a customer as `toCustomer` reads them, with its addresses in one sub-select,
 * so one customer or a page of them is one query. `c` is the customers alias.
 */
export const customerColumns: RawBuilder<unknown> = sql`
  c.id, c.email, c.first_name, c.last_name, c.phone, c.groups, c.metadata, c.order_count,
  c.total_spent::text AS total_spent, c.currency, c.has_account, c.email_verified, c.created_at, c.updated_at,
  coalesce((SELECT json_agg(a ORDER BY a.created_at, a.id) FROM addresses a WHERE a.customer_id = c.id), '[]'::json) AS addresses`

/**
 * Merges a metadata patch key by key; a null value removes the key.
 *
 * @example mergeMetadata({ a: 1, b: 2 }, { b: null, c: 3 }) // { a: 1, c: 3 }
 */
export function mergeMetadata(current: object, patch: object | undefined): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...(current as Record<string, unknown>) }
  if (!patch) return merged
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete merged[key]
    else merged[key] = value
  }
  return merged
}
