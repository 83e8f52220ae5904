import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { ConfigError } from './errors.js'
import { coerce, type ConfigSection } from './config-section.js'
import { hubModules } from './modules.js'
import type { DatabaseOptions } from './db/create-database.js'

/**
 * The sections of the configuration file, by key. Each module that has one adds it
 * (`declare module '../config.js' { interface Settings { customer: CustomerSettings } }`).
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface Settings {}

/** Settings of the process: where it listens, which database, its secrets. */
export interface ProcessSettings {
  /** `PORT`, default 1337. */
  port: number
  /** `HOST`, default 127.0.0.1. */
  host: string
  /** `LOG_LEVEL`, default `info`. */
  logLevel: string
  /** `DATABASE_URL`: PostgreSQL when set; unset means the embedded PGlite database. */
  databaseUrl: string | undefined
  /** `HUB_DATA_DIR`, default `./.hub-data`: where the embedded database lives. */
  dataDir: string
  /** `HUB_DB_POOL_SIZE`, default 10: PostgreSQL connections per hub process (besides the one that listens for the event feed). */
  poolSize: number
  /**
   * `HUB_DB_POOLER`, default `none`: `transaction` when `DATABASE_URL` names a pooler in
   * transaction mode (pgbouncer's `pool_mode = transaction`), where consecutive transactions of one
   * connection may run on different server connections: the hub then prepares no named
   * statements, and listens only through `HUB_DB_DIRECT_URL`.
   */
  dbPooler: DbPooler
  /**
   * `HUB_DB_DIRECT_URL`: PostgreSQL itself, not a pooler — the one connection that listens for
   * the event feed's notifications goes there. Without it, behind a transaction pooler, nothing
   * listens and the feed's readers and workers find new events by their periodic re-reads.
   */
  dbDirectUrl: string | undefined
  /**
   * `HUB_DB_CONNECT_TIMEOUT_MS`, default 10000: how long a request waits for a PostgreSQL
   * connection — a new one to open, or one of the pool to come free — before it answers 503
   * `DATABASE_UNAVAILABLE`. A server that refuses connections fails at once; this bounds one
   * that does not answer at all.
   */
  dbConnectTimeoutMs: number
  /** `HUB_ADMIN_TOKEN`: accepted as an admin token when set. */
  adminToken: string | undefined
  /**
   * `HUB_SECRET`: encrypts secrets at rest (the private signing keys, answers kept for replay
   * that hold a token) and keys request fingerprints; any string of 32+ characters. Required
   * with PostgreSQL; the embedded database keeps a generated one in its data directory.
   */
  secret: string | undefined
  /** `HUB_DEV_LOG_LINKS=true`: log email-verification and password-reset links (development only). */
  devLogLinks: boolean
  /**
   * `HUB_HEAP_GROWING_PERCENT`, default 20: how far above what is live after a garbage collection
   * a serving hub's JavaScript heap may grow before the next (V8's `--heap-growing-percent`; 0
   * leaves V8's own choice, which let the heap grow to several times what is live: 260 MiB of
   * memory for 50 MiB of live objects under list load, 180 MiB with 20). Not applied when
   * `--heap-growing-percent` is given to node itself (its command line or `NODE_OPTIONS`).
   */
  heapGrowingPercent: number
}

export type HubConfig = ProcessSettings & Settings

/** What sits between the hub and PostgreSQL: nothing (or a session pooler), or a transaction pooler. */
export type DbPooler = 'none' | 'transaction'

/** The sections the modules declare. */
export function configSections(): ConfigSection<unknown>[] {
  return hubModules.flatMap((m) => (m.config ? [m.config as ConfigSection<unknown>] : []))
}

/** Every section at its defaults. */
export function defaultSettings(): Settings {
  return Object.fromEntries(configSections().map((s) => [s.key, s.defaults()])) as unknown as Settings
}

