import { createWriteStream, existsSync, type WriteStream } from 'node:fs'
import { parseArgs } from 'node:util'
import { loadConfig } from '../config.js'
import { dataDirOwner } from '../db/data-dir-lock.js'
import { HubError } from '../errors.js'
import { runImport } from '../imports/run-import.js'
import { importWorkers } from '../imports/settings.js'
import { CsvError } from '../imports/read-rows.js'
import { direct } from './ledger.js'
import { CommandError } from './running-hub.js'
import { progressBar } from './progress.js'

const usage = `usage:
  customer-hub import FILE --platform COMPONENT [--format csv|jsonl] [--id-field NAME]
imports one platform's customers: JSON Lines (or CSV with the same column names, nested fields as
JSON) with externalId, email, phone, firstName, lastName, metadata, groups, addresses, orderCount,
totalSpent, currency, points. Every row is resolved with the sync's rules (docs/imports.md).
Interrupted, run it again: it resumes and does nothing twice; a file imported before changes
nothing. Rows refused whole or in part are written to FILE.rejected.jsonl with the reason.`

/** `customer-hub import FILE --platform COMPONENT`: a bulk import on the database itself, with progress and a summary. */
export async function importCommand(args: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: { platform: { type: 'string' }, format: { type: 'string' }, 'id-field': { type: 'string' }, 'batch-size': { type: 'string' } } })
  } catch (err) {
    console.error(`${(err as Error).message}\n${usage}`)
    return 2
  }
  const [path, ...extra] = parsed.positionals
  const { platform, format } = parsed.values
  const batchSize = parsed.values['batch-size'] === undefined ? undefined : Number(parsed.values['batch-size'])
  if (!path || extra.length > 0 || !platform || (format !== undefined && format !== 'csv' && format !== 'jsonl') || (batchSize !== undefined && !(Number.isInteger(batchSize) && batchSize > 0 && batchSize <= 5000))) {
    console.error(usage)
    return 2
  }
  if (!existsSync(path)) {
    console.error(`customer-hub: no file ${path}`)
    return 2
  }
  const config = loadConfig()
  if (!config.databaseUrl && dataDirOwner(config.dataDir) !== undefined) {
    console.error('customer-hub: a running hub holds the embedded database: stop it first, or upload the file with POST /imports')
    return 1
  }
  const rejectedPath = `${path}.rejected.jsonl`
  let rejectedOut: WriteStream | undefined
  const staging = progressBar('reading', 'rows')
  const importing = progressBar('importing', 'rows')
  try {
    return await direct(config, async (app, db) => {
      const summary = await runImport({
        db, services: app.services, settings: config.customer, identity: config.identity, path, component: platform,
        externalIdField: parsed.values['id-field'], format: format as 'csv' | 'jsonl' | undefined, batchSize, workers: importWorkers(config),
        // the reading's bar until the file is read whole; then the rows imported of all of them
        onProgress: (p) => {
          if (p.phase === 'staging') staging.update(p.done, p.done)
          else if (p.total !== null) {
            staging.stop()
            importing.update(p.done, p.total)
          }
        },
        onRejected: async (rows) => {
          rejectedOut ??= createWriteStream(rejectedPath)
          for (const r of rows) rejectedOut.write(`${JSON.stringify(r)}\n`)
        },
      })
      staging.stop()
      importing.stop()
      if (rejectedOut) await new Promise<void>((done) => rejectedOut!.end(done))
      const { id, totalRows, created, matched, joined, conflicts, rejected, partial, rejectedIdentifiers } = summary
      if (summary.alreadyDone) console.log(`${path}: imported before (${id}); nothing changed`)
      console.log(JSON.stringify({ id, totalRows, created, matched, joined, conflicts, rejected, partial, rejectedIdentifiers, ...(rejectedOut ? { rejectedFile: rejectedPath } : {}) }, null, 2))
      return 0
    })
  } catch (err) {
    staging.stop()
    importing.stop()
    if (err instanceof HubError || err instanceof CommandError || err instanceof CsvError) {
      console.error(`customer-hub: ${err instanceof HubError ? `${err.code}: ` : ''}${err.message}`)
      return 1
    }
    throw err
  }
}
