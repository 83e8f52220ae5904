import { sql } from 'kysely'
import { isSupportedCountry, type CountryCode } from 'libphonenumber-js/max'
import type { Customer, Identity, LinkedBy, Merge, RejectedIdentifier, RewardAccount, SyncInput, SyncResult } from '@his-her/contract'
import type { Services } from '../module.js'
import type { CustomerSettings } from '../customers/settings.js'
import { finalStatement, RetryTransaction, type Tx } from '../db/executor.js'
import { composeStatement, countOf, wrote } from '../db/statement.js'
import { isUniqueViolation } from '../db/pg-errors.js'
import { HubError } from '../errors.js'
import { newId } from '../ids.js'
import type { EventInput } from '../events/event-store.js'
import { contactField, mergeMetadata, toCustomer } from '../customers/customer-mapper.js'
import { resolve, syncKeys, type Candidate, type IdentityKey, type MatchKeys, type Resolution } from '../identity/match.js'
import { phoneCountry, type IdentitySettings } from '../identity/settings.js'
import { findCandidates, joinFacts } from './match.js'
import { mergeCustomers } from './merge-customers.js'

function identityOf(key: IdentityKey, customerId: string, at: string, linkedBy: LinkedBy): Identity {
  return { id: newId('idn'), customerId, kind: key.kind, namespace: key.namespace, value: key.value, rawValue: key.raw, externalIdField: key.externalIdField, linkedBy, mergeId: null, createdAt: at }
}

/** The country a request's phone numbers without `+` are read in; 400 `INVALID_COUNTRY` for one libphonenumber does not know. */
export function requestCountry(identity: IdentitySettings, fallback: CountryCode, component: string | undefined, requested: string | undefined): CountryCode {
  if (requested !== undefined && !isSupportedCountry(requested.toUpperCase())) throw new HubError('INVALID_COUNTRY', `"${requested}" is not a country phone numbers can be read in.`)
  return phoneCountry(identity, fallback, component, requested?.toUpperCase() as CountryCode | undefined)
}

const distinctIds = (candidates: Candidate[]) => [...new Set(candidates.map((c) => c.customer.id))].sort()

/**
 * Joining (docs/identity.md): when the request's identifiers lead to two or more customers, their
 * rows are locked (in id order), the candidates read again under the locks with what joining
 * needs to know, and every customer that can be joined is merged into the survivor as a merge
 * with reason `sync`. Returns the merges and the resolution of the request against the result.
 */
async function join(tx: Tx, services: Services, keys: MatchKeys, ledger: string | undefined, identity: IdentitySettings, first: Candidate[]): Promise<{ resolution: Resolution; joined: Merge[] }> {
  const locked = new Set<string>()
  let candidates = first
  // lock every holder; a holder that appeared since the read is locked too, and all read again
  while (distinctIds(candidates).some((id) => !locked.has(id))) {
    const ids = distinctIds(candidates).filter((id) => !locked.has(id))
    await services.customers.lockMany(tx, ids)
    for (const id of ids) locked.add(id)
    candidates = await findCandidates(tx, services, keys, ledger)
  }
  const resolution = resolve(keys, candidates, { autoMerge: identity.autoMerge, facts: await joinFacts(tx, services, distinctIds(candidates)) })
  if (resolution.joins.length === 0) return { resolution, joined: [] }
  const joined: Merge[] = []
  for (const source of resolution.joins) joined.push((await mergeCustomers(tx, services, resolution.match!.customer.id, source.customer.id, 'sync')).merge)
  // the survivor now holds what the sources held: read once more for its new version
  const after = await findCandidates(tx, services, keys, ledger)
  const target = after.find((c) => c.customer.id === resolution.match!.customer.id)!
  return { resolution: { ...resolution, match: target, joins: [] }, joined }
}

/** A statement of this sync failed on the identities' unique indexes: someone linked one of its identifiers first. */
const lostToAnotherLink = (err: unknown) => isUniqueViolation(err) && /^identities_/.test((err as { constraint?: string }).constraint ?? '')

/**
 * A sync's identifiers, normalized: the platform id, email and phone that stay, and those set
 * aside as invalid (`rejected`). Throws 400 `IDENTIFIER_REQUIRED` when none was sent, and the
 * first rejection's code when none is left.
 */
