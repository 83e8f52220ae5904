import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import pg from 'pg'
import { sql } from 'kysely'
import { buildApp, type HubApp } from '../../src/http/app.js'
import { createDatabase, type HubDatabase } from '../../src/db/create-database.js'
import { migrate } from '../../src/db/migrate.js'
import type { HubConfig } from '../../src/config.js'
import type { TokenScope } from '../../src/auth/api-token-service.js'
import { defaultAuthSettings, type AuthSettings } from '../../src/auth/settings.js'
import { defaultCustomerSettings, type CustomerSettings } from '../../src/customers/settings.js'
import type { UndeclaredAnswer } from '../../src/http/response-check.js'
import type { LedgerSettings } from '../../src/loyalty/settings.js'
import { defaultHttpSettings, type HttpSettings } from '../../src/http/settings.js'
import { defaultIdentitySettings, type IdentitySettings } from '../../src/identity/settings.js'
import { defaultWebhookSettings, type WebhookSettings } from '../../src/webhooks/settings.js'
import { defaultNatsSettings, type NatsSettings } from '../../src/nats/settings.js'
import type { ImportSettings } from '../../src/imports/settings.js'

/** The PostgreSQL the suite also runs on, when configured. */
export const testDatabaseUrl = process.env.TEST_DATABASE_URL || undefined
export const onPostgres = testDatabaseUrl !== undefined

export interface TestDatabase extends HubDatabase {
  /** The PostgreSQL schema of this database (PostgreSQL only). */
  schema: string | undefined
}

/**
 * A clean, migrated database: a schema of its own on PostgreSQL when TEST_DATABASE_URL is set,
 * else an in-memory PGlite. `close()` drops what it made.
 */
