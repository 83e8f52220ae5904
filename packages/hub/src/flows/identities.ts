import type { Customer, EventType, HistoryEntry, HistoryPage, HistoryQuery, HubEvent, Identity, IdentityConflict, IdentityInput, LookupQuery, MatchRule } from '@his-her/contract'
import type { Services } from '../module.js'
import type { CustomerSettings } from '../customers/settings.js'
import type { Executor, Tx } from '../db/executor.js'
import { HubError } from '../errors.js'
import { contactField, toCustomer } from '../customers/customer-mapper.js'
import { cascade, matchKeys } from '../identity/match.js'
import type { IdentitySettings } from '../identity/settings.js'
import { findCandidates } from './match.js'
import { requestCountry } from './sync-customer.js'

/** A live customer's identities. */
export async function listIdentities(exec: Executor, { customers, identities }: Services, customerId: string): Promise<Identity[]> {
  await customers.requireLive(exec, customerId)
  return identities.list(exec, customerId)
}

/**
 * Links an identity to a live customer; an email or phone becomes the customer's field when it
 * had none (the rule of `contactField`).
 */
export async function linkIdentity(tx: Tx, { customers, identities }: Services, customerId: string, input: IdentityInput): Promise<{ identity: Identity; created: boolean }> {
  identities.normalize(input) // a malformed value is refused before anything is read
  const current = await customers.requireLive(tx, customerId, { lock: true })
  const result = await identities.link(tx, customerId, input)
  if (result.created && (input.kind === 'email' || input.kind === 'phone')) {
    const value = contactField(current[input.kind], await identities.values(tx, customerId, input.kind))
    if (value !== current[input.kind]) await customers.change(tx, customerId, { [input.kind]: value }, [])
  }
  return result
}

/**
 * Unlinks an identity; the customer's email/phone field moves to another of that kind, or null.
 * A platform identity goes only when its namespace is one of `components` (null: any), else 403
 * `PLATFORM_SCOPE`.
 */
export async function unlinkIdentity(tx: Tx, { customers, identities }: Services, customerId: string, identityId: string, components: readonly string[] | null = null): Promise<void> {
  const current = await customers.requireLive(tx, customerId, { lock: true })
  const removed = await identities.unlink(tx, customerId, identityId, components)
  if (removed.kind === 'email' || removed.kind === 'phone') {
    const value = contactField(current[removed.kind], await identities.values(tx, customerId, removed.kind))
    if (value !== current[removed.kind]) await customers.change(tx, customerId, { [removed.kind]: value }, [])
  }
}

/** The cascade of `POST /customer/sync` without writing: 404 `NO_MATCH` when nobody matches. */
export async function lookupCustomer(exec: Executor, services: Services, settings: CustomerSettings, identity: IdentitySettings, query: LookupQuery): Promise<{ customer: Customer; matchedBy: MatchRule }> {
  const keys = matchKeys(query, requestCountry(identity, settings.defaultCountry, query.component, query.defaultCountry))
  if (!keys.platform && !keys.email && !keys.phone) throw new HubError('IDENTIFIER_REQUIRED', 'Give component with externalId, email or phone.')
  const { match, matchedBy } = cascade(keys, await findCandidates(exec, services, keys))
  if (!match || !matchedBy) throw new HubError('NO_MATCH')
  return { customer: toCustomer(match.customer), matchedBy }
}

/**
 * Soft-deletes a customer: the record stays (orders and totals keep their arithmetic), its
 * identities go, so its email and phone are free for another customer.
 */
export async function deleteCustomer(tx: Tx, { customers, identities }: Services, customerId: string): Promise<void> {
  await customers.markDeleted(tx, customerId)
  await identities.removeAll(tx, customerId)
}

const historyTypes = [
  'customer.created',
  'customer.identity_linked',
  'customer.identity_unlinked',
  'customer.identity_conflict',
  'customer.identity_rejected',
  'customer.merged',
  'customer.merge_undone',
] as const satisfies EventType[]

const describe = (i: Identity) => (i.kind === 'platform' ? `${i.namespace} id ${i.value}` : `${i.kind} ${i.value}`)

function how(i: Identity): string {
  const { via, component, rule } = i.linkedBy
  if (via === 'sync') return `by a sync from ${component}${rule === 'new' ? '' : `, which found the customer by ${rule}`}`
  return { create: 'when the customer was created', api: 'by hand (POST /customer/:id/identities)', profile: 'by a change of the profile', unrecorded: '' }[via]
}