export function syncIdentifiers(settings: CustomerSettings, identity: IdentitySettings, input: SyncInput): { keys: MatchKeys; rejected: RejectedIdentifier[] } {
  const component = input.platform.component
  const country = requestCountry(identity, settings.defaultCountry, component, input.platform.defaultCountry)
  const hasIdentifier = Boolean(input.platform.externalId?.trim() || input.email?.trim() || input.phone?.trim())
  if (!hasIdentifier) throw new HubError('IDENTIFIER_REQUIRED', 'A sync needs at least one of platform.externalId, email or phone.')
  const { keys, rejected } = syncKeys(
    { component, externalId: input.platform.externalId, externalIdField: input.platform.externalIdField, email: input.email, phone: input.phone },
    country,
  )
  if (!keys.platform && !keys.email && !keys.phone) {
    const [first] = rejected
    throw new HubError(first!.code, `No valid identifier is left: ${rejected.map((r) => `${r.field} ${JSON.stringify(r.value)}`).join(', ')} ${rejected.length > 1 ? 'are' : 'is'} not valid.`, { rejected })
  }
  return { keys, rejected }
}

/**
 * `POST /customer/sync`: find-or-create one person from what a platform knows of them — the
 * customer, its identities and its reward account, written together. An invalid email or phone
 * is left out and reported (`rejected`); when the identifiers lead to several customers, those
 * that can be joined are merged first ({@link join}).
 *
 * Concurrency: the sync reads (identities, then the records of their holders), decides, and
 * writes with one statement. The database decides every race: the unique indexes of identities
 * refuse a second holder of an identifier, and the write to an existing customer is guarded by
 * the row version it read (`xmin`). A sync that loses a race throws {@link RetryTransaction}: the
 * request runs again from the read and sees the winner's rows, so N concurrent syncs of one
 * person — through any number of hub processes — end with one customer holding the union of
 * their non-conflicting identifiers. A sync that joins locks the customers it joins first.
 */
export async function syncCustomer(tx: Tx, services: Services, settings: CustomerSettings, identity: IdentitySettings, input: SyncInput): Promise<SyncResult> {
  const { customers, identities, loyalty, events } = services
  const ledger = input.rewardLedger
  if (ledger !== undefined) await loyalty.assertLedger(tx, ledger, { points: true })
  const { keys, rejected } = syncIdentifiers(settings, identity, input)
  const candidates = await findCandidates(tx, services, keys, ledger)
  let resolution = resolve(keys, candidates, { autoMerge: identity.autoMerge })
  let joined: Merge[] = []
  if (resolution.needsFacts) ({ resolution, joined } = await join(tx, services, keys, ledger, identity, candidates))
  const plan = planSync(input, keys, rejected, resolution, joined, new Date().toISOString())

  try {
    if (plan.kind === 'none') return plan.result
    if (plan.kind === 'create') {
      await finalStatement(composeStatement(
        [
          ['c', customers.insertSql(plan.customer, null)],
          ['i', plan.linked.length ? identities.insertSql(plan.linked) : undefined],
          ['r', plan.rewardAccount ? loyalty.accountInsertSql(plan.rewardAccount, wrote('c')) : undefined],
        ],
        events.insertSql(tx, plan.events),
      )).execute(tx)
      return plan.result
    }
    const { next, version, rewardAccount, linked, events: changes } = plan
    const id = next.id
    // the one write of the sync: without an Idempotency-Key it is the request's whole transaction
    const { rows } = await finalStatement(composeStatement(
      [
        ['u', customers.guardedUpdateSql(next, version)],
        ['i', linked.length ? identities.insertSql(linked, wrote('u')) : undefined],
        ['r', rewardAccount ? loyalty.accountInsertSql(rewardAccount, wrote('u')) : undefined],
        ['e', changes.length ? events.insertSql(tx, changes, wrote('u')) : undefined],
        ['er', rewardAccount ? events.insertSql(tx, [{ type: 'reward_account.created', customerId: id, payload: { rewardAccount } }], wrote('r')) : undefined],
      ],
      sql`SELECT ${countOf('u')} AS updated, ${rewardAccount ? countOf('r') : sql`0`} AS reward_created`,
    )).execute(tx) as { rows: { updated: number; reward_created: number }[] }
    if (rows[0]?.updated !== 1) throw new RetryTransaction(`customer ${id} changed since it was read`)
    return { ...plan.result, rewardAccountCreated: rows[0].reward_created === 1 }
  } catch (err) {
    if (lostToAnotherLink(err)) throw new RetryTransaction('another sync linked one of these identifiers first')
    throw err
  }
}

/**
 * What a sync writes, decided from its identifiers and their resolution: a new customer, an
 * update of the matched one (guarded by the row version that was read), or nothing. Pure: the
 * sync writes one plan at a time, a bulk import many in one statement each — by the same rules.
 */
export type SyncPlan =
  | { kind: 'none'; result: SyncResult }
  | { kind: 'create'; customer: Customer; linked: Identity[]; rewardAccount: RewardAccount | undefined; events: EventInput[]; result: SyncResult }
  | { kind: 'update'; next: Customer; version: string; linked: Identity[]; rewardAccount: RewardAccount | undefined; events: EventInput[]; result: SyncResult }