export async function createTestDatabase(options: { poolSize?: number; migrate?: boolean } = {}): Promise<TestDatabase> {
  if (!testDatabaseUrl) {
    const database = await createDatabase({ dataDir: 'memory://' })
    if (options.migrate !== false) await migrate(database.db)
    return { ...database, schema: undefined }
  }
  const schema = `hubtest_${process.pid}_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: testDatabaseUrl })
  await admin.connect()
  await admin.query(`CREATE SCHEMA "${schema}"`)
  await admin.end()
  const database = await createDatabase({ url: testDatabaseUrl, schema, poolSize: options.poolSize ?? 10 })
  if (options.migrate !== false) await migrate(database.db)
  return {
    ...database,
    schema,
    close: async () => {
      await database.close()
      const c = new pg.Client({ connectionString: testDatabaseUrl })
      await c.connect()
      await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await c.end()
    },
  }
}

/** A DATABASE_URL that puts a hub process into `schema` (for tests that spawn hubs). */
export function urlWithSchema(schema: string): string {
  const u = new URL(testDatabaseUrl!)
  u.searchParams.set('options', `-c search_path=${schema},public`)
  return u.toString()
}

export function testConfig(
  customer: Partial<CustomerSettings> = {},
  adminToken = `test-admin-${randomBytes(12).toString('hex')}`,
  auth: Partial<AuthSettings> = {},
): HubConfig {
  return {
    port: 0,
    host: '127.0.0.1',
    logLevel: 'silent',
    databaseUrl: testDatabaseUrl,
    dataDir: 'memory://',
    poolSize: 10,
    dbPooler: 'none',
    dbDirectUrl: undefined,
    dbConnectTimeoutMs: 10_000,
    adminToken,
    customer: { ...defaultCustomerSettings, ...customer },
    ledgers: [],
    identity: { ...defaultIdentitySettings, components: {} },
    auth: { ...defaultAuthSettings, ...auth },
    http: { ...defaultHttpSettings },
    // a test that wants deliveries turns the worker on (createTestHub's `webhooks`)
    webhooks: { ...defaultWebhookSettings, deliver: false },
    // no NATS unless a test names a server (createTestHub's `nats`)
    events: { nats: { ...defaultNatsSettings } },
    // no background takeover of imports unless a test asks (createTestHub's `imports`)
    imports: { resume: false, maxUploadMiB: 1024, workers: 2 },
    secret: 'test-secret-0123456789abcdef0123456789abcdef',
    devLogLinks: false,
    heapGrowingPercent: 0,
  }
}

export interface TestHub {
  app: HubApp
  database: TestDatabase
  config: HubConfig
  adminToken: string
  /** Headers with the admin token. */
  admin: Record<string, string>
  /**
   * A new platform token's headers: bound to `scope` when given, else unbound — acting for every
   * component and platform, as a token made before tokens had scopes does.
   */
  platform(scope?: TokenScope): Promise<Record<string, string>>
  /** Every log line written so far (when built with `captureLogs`). */
  logs: string[]
  /** Answers the route table does not declare (`close()` fails when there are any). */
  undeclared: UndeclaredAnswer[]
  close(): Promise<void>
}

/**
 * A hub on a clean database, for `app.inject()` tests.
 *
 * @example
 * ```ts
 * const hub = await createTestHub({ customer: { maxAddresses: 2 } })
 * const res = await hub.app.inject({ method: 'POST', url: '/customer', headers: hub.admin, payload: {...} })
 * ```
 */
export async function createTestHub(
  options: {
    customer?: Partial<CustomerSettings>
    auth?: Partial<AuthSettings>
    /** Ledgers besides `reward-points` (or its settings, under that handle). */
    ledgers?: LedgerSettings[]
    /** The `identity:` section: auto_merge, per-component phone countries. */
    identity?: Partial<IdentitySettings>
    /** The `http:` section: which proxies are trusted to name the client. */
    http?: Partial<HttpSettings>
    /** The `webhooks:` section; the delivery worker runs only with `deliver: true`. */
    webhooks?: Partial<WebhookSettings>
    /** `events.nats`: the hub publishes to NATS when given a `url`. */
    nats?: Partial<NatsSettings>
    /** The `imports:` section; taking over abandoned imports runs only with `resume: true`. */
    imports?: Partial<ImportSettings>
    /** The time the hub's services see. */
    clock?: () => Date
    captureLogs?: boolean
    database?: TestDatabase
  } = {},
): Promise<TestHub> {
  const database = options.database ?? (await createTestDatabase())
  const base = testConfig(options.customer, undefined, options.auth)
  const config = { ...base, ledgers: options.ledgers ?? [], identity: { ...base.identity, ...options.identity }, http: { ...base.http, ...options.http }, webhooks: { ...base.webhooks, ...options.webhooks }, events: { nats: { ...base.events.nats, ...options.nats } }, imports: { ...base.imports, ...options.imports } }
  const logs: string[] = []
  const stream = new Writable({
    write(chunk, _enc, cb) {
      logs.push(...String(chunk).split('\n').filter(Boolean))
      cb()
    },
  })
  const undeclared: UndeclaredAnswer[] = []
  const app = await buildApp({
    config,
    database,
    logger: options.captureLogs ? { level: 'debug', stream } : false,
    onUndeclaredAnswer: (answer) => undeclared.push(answer),
    clock: options.clock,
  })
  const adminToken = config.adminToken!
  return {
    app,
    database,
    config,
    adminToken,
    admin: { authorization: `Bearer ${adminToken}` },
    async platform(scope?: TokenScope) {
      const created = await app.tokens.create(`platform-${randomBytes(4).toString('hex')}`, 'platform', scope)
      if (!scope) await sql`UPDATE api_tokens SET components = NULL, platforms = NULL WHERE id = ${created.id}`.execute(database.db)
      return { authorization: `Bearer ${created.token}` }
    },
    logs,
    undeclared,
    async close() {
      await app.close()
      if (!options.database) await database.close()
      if (undeclared.length > 0) {
        throw new Error(`answers the route table does not declare:\n${undeclared.map((a) => `  ${a.method} ${a.url} (${a.operationId}) answered ${a.status} ${a.code ?? ''}`).join('\n')}`)
      }
    },
  }
}
