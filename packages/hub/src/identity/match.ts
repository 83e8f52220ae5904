import type { CountryCode } from 'libphonenumber-js/max'
import type { Identity, IdentityConflict, IdentityKind, MatchRule } from '@his-her/contract'
import type { CustomerRecord } from '../customers/customer-mapper.js'
import { normalizeEmail, normalizePhone } from './normalize.js'
import type { IdentityRow } from './tables.js'

/** One identifier of a request, normalized, with what was sent. */
export interface IdentityKey {
  kind: IdentityKind
  namespace: string
  value: string
  raw: string
  externalIdField: string | null
}

/** The identifiers a sync or a lookup carries, each normalized; absent ones are undefined. */
export interface MatchKeys {
  platform?: IdentityKey | undefined
  email?: IdentityKey | undefined
  phone?: IdentityKey | undefined
}

export interface RawKeys {
  component?: string | undefined
  externalId?: string | null | undefined
  externalIdField?: string | undefined
  email?: string | null | undefined
  phone?: string | null | undefined
}

/** Normalizes the identifiers of a request (400 on an invalid email or phone). Empty means absent. */
export function matchKeys(raw: RawKeys, defaultCountry: CountryCode): MatchKeys {
  const keys: MatchKeys = {}
  const externalId = raw.externalId?.trim()
  if (raw.component && externalId) {
    keys.platform = { kind: 'platform', namespace: raw.component, value: externalId, raw: raw.externalId!, externalIdField: raw.externalIdField ?? null }
  }
  if (raw.email != null && raw.email.trim() !== '') {
    keys.email = { kind: 'email', namespace: '', value: normalizeEmail(raw.email), raw: raw.email, externalIdField: null }
  }
  if (raw.phone != null && raw.phone.trim() !== '') {
    keys.phone = { kind: 'phone', namespace: '', value: normalizePhone(raw.phone, defaultCountry), raw: raw.phone, externalIdField: null }
  }
  return keys
}

/** A customer that holds one of the request's identifiers. */
export interface Candidate {
  kind: IdentityKind
  customer: CustomerRecord
  /** The row version (`xmin`): a write guarded by it fails when the row changed since. */
  version: string
  /** Whether the customer has an account in the requested ledger (when one was asked). */
  hasRewardAccount: boolean
}

export interface CascadeOutcome {
  match: Candidate | undefined
  matchedBy: MatchRule | null
  /** Keys no customer holds: they go to the matched (or new) customer. */
  free: IdentityKey[]
  /** Keys another customer holds: they stay there. */
  conflicts: IdentityConflict[]
}

/**
 * The matching cascade: platform id, then email, then phone; the first that finds a live
 * customer wins. A match by phone alone is refused when the request has an email and the
 * phone's customer has a different one (households share phones): the request then goes on as
 * if the phone matched nobody, and the phone is reported as a conflict.
 */
export function cascade(keys: MatchKeys, candidates: Candidate[]): CascadeOutcome {
  const holder = (kind: IdentityKind) => candidates.find((c) => c.kind === kind)
  let match: Candidate | undefined
  let matchedBy: MatchRule | null = null
  let phoneRefused = false
  if (keys.platform && holder('platform')) {
    match = holder('platform')
    matchedBy = 'platform'
  } else if (keys.email && holder('email')) {
    match = holder('email')
    matchedBy = 'email'
  } else if (keys.phone && holder('phone')) {
    const byPhone = holder('phone')!
    if (keys.email && byPhone.customer.email !== null && byPhone.customer.email !== keys.email.value) {
      phoneRefused = true
    } else {
      match = byPhone
      matchedBy = 'phone'
    }
  }

  const free: IdentityKey[] = []
  const conflicts: IdentityConflict[] = []
  for (const key of [keys.platform, keys.email, keys.phone]) {
    if (!key) continue
    const owner = holder(key.kind)
    if (!owner) free.push(key)
    else if (owner.customer.id !== match?.customer.id) {
      conflicts.push({
        kind: key.kind,
        namespace: key.namespace,
        value: key.value,
        customerId: owner.customer.id,
        reason: key.kind === 'phone' && phoneRefused ? 'phone_shared_with_other_email' : 'owned_by_other',
      })
    }
  }
  return { match, matchedBy, free, conflicts }
}

export function toIdentity(r: Omit<IdentityRow, 'created_at'> & { created_at: Date | string }): Identity {
  return {
    id: r.id,
    customerId: r.customer_id,
    kind: r.kind,
    namespace: r.namespace,
    value: r.value,
    rawValue: r.raw_value,
    externalIdField: r.external_id_field,
    createdAt: (r.created_at instanceof Date ? r.created_at : new Date(r.created_at)).toISOString(),
  }
}
