import { sql, type Kysely } from 'kysely'
import type { Merge, MergeResult, UndoResult } from '@his-her/contract'
import type { Database } from '../db/schema.js'
import { HubError } from '../errors.js'
import { newId, isId } from '../ids.js'
import { createEventWriter } from '../events/event-store.js'
import { assertCustomerId, type CustomerService } from './customer-service.js'

/** Exactly what a merge moved from the source to the target, kept so that it can be undone. */
interface Moved {
  identities: string[]
  addresses: string[]
  /** The source's default address before the merge (it may have lost the flag on the target). */
  sourceDefaultAddressId: string | null
  /** Groups the target did not have and got from the source. */
  groups: string[]
  orders: string[]
  rewardAccounts: string[]
  /** Target fields that were empty and were filled from the source. */
  filled: Record<string, string>
}

interface MergeRow {
  id: string
  target_id: string
  source_id: string
  reason: string
  moved: Record<string, unknown>
  created_at: Date
  undone_at: Date | null
}

function toMerge(r: MergeRow): Merge {
  return {
    id: r.id,
    targetId: r.target_id,
    sourceId: r.source_id,
    reason: r.reason,
    moved: r.moved,
    createdAt: r.created_at.toISOString(),
    undoneAt: r.undone_at?.toISOString() ?? null,
  }
}

const fillable = [
  ['first_name', 'firstName'],
  ['last_name', 'lastName'],
  ['email', 'email'],
  ['phone', 'phone'],
] as const

interface LockedCustomer {
  id: string
  email: string | null
  phone: string | null
  first_name: string | null
  last_name: string | null
  groups: string[]
  currency: string | null
  deleted_at: Date | null
  merged_into: string | null
}

/** Locks both customers' rows, always in id order so that two merges cannot deadlock. */
async function lockPair(tx: Kysely<Database>, a: string, b: string): Promise<Map<string, LockedCustomer>> {
  const { rows } = await sql<LockedCustomer>`
    SELECT id, email, phone, first_name, last_name, groups, currency, deleted_at, merged_into
    FROM customers WHERE id IN (${a}, ${b}) ORDER BY id FOR UPDATE`.execute(tx)
  return new Map(rows.map((r) => [r.id, r]))
}

/** Recomputes what is derived from other rows: order sums, address count, one default address. */
async function settle(tx: Kysely<Database>, customerId: string): Promise<void> {
  await sql`
    UPDATE customers c SET
      order_count = (SELECT count(*) FROM orders o WHERE o.customer_id = c.id),
      total_spent = (SELECT coalesce(sum(o.total), 0) FROM orders o WHERE o.customer_id = c.id),
      address_count = (SELECT count(*) FROM addresses a WHERE a.customer_id = c.id),
      updated_at = now()
    WHERE c.id = ${customerId}`.execute(tx)
  await sql`
    UPDATE addresses SET is_default = true, updated_at = now()
    WHERE id = (SELECT id FROM addresses WHERE customer_id = ${customerId} ORDER BY created_at, id LIMIT 1)
      AND NOT EXISTS (SELECT 1 FROM addresses WHERE customer_id = ${customerId} AND is_default)`.execute(tx)
}

/**
 * Merges of two customers and their undo. A merge runs in one transaction holding both rows'
 * locks; it moves the source's identities, addresses, groups, orders and reward accounts to the
 * target, marks the source merged, and records exactly what moved. Undo moves exactly that
 * back, or refuses (409 `MERGE_UNDO_CONFLICT`) when something moved since.
 */
