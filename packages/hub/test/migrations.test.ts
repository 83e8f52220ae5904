import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'kysely'
import { collectMigrations, migrate } from '../src/db/migrate.js'
import { hubModules } from '../src/modules.js'
import type { Executor } from '../src/db/executor.js'
import { createTestDatabase, type TestDatabase } from './helpers/test-hub.js'

const legacyDir = fileURLToPath(new URL('./fixtures/legacy-migrations/', import.meta.url))

/** The schema as the catalogue describes it: every column, index and constraint of the hub's tables. */
async function describeSchema(db: Executor): Promise<string[]> {
  const columns = await sql<{ line: string }>`
    SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') || ' ' || coalesce(generation_expression, '') AS line
    FROM information_schema.columns WHERE table_schema = current_schema() AND table_name <> 'hub_migrations'`.execute(db)
  const indexes = await sql<{ line: string }>`
    SELECT tablename || ': ' || regexp_replace(indexdef, ' ON [a-z_0-9."]+\\.', ' ON ') AS line
    FROM pg_indexes WHERE schemaname = current_schema() AND tablename <> 'hub_migrations'`.execute(db)
  const constraints = await sql<{ line: string }>`
    SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) AS line
    FROM pg_constraint WHERE connamespace = current_schema()::regnamespace AND conrelid::regclass::text <> 'hub_migrations'`.execute(db)
  const seeded = await sql<{ line: string }>`SELECT 'ledger ' || id || ' ' || name AS line FROM ledgers`.execute(db)
  return [...columns.rows, ...indexes.rows, ...constraints.rows, ...seeded.rows].map((r) => r.line).sort()
}

describe('migrations', () => {
  let fresh: TestDatabase
  let upgraded: TestDatabase

  beforeAll(async () => {
    fresh = await createTestDatabase()
    // a database made by the hub before each module kept its own migrations
    upgraded = await createTestDatabase({ migrate: false })
    await sql`CREATE TABLE hub_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`.execute(upgraded.db)
    for (const file of readdirSync(legacyDir).sort()) {
      await sql.raw(readFileSync(join(legacyDir, file), 'utf8')).execute(upgraded.db)
      await sql`INSERT INTO hub_migrations (name) VALUES (${file})`.execute(upgraded.db)
    }
  })
  afterAll(async () => {
    await fresh?.close()
    await upgraded?.close()
  })

  it('are numbered in one sequence across the modules, each number once, each file in its module folder', () => {
    const all = collectMigrations()
    expect(all.length).toBeGreaterThanOrEqual(7)
    const orders = all.map((m) => m.order)
    expect(new Set(orders).size).toBe(orders.length)
    expect([...orders].sort((a, b) => a - b)).toEqual(orders)
    for (const m of all) {
      const module = hubModules.find((x) => m.name.startsWith(`${x.name}/`))!
      expect(m.path.startsWith(fileURLToPath(module.migrations!)), m.name).toBe(true)
    }
  })

  it('run in order on an empty database (each table after those it references), and a second run applies nothing', async () => {
    // beforeAll ran them on a fresh database: a foreign key to a table not made yet would have failed there
    expect(await migrate(fresh.db)).toEqual([])
  })

  it('take a database made before the modules kept their own to the same schema, running none of the files it already has', async () => {
    const applied = await migrate(upgraded.db)
    expect(applied.filter((name) => collectMigrations().find((m) => m.name === name)!.order <= 7)).toEqual([])
    const described = await describeSchema(fresh.db)
    // the description is of the whole schema: columns, indexes, constraints, the seeded ledger
    for (const part of ['customers.merged_into text', 'identities_email_key', 'reward_accounts_ledger_customer_key', 'ledger reward-points']) {
      expect(described.some((line) => line.includes(part)), part).toBe(true)
    }
    expect(await describeSchema(upgraded.db)).toEqual(described)
    const recorded = await sql<{ name: string }>`SELECT name FROM hub_migrations`.execute(upgraded.db)
    expect(recorded.rows.map((r) => r.name)).toEqual(expect.arrayContaining(collectMigrations().map((m) => m.name)))
  })

  it('refuse a database that has only some of the old migrations, changing nothing', async () => {
    const partial = await createTestDatabase({ migrate: false })
    try {
      await sql`CREATE TABLE hub_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`.execute(partial.db)
      await sql.raw(readFileSync(join(legacyDir, '001_customers.sql'), 'utf8')).execute(partial.db)
      await sql`INSERT INTO hub_migrations (name) VALUES ('001_customers.sql')`.execute(partial.db)
      await expect(migrate(partial.db)).rejects.toThrow(/only some of the migrations/)
      const recorded = await sql<{ name: string }>`SELECT name FROM hub_migrations`.execute(partial.db)
      expect(recorded.rows).toEqual([{ name: '001_customers.sql' }])
    } finally {
      await partial.close()
    }
  })
})
