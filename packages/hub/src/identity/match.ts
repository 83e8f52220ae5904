import type { CountryCode } from 'libphonenumber-js/max'
import type { Identity, IdentityConflict, IdentityKind, MatchRule, RejectedIdentifier } from '@his-her/contract'
import type { CustomerRecord } from '../customers/customer-mapper.js'
import { HubError } from '../errors.js'
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

/**
 * The identifiers of a sync, normalized, leniently: an invalid email or phone is set aside in
 * `rejected` and the sync goes on with the others. Empty means absent.
 */
export function syncKeys(raw: RawKeys, defaultCountry: CountryCode): { keys: MatchKeys; rejected: RejectedIdentifier[] } {
  const rejected: RejectedIdentifier[] = []
  const keys = matchKeys({ component: raw.component, externalId: raw.externalId, externalIdField: raw.externalIdField }, defaultCountry)
  for (const field of ['email', 'phone'] as const) {
    const value = raw[field]
    if (value == null || value.trim() === '') continue
    try {
      Object.assign(keys, matchKeys({ [field]: value }, defaultCountry))
    } catch (err) {
      if (!(err instanceof HubError) || (err.code !== 'INVALID_EMAIL' && err.code !== 'INVALID_PHONE')) throw err
      rejected.push({ field, value, code: err.code })
    }
  }
  return { keys, rejected }
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

export type ConflictReason = IdentityConflict['reason']

/** What joining needs to know of the candidates beyond their records (read only when a sync leads to two or more). */
export interface JoinFacts {
  /** The platform namespaces each candidate holds an id in. */
  namespaces: Map<string, Set<string>>
  /** Whether a merge between the two was undone (an admin separated them). */
  separated(a: string, b: string): boolean
}

export interface Resolution extends CascadeOutcome {
  /** Customers to merge into `match`, in this order (empty unless joining is on and facts were given). */
  joins: Candidate[]
  /** Two or more live customers hold the request's identifiers: joining them needs {@link JoinFacts}. */
  needsFacts: boolean
}

/**
 * Why `other` cannot be joined with `group` (customers that will be one), or null when joining
 * contradicts nothing: each side holding an email, a phone, an account or an id in one platform
 * namespace, an account whose email is not verified on either side, a merge between them an
 * admin undid, or orders in different currencies.
 */
export function contradiction(group: Candidate[], other: Candidate, facts: JoinFacts): ConflictReason | null {
  const c = other.customer
  if (c.has_account && group.some((g) => g.customer.has_account)) return 'both_have_accounts'
  // an unverified email proves nothing: joining would hand a record to whoever typed its email
  const unverified = (x: CustomerRecord) => x.has_account && !x.email_verified
  if (unverified(c) || group.some((g) => unverified(g.customer))) return 'account_unverified'
  if (c.email !== null && group.some((g) => g.customer.email !== null)) return 'different_email'
  if (c.phone !== null && group.some((g) => g.customer.phone !== null)) return 'different_phone'
  const theirs = facts.namespaces.get(c.id) ?? new Set<string>()
  if (group.some((g) => [...(facts.namespaces.get(g.customer.id) ?? [])].some((ns) => theirs.has(ns)))) return 'different_platform_id'
  if (group.some((g) => facts.separated(g.customer.id, c.id))) return 'merge_undone'
  if (c.currency !== null && group.some((g) => g.customer.currency !== null && g.customer.currency !== c.currency)) return 'currency_differs'
  return null
}

/** Which of a joined group survives: the one with an account, else with an email, else with a phone, else the oldest. */
function rank(a: Candidate, b: Candidate): number {
  const score = (c: Candidate) => (c.customer.has_account ? 4 : 0) + (c.customer.email !== null ? 2 : 0) + (c.customer.phone !== null ? 1 : 0)
  const created = (c: Candidate) => new Date(c.customer.created_at).getTime()
  return score(b) - score(a) || created(a) - created(b) || (a.customer.id < b.customer.id ? -1 : 1)
}

/**
 * The cascade, then joining: every other customer the request's identifiers lead to is joined
 * into the match when that contradicts nothing (see {@link contradiction}); the phone's holder is
 * not even considered when the phone rule refuses it. The group's survivor is chosen by
 * {@link rank}. Without `facts` (or with joining off) it is the plain cascade.
 */
export function resolve(keys: MatchKeys, candidates: Candidate[], options: { autoMerge: 'safe' | 'off'; facts?: JoinFacts | undefined }): Resolution {
  const plain = cascade(keys, candidates)
  if (options.autoMerge === 'off') return { ...plain, joins: [], needsFacts: false }
  const holder = (kind: IdentityKind) => (keys[kind] ? candidates.find((c) => c.kind === kind) : undefined)
  const refused = new Map<string, ConflictReason>()
  const others: Candidate[] = []
  for (const kind of ['platform', 'email', 'phone'] as const) {
    const c = holder(kind)
    if (!c || c.customer.id === plain.match?.customer.id || others.some((o) => o.customer.id === c.customer.id) || refused.has(c.customer.id)) continue
    // the phone rule: the phone's holder has another email than the request's (households share phones)
    if (kind === 'phone' && keys.email && c.customer.email !== null && c.customer.email !== keys.email.value) refused.set(c.customer.id, 'phone_shared_with_other_email')
    else others.push(c)
  }
  const needsFacts = plain.match !== undefined && others.length > 0
  const group: Candidate[] = [...(plain.match ? [plain.match] : [])]
  if (needsFacts && options.facts) {
    for (const other of others) {
      const reason = contradiction(group, other, options.facts)
      if (reason) refused.set(other.customer.id, reason)
      else group.push(other)
    }
  }
  const target = group.length > 1 ? [...group].sort(rank)[0]! : plain.match
  const members = new Set(group.map((g) => g.customer.id))
  const rule = target ? (['platform', 'email', 'phone'] as const).find((kind) => holder(kind)?.customer.id === target.customer.id)! : null
  return {
    match: target,
    matchedBy: rule,
    free: plain.free,
    conflicts: plain.conflicts
      .filter((x) => !members.has(x.customerId))
      .map((x) => (refused.has(x.customerId) ? { ...x, reason: refused.get(x.customerId)! } : x)),
    joins: group.filter((g) => g.customer.id !== target?.customer.id),
    needsFacts,
  }
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
    linkedBy: { via: r.linked_via, component: r.linked_component, rule: r.linked_rule },
    mergeId: r.merge_id,
    createdAt: (r.created_at instanceof Date ? r.created_at : new Date(r.created_at)).toISOString(),
  }
}
