import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import type { TestProject } from 'vitest/node'

declare module 'vitest' {
  export interface ProvidedContext {
    /** Where copyMigratedDataDir (helpers/spawn-hub.ts) keeps the migrated data directory it copies, made by the first file that needs it. */
    hubTemplateDir: string
  }
}

const here = fileURLToPath(new URL('.', import.meta.url))

/**
 * Runs once before the suite. With TEST_DATABASE_URL the suite runs on PostgreSQL (each test
 * file in a schema of its own); the extensions live in `public`, made here once so that test
 * files starting together do not race to create them.
 */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Provides the directory of the migrated data directory the tests copy (removed at the end), and prepares PostgreSQL. */
export default async function setup(project: TestProject): Promise<() => void> {
  const templateDir = mkdtempSync(join(tmpdir(), 'customer-hub-template-'))
  project.provide('hubTemplateDir', templateDir)
  const teardown = () => rmSync(templateDir, { recursive: true, force: true })
  await prepareDatabase()
  return teardown
}

async function prepareDatabase(): Promise<void> {
  const url = process.env.TEST_DATABASE_URL
  if (!url && process.env.HUB_TESTS_POSTGRES_BESIDE) {
    console.log('[customer-hub tests] database: embedded PGlite (the PostgreSQL run goes beside this one)')
    return
  }
  if (!url) {
    const pgOnly = readdirSync(here, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.pg.test.ts'))
    console.log('[customer-hub tests] database: embedded PGlite. Set TEST_DATABASE_URL to run the suite on PostgreSQL too;')
    console.log(`[customer-hub tests] without it these PostgreSQL-only files do not run: ${pgOnly.sort().join(', ')}`)
    return
  }
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query('CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public')
    // Schemas left by an interrupted earlier run: named hubtest_<pid>_…, dropped once their
    // process is gone (a run going on beside this one keeps its schemas).
    const { rows } = await client.query<{ nspname: string }>(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'hubtest\\_%'`)
    for (const r of rows) {
      const pid = Number(/^hubtest_(\d+)_/.exec(r.nspname)?.[1])
      if (Number.isInteger(pid) && isAlive(pid)) continue
      await client.query(`DROP SCHEMA IF EXISTS "${r.nspname}" CASCADE`)
    }
  } finally {
    await client.end()
  }
  console.log('[customer-hub tests] database: PostgreSQL (TEST_DATABASE_URL)')
}
