import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { sql } from 'kysely'
import { buildApp, type HubApp } from '../../../hub/src/http/app.js'
import type { AuthSettings } from '../../../hub/src/auth/settings.js'
import type { TokenScope } from '../../../hub/src/auth/api-token-service.js'
import type { CustomerSettings } from '../../../hub/src/customers/settings.js'
import type { LedgerSettings } from '../../../hub/src/loyalty/settings.js'
import type { UndeclaredAnswer } from '../../../hub/src/http/response-check.js'
import { createTestDatabase, testConfig, type TestDatabase } from '../../../hub/test/helpers/test-hub.js'

export interface ListeningHub {
  app: HubApp
  database: TestDatabase
  /** e.g. `http://127.0.0.1:41234` */
  baseUrl: string
  adminToken: string
  /**
   * A new platform token: bound to `scope` when given, else unbound — acting for every identity
   * component and platform name, as a token made before tokens had scopes does.
   */
  platformToken(scope?: TokenScope): Promise<string>
  close(): Promise<void>
}

/**
 * A hub listening on a free port of 127.0.0.1, on a clean test database; `auth` overrides the
 * auth settings, `ledgers` declares ledgers besides `reward-points` (or its settings, under that handle).
 */
export async function startListeningHub(
  customer: Partial<CustomerSettings> = {},
  options: { auth?: Partial<AuthSettings>; ledgers?: LedgerSettings[] } = {},
): Promise<ListeningHub> {
  const database = await createTestDatabase()
  const base = testConfig(customer)
  const config = { ...base, auth: { ...base.auth, ...options.auth }, ledgers: options.ledgers ?? base.ledgers }
  const undeclared: UndeclaredAnswer[] = []
  const app = await buildApp({ config, database, logger: false, onUndeclaredAnswer: (a) => undeclared.push(a) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  let tokens = 0
  return {
    app,
    database,
    baseUrl: `http://127.0.0.1:${port}`,
    adminToken: config.adminToken!,
    async platformToken(scope?: TokenScope) {
      tokens += 1
      const created = await app.tokens.create(`platform-${tokens}-${port}`, 'platform', scope)
      if (!scope) await sql`UPDATE api_tokens SET components = NULL, platforms = NULL WHERE id = ${created.id}`.execute(database.db)
      return created.token
    },
    async close() {
      await app.close()
      await database.close()
      if (undeclared.length > 0) {
        throw new Error(`answers the route table does not declare:\n${undeclared.map((a) => `  ${a.method} ${a.url} (${a.operationId}) answered ${a.status} ${a.code ?? ''}`).join('\n')}`)
      }
    },
  }
}

/** A port nothing listens on: bound once, then released. */
export async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())))
  return port
}
