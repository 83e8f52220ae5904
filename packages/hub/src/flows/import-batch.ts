import type { Customer, Identity, SyncInput } from '@his-her/contract'
import type { Services } from '../module.js'
import type { CustomerSettings } from '../customers/settings.js'
import { RetryTransaction, type Tx } from '../db/executor.js'
import { isUniqueViolation } from '../db/pg-errors.js'
import { HubError } from '../errors.js'
import type { EventInput } from '../events/event-store.js'
import { resolve, type Candidate, type IdentityKey, type MatchKeys } from '../identity/match.js'
import type { IdentitySettings } from '../identity/settings.js'
import { planSync, syncCustomer, syncIdentifiers } from './sync-customer.js'

/** What became of one row of an import. */
export interface RowOutcome {
  line: number
  /** `created` or `matched` for a row that was synced; `rejected` for one that could not be. */
  status: 'created' | 'matched' | 'rejected'
  customerId: string | null
  /** Customers this row's identifiers joined into its customer. */
  joined: number
  /** Identifiers of this row left with another customer. */
  conflicts: number
  /** Identifiers set aside as invalid (the row went on with the others), or the reason a rejected row was refused. */
  rejectedIdentifiers: number
  reason: string | null
  /**
   * What the row's customer got in the statement that wrote it — its INSERT, or the guarded
   * update of a customer it matched — instead of an update of its own: the groups added (those a
   * matched customer had already left out), and the order history's sums when they could be
   * added there ({@link ImportStart}). `null` when the rest of the row is applied after the batch.
   */
  started: ImportStart | null
}

/**
 * What a row's new customer starts with, written in its INSERT instead of updating the new row
 * again for each: its groups (deduplicated, in the row's order) and, when the row's order history
 * can be recorded for a new customer, the sums of that history in its currency.
 */
export interface ImportStart {
  groups: string[]
  totals?: { orderCount: number; totalSpent: number; currency: string } | undefined
  /** The summary order that will hold the history (its platform and external id): a customer the row matches takes the sums in its update only while no order holds this key. */
  summary?: { platform: string; externalId: string } | undefined
  /** A customer the row matched: its sums before the history was added in its update (a new customer's are 0). */
  before?: { orderCount: number; totalSpent: number } | undefined
}

/** One row to import: what a sync would send, and its line in the file. */
export interface ImportBatchRow {
  line: number
  input: SyncInput
  /** What the customer starts with when this row creates it. */
  start?: ImportStart | undefined
}

const keyOf = (k: IdentityKey) => `${k.kind}\u0000${k.namespace}\u0000${k.value}`
const keysOf = (keys: MatchKeys) => [keys.platform, keys.email, keys.phone].filter((k): k is IdentityKey => k !== undefined)

/**
 * Imports a batch of rows with exactly the rules of `POST /customer/sync` (the same
 * {@link syncIdentifiers}, {@link resolve} and {@link planSync}), but set-wise: one query finds the
 * holders of every row's identifiers, one reads their records, and the batch's new customers,
 * updates, identities and events are written with one statement each. Run inside the caller's
 * transaction.
 *
 * A row goes through the one-at-a-time sync instead ({@link syncCustomer}, in the same
 * transaction, after the set-wise writes) when deciding it alone could differ from syncing it
 * after the others: it shares an identifier with an earlier row of the batch, its identifiers
 * lead to two or more customers (joining), or another row of the batch already updates the
 * customer it matches. Identity resolution does not depend on arrival order, so the customers
 * that result are the ones a sync of every row, one by one, makes.
 *
 * A concurrent writer that got between the reads and the writes makes the guarded update or the
 * identities' unique indexes refuse: the batch throws {@link RetryTransaction} and the caller
 * runs it again.
 *
 * @example
 * ```ts
 * const outcomes = await importBatch(tx, services, settings, identity, [{ line: 1, input: { platform: { component: 'identity.shop', externalId: '42' }, email: 'ada@example.com' } }])
 * ```
 */
