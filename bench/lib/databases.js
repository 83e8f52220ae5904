import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'

/**
 * A fresh schema `bench_<random>` in the given PostgreSQL database, reached through a URL whose
 * `options` put it first on the search path (so a hub given that URL works only inside it).
 * `drop()` removes the schema and all it holds.
 *
 * @param {string} baseUrl
 * @returns {Promise<{ kind: 'postgres', label: string, url: string, schema: string, version: string, cleanup: () => Promise<void> }>}
 */
export async function preparePostgres(baseUrl) {
  const schema = `bench_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: baseUrl })
  await admin.connect()
  let version
  try {
    await admin.query('CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public')
    await admin.query(`CREATE SCHEMA ${schema}`)
    version = (await admin.query('SHOW server_version')).rows[0].server_version
    // the settings a figure depends on most, printed with it
    const { rows } = await admin.query(`SELECT name, setting, unit FROM pg_settings WHERE name IN ('shared_buffers', 'autovacuum')`)
    const shown = Object.fromEntries(rows.map((r) => [r.name, r.unit === '8kB' ? `${Math.round((Number(r.setting) * 8) / 1024)} MB` : r.setting]))
    version = `${version}, shared_buffers ${shown.shared_buffers}, autovacuum ${shown.autovacuum}`
  } finally {
    await admin.end()
  }
  const url = new URL(baseUrl)
  // keeps options the given URL already has (e.g. -c synchronous_commit=off to compare)
  url.searchParams.set('options', [url.searchParams.get('options'), `-c search_path=${schema},public`].filter(Boolean).join(' '))
  return {
    kind: 'postgres',
    label: 'PostgreSQL',
    url: url.toString(),
    schema,
    version: `PostgreSQL ${version}`,
    async cleanup() {
      const c = new pg.Client({ connectionString: baseUrl })
      await c.connect()
      try {
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
      } finally {
        await c.end()
      }
    },
  }
}

/**
 * A temporary directory for an embedded PGlite data dir and the hub's working directory;
 * `cleanup()` deletes it.
 *
 * @returns {{ kind: 'pglite', label: string, dataDir: string, workDir: string, version: string, cleanup: () => Promise<void> }}
 */
export function preparePglite() {
  const workDir = mkdtempSync(join(tmpdir(), 'hub-bench-'))
  return {
    kind: 'pglite',
    label: 'PGlite',
    dataDir: join(workDir, 'data'),
    workDir,
    version: 'PGlite (embedded, in the hub process)',
    async cleanup() {
      rmSync(workDir, { recursive: true, force: true })
    },
  }
}
