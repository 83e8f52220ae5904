import type { MergeResult, UndoResult } from '@his-her/contract'
import type { Services } from '../module.js'
import type { Tx } from '../db/executor.js'
import { HubError } from '../errors.js'
import { isId, newId } from '../ids.js'
import { contactField } from '../customers/customer-mapper.js'
import type { CustomerChange } from '../customers/customer-service.js'

/** Exactly what a merge moved from the source to the target, kept so that it can be undone. */
interface Moved {
  identities: string[]
  /** For identities an earlier merge had brought to the source: that merge (put back on undo). */
  identityMerges?: Record<string, string>
  addresses: string[]
  /** The source's default address before the merge (it may have lost the flag on the target). */
  sourceDefaultAddressId: string | null
  /** Groups the target did not have and got from the source. */
  groups: string[]
  orders: string[]
  /** Reward accounts moved whole (merges recorded before points moved as ledger transfers); now always empty. */
  rewardAccounts: string[]
  /** Target fields that were empty and were filled from the source. */
  filled: Record<string, string>
}

const fillable = [
  ['first_name', 'firstName'],
  ['last_name', 'lastName'],
  ['email', 'email'],
  ['phone', 'phone'],
] as const

/** Recomputes what is derived from rows that moved: order sums, address count, one default address. */
async function settle(tx: Tx, { customers, orders, addresses }: Services, customerId: string): Promise<void> {
  await customers.setTotals(tx, customerId, await orders.totalsOf(tx, customerId))
  await addresses.settle(tx, customerId)
}

/**
 * Merges `sourceId` into `targetId` in one transaction holding both rows' locks: the source's
 * identities, addresses, groups and orders move to the target, its points move as ledger
 * transfers (lots with their expiry, pending holds with them), empty fields of
 * the target are filled from the source, the source is marked merged (410 from then on), and the
 * merge record says exactly what moved.
 */
export async function mergeCustomers(tx: Tx, services: Services, targetId: string, sourceId: string, reason: 'manual' | 'sync' = 'manual'): Promise<MergeResult> {
  const { customers, identities, addresses, orders, ledger, events } = services
  if (!isId('cus', targetId)) throw new HubError('CUSTOMER_NOT_FOUND', `No live customer has the id ${targetId}.`)
  if (targetId === sourceId) throw new HubError('MERGE_SAME_CUSTOMER')
  const locked = await customers.lockPair(tx, targetId, sourceId)
  const target = locked.get(targetId)
  const source = locked.get(sourceId)
  if (target?.erased_at) throw new HubError('CUSTOMER_ERASED', `The target ${targetId} was erased.`)
  if (source?.erased_at) throw new HubError('CUSTOMER_ERASED', `The source ${sourceId} was erased.`)
  if (target?.merged_into) throw new HubError('CUSTOMER_MERGED', `The target ${targetId} was merged into ${target.merged_into}.`, { mergedInto: target.merged_into })
  if (!target || target.deleted_at) throw new HubError('CUSTOMER_NOT_FOUND', `No live customer has the id ${targetId}.`)
  if (source?.merged_into) throw new HubError('CUSTOMER_ALREADY_MERGED', `The source ${sourceId} was merged into ${source.merged_into}.`, { mergedInto: source.merged_into })
  if (!source || source.deleted_at) throw new HubError('CUSTOMER_NOT_FOUND', `No live customer has the id ${sourceId}.`)
  if (source.currency && target.currency && source.currency !== target.currency) {
    throw new HubError('CURRENCY_MISMATCH', `The source's orders are in ${source.currency}, the target's in ${target.currency}.`)
  }

  const mergeId = newId('mrg')
  const movedIdentities = await identities.moveAll(tx, sourceId, targetId, mergeId)
  const movedAddresses = await addresses.moveAll(tx, sourceId, targetId)
  const movedOrders = await orders.moveAll(tx, sourceId, targetId)
  const groups = source.groups.filter((g) => !target.groups.includes(g))

  const filled: Record<string, string> = {}
  const set: CustomerChange = { groups: [...target.groups, ...groups], currency: target.currency ?? source.currency }
  for (const [column, field] of fillable) {
    if (target[column] !== null || source[column] === null) continue
    filled[field] = source[column]!
    set[column] = column === 'email' || column === 'phone' ? contactField(null, await identities.values(tx, targetId, column), source[column]) : source[column]
  }
  if (target.currency === null && source.currency !== null) filled.currency = source.currency
  await customers.change(tx, targetId, set, [])
  await customers.markMerged(tx, sourceId, targetId)
  await settle(tx, services, targetId)
  await settle(tx, services, sourceId)

  const moved: Moved = {
    identities: movedIdentities.ids,
    identityMerges: movedIdentities.earlierMerges,
    addresses: movedAddresses.moved,
    sourceDefaultAddressId: movedAddresses.sourceDefault,
    groups,
    orders: movedOrders,
    rewardAccounts: [],
    filled,
  }
  const merge = await identities.recordMerge(tx, { id: mergeId, targetId, sourceId, reason, moved })
  // the source's points move as ledger transactions that reference the merge (undone by reversing them)
  await ledger.moveOnMerge(tx, sourceId, targetId, merge.id)
  await events.emit(tx, { type: 'customer.merged', customerId: targetId, payload: { merge } })
  return { merge, customer: await customers.get(tx, targetId) }
}