export async function importBatch(tx: Tx, services: Services, settings: CustomerSettings, identity: IdentitySettings, rows: ImportBatchRow[]): Promise<RowOutcome[]> {
  const { customers, identities, events } = services
  const outcomes = new Map<number, RowOutcome>()
  const reject = (line: number, err: unknown) => {
    if (!(err instanceof HubError)) throw err
    outcomes.set(line, { line, status: 'rejected', customerId: null, joined: 0, conflicts: 0, rejectedIdentifiers: 0, reason: `${err.code}: ${err.message}`, started: null })
  }

  // identifiers, and which rows must wait for the one-at-a-time path
  const prepared: { row: ImportBatchRow; keys: MatchKeys; rejected: ReturnType<typeof syncIdentifiers>['rejected'] }[] = []
  const keysOfLine = new Map<number, string[]>()
  const slow: ImportBatchRow[] = []
  const slowKeysRead: MatchKeys[] = [] // identifiers of rows set aside before they were resolved: their holders are read too
  const seen = new Set<string>()
  for (const row of rows) {
    let ids: ReturnType<typeof syncIdentifiers>
    try {
      ids = syncIdentifiers(settings, identity, row.input)
    } catch (err) {
      reject(row.line, err)
      continue
    }
    const own = keysOf(ids.keys).map(keyOf)
    keysOfLine.set(row.line, own)
    const shared = own.some((k) => seen.has(k))
    for (const k of own) seen.add(k)
    if (shared) {
      slow.push(row)
      slowKeysRead.push(ids.keys)
    } else prepared.push({ row, ...ids })
  }

  // every holder of every identifier, and their records: two queries for the whole batch
  const held = await identities.holdersOfMany(tx, [...prepared.map((p) => p.keys), ...slowKeysRead])
  const holderOf = new Map(held.map((h) => [`${h.kind}\u0000${h.namespace}\u0000${h.value}`, h]))
  const records = held.length ? await customers.readForMatch(tx, [...new Set(held.map((h) => h.customer_id))]) : []
  const recordOf = new Map(records.map((r) => [r.id, r]))

  const now = new Date().toISOString()
  const created: { customer: Customer; row: ImportBatchRow }[] = []
  const updated: { next: Customer; version: string; row: ImportBatchRow }[] = []
  const linked: Identity[] = []
  const written: EventInput[] = []
  const touched = new Set<string>()
  for (const p of prepared) {
    const candidates: Candidate[] = keysOf(p.keys).flatMap((k) => {
      const h = holderOf.get(keyOf(k))
      const customer = h && recordOf.get(h.customer_id)
      return customer ? [{ kind: k.kind, customer, version: customer.version, hasRewardAccount: false }] : []
    })
    const resolution = resolve(p.keys, candidates, { autoMerge: identity.autoMerge })
    if (resolution.needsFacts || (resolution.match && touched.has(resolution.match.customer.id))) {
      slow.push(p.row)
      continue
    }
    const plan = planSync(p.row.input, p.keys, p.rejected, resolution, [], now)
    const base = { line: p.row.line, joined: 0, conflicts: resolution.conflicts.length, rejectedIdentifiers: p.rejected.length, reason: null, started: null }
    if (plan.kind === 'create') {
      created.push({ customer: plan.customer, row: p.row })
      outcomes.set(p.row.line, { ...base, status: 'created', customerId: plan.customer.id })
    } else {
      const id = plan.kind === 'update' ? plan.next.id : plan.result.customer.id
      touched.add(id)
      if (plan.kind === 'update') updated.push({ next: plan.next, version: plan.version, row: p.row })
      outcomes.set(p.row.line, { ...base, status: 'matched', customerId: id })
    }
    if (plan.kind !== 'none') {
      linked.push(...plan.linked)
      written.push(...plan.events)
    }
  }

  // a new customer starts with its row's groups and order history — unless a row decided one at a
  // time below may find it (it shares an identifier with the row), which must see it as a sync would
  const slowKeys = new Set(slow.flatMap((row) => keysOfLine.get(row.line) ?? []))
  const startable = (row: ImportBatchRow) => row.start !== undefined && !keysOfLine.get(row.line)!.some((k) => slowKeys.has(k))
  const inserted = created.map(({ customer, row }) => {
    const start = row.start
    if (!start || !startable(row)) return customer
    outcomes.get(row.line)!.started = start
    return { ...customer, groups: start.groups, ...(start.totals ? { orderCount: start.totals.orderCount, totalSpent: start.totals.totalSpent, currency: start.totals.currency } : {}) }
  })
  // a customer a row matches takes the row's new groups, and its history's sums, in the update the
  // sync makes of it (one update of the row instead of three): the update is guarded by the version
  // read, so the groups and sums read are the row's own. The sums only when the history is a first
  // report (no order holds its key: a repeat corrects by the difference, after the batch) in the
  // customer's currency or for a customer without one. Not a customer a row decided one at a time
  // may find (one holding any of its identifiers as the batch began): that row must see it as a
  // sync would, without the groups and sums.
  const slowHolders = new Set(slow.flatMap((row) => (keysOfLine.get(row.line) ?? []).flatMap((k) => holderOf.get(k)?.customer_id ?? [])))
  const candidates = new Set(updated.filter((u) => startable(u.row) && !slowHolders.has(u.next.id) && u.row.start!.totals && u.row.start!.summary && (u.next.currency === null || u.next.currency === u.row.start!.totals.currency)))
  const summariesHeld = candidates.size ? await services.orders.heldKeys(tx, [...candidates].map((u) => u.row.start!.summary!)) : new Set<string>()
  const rewritten = updated.map((u) => {
    const start = u.row.start
    if (!start || !startable(u.row) || slowHolders.has(u.next.id)) return u
    const added = start.groups.filter((g) => !u.next.groups.includes(g))
    const summary = start.summary
    const totals = candidates.has(u) && summary && !summariesHeld.has(`${summary.platform}\u0000${summary.externalId}`) ? start.totals : undefined
    if (added.length === 0 && !totals) return u
    const before = { orderCount: u.next.orderCount, totalSpent: u.next.totalSpent }
    outcomes.get(u.row.line)!.started = { groups: added, totals, summary, before }
    const next: Customer = { ...u.next, groups: [...u.next.groups, ...added] }
    if (totals) Object.assign(next, { orderCount: before.orderCount + totals.orderCount, totalSpent: before.totalSpent + totals.totalSpent, currency: totals.currency })
    return { ...u, next }
  })

  try {
    if (inserted.length) await customers.insertManySql(inserted).execute(tx)
    if (updated.length) {
      const { rows: done } = await customers.guardedUpdateManySql(rewritten).execute(tx)
      if (done.length !== updated.length) throw new RetryTransaction(`${updated.length - done.length} customers of an import batch changed since they were read`)
    }
    if (linked.length) await identities.insertSql(linked).execute(tx)
    if (written.length) await events.insertSql(tx, written).execute(tx)
  } catch (err) {
    if (isUniqueViolation(err) && /^identities_/.test((err as { constraint?: string }).constraint ?? '')) throw new RetryTransaction('another sync linked an identifier of the import batch first')
    throw err
  }

  // the rows that could differ when decided beside the others: one at a time, in line order
  for (const row of slow.sort((a, b) => a.line - b.line)) {
    try {
      const result = await syncCustomer(tx, services, settings, identity, row.input)
      outcomes.set(row.line, {
        line: row.line,
        status: result.created ? 'created' : 'matched',
        customerId: result.customer.id,
        joined: result.joined.length,
        conflicts: result.conflicts.length,
        rejectedIdentifiers: result.rejected.length,
        reason: null,
        started: null,
      })
    } catch (err) {
      reject(row.line, err)
    }
  }
  return rows.map((r) => outcomes.get(r.line)!)
}