export function createMergeService({ db, customers }: { db: Kysely<Database>; customers: CustomerService }) {
  async function getMerge(id: string, executor: Kysely<Database> = db, lock = false): Promise<MergeRow> {
    if (!isId('mrg', id)) throw new HubError('INVALID_ID', `"${id}" is not a merge id (mrg_…).`)
    const row = await executor.selectFrom('merges').selectAll().where('id', '=', id).$if(lock, (q) => q.forUpdate()).executeTakeFirst()
    if (!row) throw new HubError('MERGE_NOT_FOUND')
    return row as MergeRow
  }

  return {
    async get(id: string): Promise<Merge> {
      return toMerge(await getMerge(id))
    },

    async merge(targetId: string, sourceId: string): Promise<MergeResult> {
      assertCustomerId(targetId)
      assertCustomerId(sourceId)
      if (targetId === sourceId) throw new HubError('MERGE_SAME_CUSTOMER')
      const merge = await db.transaction().execute(async (tx) => {
        const locked = await lockPair(tx, targetId, sourceId)
        const target = locked.get(targetId)
        const source = locked.get(sourceId)
        if (target?.merged_into) throw new HubError('CUSTOMER_MERGED', `The target ${targetId} was merged into ${target.merged_into}.`, { mergedInto: target.merged_into })
        if (!target || target.deleted_at) throw new HubError('CUSTOMER_NOT_FOUND', `No live customer has the id ${targetId}.`)
        if (source?.merged_into) throw new HubError('CUSTOMER_ALREADY_MERGED', `The source ${sourceId} was merged into ${source.merged_into}.`, { mergedInto: source.merged_into })
        if (!source || source.deleted_at) throw new HubError('CUSTOMER_NOT_FOUND', `No live customer has the id ${sourceId}.`)
        if (source.currency && target.currency && source.currency !== target.currency) {
          throw new HubError('CURRENCY_MISMATCH', `The source's orders are in ${source.currency}, the target's in ${target.currency}.`)
        }

        const identities = await tx.updateTable('identities').set({ customer_id: targetId }).where('customer_id', '=', sourceId).returning('id').execute()
        const sourceDefault = await tx.selectFrom('addresses').select('id').where('customer_id', '=', sourceId).where('is_default', '=', true).executeTakeFirst()
        const targetHasDefault = await tx.selectFrom('addresses').select('id').where('customer_id', '=', targetId).where('is_default', '=', true).executeTakeFirst()
        if (targetHasDefault && sourceDefault) {
          await tx.updateTable('addresses').set({ is_default: false }).where('id', '=', sourceDefault.id).execute()
        }
        const addresses = await tx.updateTable('addresses').set({ customer_id: targetId }).where('customer_id', '=', sourceId).returning('id').execute()
        const orders = await tx.updateTable('orders').set({ customer_id: targetId }).where('customer_id', '=', sourceId).returning('id').execute()
        const rewardAccounts = await sql<{ id: string }>`
          UPDATE reward_accounts SET customer_id = ${targetId}
          WHERE customer_id = ${sourceId}
            AND ledger_id NOT IN (SELECT ledger_id FROM reward_accounts WHERE customer_id = ${targetId})
          RETURNING id`.execute(tx)
        const groups = source.groups.filter((g) => !target.groups.includes(g))

        const filled: Record<string, string> = {}
        const set: Record<string, unknown> = {}
        for (const [column, field] of fillable) {
          if (target[column] === null && source[column] !== null) {
            filled[field] = source[column]!
            set[column] = source[column]
          }
        }
        if (target.currency === null && source.currency !== null) filled.currency = source.currency
        await tx
          .updateTable('customers')
          .set({ ...set, groups: [...target.groups, ...groups], currency: target.currency ?? source.currency, updated_at: new Date() })
          .where('id', '=', targetId)
          .execute()
        await tx.updateTable('customers').set({ merged_into: targetId, deleted_at: new Date(), updated_at: new Date() }).where('id', '=', sourceId).execute()
        await settle(tx, targetId)
        await settle(tx, sourceId)

        const moved: Moved = {
          identities: identities.map((r) => r.id),
          addresses: addresses.map((r) => r.id),
          sourceDefaultAddressId: sourceDefault?.id ?? null,
          groups,
          orders: orders.map((r) => r.id),
          rewardAccounts: rewardAccounts.rows.map((r) => r.id),
          filled,
        }
        const row = await tx
          .insertInto('merges')
          .values({ id: newId('mrg'), target_id: targetId, source_id: sourceId, reason: 'manual', moved: JSON.stringify(moved) })
          .returningAll()
          .executeTakeFirstOrThrow()
        const merge = toMerge(row as MergeRow)
        await createEventWriter(tx).emit({ type: 'customer.merged', customerId: targetId, payload: { merge } })
        return merge
      })
      return { merge, customer: await customers.get(targetId) }
    },

    async undo(mergeId: string): Promise<UndoResult> {
      const merge = await db.transaction().execute(async (tx) => {
        const row = await getMerge(mergeId, tx, true)
        if (row.undone_at) throw new HubError('MERGE_ALREADY_UNDONE')
        if (row.reason !== 'manual') throw new HubError('MERGE_UNDO_CONFLICT', 'Only a manual merge can be undone.')
        const moved = row.moved as unknown as Moved
        const { target_id: targetId, source_id: sourceId } = row
        const locked = await lockPair(tx, targetId, sourceId)
        const target = locked.get(targetId)!
        const source = locked.get(sourceId)!
        const conflict = (what: string) => new HubError('MERGE_UNDO_CONFLICT', `Cannot undo: ${what}.`, { mergeId })
        if (target.deleted_at || target.merged_into) throw conflict(`the target ${targetId} is no longer live`)
        if (source.merged_into !== targetId) throw conflict(`the source ${sourceId} is no longer merged into the target`)

        const back = async (table: 'identities' | 'addresses' | 'orders' | 'reward_accounts', ids: string[], what: string) => {
          if (ids.length === 0) return
          const res = await sql`UPDATE ${sql.table(table)} SET customer_id = ${sourceId}
            ${table === 'addresses' ? sql`, is_default = false` : sql``}
            WHERE id = ANY (${ids}::text[]) AND customer_id = ${targetId}`.execute(tx)
          if (Number(res.numAffectedRows ?? 0) !== ids.length) throw conflict(`some ${what} moved by the merge are no longer on the target`)
        }
        await back('identities', moved.identities, 'identities')
        await back('addresses', moved.addresses, 'addresses')
        await back('orders', moved.orders, 'orders')
        await back('reward_accounts', moved.rewardAccounts, 'reward accounts')
        if (moved.sourceDefaultAddressId) {
          await tx.updateTable('addresses').set({ is_default: true }).where('id', '=', moved.sourceDefaultAddressId).where('customer_id', '=', sourceId).execute()
        }

        // Fields the merge filled go back to empty unless they changed since; email and phone
        // then point at an identity the target still holds.
        const restore: Record<string, unknown> = { groups: target.groups.filter((g) => !moved.groups.includes(g)), updated_at: new Date() }
        for (const [column, field] of fillable) {
          if (moved.filled[field] !== undefined && target[column] === moved.filled[field]) restore[column] = null
        }
        await tx.updateTable('customers').set(restore).where('id', '=', targetId).execute()
        for (const kind of ['email', 'phone'] as const) {
          await sql`
            UPDATE customers c SET ${sql.ref(kind)} = (
              SELECT value FROM identities i WHERE i.customer_id = c.id AND i.kind = ${kind} ORDER BY created_at, id LIMIT 1)
            WHERE c.id = ${targetId}
              AND (c.${sql.ref(kind)} IS NULL OR NOT EXISTS (
                SELECT 1 FROM identities i WHERE i.customer_id = c.id AND i.kind = ${kind} AND i.value = c.${sql.ref(kind)}))`.execute(tx)
        }
        await tx.updateTable('customers').set({ merged_into: null, deleted_at: null, updated_at: new Date() }).where('id', '=', sourceId).execute()
        await settle(tx, targetId)
        await settle(tx, sourceId)
        // a currency the merge brought goes with the orders that brought it
        if (moved.filled.currency !== undefined) {
          await sql`UPDATE customers SET currency = NULL WHERE id = ${targetId} AND order_count = 0`.execute(tx)
        }
        const undone = await tx.updateTable('merges').set({ undone_at: new Date() }).where('id', '=', mergeId).returningAll().executeTakeFirstOrThrow()
        const merge = toMerge(undone as MergeRow)
        await createEventWriter(tx).emit({ type: 'customer.merge_undone', customerId: targetId, payload: { merge } })
        return merge
      })
      return { merge, target: await customers.get(merge.targetId), source: await customers.get(merge.sourceId) }
    },
  }
}
export type MergeService = ReturnType<typeof createMergeService>
