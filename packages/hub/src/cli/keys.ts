import { databaseOptions, loadConfig } from '../config.js'
import { createDatabase } from '../db/create-database.js'
import { dataDirOwner } from '../db/data-dir-lock.js'
import { migrate } from '../db/migrate.js'
import { createSigningKeys } from '../auth/signing-keys.js'
import { withTransaction } from '../db/executor.js'
import { resolveSecret } from '../http/server.js'
import { CommandError, runningHubApi } from './running-hub.js'

/**
 * `customer-hub keys rotate`: a new key signs from now on; tokens signed by the old one stay
 * valid until they expire (the old key stays in the JWKS until then).
 */
export async function keysCommand(args: string[]): Promise<number> {
  if (args.length !== 1 || args[0] !== 'rotate') {
    console.error('usage: customer-hub keys rotate')
    return 2
  }
  const config = loadConfig()
  try {
    if (!config.databaseUrl && dataDirOwner(config.dataDir) !== undefined) {
      const { kid } = await runningHubApi(config)('POST', '/keys/rotate')
      console.log(kid)
      return 0
    }
    const database = await createDatabase(databaseOptions(config, 1))
    try {
      await migrate(database.db)
      const keys = createSigningKeys({ secret: resolveSecret(config, database.kind === 'pglite'), accessTokenTtl: config.auth.accessTokenTtl })
      console.log(await withTransaction(database.db, (tx) => keys.rotate(tx)))
      return 0
    } finally {
      await database.close()
    }
  } catch (err) {
    if (!(err instanceof CommandError)) throw err
    console.error(`customer-hub: ${err.message}`)
    return 1
  }
}
