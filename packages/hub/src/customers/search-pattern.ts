import { sql } from 'kysely'
import type { Executor } from '../db/executor.js'

/**
 * `q=` is a substring search over the trigram index of `customers.search`. Its cost is the
 * posting lists of the fragment's trigrams: a trigram nearly every customer has (the `gma`
 * and `ail` of gmail.com, a first name's start that half the customers share) makes the
 * index read a list as long as the table while it filters almost nothing. So the index is
 * given the longest part of the fragment made only of trigrams that are not common, and the
 * whole fragment is checked on the rows that part finds ({@link searchCondition}).
 *
 * Which trigrams are common is read off a sample of the customers (5,000 rows, taken again
 * every 10 minutes in the background): {@link createSearchStatistics}.
 */

/** A trigram found in more than this share of the sampled customers counts as common. */
export const COMMON_SHARE = 0.25
const SAMPLE_ROWS = 5_000
const SAMPLE_TTL_MS = 10 * 60_000
/** Longer fragments are given to the index whole (their parts are too many to weigh; such a fragment is rare anyway). */
const MAX_WEIGHED = 64

const wordChar = /[\p{L}\p{N}]/u

/**
 * The trigrams PostgreSQL's pg_trgm reads from `LIKE '%part%'` (lower-case `part`): each run of
 * letters and digits gives its three-character windows, padded as pg_trgm pads a word — two
 * spaces before it when a non-word character precedes it inside the part, one after it when
 * one follows it (the part's own ends border the `%` wildcards: no padding there).
 */
export function likeTrigrams(part: string): string[] {
  const chars = [...part]
  const out = new Set<string>()
  for (let i = 0; i < chars.length; ) {
    if (!wordChar.test(chars[i]!)) {
      i++
      continue
    }
    let j = i
    while (j < chars.length && wordChar.test(chars[j]!)) j++
    const padded = [...(i > 0 ? [' ', ' '] : []), ...chars.slice(i, j), ...(j < chars.length ? [' '] : [])]
    for (let k = 0; k + 3 <= padded.length; k++) out.add(padded.slice(k, k + 3).join(''))
    i = j
  }
  return [...out]
}

/**
 * The part of `fragment` (trimmed, lower-case) to give the trigram index: the longest substring
 * whose trigrams are all uncommon (the first such, of equal lengths), or the fragment itself
 * when it has none, when it is made of common trigrams only, or when it is long.
 */
export function indexPart(fragment: string, common: ReadonlyMap<string, number>): string {
  const chars = [...fragment]
  if (common.size === 0 || chars.length > MAX_WEIGHED) return fragment
  const uncommon = (part: string) => {
    const trigrams = likeTrigrams(part)
    return trigrams.length > 0 && trigrams.every((t) => !common.has(t))
  }
  if (uncommon(fragment)) return fragment
  for (let length = chars.length - 1; length >= 3; length--) {
    for (let start = 0; start + length <= chars.length; start++) {
      const part = chars.slice(start, start + length).join('')
      if (uncommon(part)) return part
    }
  }
  return fragment
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (ch) => `\\${ch}`)

/** The `WHERE` condition of `q=`: the index's part as a `LIKE`, and the whole fragment checked on what it finds. */
export function searchCondition(fragment: string, common: ReadonlyMap<string, number>) {
  const part = indexPart(fragment, common)
  const like = sql`c.search LIKE ${`%${escapeLike(part)}%`}`
  // strpos is the same test as LIKE '%fragment%' that the trigram index cannot serve: the planner keeps to the part
  return part === fragment ? like : sql`${like} AND strpos(c.search, ${fragment}) > 0`
}

/**
 * The common trigrams of `customers.search` for one hub: sampled on first use, then again in
 * the background when the sample is older than 10 minutes. A failed sample (the database
 * unreachable) leaves the last one, or none: the search then gives the index the whole fragment.
 */
export function createSearchStatistics() {
  let current: { at: number; common: Map<string, number> } | undefined
  let pending: Promise<void> | undefined

  async function sample(db: Executor): Promise<Map<string, number>> {
    // about SAMPLE_ROWS rows' worth of the table's pages (all of a small table)
    const { rows } = await sql<{ t: string; share: number }>`
      WITH s AS (
        SELECT search FROM customers
        TABLESAMPLE SYSTEM (least(100, ${SAMPLE_ROWS * 100} / greatest((SELECT reltuples FROM pg_class WHERE oid = 'customers'::regclass), 1)))
        WHERE deleted_at IS NULL LIMIT ${SAMPLE_ROWS}
      )
      SELECT t, count(*)::float8 / (SELECT count(*) FROM s) AS share
      FROM s, unnest(public.show_trgm(s.search)) AS t
      GROUP BY t HAVING count(*) > ${COMMON_SHARE}::float8 * (SELECT count(*) FROM s)`.execute(db)
    return new Map(rows.map((r) => [r.t, r.share]))
  }

  const refresh = (db: Executor) =>
    (pending ??= sample(db)
      .then((common) => {
        current = { at: Date.now(), common }
      })
      .catch(() => {})
      .finally(() => {
        pending = undefined
      }))

  return {
    /** The common trigrams and their shares (of the last sample). */
    async common(db: Executor): Promise<ReadonlyMap<string, number>> {
      if (!current) await refresh(db)
      else if (Date.now() - current.at > SAMPLE_TTL_MS) void refresh(db)
      return current?.common ?? new Map()
    },
  }
}
export type SearchStatistics = ReturnType<typeof createSearchStatistics>
