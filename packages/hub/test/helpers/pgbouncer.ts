import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chmodSync, existsSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import pg from 'pg'
import { testDatabaseUrl } from './test-hub.js'
import { tempDir } from './spawn-hub.js'

// pgbouncer in transaction mode in front of the test PostgreSQL, as an operator runs it in front
// of several hub processes: each transaction of a client may run on another server connection.
// `.ci/run` (through scripts/ensure-tools.js) installs it; a machine without it fails these tests
// with what to install rather than skipping them.

export interface Pgbouncer {
  /** A `DATABASE_URL` through pgbouncer to the test database, tables in `schema`. */
  url: string
  port: number
  /** Rows of a pgbouncer console command (`SHOW POOLS`, `SHOW CONFIG`). */
  console<T extends pg.QueryResultRow>(command: string): Promise<T[]>
  /** Everything pgbouncer wrote to stderr so far (its log). */
  log(): string
  stop(): Promise<void>
}

/** The pgbouncer binary: on the PATH, or where Debian's package puts it. */
export function pgbouncerBinary(): string {
  const found = spawnSync('sh', ['-c', 'command -v pgbouncer'], { encoding: 'utf8' }).stdout.trim()
  if (found) return found
  if (existsSync('/usr/sbin/pgbouncer')) return '/usr/sbin/pgbouncer'
  throw new Error('pgbouncer is not installed (apt-get install pgbouncer; scripts/ensure-tools.js installs it before `npm test`)')
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/**
 * Starts pgbouncer (`pool_mode = transaction`, `poolSize` server connections) on a free port in
 * front of TEST_DATABASE_URL. The server connections it opens work in `schema` (its
 * `connect_query` sets the search path: pgbouncer passes no `options` from the client). Resolves
 * once a query goes through it.
 *
 * @example
 * ```ts
 * const bouncer = await startPgbouncer({ schema })
 * const hub = await spawnHub({ cwd, env: { DATABASE_URL: bouncer.url, HUB_DB_POOLER: 'transaction', ... } })
 * await bouncer.stop()
 * ```
 */
export async function startPgbouncer(options: { schema: string; poolSize?: number }): Promise<Pgbouncer> {
  if (!testDatabaseUrl) throw new Error('pgbouncer runs in front of TEST_DATABASE_URL')
  const binary = pgbouncerBinary()
  const target = new URL(testDatabaseUrl)
  const user = decodeURIComponent(target.username || 'postgres')
  const password = decodeURIComponent(target.password)
  const dbname = decodeURIComponent(target.pathname.slice(1)) || user
  const tmp = tempDir('pgbouncer-')
  // pgbouncer will not run as root: as root it runs as the postgres user, who must read its files
  const root = process.getuid?.() === 0
  chmodSync(tmp.dir, 0o755)
  const auth = join(tmp.dir, 'userlist.txt')
  writeFileSync(auth, `"${user}" "${password}"\n`, { mode: 0o644 })

  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    const ini = join(tmp.dir, 'pgbouncer.ini')
    const server = [`host=${target.hostname}`, `port=${target.port || 5432}`, `dbname=${dbname}`, `user=${user}`, ...(password ? [`password=${password}`] : [])]
    writeFileSync(
      ini,
      [
        '[databases]',
        `hub = ${server.join(' ')} connect_query='SET search_path TO ${options.schema}, public'`,
        '[pgbouncer]',
        'listen_addr = 127.0.0.1',
        `listen_port = ${port}`,
        'unix_socket_dir =',
        'auth_type = trust',
        `auth_file = ${auth}`,
        `admin_users = ${user}`,
        'pool_mode = transaction',
        `default_pool_size = ${options.poolSize ?? 12}`,
        'max_client_conn = 500',
        'log_connections = 0',
        'log_disconnections = 0',
        '',
      ].join('\n'),
      { mode: 0o644 },
    )
    const child: ChildProcess = spawn(binary, [...(root ? ['-u', 'postgres'] : []), ini], { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    let gone = false
    void exited.then(() => (gone = true))
    const url = `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/hub`
    const deadline = Date.now() + 15_000
    let ready = false
    while (!gone && Date.now() < deadline) {
      const c = new pg.Client({ connectionString: url })
      try {
        await c.connect()
        await c.query('SELECT 1')
        ready = true
        break
      } catch {
        await new Promise((r) => setTimeout(r, 50))
      } finally {
        await c.end().catch(() => {})
      }
    }
    if (!ready) {
      child.kill('SIGKILL')
      await exited
      if (attempt < 3 && /address already in use/i.test(stderr)) continue
      tmp.remove()
      throw new Error(`pgbouncer did not start:\n${stderr}`)
    }
    return {
      url,
      port,
      log: () => stderr,
      async console<T extends pg.QueryResultRow>(command: string): Promise<T[]> {
        const c = new pg.Client({ connectionString: `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/pgbouncer` })
        await c.connect()
        try {
          return (await c.query<T>(command)).rows
        } finally {
          await c.end().catch(() => {})
        }
      },
      async stop() {
        if (!gone) {
          child.kill('SIGTERM')
          await exited
        }
        tmp.remove()
      },
    }
  }
}
