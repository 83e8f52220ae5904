import { sql, type Kysely } from 'kysely'
import type { Customer, Identity, RewardAccount, SyncInput, SyncResult } from '@his-her/contract'
import type { Database } from '../db/schema.js'
import type { CustomerSettings } from '../config.js'
import { HubError } from '../errors.js'
import { newId } from '../ids.js'
import { isPgError, isUniqueViolation } from '../db/pg-errors.js'
import { eventRow, type EventInput } from '../events/event-store.js'
import { mergeMetadata, toCustomer } from '../customers/customer-mapper.js'
import { identityColumns, identityRow, insertCustomer } from '../customers/customer-insert.js'
import type { LedgerCheck } from '../loyalty/ledger-check.js'
import { cascade, findCandidates, matchKeys, type IdentityKey } from './match.js'

const MAX_ATTEMPTS = 12

function identityOf(key: IdentityKey, customerId: string, at: string): Identity {
  return {
    id: newId('idn'),
    customerId,
    kind: key.kind,
    namespace: key.namespace,
    value: key.value,
    rawValue: key.raw,
    externalIdField: key.externalIdField,
    createdAt: at,
  }
}

/** A retry is needed: another writer got between this sync's read and its write. */
class LostRace extends Error {}

/**
 * `POST /customer/sync`: find-or-create one person from what a platform knows of them.
 *
 * Concurrency: a sync reads (one statement), decides, and writes (one statement, so one
 * transaction). The database decides every race: the unique indexes of identities refuse a
 * second holder of an identifier, and the write to an existing customer is guarded by the row
 * version it read (`xmin`). A sync that loses a race starts again from the read and then sees
 * the winner's rows, so N concurrent syncs of one person — through any number of hub
 * processes — end with one customer holding the union of their non-conflicting identifiers.
 */
