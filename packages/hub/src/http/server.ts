import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { databaseOptions, type HubConfig } from '../config.js'
import { ConfigError } from '../errors.js'
import { createDatabase } from '../db/create-database.js'
import { migrate } from '../db/migrate.js'
import { buildApp, type HubApp } from './app.js'

/** Where an embedded hub writes the URL it listens on, for `customer-hub token` to find it. */
export const hubUrlFile = (dataDir: string): string => join(dataDir, 'hub.url')

/**
 * The hub's secret: `HUB_SECRET`, or — for the embedded database only — one generated on first
 * start and kept beside the data in `<data dir>/secret` (mode 0600).
 */
export function resolveSecret(config: HubConfig, embedded: boolean): string {
  if (config.secret) return config.secret
  if (!embedded) throw new ConfigError('HUB_SECRET must be set with DATABASE_URL (32 characters or more, the same for every hub process): it encrypts the token-signing keys')
  const file = join(config.dataDir, 'secret')
  if (existsSync(file)) return readFileSync(file, 'utf8').trim()
  const secret = randomBytes(32).toString('base64url')
  writeFileSync(file, `${secret}\n`, { mode: 0o600 })
  return secret
}

export interface RunningHub {
  app: HubApp
  url: string
  /** Stops accepting, lets requests in flight finish, closes the database. */
  stop(): Promise<void>
}

/**
 * Opens the database, applies migrations, makes the first admin token when the database has
 * none, and listens. The token is printed once (and in embedded mode written to
 * `<data dir>/admin-token`, mode 0600); it never goes through the logger.
 */
export async function startHub(config: HubConfig, out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<RunningHub> {
  if (config.databaseUrl && !config.secret) resolveSecret(config, false) // fail before connecting
  const database = await createDatabase(databaseOptions(config))
  let app: HubApp | undefined
  try {
    await migrate(database.db)
    app = await buildApp({ config: { ...config, secret: resolveSecret(config, database.kind === 'pglite') }, database })
    if (!database.listens) {
      app.log.warn('HUB_DB_POOLER=transaction without HUB_DB_DIRECT_URL: not listening for notifications; waiting feed readers and the event workers see new events on their next periodic read (within 2 s)')
    }
    const tokenFile = join(config.dataDir, 'admin-token')
    if (!config.adminToken) {
      const token = await app.tokens.bootstrap()
      if (token) {
        out('First start: an admin token was created. It is shown this once:')
        out(`  ${token}`)
        if (database.kind === 'pglite') {
          writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 })
          out(`  (also written to ${tokenFile}, readable only by you)`)
        }
      }
    }
    // a token file loosened since (a copy, a backup restore) is made readable only by its owner again
    if (database.kind === 'pglite' && existsSync(tokenFile)) chmodSync(tokenFile, 0o600)
    const address = await app.listen({ port: config.port, host: config.host })
    if (database.kind === 'pglite') writeFileSync(hubUrlFile(config.dataDir), `${address}\n`)
    const running = app
    let stopping: Promise<void> | undefined
    return {
      app,
      url: address,
      stop: () =>
        (stopping ??= (async () => {
          await running.close()
          if (database.kind === 'pglite') rmSync(hubUrlFile(config.dataDir), { force: true })
          await database.close()
        })()),
    }
  } catch (err) {
    await app?.close().catch(() => {})
    await database.close().catch(() => {})
    throw err
  }
}