const reasons: Record<IdentityConflict['reason'], string> = {
  owned_by_other: 'joining is off',
  phone_shared_with_other_email: 'the phone belongs to a customer with another email (households share phones)',
  different_email: 'each has an email of its own',
  different_phone: 'each has a phone of its own',
  both_have_accounts: 'each has a login account',
  account_unverified: 'one is an account whose email is not verified',
  different_platform_id: 'each has an id on the same platform',
  merge_undone: 'an admin undid a merge of the two',
  currency_differs: 'their orders are in different currencies',
}

/** A history entry of an event; `createdWith` gives the identities a customer was created with (those it still holds). */
function entry(event: HubEvent, createdWith: (customer: { createdAt: string }) => Identity[]): HistoryEntry {
  const base = { sequence: event.sequence, at: event.createdAt, customerId: event.customerId! }
  const sentence = (s: string) => s.replace(/\s+,/g, ',').trim().replace(/\s*$/, '.')
  switch (event.type) {
    case 'customer.created': {
      const identities = createdWith(event.payload.customer)
      const via = identities[0]?.linkedBy
      const from = via?.via === 'sync' ? ` by a sync from ${via.component}` : ''
      return { ...base, kind: 'created', summary: sentence(`Created${from}${identities.length ? ` with ${identities.map(describe).join(', ')}` : ''}`), identities }
    }
    case 'customer.identity_linked':
      return { ...base, kind: 'identity_linked', summary: sentence(`Linked ${describe(event.payload.identity)} ${how(event.payload.identity)}`), identities: [event.payload.identity] }
    case 'customer.identity_unlinked':
      return { ...base, kind: 'identity_unlinked', summary: sentence(`Unlinked ${describe(event.payload.identity)}`), identities: [event.payload.identity] }
    case 'customer.identity_conflict': {
      const c = event.payload.conflict
      const what = c.kind === 'platform' ? `${c.namespace} id ${c.value}` : `${c.kind} ${c.value}`
      return { ...base, kind: 'identity_conflict', summary: sentence(`A sync named ${what}, which stays with ${c.customerId}: not joined because ${reasons[c.reason]}`), conflict: c }
    }
    case 'customer.identity_rejected': {
      const list = event.payload.rejected.map((r) => `${r.field} ${JSON.stringify(r.value)} (${r.code})`).join(', ')
      return { ...base, kind: 'identity_rejected', summary: sentence(`A sync from ${event.payload.component} sent ${list}, not valid and not linked`), rejected: event.payload.rejected }
    }
    case 'customer.merged': {
      const p = event.payload
      if (!('merge' in p)) return { ...base, kind: 'merged', summary: 'The guest record became a login account (registration with its email).' }
      const by = p.merge.reason === 'sync' ? 'joined by a sync (its identifiers showed one person)' : 'merged by an admin'
      return { ...base, kind: 'merged', summary: sentence(`${p.merge.sourceId} was ${by} into ${p.merge.targetId}`), merge: p.merge }
    }
    case 'customer.merge_undone':
      return { ...base, kind: 'merge_undone', summary: sentence(`The merge of ${event.payload.merge.sourceId} into ${event.payload.merge.targetId} was undone`), merge: event.payload.merge }
    default:
      throw new Error(`not a history event: ${event.type}`)
  }
}

/**
 * `GET /customer/:id/history`: the events that explain who the customer is — creation, identity
 * links and unlinks, conflicts, rejected identifiers, merges and undos — of this customer and of
 * every customer merged into it, oldest first.
 */
export async function customerHistory(exec: Executor, { customers, identities, events }: Services, customerId: string, query: HistoryQuery): Promise<HistoryPage> {
  await customers.requireLive(exec, customerId)
  const limit = query.limit ?? 100
  const rows = await events.ofCustomers(exec, await identities.absorbed(exec, customerId), [...historyTypes], query.cursor, limit)
  const held = rows.some((r) => r.type === 'customer.created') ? await identities.list(exec, customerId) : []
  // linked when the customer was made, by the request that made it (merges keep both)
  const createdWith = (customer: { createdAt: string }) =>
    held.filter((i) => i.createdAt === customer.createdAt && (i.linkedBy.via === 'create' || i.linkedBy.rule === 'new'))
  return { data: rows.map((r) => entry(r, createdWith)), nextCursor: rows.length === limit ? rows.at(-1)!.sequence : null }
}