export function createSyncService({ db, settings, ledgers }: { db: Kysely<Database>; settings: CustomerSettings; ledgers: LedgerCheck }) {
  async function attempt(input: SyncInput): Promise<SyncResult> {
    const keys = matchKeys(
      {
        component: input.platform.component,
        externalId: input.platform.externalId,
        externalIdField: input.platform.externalIdField,
        email: input.email,
        phone: input.phone,
      },
      settings.defaultCountry,
    )
    const ledger = input.rewardLedger
    const candidates = await findCandidates(db, keys, ledger)
    const { match, matchedBy, free, conflicts } = cascade(keys, candidates)
    const now = new Date().toISOString()

    if (!match) {
      const id = newId('cus')
      const linked = free.map((k) => identityOf(k, id, now))
      const customer: Customer = {
        id,
        email: keys.email && free.includes(keys.email) ? keys.email.value : null,
        firstName: input.firstName ?? null,
        lastName: input.lastName ?? null,
        phone: keys.phone && free.includes(keys.phone) ? keys.phone.value : null,
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
      const events: EventInput[] = conflicts.map((conflict) => ({ type: 'customer.identity_conflict', customerId: id, payload: { customerId: id, conflict } }))
      if (rewardAccount) events.push({ type: 'reward_account.created', customerId: id, payload: { rewardAccount } })
      await insertCustomer({ customer, passwordHash: null, identities: linked, rewardAccount, events }).execute(db)
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
    if (current.email === null && keys.email && free.includes(keys.email)) {
      next.email = keys.email.value
      changed.push('email')
    }
    if (current.phone === null && keys.phone && free.includes(keys.phone)) {
      next.phone = keys.phone.value
      changed.push('phone')
    }
    const metadata = mergeMetadata(current.metadata, input.metadata)
    if (JSON.stringify(metadata) !== JSON.stringify(current.metadata)) {
      next.metadata = metadata
      changed.push('metadata')
    }
    if (changed.length > 0) next.updatedAt = now
    const ensureAccount = ledger !== undefined && !match.hasRewardAccount

    // Nothing to write: the common steady state of a re-sync costs one statement.
    if (changed.length === 0 && linked.length === 0 && conflicts.length === 0 && !ensureAccount) {
      return { customer: current, documentId: id, created: false, matchedBy, linked, conflicts, rewardAccountCreated: false }
    }

    const events: EventInput[] = [
      ...(changed.length ? [{ type: 'customer.updated' as const, customerId: id, payload: { customer: next, changed } }] : []),
      ...linked.map((identity) => ({ type: 'customer.identity_linked' as const, customerId: id, payload: { customerId: id, identity } })),
      ...conflicts.map((conflict) => ({ type: 'customer.identity_conflict' as const, customerId: id, payload: { customerId: id, conflict } })),
    ]
    const rewardAccount: RewardAccount | undefined = ensureAccount ? { id: newId('rwa'), ledger: ledger!, customerId: id, createdAt: now } : undefined
    const identityRows = linked.map(identityRow)
    const eventRows = events.map((e, n) => eventRow(n + 1, e))
    const { rows } = await sql<{ updated: number; reward_created: number }>`
      WITH u AS (
        UPDATE customers
        SET first_name = ${next.firstName}, last_name = ${next.lastName}, email = ${next.email}, phone = ${next.phone},
            metadata = ${JSON.stringify(next.metadata)}::jsonb, updated_at = ${next.updatedAt}::timestamptz
        WHERE id = ${id} AND deleted_at IS NULL AND xmin = ${match.version}::xid
        RETURNING id
      )${identityRows.length ? sql`, i AS (
        INSERT INTO identities ${identityColumns}
        SELECT * FROM (VALUES ${sql.join(identityRows)}) v WHERE EXISTS (SELECT 1 FROM u)
      )` : sql``}${rewardAccount ? sql`, r AS (
        INSERT INTO reward_accounts (id, ledger_id, customer_id, created_at)
        SELECT ${rewardAccount.id}, ${rewardAccount.ledger}, ${id}, ${now}::timestamptz WHERE EXISTS (SELECT 1 FROM u)
        ON CONFLICT ON CONSTRAINT reward_accounts_ledger_customer_key DO NOTHING
        RETURNING id
      ), er AS (
        INSERT INTO events (position, id, type, customer_id, payload)
        SELECT * FROM (VALUES ${eventRow(events.length + 1, { type: 'reward_account.created', customerId: id, payload: { rewardAccount } })}) v
        WHERE EXISTS (SELECT 1 FROM r)
      )` : sql``}${eventRows.length ? sql`, e AS (
        INSERT INTO events (position, id, type, customer_id, payload)
        SELECT * FROM (VALUES ${sql.join(eventRows)}) v WHERE EXISTS (SELECT 1 FROM u)
      )` : sql``}
      SELECT (SELECT count(*) FROM u)::int AS updated, ${rewardAccount ? sql`(SELECT count(*) FROM r)::int` : sql`0`} AS reward_created`.execute(db)
    if (rows[0]?.updated !== 1) throw new LostRace()
    return {
      customer: next,
      documentId: id,
      created: false,
      matchedBy,
      linked,
      conflicts,
      rewardAccountCreated: rows[0].reward_created === 1,
    }
  }

  return {
    /** Finds or creates the customer; see the concurrency rule above. */
    async sync(input: SyncInput): Promise<SyncResult> {
      if (input.rewardLedger !== undefined) await ledgers.assertExists(input.rewardLedger)
      const hasIdentifier = Boolean(input.platform.externalId?.trim() || input.email?.trim() || input.phone?.trim())
      if (!hasIdentifier) throw new HubError('IDENTIFIER_REQUIRED', 'A sync needs at least one of platform.externalId, email or phone.')
      for (let n = 1; ; n++) {
        try {
          return await attempt(input)
        } catch (err) {
          const retry = err instanceof LostRace || (isUniqueViolation(err) && /^identities_/.test((err as { constraint?: string }).constraint ?? '')) ||
            (isPgError(err) && (err.code === '40001' || err.code === '40P01'))
          if (!retry) throw err
          if (n >= MAX_ATTEMPTS) throw new HubError('CONTENTION')
        }
      }
    },
  }
}
export type SyncService = ReturnType<typeof createSyncService>
