import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { sql, type Kysely } from 'kysely'
import type { Database } from './database.js'
import type { HubModule } from '../module.js'
import { hubModules } from '../modules.js'

// Any fixed number: every hub process serializes its migrations on it.
const MIGRATION_LOCK = 7_302_114_551

export interface Migration {
  /** `<module>/<file>`, as recorded in hub_migrations. */
  name: string
  /** The number the file name starts with: the order across all modules. */
  order: number
  path: string
}

/**
 * Every module's migrations in the one order they run in. Each module keeps its `.sql` files in
 * its own folder, named `NNNN_what.sql`; the numbers form one sequence across modules, because
 * foreign keys cross them (reward accounts reference customers, so the customers' table comes
 * first). Two files with one number are refused.
 */
export function collectMigrations(modules: readonly HubModule[] = hubModules): Migration[] {
  const all: Migration[] = []
  for (const module of modules) {
    if (!module.migrations) continue
    const dir = fileURLToPath(module.migrations)
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.sql'))) {
      const m = /^(\d{4})_[a-z0-9_]+\.sql$/.exec(file)
      if (!m) throw new Error(`migration ${module.name}/${file}: name it NNNN_what.sql`)
      all.push({ name: `${module.name}/${file}`, order: Number(m[1]), path: join(dir, file) })
    }
  }
  all.sort((a, b) => a.order - b.order)
  for (let i = 1; i < all.length; i++) {
    if (all[i]!.order === all[i - 1]!.order) throw new Error(`migrations ${all[i - 1]!.name} and ${all[i]!.name} have the same number`)
  }
  return all
}

/**
 * The migrations of the hub before its modules kept their own, and what they became: a
 * database they made has the schema of the module files up to 0007, so those are recorded as
 * applied without running.
 */
const before = ['001_customers.sql', '002_identity_sync.sql', '003_auth.sql', '004_email_filter_by_identity.sql']
const beforeEquals = 7

/**
 * Applies the migrations not applied yet, in order, all in one transaction (a failing file leaves
 * the database as it was). Several processes may call it at once: an advisory lock makes them take
 * turns, so each file runs exactly once. Returns the names it applied.
 */
export async function migrate(db: Kysely<Database>, migrations: Migration[] = collectMigrations()): Promise<string[]> {
  const applied: string[] = []
  await db.transaction().execute(async (tx) => {
    await sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`.execute(tx)
    await sql`CREATE TABLE IF NOT EXISTS hub_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`.execute(tx)
    const done = await sql<{ name: string }>`SELECT name FROM hub_migrations`.execute(tx)
    const have = new Set(done.rows.map((r) => r.name))
    const old = before.filter((name) => have.has(name))
    if (old.length > 0) {
      if (old.length !== before.length) {
        throw new Error(`this database has only some of the migrations ${before.join(', ')}: upgrade it with the version of the hub that made it first`)
      }
      for (const m of migrations.filter((m) => m.order <= beforeEquals && !have.has(m.name))) {
        await sql`INSERT INTO hub_migrations (name) VALUES (${m.name})`.execute(tx)
        have.add(m.name)
      }
    }
    for (const m of migrations) {
      if (have.has(m.name)) continue
      await sql.raw(readFileSync(m.path, 'utf8')).execute(tx)
      await sql`INSERT INTO hub_migrations (name) VALUES (${m.name})`.execute(tx)
      applied.push(m.name)
    }
  })
  return applied
}
