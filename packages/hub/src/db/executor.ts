import { sql, type Kysely, type RawBuilder } from 'kysely'
import { FINAL } from './create-database.js'
import type { Database } from './database.js'

declare const inTransaction: unique symbol

/** Where a read runs: the database, or a transaction when the read belongs to a write. */
export type Executor = Kysely<Database>

/**
 * A transaction. Domain functions that write take one and never open their own, so that a
 * request — or a flow spanning several domains — commits all of its writes, its events and its
 * Idempotency-Key answer together, or none of them. Only the unit of work of a request
 * (`http/unit-of-work.ts`) and {@link withTransaction} make one.
 */
export type Tx = Executor & { readonly [inTransaction]: true }

/**
 * Runs `fn` in a transaction of its own: for work outside a request (start-up, the CLI, a
 * public route that must keep what it did before it failed, such as a sign-in attempt counted).
 *
 * @example
 * ```ts
 * await withTransaction(db, (tx) => tokens.create(tx, 'shop', 'platform'))
 * ```
 */
export async function withTransaction<T>(db: Executor, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return db.transaction().execute((tx) => fn(tx as unknown as Tx))
}

/**
 * Thrown by a flow that lost a race: another writer got between its read and its write (a
 * guarded update changed no row, or a unique index refused a row it decided to insert). The
 * unit of work rolls the transaction back and runs the request again from the start, which
 * then sees the winner's rows.
 */
export class RetryTransaction extends Error {
  constructor(reason: string) {
    super(`lost a race: ${reason}`)
    this.name = 'RetryTransaction'
  }
}

/**
 * Marks `statement` as the last write of the transaction it runs in (see `FINAL`): a request
 * without an Idempotency-Key whose one write it is then runs it as its own transaction, one round
 * trip. The caller returns right after it; nothing may run in the transaction after it.
 *
 * @example
 * ```ts
 * await finalStatement(composeStatement(parts, events.insertSql(tx, created))).execute(tx)
 * return customer
 * ```
 */
export function finalStatement<T>(statement: RawBuilder<T>): RawBuilder<T> {
  return sql<T>`${sql.raw(FINAL)}${statement}`
}
