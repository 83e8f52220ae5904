import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'

// pg's own conversion of a parameter to its text form (arrays, dates, JSON), and its literal quoting
const pgUtils = (pg as unknown as { utils: { prepareValue(v: unknown): unknown; escapeLiteral(s: string): string } }).utils
import type { Database } from './database.js'
import { lockDataDir } from './data-dir-lock.js'

export type DatabaseKind = 'postgres' | 'pglite'

export interface DatabaseOptions {
  /** PostgreSQL connection string; when absent the embedded PGlite database is used. */
  url?: string | undefined
  /** PGlite data directory; `memory://` keeps it in memory (tests). */
  dataDir?: string
  /** PostgreSQL connections in the pool. Default 10. */
  poolSize?: number
  /**
   * PostgreSQL: how long a query waits for a connection (a new one to open, or one of the pool
   * to come free) before it fails — with an error `isDatabaseUnavailable` knows. Default 10000.
   */
  connectTimeoutMs?: number
  /** PostgreSQL schema to work in (tests give each file its own). */
  schema?: string
  /**
   * `transaction`: `url` names a pooler in transaction mode (pgbouncer's `pool_mode =
   * transaction`). A statement prepared under a name lives on one server connection, and the
   * pooler gives the next transaction any of them — where the name is unknown, or known with
   * another text — so statements go unnamed. And a `LISTEN` through it hears nothing once its
   * transaction ends, so listening takes `directUrl` or does not happen.
   */
  pooler?: 'none' | 'transaction'
  /** PostgreSQL itself, bypassing the pooler: where the listening connection goes when given. */
  directUrl?: string | undefined
}

export interface HubDatabase {
  db: Kysely<Database>
  kind: DatabaseKind
  /** True when the database answers a trivial query. */
  ping(): Promise<boolean>
  /**
   * Calls `onNotify` with the payload of every notification on `channel` (`NOTIFY`, `pg_notify`),
   * and `onListen` each time listening starts — first, and again after a lost connection came
   * back (notifications sent meanwhile are lost: a listener re-checks what it waits for). On
   * PostgreSQL one connection of its own, outside the pool, listens; on PGlite the embedded
   * database does. Resolves once listening (or, when the database cannot be reached, at once: it
   * listens once it can); the function it gives stops. The listening connection goes to
   * `directUrl` when given; behind a transaction pooler without one nothing listens (`listens` is
   * false): this resolves at once and never calls back.
   *
   * @example
   * ```ts
   * const stop = await database.listen('hub_events', () => wake(), () => wake())
   * ```
   */
  listen(channel: string, onNotify: (payload: string) => void, onListen?: () => void): Promise<() => Promise<void>>
  /** False when notifications cannot be heard (a transaction pooler and no `directUrl`). */
  listens: boolean
  /** PostgreSQL only: the pool's connections now — open, idle, and requests waiting for one (the metrics read it). */
  poolUse?(): { total: number; idle: number; waiting: number }
  close(): Promise<void>
}

// int8 and numeric come back as strings by default; the hub converts where it reads them.

/**
 * Opens the hub's database: PostgreSQL when `url` is given, else PGlite in `dataDir`
 * (locked against a second process). Both go through the same Kysely dialect over `pg`,
 * so there is one SQL dialect and one set of migrations.
 *
 * @example
 * ```ts
 * const { db, close } = await createDatabase({ url: process.env.DATABASE_URL, dataDir: '.hub-data' })
 * ```
 */
export async function createDatabase(options: DatabaseOptions): Promise<HubDatabase> {
  if (options.url) {
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      // a server that vanished without closing its connections (a network cut, a machine lost) is
      // noticed by TCP keepalive on an open connection, and by this bound on a new one
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
      keepAlive: true,
      ...(options.schema ? { options: `-c search_path=${options.schema},public` } : {}),
    })
    pool.on('error', () => {
      // an idle client lost its connection; the pool replaces it and the next query reports it
    })
    pool.on('connect', (client) => {
      // A client taken from the pool and between two statements (a transaction while the hub
      // works) emits 'error' when its connection ends — the server stopped or restarted — and
      // an 'error' nobody listens to ends the process. The next statement on it fails instead
      // (503 DATABASE_UNAVAILABLE), and the pool drops it when it is released.
      client.on('error', () => {})
    })
    const pooled = options.pooler === 'transaction'
    wrapQueries(pool, { prepare: !pooled })
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
    const listenUrl = options.directUrl ?? (pooled ? undefined : options.url)
    return {
      db,
      kind: 'postgres',
      ping: () => ping(db),
      listen: (channel, onNotify, onListen) =>
        listenUrl === undefined ? Promise.resolve(async () => {}) : listenPg({ ...options, url: listenUrl }, channel, onNotify, onListen),
      listens: listenUrl !== undefined,
      poolUse: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
      close: () => db.destroy(),
    }
  }

  const dataDir = options.dataDir ?? '.hub-data'
  const inMemory = dataDir.startsWith('memory://')
  const unlock = inMemory ? () => {} : lockDataDir(dataDir)
  try {
    const { PGlite } = await import('@electric-sql/pglite')
    const { pg_trgm } = await import('@electric-sql/pglite/contrib/pg_trgm')
    const { createPgConfig } = await import('@electric-sql/pglite/node-postgres')
    const lite = new PGlite({ dataDir, extensions: { pg_trgm } })
    await lite.waitReady
    const pool = new pg.Pool(createPgConfig(lite) as unknown as pg.PoolConfig)
    wrapQueries(pool, { prepare: false })
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
    return {
      db,
      kind: 'pglite',
      ping: () => ping(db),
      listens: true,
      listen: async (channel, onNotify, onListen) => {
        const stop = await lite.listen(channel, onNotify)
        onListen?.()
        // a closed database listens no more: nothing to stop (the hub may close after it)
        return async () => {
          if (!lite.closed) await stop()
        }
      },
      close: async () => {
        await db.destroy()
        await lite.close()
        unlock()
      },
    }
  } catch (err) {
    unlock()
    throw err
  }
}

