import { sql, type RawBuilder } from 'kysely'
import type { Tx } from '../db/executor.js'

/**
 * Which refresh-token families to revoke: the one a token belongs to (by the token's SHA-256),
 * one by id, or every live family of some accounts.
 */
export type Families =
  | { tokenHash: string }
  | { familyId: string }
  | { subjectKind: 'customer' | 'service' | 'staff'; subjectIds: string[] }

/**
 * The statement starting the family of a new sign-in (its refresh tokens reference it), for the
 * caller to add `RETURNING` or run as part of a larger statement.
 *
 * @example
 * ```ts
 * await sql`WITH f AS (${startFamilySql(familyId, 'customer', customerId)} RETURNING id) INSERT INTO refresh_tokens … SELECT … FROM f`.execute(tx)
 * ```
 */
export function startFamilySql(id: string, subjectKind: 'customer' | 'service' | 'staff', subjectId: string): RawBuilder<unknown> {
  return sql`INSERT INTO refresh_families (id, subject_kind, subject_id) VALUES (${id}, ${subjectKind}, ${subjectId})`
}

/**
 * Locks the family of the refresh token with SHA-256 `tokenHash` (`SELECT … FOR UPDATE`) and
 * answers it, or undefined for an unknown token. A refresh takes this lock before it uses its
 * token and holds it until its successor is committed; {@link revokeFamilies} updates the same
 * row, so it waits for a refresh in flight, and a refresh waiting on a revocation sees it.
 */
export async function lockFamily(tx: Tx, tokenHash: string) {
  return tx.selectFrom('refresh_families').select(['id', 'subject_kind', 'subject_id', 'revoked_at'])
    .where('id', '=', (eb) => eb.selectFrom('refresh_tokens').select('family_id').where('token_hash', '=', tokenHash))
    .forUpdate()
    .executeTakeFirst()
}

/**
 * Revokes live families and every token in them (logout, reuse detection, a password reset, a
 * suspension). Race-safe against refreshes: the family rows' UPDATE waits for a refresh that holds
 * one ({@link lockFamily}), and the tokens are revoked by a second statement, whose snapshot
 * includes the successor that refresh committed (one statement would not see it).
 *
 * @example
 * ```ts
 * await revokeFamilies(tx, { tokenHash: sha256(refreshToken) })
 * ```
 */
export async function revokeFamilies(tx: Tx, which: Families): Promise<void> {
  let update = tx.updateTable('refresh_families').set({ revoked_at: sql<Date>`now()` }).where('revoked_at', 'is', null)
  if ('tokenHash' in which) update = update.where('id', '=', (eb) => eb.selectFrom('refresh_tokens').select('family_id').where('token_hash', '=', which.tokenHash))
  else if ('familyId' in which) update = update.where('id', '=', which.familyId)
  else if (which.subjectIds.length === 0) return
  else update = update.where('subject_kind', '=', which.subjectKind).where('subject_id', 'in', which.subjectIds)
  const revoked = await update.returning('id').execute()
  if (revoked.length === 0) return
  await tx.updateTable('refresh_tokens').set({ revoked_at: sql<Date>`now()` })
    .where('family_id', 'in', revoked.map((f) => f.id)).where('revoked_at', 'is', null).execute()
}

/**
 * True when family `familyId` began at or before its account's `sessions_valid_after` (a
 * customer's password reset, a service account's suspension, a staff user's new password): its refresh tokens are refused.
 * This also catches a family that a sign-in in flight stored after the revocation looked.
 */
export async function familyBeforeCutoff(tx: Tx, familyId: string): Promise<boolean> {
  const { rows } = await sql<{ stale: boolean }>`
    SELECT EXISTS (
      SELECT 1 FROM refresh_families f
      LEFT JOIN customer_session_cutoffs c ON f.subject_kind = 'customer' AND c.customer_id = f.subject_id
      LEFT JOIN service_accounts s ON f.subject_kind = 'service' AND s.id = f.subject_id
      LEFT JOIN staff_users u ON f.subject_kind = 'staff' AND u.id = f.subject_id
      WHERE f.id = ${familyId} AND f.created_at <= coalesce(c.sessions_valid_after, s.sessions_valid_after, u.sessions_valid_after)
    ) AS stale`.execute(tx)
  return rows[0]!.stale
}

/**
 * Logs a customer out everywhere: sets its `sessions_valid_after` to the transaction's start
 * (`now()`) and revokes its live families. A refresh token of a family begun before then is
 * refused even when the revocation did not see the family (a sign-in committed after it looked).
 *
 * @example
 * ```ts
 * await endCustomerSessions(tx, customerId) // in the password reset's transaction
 * ```
 */
export async function endCustomerSessions(tx: Tx, customerId: string): Promise<void> {
  await tx.insertInto('customer_session_cutoffs').values({ customer_id: customerId, sessions_valid_after: sql<Date>`now()` })
    .onConflict((oc) => oc.column('customer_id').doUpdateSet({ sessions_valid_after: sql<Date>`now()` }))
    .execute()
  await revokeFamilies(tx, { subjectKind: 'customer', subjectIds: [customerId] })
}
