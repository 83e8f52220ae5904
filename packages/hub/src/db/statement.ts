import { sql, type RawBuilder } from 'kysely'

/**
 * One statement made of several writes: `WITH name AS (part), … final`. Each domain gives its
 * part (an insert or a guarded update of its own table) and the flow names them, so a change
 * that spans domains is one round trip and one atomic statement, while no flow writes SQL that
 * knows another domain's tables. Parts left `undefined` are skipped.
 *
 * @example
 * ```ts
 * await composeStatement([['c', customers.insertSql(customer)], ['i', identities.insertSql(rows)]], events.insertSql(tx, created)).execute(tx)
 * ```
 */
export function composeStatement(parts: [name: string, part: RawBuilder<unknown> | undefined][], final: RawBuilder<unknown>): RawBuilder<unknown> {
  const present = parts.filter((p): p is [string, RawBuilder<unknown>] => p[1] !== undefined)
  if (present.length === 0) return final
  return sql`WITH ${sql.join(present.map(([name, part]) => sql`${sql.ref(name)} AS (${part})`))} ${final}`
}

/** `EXISTS (SELECT 1 FROM name)`: a condition on another part of the statement having written a row. */
export const wrote = (name: string): RawBuilder<unknown> => sql`EXISTS (SELECT 1 FROM ${sql.ref(name)})`

/** `(SELECT count(*) FROM name)::int`: how many rows a part of the statement wrote. */
export const countOf = (name: string): RawBuilder<number> => sql<number>`(SELECT count(*) FROM ${sql.ref(name)})::int`

/**
 * Rows as one parameter: `jsonb_to_recordset` typed by `columns` (`id text, created_at
 * timestamptz, …`). A statement of thousands of rows then costs one JSON parameter instead of
 * thousands of bound values — for bulk writes of values that came through the hub's checks (a
 * NUL or unpaired surrogate, refused at the door, would not pass through JSON).
 *
 * @example
 * ```ts
 * sql`INSERT INTO t (id, n) SELECT id, n FROM ${recordset([{ id: 'a', n: 1 }], 'id text, n integer')}`
 * ```
 */
export function recordset(rows: readonly object[], columns: string): RawBuilder<unknown> {
  return sql`jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS v (${sql.raw(columns)})`
}

/** Rows a statement writes from a bound list before {@link recordset} is the cheaper form. */
export const RECORDSET_FROM = 16