function readYaml(path: string): Record<string, unknown> {
  let doc: unknown
  try {
    doc = parseYaml(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`)
  }
  if (doc == null) return {}
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`config file ${path} must hold a mapping`)
  return doc as Record<string, unknown>
}

function poolerOf(value: string | undefined): DbPooler {
  if (value === undefined || value === '' || value === 'none') return 'none'
  if (value === 'transaction') return 'transaction'
  throw new ConfigError(`HUB_DB_POOLER must be none or transaction, got ${JSON.stringify(value)}`)
}

/**
 * How to open the database the configuration names: PostgreSQL (through its pooler, if any) or
 * the embedded one, with `poolSize` connections.
 *
 * @example
 * ```ts
 * const database = await createDatabase(databaseOptions(config, 1))
 * ```
 */
export function databaseOptions(config: ProcessSettings, poolSize = config.poolSize): DatabaseOptions {
  return { url: config.databaseUrl, dataDir: config.dataDir, poolSize, pooler: config.dbPooler, directUrl: config.dbDirectUrl, connectTimeoutMs: config.dbConnectTimeoutMs }
}

/**
 * Reads the configuration: defaults, then the YAML file (`HUB_CONFIG`, or `./customer-hub.yaml`
 * when present), then environment overrides (`HUB_CUSTOMER_<KEY>`, e.g.
 * `HUB_CUSTOMER_MAX_ADDRESSES=5`). This is the only place the hub reads `process.env`.
 * A bad key or value throws a `ConfigError` naming it.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): HubConfig {
  const sections = configSections()
  const settings = defaultSettings() as unknown as Record<string, unknown>
  const explicit = env.HUB_CONFIG
  const path = explicit ? resolve(cwd, explicit) : resolve(cwd, 'customer-hub.yaml')
  if (explicit && !existsSync(path)) throw new ConfigError(`HUB_CONFIG names ${path}, which does not exist`)
  if (existsSync(path)) {
    for (const [top, value] of Object.entries(readYaml(path))) {
      const section = sections.find((s) => s.key === top)
      if (!section) throw new ConfigError(`unknown key "${top}" in ${path} (known: ${sections.map((s) => s.key).join(', ')})`)
      settings[top] = section.read(value, settings[top], path)
    }
  }
  for (const section of sections) if (section.env) settings[section.key] = section.env(env, settings[section.key])
  const secret = env.HUB_SECRET || undefined
  if (secret !== undefined && secret.length < 32) throw new ConfigError('HUB_SECRET must have at least 32 characters')
  // an admin token is as good as the admin's password: too short to guess is not enough
  const adminToken = env.HUB_ADMIN_TOKEN || undefined
  if (!env.DATABASE_URL && (env.HUB_DB_POOLER || env.HUB_DB_DIRECT_URL)) throw new ConfigError('HUB_DB_POOLER and HUB_DB_DIRECT_URL go with DATABASE_URL (PostgreSQL); the embedded database has no pooler')
  if (adminToken !== undefined && adminToken.length < 32) throw new ConfigError('HUB_ADMIN_TOKEN must have at least 32 characters (e.g. openssl rand -hex 24)')
  return {
    port: coerce('PORT', 'integer', env.PORT ?? 1337, true, 0, 65535) as number,
    host: env.HOST || '127.0.0.1',
    logLevel: env.LOG_LEVEL || 'info',
    databaseUrl: env.DATABASE_URL || undefined,
    dataDir: resolve(cwd, env.HUB_DATA_DIR || '.hub-data'),
    poolSize: coerce('HUB_DB_POOL_SIZE', 'integer', env.HUB_DB_POOL_SIZE ?? 10, true, 1, 200) as number,
    dbPooler: poolerOf(env.HUB_DB_POOLER),
    dbDirectUrl: env.HUB_DB_DIRECT_URL || undefined,
    dbConnectTimeoutMs: coerce('HUB_DB_CONNECT_TIMEOUT_MS', 'integer', env.HUB_DB_CONNECT_TIMEOUT_MS ?? 10_000, true, 100, 600_000) as number,
    adminToken,
    secret,
    devLogLinks: env.HUB_DEV_LOG_LINKS === 'true',
    heapGrowingPercent: /--heap[-_]growing[-_]percent/.test(env.NODE_OPTIONS ?? '')
      ? 0
      : (coerce('HUB_HEAP_GROWING_PERCENT', 'integer', env.HUB_HEAP_GROWING_PERCENT ?? 20, true, 0, 1000) as number),
    ...(settings as unknown as Settings),
  }
}
