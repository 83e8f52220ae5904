import { parseArgs } from 'node:util'
import type { VerifyReport } from '@his-her/contract'
import { databaseOptions, loadConfig, type HubConfig } from '../config.js'
import { createDatabase } from '../db/create-database.js'
import { dataDirOwner } from '../db/data-dir-lock.js'
import { migrate } from '../db/migrate.js'
import { buildApp, type HubApp } from '../http/app.js'
import type { Executor } from '../db/executor.js'
import { resolveSecret } from '../http/server.js'
import { settleDueAccounts } from '../loyalty/index.js'
import { CommandError, runningHubApi } from './running-hub.js'
import { progressBar } from './progress.js'

const usage = `usage:
  customer-hub ledger verify [--ledger HANDLE]   recompute every balance from the entries, check every hash chain and transaction
  customer-hub ledger expire [--ledger HANDLE]   settle every account that fell due now: expired lots and holds, ended return windows`

function printReport(report: VerifyReport): void {
  const head = `${report.ledger}: ${report.accounts} accounts, ${report.transactions} transactions, ${report.entries} entries`
  if (report.ok) {
    console.log(`${head} — ok`)
    return
  }
  console.log(`${head} — ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}:`)
  for (const p of report.problems) {
    console.log(`  ${p.kind}\t${p.accountId ?? '-'}\t${p.transactionId ?? '-'}\t${p.detail}`)
  }
}

/** Runs `run` on the database itself, with the services of a hub built on it (no hub may hold an embedded one). */
export async function direct(config: HubConfig, run: (app: HubApp, db: Executor) => Promise<number>): Promise<number> {
  // connections for the command: an import resolves `imports.workers` batches at once
  const database = await createDatabase(databaseOptions(config, Math.max(2, config.imports.workers)))
  try {
    await migrate(database.db)
    // a command does only what it was asked: no deliveries, no imports of others taken over meanwhile
    const app = await buildApp({ config: { ...config, secret: resolveSecret(config, database.kind === 'pglite'), imports: { ...config.imports, resume: false } }, database, logger: false, background: false, routes: false })
    try {
      return await run(app, database.db)
    } finally {
      await app.close()
    }
  } finally {
    await database.close()
  }
}

/** `customer-hub ledger verify|expire`. */
export async function ledgerCommand(args: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: { ledger: { type: 'string' } } })
  } catch (err) {
    console.error(`${(err as Error).message}\n${usage}`)
    return 2
  }
  const [action, ...extra] = parsed.positionals
  if (!action || !['verify', 'expire'].includes(action) || extra.length > 0) {
    console.error(usage)
    return 2
  }
  const config = loadConfig()
  const only = parsed.values.ledger
  try {
    const embeddedBusy = !config.databaseUrl && dataDirOwner(config.dataDir) !== undefined
    if (embeddedBusy) {
      if (action === 'expire') throw new CommandError(`the hub holding ${config.dataDir} is running and settles due accounts itself every 30 seconds`)
      const call = runningHubApi(config)
      const handles = only ? [only] : ['reward-points', ...config.ledgers.map((l) => l.handle).filter((h) => h !== 'reward-points')]
      let drift = false
      for (const handle of handles) {
        const report = (await call('GET', `/ledgers/${encodeURIComponent(handle)}/verify`)) as unknown as VerifyReport
        printReport(report)
        drift ||= !report.ok
      }
      return drift ? 1 : 0
    }
    return await direct(config, async (app, db) => {
      const ledgers = await app.services.loyalty.handles(db)
      if (only && !ledgers.includes(only)) throw new CommandError(`no ledger "${only}" (known: ${ledgers.join(', ')})`)
      if (action === 'expire') {
        const settled = await settleDueAccounts(db, app.services.ledger, only)
        console.log(`settled ${settled} account${settled === 1 ? '' : 's'} that fell due`)
        return 0
      }
      let drift = false
      for (const handle of only ? [only] : ledgers) {
        const bar = progressBar(`verify ${handle}`, 'accounts', { lines: false })
        const report = await app.services.ledgerReads.verify(db, handle, (done, total) => bar.update(done, total))
        bar.stop()
        printReport(report)
        drift ||= !report.ok
      }
      return drift ? 1 : 0
    })
  } catch (err) {
    if (err instanceof CommandError) {
      console.error(`customer-hub: ${err.message}`)
      return 1
    }
    throw err
  }
}
