import { sql, type RawBuilder } from 'kysely'
import type { CustomerListQuery, CustomerPage, CustomerSortField } from '@his-her/contract'
import type { Executor } from '../db/executor.js'
import { HubError } from '../errors.js'
import { customerColumns, toCustomer, type CustomerRecord } from './customer-mapper.js'
import { searchCondition, type SearchStatistics } from './search-pattern.js'

// Each sort key matches an index over live customers whose keys go on with id (0001_customers.sql;
// createdAt's, 0033, then carries the totals, so that their filters are checked in the index), so
// a page is an index range scan whatever its depth. The cast types the cursor value back.
const sortKeys: Record<CustomerSortField, { expr: RawBuilder<unknown>; cast: RawBuilder<unknown> }> = {
  createdAt: { expr: sql`c.created_at`, cast: sql`timestamptz` },
  totalSpent: { expr: sql`c.total_spent`, cast: sql`bigint` },
  orderCount: { expr: sql`c.order_count`, cast: sql`integer` },
  lastName: { expr: sql`(lower(coalesce(c.last_name, '')) COLLATE "C")`, cast: sql`text` },
}

interface Cursor {
  s: string // the sort it belongs to, e.g. totalSpent:desc
  v: string // the sort value of the last row, as PostgreSQL text
  id: string
}

function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url')
}

function decodeCursor(raw: string, sort: string): Cursor {
  try {
    const c = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Cursor
    if (c && c.s === sort && typeof c.v === 'string' && typeof c.id === 'string') return c
  } catch {
    // fall through
  }
  throw new HubError('INVALID_CURSOR')
}

/** Decimal lengths a bigint total can have: the bands of `customers_spent_band_idx`. */
const SPENT_BANDS = 19

/**
 * `minSpent` in creation order: the ids of the first `take` customers matching `where`, read
 * band by band of `customers_spent_band_idx` (totals of one decimal length, in creation order)
 * from minSpent's own band up — each band at most `take` entries — and merged. The bands below
 * minSpent's cannot match; in its own band the filter skips the smaller totals. Reading the
 * default order's index instead means reading it up to the first match, which for the biggest
 * spenders (often the oldest customers) is most of it.
 */
function spentBands(where: RawBuilder<unknown>[], minSpent: number, order: RawBuilder<unknown>, take: number): RawBuilder<unknown> {
  const bands = Array.from({ length: SPENT_BANDS - String(minSpent).length + 1 }, (_, k) => String(minSpent).length + k)
  const band = (n: number) => sql`(
    SELECT c.id, c.created_at FROM customers c
    WHERE length(c.total_spent::text) = ${sql.lit(n)} AND ${sql.join(where, sql` AND `)}
    ORDER BY c.created_at ${order}, c.id ${order} LIMIT ${take})`
  return sql`SELECT b.id FROM (${sql.join(bands.map(band), sql` UNION ALL `)}) b ORDER BY b.created_at ${order}, b.id ${order} LIMIT ${take}`
}

/**
 * One page of live customers matching every given filter, in a stable order: the sort field,
 * then id in the same direction, so equal values never repeat or drop across pages.
 * `holders` narrows the list to the ids a sub-select gives: the `email` filter, read from the
 * identity domain's unique index. `search` knows the trigrams common among the customers, which
 * `q=` keeps from the index ({@link searchCondition}).
 */
export async function listCustomers(db: Executor, query: Omit<CustomerListQuery, 'email'>, holders?: RawBuilder<unknown>, search?: SearchStatistics): Promise<CustomerPage> {
  const sort = query.sort ?? 'createdAt:desc'
  const [field, dir] = sort.split(':') as [CustomerSortField, 'asc' | 'desc']
  const key = sortKeys[field]
  const limit = query.limit ?? 50
  const where: RawBuilder<unknown>[] = [sql`c.deleted_at IS NULL`]

  const groups = query.group === undefined ? [] : Array.isArray(query.group) ? query.group : [query.group]
  if (groups.length > 0) where.push(sql`c.groups @> ${groups}::text[]`)
  if (query.minOrders !== undefined) where.push(sql`c.order_count >= ${query.minOrders}`)
  if (query.maxOrders !== undefined) where.push(sql`c.order_count <= ${query.maxOrders}`)
  if (query.minSpent !== undefined) where.push(sql`c.total_spent >= ${query.minSpent}`)
  if (query.q !== undefined) where.push(searchCondition(query.q.trim().toLowerCase(), search ? await search.common(db) : new Map()))
  if (holders !== undefined) where.push(sql`c.id IN (${holders})`)
  if (query.hasAccount !== undefined) where.push(sql`c.has_account = ${query.hasAccount}`)
  if (query.createdAfter !== undefined) where.push(sql`c.created_at > ${query.createdAfter}::timestamptz`)
  if (query.createdBefore !== undefined) where.push(sql`c.created_at < ${query.createdBefore}::timestamptz`)
  if (query.cursor !== undefined) {
    const c = decodeCursor(query.cursor, sort)
    const op = dir === 'asc' ? sql`>` : sql`<`
    where.push(sql`(${key.expr}, c.id) ${op} (${c.v}::${key.cast}, ${c.id})`)
  }
  const order = dir === 'asc' ? sql`ASC` : sql`DESC`

  let rows: (CustomerRecord & { sort_value: string })[]
  try {
    ;({ rows } = await sql<CustomerRecord & { sort_value: string }>`
      SELECT ${customerColumns}, (${key.expr})::text AS sort_value
      FROM customers c
      WHERE ${query.minSpent !== undefined && field === 'createdAt' ? sql`c.id IN (${spentBands(where, query.minSpent, order, limit + 1)})` : sql.join(where, sql` AND `)}
      ORDER BY ${key.expr} ${order}, c.id ${order}
      LIMIT ${limit + 1}`.execute(db))
  } catch (err) {
    // a cursor whose value does not cast to the sort's type
    if (query.cursor !== undefined && typeof (err as { code?: string }).code === 'string' && (err as { code: string }).code.startsWith('22')) {
      throw new HubError('INVALID_CURSOR')
    }
    throw err
  }
  const page = rows.slice(0, limit)
  const last = page.at(-1)
  return {
    data: page.map(toCustomer),
    nextCursor: rows.length > limit && last ? encodeCursor({ s: sort, v: last.sort_value, id: last.id }) : null,
  }
}