/** Distinct statements a process prepares at most; others are sent unprepared. */
const MAX_PREPARED = 500

type QueryFn = (...args: unknown[]) => unknown
interface QueryResult {
  rows?: unknown[]
  fields?: unknown[]
}

/**
 * The answer of a text of several statements (`BEGIN; INSERT … RETURNING …`) is one result per
 * statement; Kysely reads one. It gets the last that returns columns (the `RETURNING` or
 * `SELECT`), or the last of all.
 */
function lastResult(result: unknown): unknown {
  if (!Array.isArray(result)) return result
  const results = result as QueryResult[]
  return [...results].reverse().find((r) => (r.fields?.length ?? 0) > 0) ?? results.at(-1)
}

/**
 * A text that starts with this is not sent when it is run: the connection holds it and sends it
 * in front of the next statement, in the same round trip (the unit of work's `BEGIN` and
 * Idempotency-Key claim ride with the request's first statement). A `ROLLBACK` while a text is
 * held drops it unsent.
 */
export const DEFERRED = '/* deferred */ '
/**
 * Running this answers the rows the held text's last row-returning statement gave (sending the
 * text first when no statement has taken it along yet).
 */
export const DEFERRED_RESULT = '/* deferred result */'

/**
 * A statement that starts with this is the last write of its transaction. When the transaction
 * has sent nothing before it (its `BEGIN` still held: no write yet, no Idempotency-Key), it runs
 * as a transaction of its own — one statement is atomic by itself — and the `COMMIT` that follows
 * has nothing to do. So a request without a key whose one write is one statement costs no round
 * trip for its transaction. Nothing may run in the transaction after it.
 */
export const FINAL = '/* final */ '

