import { parseArgs } from 'node:util'
import type { EraseResult } from '@his-her/contract'
import { loadConfig } from '../config.js'
import { dataDirOwner } from '../db/data-dir-lock.js'
import { withTransaction } from '../db/executor.js'
import { HubError } from '../errors.js'
import { erasePerson } from '../flows/erase-person.js'
import { direct } from './ledger.js'
import { CommandError, runningHubApi } from './running-hub.js'

const usage = `usage:
  customer-hub erase-person ID
erases the customer ID and the customers merged into it: their personal data goes, their ids,
order totals and ledger stay (docs/privacy.md, "Erase"); prints the answer of POST /customer/:id/erase`

/**
 * `customer-hub erase-person ID`: `POST /customer/:id/erase`, in the database itself, or through
 * the API of the running hub that holds the embedded one. Erasing again prints the same answer.
 */
export async function erasePersonCommand(args: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: {} })
  } catch (err) {
    console.error(`${(err as Error).message}\n${usage}`)
    return 2
  }
  const [id, ...extra] = parsed.positionals
  if (!id || extra.length > 0) {
    console.error(usage)
    return 2
  }
  const config = loadConfig()
  try {
    let result: EraseResult
    if (!config.databaseUrl && dataDirOwner(config.dataDir) !== undefined) {
      result = (await runningHubApi(config)('POST', `/customer/${encodeURIComponent(id)}/erase`)) as unknown as EraseResult
    } else {
      let erased: EraseResult | undefined
      await direct(config, async (app, db) => {
        erased = await withTransaction(db, (tx) => erasePerson(tx, app.services, id))
        return 0
      })
      result = erased!
    }
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
    return 0
  } catch (err) {
    if (err instanceof HubError || err instanceof CommandError) {
      console.error(`customer-hub: ${err instanceof HubError ? `${err.code}: ` : ''}${err.message}`)
      return 1
    }
    throw err
  }
}
