import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'kysely'
import { createTestDatabase, type TestDatabase } from './helpers/test-hub.js'
import { collectMigrations, migrate } from '../src/db/migrate.js'
import { withTransaction } from '../src/db/executor.js'
import { createImportService } from '../src/imports/import-service.js'

// An import staged one row per line (before migration 0034) and not finished when the hub is
// upgraded: its pending rows become chunks, and the import goes on from them.
describe('an unfinished import across the upgrade to chunks', () => {
  let database: TestDatabase
  beforeAll(async () => {
    database = await createTestDatabase({ migrate: false })
  })
  afterAll(async () => {
    await database?.close()
  })

  it('keeps its pending rows (as chunks of 1,000 lines), its refused rows and its done rows', async () => {
    const { db } = database
    await migrate(db, collectMigrations().filter((m) => m.order < 34))
    await sql`
      INSERT INTO imports (id, component, format, source, content_hash, status, total_rows, processed_rows, rejected, created_at, updated_at)
      VALUES ('imp_UPGRADE', 'identity.shop', 'jsonl', 'shop.jsonl', 'hash', 'running', 1003, 2, 1, now(), now())`.execute(db)
    const pending = [3, 4, 1000, 1001, 1003].map((line) => ({ line, row: { externalId: `x${line}`, email: `p${line}@example.com` } }))
    await sql`
      INSERT INTO import_rows (import_id, line, data, status, reason) VALUES
        ('imp_UPGRADE', 1, NULL, 'done', NULL),
        ('imp_UPGRADE', 2, NULL, 'rejected', 'INVALID_JSON: the line is not JSON'),
        ${sql.join(pending.map((p) => sql`('imp_UPGRADE', ${p.line}, ${JSON.stringify(p.row)}::jsonb, 'pending', NULL)`))}`.execute(db)

    // the upgrade: 0034 (and whatever migrations came after it)
    expect((await migrate(db))[0]).toBe('imports/0034_import_chunks.sql')

    const chunks = await sql<{ first_line: number; row_count: number }>`SELECT first_line, row_count FROM import_chunks ORDER BY first_line`.execute(db)
    expect(chunks.rows).toEqual([{ first_line: 1, row_count: 3 }, { first_line: 1001, row_count: 2 }])
    const left = await sql<{ line: number; status: string }>`SELECT line, status FROM import_rows ORDER BY line`.execute(db)
    expect(left.rows).toEqual([{ line: 1, status: 'done' }, { line: 2, status: 'rejected' }])

    // the import takes them chunk after chunk, in line order, as it takes chunks it staged itself
    const imports = createImportService()
    const taken = await withTransaction(db, async (tx) => {
      const first = await imports.pending(tx, 'imp_UPGRADE')
      await sql`UPDATE import_chunks SET done = true WHERE import_id = 'imp_UPGRADE' AND first_line = ${first!.firstLine}`.execute(tx)
      const second = await imports.pending(tx, 'imp_UPGRADE')
      return [first, second]
    })
    expect(taken).toEqual([
      { firstLine: 1, rows: pending.slice(0, 3) },
      { firstLine: 1001, rows: pending.slice(3) },
    ])
  })
})