// A read that takes no lock: sent before a held `BEGIN`, it means what it would mean after it
// (under READ COMMITTED every statement reads its own snapshot, in a transaction or not). A
// SELECT that locks rows, takes an advisory lock (held to the end of the transaction only inside
// it), or reads or moves transaction state is not one: it goes in the transaction.
const plainRead = (text: string) =>
  /^\s*select\b/i.test(text) &&
  !/\bfor\s+(update|no\s+key\s+update|share|key\s+share)\b/i.test(text) &&
  !/\b(pg_advisory\w*|pg_try_advisory\w*|nextval|setval|pg_current_xact_id|txid_current)\s*\(/i.test(text)

/** A statement with its parameters written in as literals, to travel in one text with others. */
function inline(text: string, values: unknown[]): string | undefined {
  const literals: string[] = []
  for (const v of values) {
    const prepared = pgUtils.prepareValue(v) as unknown
    if (prepared === null || prepared === undefined) literals.push('NULL')
    else if (typeof prepared === 'string') literals.push(pgUtils.escapeLiteral(prepared))
    else return undefined // binary: this statement travels alone
  }
  return text.replace(/\$(\d+)/g, (_, n: string) => literals[Number(n) - 1]!)
}

/**
 * Adapts every connection of the pool:
 * - with `prepare`, every parameterized statement is sent as a named prepared statement, so
 *   PostgreSQL parses and plans each distinct statement once per connection instead of on every
 *   call (a third of a simple read's cost). Statements without parameters — migrations, and the
 *   several-statement texts of the unit of work — go as they are. Names are given per statement
 *   text for the life of the process, up to MAX_PREPARED.
 * - a text of several statements answers with one result (see {@link lastResult}).
 * - a {@link DEFERRED} text is held and sent in front of the next statement, its parameters then
 *   written in as literals (PostgreSQL types a literal exactly as it types a parameter sent as
 *   text, so the statement means the same).
 */
function wrapQueries(pool: pg.Pool, options: { prepare: boolean }): void {
  const names = new Map<string, string>()
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as QueryFn
    let held: string | undefined
    let heldResults: QueryResult[] = []
    let committedByFinal = false
    const send = (config: unknown, values?: unknown): Promise<unknown> => {
      if (options.prepare && typeof config === 'string' && Array.isArray(values) && values.length > 0) {
        let name = names.get(config)
        if (name === undefined && names.size < MAX_PREPARED) {
          name = `hub_${names.size}`
          names.set(config, name)
        }
        if (name !== undefined) return query({ name, text: config, values }) as Promise<unknown>
      }
      return (query(config, values) as Promise<unknown>).then(lastResult)
    }
    const flush = async () => {
      const text = held!
      held = undefined
      const result = await query(text)
      heldResults = Array.isArray(result) ? result : [result as QueryResult]
    }
    ;(client as unknown as { query: QueryFn }).query = async (config: unknown, values?: unknown, callback?: unknown) => {
      if (callback !== undefined) return query(config, values, callback)
      if (typeof config === 'string' && config.startsWith(DEFERRED)) {
        held = config.slice(DEFERRED.length)
        heldResults = []
        committedByFinal = false
        return { rows: [], fields: [] }
      }
      if (committedByFinal) {
        // the final statement committed: the unit of work's COMMIT (or ROLLBACK) has nothing to end
        if (config === 'COMMIT' || config === 'ROLLBACK') {
          committedByFinal = false
          return { rows: [], fields: [] }
        }
        throw new Error('a statement was sent after the final statement of its transaction')
      }
      if (typeof config === 'string' && config.startsWith(FINAL) && held === 'BEGIN') {
        held = undefined
        committedByFinal = true
        return send(config, values)
      }
      if (held === 'BEGIN' && typeof config === 'string' && plainRead(config)) return send(config, values)
      if (held === 'BEGIN' && config === 'COMMIT') {
        held = undefined // a transaction that wrote nothing: nothing to begin or end
        return { rows: [], fields: [] }
      }
      if (typeof config === 'string' && config === DEFERRED_RESULT) {
        if (held !== undefined) await flush()
        return [...heldResults].reverse().find((r) => (r.fields?.length ?? 0) > 0) ?? { rows: [], fields: [] }
      }
      if (held === undefined) return send(config, values)
      if (config === 'ROLLBACK' || config === 'rollback') {
        held = undefined
        return { rows: [], fields: [] }
      }
      const statement = typeof config === 'string' ? inline(config, Array.isArray(values) ? values : []) : undefined
      if (statement === undefined) {
        await flush()
        return send(config, values)
      }
      const text = `${held};\n${statement}`
      held = undefined
      const result = (await query(text)) as QueryResult | QueryResult[]
      const results = Array.isArray(result) ? result : [result]
      heldResults = results.slice(0, -1)
      return results.at(-1)
    }
  })
}

/** How long a lost listening connection waits before it connects again: doubling up to the last. */
const RELISTEN_MS = [100, 500, 2000, 5000]

/** Listens on a connection of its own, connecting again (with a backoff) whenever it is lost. */
async function listenPg(options: DatabaseOptions, channel: string, onNotify: (payload: string) => void, onListen?: () => void): Promise<() => Promise<void>> {
  let stopped = false
  let client: pg.Client | undefined
  let retry: NodeJS.Timeout | undefined
  let failures = 0
  const connect = async (): Promise<void> => {
    const c = new pg.Client({
      connectionString: options.url,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
      keepAlive: true,
      application_name: `customer-hub listener ${process.pid}`,
      ...(options.schema ? { options: `-c search_path=${options.schema},public` } : {}),
    })
    c.on('notification', (n) => {
      if (n.channel === channel) onNotify(n.payload ?? '')
    })
    c.on('error', () => lost(c))
    c.on('end', () => lost(c))
    client = c
    try {
      await c.connect()
      await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`)
    } catch {
      lost(c)
      return
    }
    failures = 0
    if (stopped) await c.end().catch(() => {})
    else onListen?.()
  }
  const lost = (c: pg.Client) => {
    if (client !== c || stopped) return
    client = undefined
    c.end().catch(() => {})
    const delay = RELISTEN_MS[Math.min(failures++, RELISTEN_MS.length - 1)]
    retry = setTimeout(() => void connect(), delay)
    retry.unref()
  }
  // a database that is down at start-up is listened to once it is up
  await connect()
  return async () => {
    stopped = true
    clearTimeout(retry)
    const c = client
    client = undefined
    await c?.end().catch(() => {})
  }
}

async function ping(db: Kysely<Database>): Promise<boolean> {
  try {
    await db.selectNoFrom((eb) => eb.lit(1).as('one')).execute()
    return true
  } catch {
    return false
  }
}
