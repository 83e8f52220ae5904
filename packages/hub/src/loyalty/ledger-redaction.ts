import { sql } from 'kysely'
import type { Tx } from '../db/executor.js'
import { allowErasure, scrubFields, type Redaction } from '../redaction.js'

/**
 * Takes a person's data out of the points ledger's free-form fields (an erase): the reference,
 * reason, metadata and idempotency key of every transaction that moved one of the person's
 * reward accounts, and the reference and key of every hold on one, are rewritten by the rule of
 * {@link Redaction.text} with `about` — metadata emptied —, and those of any other transaction or
 * hold that names the person (one of its ids or identifiers) by the rule for others. A key that
 * held the person's data becomes its erased form, which every lookup of a key also finds: a retry
 * with the original key still replays and posts nothing twice.
 *
 * Ids, kinds, postings, amounts and times never change (the trigger refuses it), so every entry's
 * hash and every chain stay as they were. Rows are locked as they are read: two erases of people
 * who share a transaction (a transfer) rewrite it one after the other.
 */
export function createLedgerRedaction(secret: string) {
  return {
    async redact(tx: Tx, redaction: Redaction): Promise<{ transactions: number; holds: number }> {
      const ids = redaction.ids
      const accounts = sql`(SELECT id FROM reward_accounts WHERE customer_id = ANY (${ids}::text[]))`
      await allowErasure(tx, true)

      const txRows = await sql<{ id: string; reference: string | null; reason: string | null; metadata: unknown; idempotency_key: string; about: boolean }>`
        SELECT t.id, t.reference, t.reason, t.metadata, t.idempotency_key,
               EXISTS (SELECT 1 FROM ledger_entries e WHERE e.transaction_id = t.id AND e.account_id IN ${accounts}) AS about
        FROM ledger_transactions t
        WHERE t.id IN (SELECT transaction_id FROM ledger_entries WHERE account_id IN ${accounts})
           OR ${redaction.mayHold(sql`concat_ws(' ', t.reference, t.reason, t.metadata::text, t.idempotency_key)`)}
        ORDER BY t.id
        FOR UPDATE OF t`.execute(tx)
      let transactions = 0
      for (const row of txRows.rows) {
        const metadata = (typeof row.metadata === 'string' ? JSON.parse(row.metadata) : row.metadata) as Record<string, unknown>
        const nextMetadata = row.about ? {} : (redaction.redact(metadata, false) ?? metadata)
        const metadataChanged = JSON.stringify(nextMetadata) !== JSON.stringify(metadata)
        const scrubbed = scrubFields(redaction, secret, { reference: row.reference, reason: row.reason }, row.idempotency_key, row.about)
        if (!scrubbed.changed && !metadataChanged) continue
        await sql`
          UPDATE ledger_transactions SET reference = ${scrubbed.fields.reference}, reason = ${scrubbed.fields.reason},
            metadata = ${JSON.stringify(nextMetadata)}::jsonb, idempotency_key = ${scrubbed.key}
          WHERE id = ${row.id}`.execute(tx)
        transactions++
      }

      const holdRows = await sql<{ id: string; reference: string | null; idempotency_key: string; about: boolean }>`
        SELECT h.id, h.reference, h.idempotency_key, h.account_id IN ${accounts} AS about
        FROM ledger_holds h
        WHERE h.account_id IN ${accounts} OR ${redaction.mayHold(sql`concat_ws(' ', h.reference, h.idempotency_key)`)}
        ORDER BY h.id
        FOR UPDATE OF h`.execute(tx)
      let holds = 0
      for (const row of holdRows.rows) {
        const scrubbed = scrubFields(redaction, secret, { reference: row.reference }, row.idempotency_key, row.about)
        if (!scrubbed.changed) continue
        await sql`UPDATE ledger_holds SET reference = ${scrubbed.fields.reference}, idempotency_key = ${scrubbed.key} WHERE id = ${row.id}`.execute(tx)
        holds++
      }
      await allowErasure(tx, false)
      return { transactions, holds }
    },
  }
}
export type LedgerRedaction = ReturnType<typeof createLedgerRedaction>
