import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { sql, type Kysely } from 'kysely'
import type { Database } from './schema.js'

/** Where the `.sql` migrations live; the build copies them beside the compiled code. */
export const migrationsDir = fileURLToPath(new URL('./migrations/', import.meta.url))

// Any fixed number: every hub process serializes its migrations on it.
const MIGRATION_LOCK = 7_302_114_551

/**
 * Applies the `.sql` files of `migrations/` not applied yet, in name order, all in one transaction
 * (a failing file leaves the database as it was). Several processes may call it at once: an
 * advisory lock makes them take turns, so each file runs exactly once. Returns the names it applied.
 */
export async function migrate(db: Kysely<Database>, dir = migrationsDir): Promise<string[]> {
  const files = readdirSync(dir).filter((f) => f.endsWith('.sql')).sort()
  const applied: string[] = []
  await db.transaction().execute(async (tx) => {
    await sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`.execute(tx)
    await sql`CREATE TABLE IF NOT EXISTS hub_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`.execute(tx)
    const done = await sql<{ name: string }>`SELECT name FROM hub_migrations`.execute(tx)
    const have = new Set(done.rows.map((r) => r.name))
    for (const file of files) {
      if (have.has(file)) continue
      await sql.raw(readFileSync(join(dir, file), 'utf8')).execute(tx)
      await sql`INSERT INTO hub_migrations (name) VALUES (${file})`.execute(tx)
      applied.push(file)
    }
  })
  return applied
}
