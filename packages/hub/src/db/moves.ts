import { sql } from 'kysely'
import type { Tx } from './executor.js'

/** Tables whose rows belong to one customer by their `customer_id`. */
export type CustomerOwned = 'identities' | 'addresses' | 'orders' | 'reward_accounts'

/**
 * Moves every row of `table` owned by `fromId` to `toId` (a merge) and returns their ids.
 * Each domain calls it for its own table.
 */
export async function moveAllRows(tx: Tx, table: CustomerOwned, fromId: string, toId: string): Promise<string[]> {
  const { rows } = await sql<{ id: string }>`UPDATE ${sql.table(table)} SET customer_id = ${toId} WHERE customer_id = ${fromId} RETURNING id`.execute(tx)
  return rows.map((r) => r.id)
}

/** Moves exactly these rows back from `fromId` to `toId` (an undo); false when one of them is no longer on `fromId`. */
export async function moveRowsBack(tx: Tx, table: CustomerOwned, ids: string[], fromId: string, toId: string): Promise<boolean> {
  if (ids.length === 0) return true
  const res = await sql`UPDATE ${sql.table(table)} SET customer_id = ${toId} WHERE id = ANY (${ids}::text[]) AND customer_id = ${fromId}`.execute(tx)
  return Number(res.numAffectedRows ?? 0) === ids.length
}
