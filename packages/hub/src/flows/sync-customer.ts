import { sql } from 'kysely'
import type { Customer, Identity, RewardAccount, SyncInput, SyncResult } from '@his-her/contract'
import type { Services } from '../module.js'
import type { CustomerSettings } from '../customers/settings.js'
import { finalStatement, RetryTransaction, type Tx } from '../db/executor.js'
import { composeStatement, countOf, wrote } from '../db/statement.js'
import { isUniqueViolation } from '../db/pg-errors.js'
import { HubError } from '../errors.js'
import { newId } from '../ids.js'
import type { EventInput } from '../events/event-store.js'
import { contactField, mergeMetadata, toCustomer } from '../customers/customer-mapper.js'
import { cascade, matchKeys, type IdentityKey } from '../identity/match.js'
import { findCandidates } from './match.js'

function identityOf(key: IdentityKey, customerId: string, at: string): Identity {
  return { id: newId('idn'), customerId, kind: key.kind, namespace: key.namespace, value: key.value, rawValue: key.raw, externalIdField: key.externalIdField, createdAt: at }
}

/** A statement of this sync failed on the identities' unique indexes: someone linked one of its identifiers first. */
const lostToAnotherLink = (err: unknown) => isUniqueViolation(err) && /^identities_/.test((err as { constraint?: string }).constraint ?? '')

/**
 * `POST /customer/sync`: find-or-create one person from what a platform knows of them — the
 * customer, its identities and its reward account, written together.
 *
 * Concurrency: the sync reads (identities, then the records of their holders), decides, and
 * writes with one statement. The database decides every race: the unique indexes of identities
 * refuse a second holder of an identifier, and the write to an existing customer is guarded by
 * the row version it read (`xmin`). A sync that loses a race throws {@link RetryTransaction}: the
 * request runs again from the read and sees the winner's rows, so N concurrent syncs of one
 * person — through any number of hub processes — end with one customer holding the union of
 * their non-conflicting identifiers.
 */
export async function syncCustomer(tx: Tx, services: Services, settings: CustomerSettings, input: SyncInput): Promise<SyncResult> {
  const { customers, identities, loyalty, events } = services
  const ledger = input.rewardLedger
  if (ledger !== undefined) await loyalty.assertLedger(tx, ledger, { points: true })
  const hasIdentifier = Boolean(input.platform.externalId?.trim() || input.email?.trim() || input.phone?.trim())
  if (!hasIdentifier) throw new HubError('IDENTIFIER_REQUIRED', 'A sync needs at least one of platform.externalId, email or phone.')
  const keys = matchKeys(
    { component: input.platform.component, externalId: input.platform.externalId, externalIdField: input.platform.externalIdField, email: input.email, phone: input.phone },
    settings.defaultCountry,
  )
  const { match, matchedBy, free, conflicts } = cascade(keys, await findCandidates(tx, services, keys, ledger))
  const now = new Date().toISOString()
  const freeValue = (key: IdentityKey | undefined) => (key && free.includes(key) ? [key.value] : [])

  try {
    if (!match) {
      const id = newId('cus')
      const linked = free.map((k) => identityOf(k, id, now))
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
      const created: EventInput[] = [
        { type: 'customer.created', customerId: id, payload: { customer } },
        ...conflicts.map((conflict): EventInput => ({ type: 'customer.identity_conflict', customerId: id, payload: { customerId: id, conflict } })),
        ...(rewardAccount ? [{ type: 'reward_account.created', customerId: id, payload: { rewardAccount } } as const] : []),
      ]
      await finalStatement(composeStatement(
        [
          ['c', customers.insertSql(customer, null)],
          ['i', linked.length ? identities.insertSql(linked) : undefined],
          ['r', rewardAccount ? loyalty.accountInsertSql(rewardAccount, wrote('c')) : undefined],
        ],
        events.insertSql(tx, created),
      )).execute(tx)
      return { customer, documentId: id, created: true, matchedBy: null, linked, conflicts, rewardAccountCreated: rewardAccount !== undefined }
    }

    const current = toCustomer(match.customer)
    const id = current.id
    const linked = free.map((k) => identityOf(k, id, now))
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
    if (changed.length === 0 && linked.length === 0 && conflicts.length === 0 && !ensureAccount) {
      return { customer: current, documentId: id, created: false, matchedBy, linked, conflicts, rewardAccountCreated: false }
    }

    const changes: EventInput[] = [
      ...(changed.length ? [{ type: 'customer.updated' as const, customerId: id, payload: { customer: next, changed } }] : []),
      ...linked.map((identity): EventInput => ({ type: 'customer.identity_linked', customerId: id, payload: { customerId: id, identity } })),
      ...conflicts.map((conflict): EventInput => ({ type: 'customer.identity_conflict', customerId: id, payload: { customerId: id, conflict } })),
    ]
    const rewardAccount: RewardAccount | undefined = ensureAccount ? { id: newId('rwa'), ledger: ledger!, customerId: id, createdAt: now } : undefined
    // the one write of the sync: without an Idempotency-Key it is the request's whole transaction
    const { rows } = await finalStatement(composeStatement(
      [
        ['u', customers.guardedUpdateSql(next, match.version)],
        ['i', linked.length ? identities.insertSql(linked, wrote('u')) : undefined],
        ['r', rewardAccount ? loyalty.accountInsertSql(rewardAccount, wrote('u')) : undefined],
        ['e', changes.length ? events.insertSql(tx, changes, wrote('u')) : undefined],
        ['er', rewardAccount ? events.insertSql(tx, [{ type: 'reward_account.created', customerId: id, payload: { rewardAccount } }], wrote('r')) : undefined],
      ],
      sql`SELECT ${countOf('u')} AS updated, ${rewardAccount ? countOf('r') : sql`0`} AS reward_created`,
    )).execute(tx) as { rows: { updated: number; reward_created: number }[] }
    if (rows[0]?.updated !== 1) throw new RetryTransaction(`customer ${id} changed since it was read`)
    return { customer: next, documentId: id, created: false, matchedBy, linked, conflicts, rewardAccountCreated: rows[0].reward_created === 1 }
  } catch (err) {
    if (lostToAnotherLink(err)) throw new RetryTransaction('another sync linked one of these identifiers first')
    throw err
  }
}
