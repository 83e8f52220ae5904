import { sql, type Kysely } from 'kysely'

/** A digest of every table of a hub's database: table name → MD5 of its rows, in order. */
export type Digest = Record<string, string>

/**
 * What a refused request may leave behind by design, and is left out of a digest:
 * - `rate_limits`: counters of attempts (failed logins, reset tokens, coupon codes) count refusals;
 * - `api_tokens.last_used_at`: written after authentication, at most once a minute;
 * - rows of `idempotency_keys` that keep a 4xx answer: a retry with the key gets the same refusal.
 */
const leftOut = { tables: ['rate_limits'], columns: ['last_used_at'] }

/**
 * The digest of every table in the hub's schema (the current schema: a test schema on PostgreSQL,
 * `public` on PGlite): each row as JSON, sorted, hashed. Two equal digests mean equal data.
 *
 * @example
 * ```ts
 * const before = await databaseDigest(hub.database.db)
 * // … requests that must change nothing …
 * expect(changedTables(before, await databaseDigest(hub.database.db))).toEqual([])
 * ```
 */
export async function databaseDigest(db: Kysely<any>): Promise<Digest> {
  const { rows: tables } = await sql<{ name: string }>`
    SELECT table_name AS name FROM information_schema.tables
    WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`.execute(db)
  const names = tables.map((t) => t.name).filter((n) => !leftOut.tables.includes(n))
  const row = (name: string) => {
    const json = sql`(to_jsonb(t) ${sql.raw(leftOut.columns.map((c) => `- '${c}'`).join(' '))})::text`
    const where = name === 'idempotency_keys' ? sql`WHERE t.status_code IS NULL OR t.status_code NOT BETWEEN 400 AND 499` : sql``
    return sql`SELECT ${name}::text AS name, md5(coalesce(string_agg(${json}, E'\n' ORDER BY ${json}), '')) || ':' || count(*) AS digest FROM ${sql.table(name)} t ${where}`
  }
  const { rows } = await sql<{ name: string; digest: string }>`${sql.join(names.map(row), sql` UNION ALL `)}`.execute(db)
  return Object.fromEntries(rows.map((r) => [r.name, r.digest]))
}

/**
 * A mark that moves whenever a transaction that wrote anything ends (committed or not): the next
 * transaction id not yet completed, cluster-wide. An unchanged mark means unchanged data, so the
 * full digest can be skipped; a moved one means only that something may have changed.
 */
export async function writeMark(db: Kysely<any>): Promise<string> {
  const { rows } = await sql<{ mark: string }>`SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS mark`.execute(db)
  return rows[0]!.mark
}

/** The tables whose digest differs between `a` and `b`. */
export function changedTables(a: Digest, b: Digest): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((t) => a[t] !== b[t]).sort()
}
