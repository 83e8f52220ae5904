import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import type { PersonExport } from '@his-her/contract'
import { loadConfig } from '../config.js'
import { dataDirOwner } from '../db/data-dir-lock.js'
import { HubError } from '../errors.js'
import { exportPerson } from '../flows/export-person.js'
import { direct } from './ledger.js'
import { CommandError, runningHubApi } from './running-hub.js'

const usage = `usage:
  customer-hub export-person ID [--out FILE]
everything the hub holds about the customer ID (and the customers merged into it) as one JSON
document (docs/privacy.md, "Export"); on stdout, or written to FILE (readable by its owner only)`

/**
 * `customer-hub export-person ID [--out FILE]`: the document of `GET /customer/:id/export`, read
 * from the database itself, or through the API of the running hub that holds the embedded one.
 */
export async function exportPersonCommand(args: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: { out: { type: 'string' } } })
  } catch (err) {
    console.error(`${(err as Error).message}\n${usage}`)
    return 2
  }
  const [id, ...extra] = parsed.positionals
  if (!id || extra.length > 0 || parsed.values.out === '') {
    console.error(usage)
    return 2
  }
  const config = loadConfig()
  try {
    let doc: PersonExport
    if (!config.databaseUrl && dataDirOwner(config.dataDir) !== undefined) {
      doc = (await runningHubApi(config)('GET', `/customer/${encodeURIComponent(id)}/export`)) as unknown as PersonExport
    } else {
      let read: PersonExport | undefined
      await direct(config, async (app, db) => {
        read = await exportPerson(db, app.services, id)
        return 0
      })
      doc = read!
    }
    const text = `${JSON.stringify(doc, null, 2)}\n`
    if (parsed.values.out === undefined) process.stdout.write(text)
    else {
      // personal data: a file only its owner reads
      writeFileSync(parsed.values.out, text, { mode: 0o600 })
      console.error(`wrote the export of ${id} to ${parsed.values.out}`)
    }
    return 0
  } catch (err) {
    if (err instanceof HubError) {
      console.error(`customer-hub: ${err.code}: ${err.message}`)
      return 1
    }
    if (err instanceof CommandError) {
      console.error(`customer-hub: ${err.message}`)
      return 1
    }
    throw err
  }
}
