import { sql, type RawBuilder } from 'kysely'
import type { Address, Customer } from '@his-her/contract'
import type { AddressRow, CustomerRow } from './tables.js'
import { HubError } from '../errors.js'

/** A customer row as `customerColumns` reads it: with its addresses, timestamps maybe as text. */
export type CustomerRecord = Pick<
  CustomerRow,
  'id' | 'email' | 'first_name' | 'last_name' | 'phone' | 'groups' | 'metadata' | 'order_count' | 'total_spent' | 'currency' | 'has_account' | 'email_verified'
> & {
  created_at: Date | string
  updated_at: Date | string
  /** Read through json_agg: timestamps arrive as text. */
  addresses: (Omit<AddressRow, 'created_at' | 'updated_at' | 'customer_id'> & { created_at: Date | string; updated_at: Date | string })[]
}

const iso = (d: Date | string) => (d instanceof Date ? d : new Date(d)).toISOString()

export function toAddress(r: CustomerRecord['addresses'][number]): Address {
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

export function toCustomer(r: CustomerRecord): Customer {
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

/** The most keys a customer's metadata holds, and the most bytes of its JSON (after merging a patch). */
export const metadataLimits = { keys: 50, bytes: 16 * 1024 }

/** 422 `METADATA_TOO_LARGE` when `metadata` holds more than {@link metadataLimits}. */
export function checkMetadata(metadata: object): void {
  const keys = Object.keys(metadata).length
  const bytes = Buffer.byteLength(JSON.stringify(metadata))
  if (keys > metadataLimits.keys || bytes > metadataLimits.bytes) {
    throw new HubError('METADATA_TOO_LARGE', `The metadata would hold ${keys} keys and ${bytes} bytes; at most ${metadataLimits.keys} keys and ${metadataLimits.bytes} bytes.`, { keys, bytes, maxKeys: metadataLimits.keys, maxBytes: metadataLimits.bytes })
  }
}

/**
 * Merges a metadata patch key by key; a null value removes the key. The result is held to
 * {@link metadataLimits} (422 `METADATA_TOO_LARGE`): a patch is at most 50 keys, but patches add up.
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
  checkMetadata(merged)
  return merged
}

/**
 * The rule that keeps a customer's `email` and `phone` fields honest — the one place it is
 * written: the field names one of the customer's identities of that kind. It is the value
 * `prefer`red (a changed email) when the customer holds it; else the value it named, while the
 * customer still holds it; else the oldest the customer holds; else null.
 *
 * @param held the customer's identity values of the kind, oldest first
 * @example contactField('a@x.com', ['b@x.com']) // 'b@x.com': a@x.com was unlinked
 */
export function contactField(current: string | null, held: readonly string[], prefer?: string | null): string | null {
  if (prefer != null && held.includes(prefer)) return prefer
  if (current !== null && held.includes(current)) return current
  return held[0] ?? null
}
