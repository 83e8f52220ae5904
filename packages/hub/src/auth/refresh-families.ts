import { sql, type RawBuilder } from 'kysely'
import type { Executor, Tx } from '../db/executor.js'

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
 * caller to add `RETURNING` or run as part of a larger statement. The family starts pending
 * ({@link PENDING_SECONDS}): the sign-in confirms it once it has handed its tokens out.
 *
 * @example
 * ```ts
 * await sql`WITH f AS (${startFamilySql(familyId, 'customer', customerId)} RETURNING id) INSERT INTO refresh_tokens … SELECT … FROM f`.execute(tx)
 * ```
 */
export function startFamilySql(id: string, subjectKind: 'customer' | 'service' | 'staff', subjectId: string): RawBuilder<unknown> {
  return sql`INSERT INTO refresh_families (id, subject_kind, subject_id, pending_until) VALUES (${id}, ${subjectKind}, ${subjectId}, now() + make_interval(secs => ${PENDING_SECONDS}))`
}

/**
 * How long a family stays usable before the sign-in that stored it confirms it
 * ({@link confirmFamilySql}): the confirmation is made right after the sign-in's answer, so it
 * normally lands within milliseconds; a family its sign-in never confirmed (a wrong password
 * whose delete was lost, a process that died) is refused once this is over.
 */
export const PENDING_SECONDS = 60

/**
 * The statement confirming family `id`, whose sign-in answered with its tokens: from then on it
 * lives as long as its tokens (see `pending_until`, migration 0037). A part of the statement that
 * gives the sign-in's attempt back.
 */
export function confirmFamilySql(id: string): RawBuilder<unknown> {
  return sql`UPDATE refresh_families SET pending_until = NULL WHERE id = ${id} AND pending_until IS NOT NULL`
}

/**
 * Deletes the family `id` and its tokens, in one statement: a sign-in stores its session while the
 * password is verified and calls this when the password turns out wrong (or the storing failed).
 * The token of such a family was never handed out — only its SHA-256 was ever stored, and the
 * token itself is dropped with the attempt — so nothing can present it, and the family, never
 * confirmed, is refused once {@link PENDING_SECONDS} are over; this takes the rows away so that no
 * failed attempt leaves a session behind.
 *
 * @example
 * ```ts
 * await discardFamily(db, familyId)
 * ```
 */
export async function discardFamily(db: Executor, id: string): Promise<void> {
  await sql`WITH t AS (DELETE FROM refresh_tokens WHERE family_id = ${id}) DELETE FROM refresh_families WHERE id = ${id}`.execute(db)
}

/**
 * Deletes the families whose sign-in never confirmed them in time, with their tokens — refused
 * already ({@link lockFamily} answers them `lapsed`), so this only takes the rows away: a failed
 * sign-in whose delete was lost, or one whose process died before its answer. Run by the hub's
 * hourly sweep; answers how many it deleted.
 *
 * @example
 * ```ts
 * const deleted = await sweepLapsedFamilies(db)
 * ```
 */
export async function sweepLapsedFamilies(db: Executor): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    WITH f AS (SELECT id FROM refresh_families WHERE pending_until IS NOT NULL AND pending_until <= now()),
         t AS (DELETE FROM refresh_tokens WHERE family_id IN (SELECT id FROM f)),
         d AS (DELETE FROM refresh_families WHERE id IN (SELECT id FROM f) RETURNING 1)
    SELECT count(*)::int AS n FROM d`.execute(db)
  return rows[0]?.n ?? 0
}

/**
 * Locks the family of the refresh token with SHA-256 `tokenHash` (`SELECT … FOR UPDATE`) and
 * answers it, or undefined for an unknown token; `lapsed` when it is a pending family its sign-in
 * never confirmed in time ({@link PENDING_SECONDS}). A refresh takes this lock before it uses its
 * token and holds it until its successor is committed; {@link revokeFamilies} updates the same
 * row, so it waits for a refresh in flight, and a refresh waiting on a revocation sees it.
 */
export async function lockFamily(tx: Tx, tokenHash: string) {
  return tx.selectFrom('refresh_families').select(['id', 'subject_kind', 'subject_id', 'revoked_at', 'pending_until', sql<boolean>`pending_until <= now()`.as('lapsed')])
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
