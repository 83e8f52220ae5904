import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { sql } from 'kysely'
import type { ImportRow } from '@his-her/contract'
import { createTestHub, testDatabaseUrl, type TestHub } from './helpers/test-hub.js'
import { runImport, startImport, type ImportProgress } from '../src/imports/run-import.js'

// PostgreSQL: the rows of a file are resolved while the file is still read into the staging
// table. Here the reading is held at its second part (a chunk of it is held by another
// transaction), so the first part's rows are imported while the file is not staged whole; the
// import is stopped then, and run again it reads the file again and counts every row once.

describe('an import resolving rows while its file is read', () => {
  let hub: TestHub
  let holder: pg.Client
  let dir: string

  beforeAll(async () => {
    hub = await createTestHub()
    holder = new pg.Client({ connectionString: testDatabaseUrl })
    await holder.connect()
    await holder.query(`SET search_path = "${hub.database.schema}", public`)
    dir = mkdtempSync(join(tmpdir(), 'hub-import-staging-'))
  })
  afterAll(async () => {
    await holder?.end()
    await hub?.close()
  })

  it('imports the rows staged so far; stopped then, it resumes and counts each row once', async () => {
    const component = 'identity.staging-shop'
    // 12,000 lines: read in parts of 5,000 rows (lines 1-5,000, 5,001-10,000, the rest); every 1,000th line is not JSON
    const lines = Array.from({ length: 12_000 }, (_, i) => (i % 1000 === 499 ? '{"externalId": ' : JSON.stringify({ externalId: `st${i}`, email: `staging.${i}@example.com` } satisfies ImportRow)))
    const path = join(dir, 'staging.jsonl')
    writeFileSync(path, `${lines.join('\n')}\n`)
    const seen: ImportProgress[] = []
    let firstPartDone!: () => void
    const firstPart = new Promise<void>((resolve) => (firstPartDone = resolve))
    const options = {
      db: hub.database.db, services: hub.app.services, settings: hub.config.customer, identity: hub.config.identity, path, component, batchSize: 1000, workers: 2,
      onProgress: (p: ImportProgress) => {
        seen.push(p)
        // the 4,995 valid rows of lines 1-5,000
        if (p.phase === 'importing' && p.done === 4995) firstPartDone()
      },
    }
    const started = await startImport(options)
    const id = started.summary.id

    // the second part's first chunk is held: the reading waits there until this transaction ends
    await holder.query('BEGIN')
    await holder.query(`INSERT INTO import_chunks (import_id, first_line, rows, row_count) VALUES ($1, 5001, '[]', 0)`, [id])

    const stop = new AbortController()
    const stopped = started.run(stop.signal)
    stopped.catch(() => {})
    try {
      await Promise.race([firstPart, stopped.then(() => Promise.reject(new Error('the import ended while its reading was held')))])
    } catch (err) {
      await holder.query('ROLLBACK')
      throw err
    }
    expect(seen.filter((p) => p.phase === 'importing').every((p) => p.total === null)).toBe(true)
    const halfway = await hub.app.services.imports.get(hub.database.db, id)
    expect(halfway).toMatchObject({ status: 'staging', totalRows: null, processedRows: 4995, created: 4995, rejected: 0 })

    // stopped while the reading is held: it stops before its next part
    stop.abort()
    await holder.query('ROLLBACK')
    await expect(stopped).rejects.toThrow(/stopped between two batches/)
    expect(await hub.app.services.imports.get(hub.database.db, id)).toMatchObject({ status: 'staging', totalRows: null, processedRows: 4995 })

    // run again: the file is read again from its start, the chunks done stay done
    const resumed = await runImport(options)
    expect(resumed).toMatchObject({ id, status: 'done', alreadyDone: false, totalRows: 12_000, processedRows: 12_000, created: 11_988, rejected: 12 })
    const { rows } = await sql<{ n: number; people: number }>`
      SELECT count(*)::int AS n, count(DISTINCT customer_id)::int AS people FROM identities WHERE kind = 'platform' AND namespace = ${component}`.execute(hub.database.db)
    expect(rows[0]).toEqual({ n: 11_988, people: 11_988 })
    const rejected = await hub.app.services.imports.rejections(hub.database.db, id, 0, 100)
    expect(rejected.data.map((r) => r.line)).toEqual(Array.from({ length: 12 }, (_, k) => k * 1000 + 500))
  })
})
