import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'kysely'
import { createTestDatabase, type TestDatabase } from '../../test/helpers/test-hub.js'
import { DEFERRED, DEFERRED_RESULT } from './create-database.js'
import { finalStatement } from './executor.js'

let database: TestDatabase
beforeAll(async () => {
  database = await createTestDatabase({ migrate: false })
})
afterAll(async () => database?.close())

const awkward = {
  text: `it's a \\ back'slash'' "quoted" $1 $$ ; DROP TABLE x; --`,
  list: ['a', "b'c", 'd\\e', 'f,g', '{h}'],
  when: new Date('2026-12-02T10:20:30.456Z'),
  json: JSON.stringify({ a: "it's", b: [1, 2], c: null }),
  number: 12345678901,
  flag: true,
}

/** The statement whose parameters are written in as literals when it travels with a held text. */
const roundTrip = () => sql<{ text: string; list: string[]; when: Date; json: { a: string }; number: string; flag: boolean; nothing: string | null }>`
  SELECT ${awkward.text}::text AS text, ${awkward.list}::text[] AS list, ${awkward.when}::timestamptz AS "when",
         ${awkward.json}::jsonb AS json, ${awkward.number}::bigint::text AS number, ${awkward.flag}::boolean AS flag, ${null}::text AS nothing`

describe('a held (deferred) text', () => {
  it('travels with the next statement, which answers exactly what it answers sent alone', async () => {
    const alone = (await roundTrip().execute(database.db)).rows[0]
    const together = await database.db.connection().execute(async (conn) => {
      await sql.raw(`${DEFERRED}BEGIN; SELECT 'held' AS marker`).execute(conn)
      const rows = (await roundTrip().execute(conn)).rows[0]
      const held = await sql.raw<{ marker: string }>(DEFERRED_RESULT).execute(conn)
      await sql.raw('COMMIT').execute(conn)
      return { rows, held: held.rows }
    })
    expect(alone).toMatchObject({ text: awkward.text, list: awkward.list, json: { a: "it's" }, number: '12345678901', flag: true, nothing: null })
    expect(alone!.when.toISOString()).toBe(awkward.when.toISOString())
    expect(together.rows).toEqual(alone)
    expect(together.held).toEqual([{ marker: 'held' }])
  })

  it('is sent alone when its result is asked for before any statement, and dropped by a ROLLBACK', async () => {
    await database.db.connection().execute(async (conn) => {
      await sql.raw(`${DEFERRED}SELECT 41 + 1 AS answer`).execute(conn)
      expect((await sql.raw<{ answer: number }>(DEFERRED_RESULT).execute(conn)).rows).toEqual([{ answer: 42 }])
      await sql.raw(`${DEFERRED}CREATE TABLE never_made (id int)`).execute(conn)
      await sql.raw('ROLLBACK').execute(conn)
    })
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'never_made'`.execute(database.db)
    expect(rows[0]!.n).toBe(0)
  })
})

describe('a SELECT after a held BEGIN', () => {
  it('goes in the transaction when it takes a lock: an advisory lock is held until the COMMIT', async () => {
    const advisoryLocks = (conn: typeof database.db) =>
      sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND pid = pg_backend_pid()`.execute(conn)
    await database.db.connection().execute(async (conn) => {
      await sql.raw(`${DEFERRED}BEGIN`).execute(conn)
      await sql`SELECT pg_advisory_xact_lock(${4242})`.execute(conn)
      expect((await advisoryLocks(conn)).rows).toEqual([{ n: 1 }])
      await sql.raw('COMMIT').execute(conn)
      expect((await advisoryLocks(conn)).rows).toEqual([{ n: 0 }])
    })
  })
})

describe('a final statement', () => {
  it('runs as its own transaction when nothing was written before it, and the COMMIT after it ends nothing', async () => {
    await sql`CREATE TABLE IF NOT EXISTS finals (id int PRIMARY KEY)`.execute(database.db)
    await database.db.connection().execute(async (conn) => {
      await sql.raw(`${DEFERRED}BEGIN`).execute(conn)
      // a plain read goes ahead of the held BEGIN; the final write then commits by itself
      expect((await sql<{ n: number }>`SELECT count(*)::int AS n FROM finals`.execute(conn)).rows).toEqual([{ n: 0 }])
      await finalStatement(sql`INSERT INTO finals VALUES (${1})`).execute(conn)
      await expect(sql`SELECT 1`.execute(conn)).rejects.toThrow(/after the final statement/)
      await sql.raw('COMMIT').execute(conn)
    })
    expect((await sql<{ n: number }>`SELECT count(*)::int AS n FROM finals`.execute(database.db)).rows).toEqual([{ n: 1 }])
  })

  it('is an ordinary statement of the transaction when something was written before it', async () => {
    await database.db.connection().execute(async (conn) => {
      await sql.raw(`${DEFERRED}BEGIN`).execute(conn)
      await sql`INSERT INTO finals VALUES (${2})`.execute(conn)
      await finalStatement(sql`INSERT INTO finals VALUES (${3})`).execute(conn)
      await sql.raw('ROLLBACK').execute(conn)
    })
    expect((await sql<{ id: number }>`SELECT id FROM finals ORDER BY id`.execute(database.db)).rows).toEqual([{ id: 1 }])
  })
})