/**
 * Undoes a merge: moves back exactly what moved, empties the fields it filled (unless they
 * changed since), and makes the source live again; or refuses with 409 `MERGE_UNDO_CONFLICT`
 * when something moved since.
 */
export async function undoMerge(tx: Tx, services: Services, mergeId: string): Promise<UndoResult> {
  const { customers, identities, addresses, orders, loyalty, ledger, events } = services
  const record = await identities.getMerge(tx, mergeId, { lock: true })
  if (record.undoneAt) throw new HubError('MERGE_ALREADY_UNDONE')
  if (record.reason !== 'manual' && record.reason !== 'sync') throw new HubError('MERGE_UNDO_CONFLICT', 'Only a manual merge or a join by sync can be undone.')
  const moved = record.moved as unknown as Moved
  const { targetId, sourceId } = record
  const locked = await customers.lockPair(tx, targetId, sourceId)
  const target = locked.get(targetId)!
  const source = locked.get(sourceId)!
  const conflict = (what: string) => new HubError('MERGE_UNDO_CONFLICT', `Cannot undo: ${what}.`, { mergeId })
  // an undo never brings an erased person back
  if (target.erased_at || source.erased_at) throw conflict(`the ${target.erased_at ? 'target' : 'source'} was erased`)
  if (target.deleted_at || target.merged_into) throw conflict(`the target ${targetId} is no longer live`)
  if (source.merged_into !== targetId) throw conflict(`the source ${sourceId} is no longer merged into the target`)

  if (!(await identities.moveBack(tx, moved.identities, targetId, sourceId, moved.identityMerges))) throw conflict('some identities moved by the merge are no longer on the target')
  if (!(await addresses.moveBack(tx, moved.addresses, targetId, sourceId, moved.sourceDefaultAddressId))) {
    throw conflict('some addresses moved by the merge are no longer on the target')
  }
  if (!(await orders.moveBack(tx, moved.orders, targetId, sourceId))) throw conflict('some orders moved by the merge are no longer on the target')
  if (!(await loyalty.moveBack(tx, moved.rewardAccounts, targetId, sourceId))) throw conflict('some reward accounts moved by the merge are no longer on the target')
  await ledger.undoMerge(tx, mergeId)

  // Fields the merge filled go back to empty unless they changed since; email and phone then
  // name an identity the target still holds.
  const restore: CustomerChange = { groups: target.groups.filter((g) => !moved.groups.includes(g)) }
  const after = { ...target }
  for (const [column, field] of fillable) {
    if (moved.filled[field] !== undefined && target[column] === moved.filled[field]) {
      restore[column] = null
      after[column] = null
    }
  }
  for (const kind of ['email', 'phone'] as const) {
    const value = contactField(after[kind], await identities.values(tx, targetId, kind))
    if (value !== target[kind]) restore[kind] = value
  }
  await customers.change(tx, targetId, restore, [])
  await customers.unmarkMerged(tx, sourceId)
  await settle(tx, services, targetId)
  await settle(tx, services, sourceId)
  // a currency the merge brought goes with the orders that brought it
  if (moved.filled.currency !== undefined) await customers.dropCurrencyWithoutOrders(tx, targetId)
  const merge = await identities.markUndone(tx, mergeId)
  await events.emit(tx, { type: 'customer.merge_undone', customerId: targetId, payload: { merge } })
  return { merge, target: await customers.get(tx, targetId), source: await customers.get(tx, sourceId) }
}