export function planSync(input: SyncInput, keys: MatchKeys, rejected: RejectedIdentifier[], resolution: Resolution, joined: Merge[], now: string): SyncPlan {
  const ledger = input.rewardLedger
  const component = input.platform.component
  const { match, matchedBy, free, conflicts } = resolution
  const freeValue = (key: IdentityKey | undefined) => (key && free.includes(key) ? [key.value] : [])
  const linkedBy = (rule: LinkedBy['rule']): LinkedBy => ({ via: 'sync', component, rule })
  const rejectedEvents = (customerId: string): EventInput[] =>
    rejected.length ? [{ type: 'customer.identity_rejected', customerId, payload: { customerId, component, rejected } }] : []

  if (!match) {
    const id = newId('cus')
    const linked = free.map((k) => identityOf(k, id, now, linkedBy('new')))
    const customer: Customer = {
      id,
      email: contactField(null, freeValue(keys.email)),
      firstName: input.firstName ?? null,
      lastName: input.lastName ?? null,
      phone: contactField(null, freeValue(keys.phone)),
      addresses: [],
      groups: [],
      metadata: mergeMetadata({}, input.metadata),
      orderCount: 0,
      totalSpent: 0,
      currency: null,
      hasAccount: false,
      emailVerified: false,
      createdAt: now,
      updatedAt: now,
    }
    const rewardAccount: RewardAccount | undefined = ledger ? { id: newId('rwa'), ledger, customerId: id, createdAt: now } : undefined
    const events: EventInput[] = [
      { type: 'customer.created', customerId: id, payload: { customer } },
      ...conflicts.map((conflict): EventInput => ({ type: 'customer.identity_conflict', customerId: id, payload: { customerId: id, conflict } })),
      ...rejectedEvents(id),
      ...(rewardAccount ? [{ type: 'reward_account.created', customerId: id, payload: { rewardAccount } } as const] : []),
    ]
    const result: SyncResult = { customer, documentId: id, created: true, matchedBy: null, linked, conflicts, joined, rejected, rewardAccountCreated: rewardAccount !== undefined }
    return { kind: 'create', customer, linked, rewardAccount, events, result }
  }

  const current = toCustomer(match.customer)
  const id = current.id
  const linked = free.map((k) => identityOf(k, id, now, linkedBy(matchedBy)))
  const next: Customer = { ...current }
  const changed: string[] = []
  if (input.firstName != null && input.firstName !== current.firstName) {
    next.firstName = input.firstName
    changed.push('firstName')
  }
  if (input.lastName != null && input.lastName !== current.lastName) {
    next.lastName = input.lastName
    changed.push('lastName')
  }
  // the customer holds its current email and phone; the sync adds the free ones
  for (const kind of ['email', 'phone'] as const) {
    const held = [...(current[kind] === null ? [] : [current[kind]!]), ...freeValue(keys[kind])]
    const value = contactField(current[kind], held)
    if (value !== current[kind]) {
      next[kind] = value
      changed.push(kind)
    }
  }
  const metadata = mergeMetadata(current.metadata, input.metadata)
  if (JSON.stringify(metadata) !== JSON.stringify(current.metadata)) {
    next.metadata = metadata
    changed.push('metadata')
  }
  if (changed.length > 0) next.updatedAt = now
  const ensureAccount = ledger !== undefined && !match.hasRewardAccount

  // Nothing to write: the common steady state of a re-sync costs the reads alone.
  if (changed.length === 0 && linked.length === 0 && conflicts.length === 0 && rejected.length === 0 && !ensureAccount) {
    return { kind: 'none', result: { customer: current, documentId: id, created: false, matchedBy, linked, conflicts, joined, rejected, rewardAccountCreated: false } }
  }

  const events: EventInput[] = [
    ...(changed.length ? [{ type: 'customer.updated' as const, customerId: id, payload: { customer: next, changed } }] : []),
    ...linked.map((identity): EventInput => ({ type: 'customer.identity_linked', customerId: id, payload: { customerId: id, identity } })),
    ...conflicts.map((conflict): EventInput => ({ type: 'customer.identity_conflict', customerId: id, payload: { customerId: id, conflict } })),
    ...rejectedEvents(id),
  ]
  const rewardAccount: RewardAccount | undefined = ensureAccount ? { id: newId('rwa'), ledger: ledger!, customerId: id, createdAt: now } : undefined
  const result: SyncResult = { customer: next, documentId: id, created: false, matchedBy, linked, conflicts, joined, rejected, rewardAccountCreated: false }
  return { kind: 'update', next, version: match.version, linked, rewardAccount, events, result }
}
