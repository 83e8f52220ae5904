import { sql, type Kysely } from 'kysely'
import type { Database } from '../db/schema.js'
import type { LedgerSettings } from '../config.js'
import { HubError } from '../errors.js'

/**
 * Answers "does this ledger exist?" without a query once it has been seen: ledgers are only
 * ever added, so a positive answer never goes stale.
 */
export function createLedgerCheck(db: Kysely<Database>) {
  const known = new Set<string>()
  return {
    async assertExists(ledger: string): Promise<void> {
      if (known.has(ledger)) return
      const row = await db.selectFrom('ledgers').select('id').where('id', '=', ledger).executeTakeFirst()
      if (!row) throw new HubError('LEDGER_NOT_FOUND', `No ledger "${ledger}"; declare it under ledgers: in the configuration.`)
      known.add(ledger)
    },
  }
}
export type LedgerCheck = ReturnType<typeof createLedgerCheck>

/** Adds the ledgers the configuration declares (existing ones keep their settings). */
export async function ensureConfiguredLedgers(db: Kysely<Database>, ledgers: LedgerSettings[]): Promise<void> {
  for (const l of ledgers) {
    await sql`INSERT INTO ledgers (id, name, allow_negative) VALUES (${l.handle}, ${l.name}, ${l.allowNegative})
              ON CONFLICT (id) DO NOTHING`.execute(db)
  }
}
