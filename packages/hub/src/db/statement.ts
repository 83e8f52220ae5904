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

/** How a column of {@link recordset} is read from its place `i` in a row's array `x`. */
function columnRead(i: number, type: string): string {
  if (type === 'text') return `x->>${i}`
  // a JSON null is SQL NULL, as jsonb_to_recordset reads it
  if (type === 'jsonb') return `nullif(x->${i}, 'null'::jsonb)`
  if (type === 'text[]') return `CASE WHEN jsonb_typeof(x->${i}) = 'array' THEN ARRAY(SELECT jsonb_array_elements_text(x->${i})) END`
  return `(x->>${i})::${type}`
}

const readers = new Map<string, { names: string[]; select: string }>()

/** The column names of a {@link recordset} and the select list that reads them (made once for each list of columns). */
function readerOf(columns: string): { names: string[]; select: string } {
  let reader = readers.get(columns)
  if (!reader) {
    const parsed = columns.split(',').map((c) => {
      const [name, ...type] = c.trim().split(/\s+/)
      if (!name || !/^[a-z_][a-z0-9_]*$/.test(name) || type.length === 0) throw new Error(`recordset: bad column "${c.trim()}"`)
      return { name, type: type.join(' ') }
    })
    reader = { names: parsed.map((c) => c.name), select: parsed.map((c, i) => `${columnRead(i, c.type)} AS "${c.name}"`).join(', ') }
    readers.set(columns, reader)
  }
  return reader
}

/**
 * Rows as one parameter, read as the relation `v` with `columns` (`id text, created_at
 * timestamptz, …`). A statement of thousands of rows then costs one JSON parameter instead of
 * thousands of bound values — for bulk writes of values that came through the hub's checks (a
 * NUL or unpaired surrogate, refused at the door, would not pass through JSON).
 *
 * Each row is sent as an array of its values in the columns' order, not as an object: the
 * names are not repeated on every row, which makes the parameter ≈ 40% smaller and the
 * statement, from making the text to reading it in the database, about twice as fast as
 * `jsonb_to_recordset` over objects. Values are read as `jsonb_to_recordset` reads them (a
 * missing or null value is NULL, `text[]` from a JSON array, `jsonb` as it is).
 *
 * @example
 * ```ts
 * sql`INSERT INTO t (id, n) SELECT id, n FROM ${recordset([{ id: 'a', n: 1 }], 'id text, n integer')}`
 * ```
 */
export function recordset(rows: readonly object[], columns: string): RawBuilder<unknown> {
  const { names, select } = readerOf(columns)
  const values = rows.map((row) => names.map((name) => (row as Record<string, unknown>)[name]))
  return sql`(SELECT ${sql.raw(select)} FROM jsonb_array_elements(${JSON.stringify(values)}::jsonb) AS x) AS v`
}

/** Rows a statement writes from a bound list before {@link recordset} is the cheaper form. */
export const RECORDSET_FROM = 16
