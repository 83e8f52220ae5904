import { sql, type RawBuilder, type Selectable } from 'kysely'
import type { EnsuredRewardAccount, RewardAccount } from '@his-her/contract'
import type { Executor, Tx } from '../db/executor.js'
import { HubError } from '../errors.js'
import { newId } from '../ids.js'
import { moveRowsBack } from '../db/moves.js'
import { recordset } from '../db/statement.js'
import type { EventService } from '../events/event-store.js'
import type { LedgerSettings } from './settings.js'
import type { RewardAccountsTable } from './tables.js'

const accountColumns = ['id', 'ledger_id', 'customer_id', 'created_at'] as const
const toAccount = (r: Pick<Selectable<RewardAccountsTable>, (typeof accountColumns)[number]>): RewardAccount => ({
  id: r.id,
  ledger: r.ledger_id,
  customerId: r.customer_id!,
  createdAt: r.created_at.toISOString(),
})

/** The loyalty domain: ledgers and the customers' reward accounts in them. */
export function createLoyaltyService({ events }: { events: EventService }) {
  // ledgers are only ever added, so a positive answer never goes stale
  const knownLedgers = new Map<string, 'points' | 'value'>()

  return {
    /**
     * Throws 404 `LEDGER_NOT_FOUND` unless the ledger exists — and, with `points`, unless it is a
     * points ledger (a gift cards' value ledger moves through the coupon routes only). Asks the
     * database once per ledger: a ledger's kind never changes.
     */
    async assertLedger(exec: Executor, ledger: string, options: { points?: boolean } = {}): Promise<void> {
      let kind = knownLedgers.get(ledger)
      if (!kind) {
        const row = await exec.selectFrom('ledgers').select(['id', 'kind']).where('id', '=', ledger).executeTakeFirst()
        if (!row) throw new HubError('LEDGER_NOT_FOUND', `No ledger "${ledger}"; declare it under ledgers: in the configuration.`)
        kind = row.kind
        knownLedgers.set(ledger, kind)
      }
      if (options.points && kind === 'value') {
        throw new HubError('LEDGER_NOT_FOUND', `"${ledger}" is the value ledger of gift cards: points are posted in a points ledger, gift cards through /coupons.`)
      }
    },

    /** The handles of every ledger, in order. */
    async handles(exec: Executor): Promise<string[]> {
      return (await exec.selectFrom('ledgers').select('id').orderBy('id').execute()).map((r) => r.id)
    },

    /** Adds the ledgers the configuration declares and records their current name and `allow_negative`. */
    async ensureConfigured(tx: Tx, ledgers: LedgerSettings[]): Promise<void> {
      for (const l of ledgers) {
        await tx.insertInto('ledgers').values({ id: l.handle, name: l.name, allow_negative: l.allowNegative })
          .onConflict((oc) => oc.column('id').doUpdateSet({ name: l.name, allow_negative: l.allowNegative })).execute()
      }
    },

    /** Makes sure the customer (whom the caller checked is live) has an account in the ledger; race-free by the unique constraint. */
    async ensureAccount(tx: Tx, customerId: string, ledger: string): Promise<EnsuredRewardAccount> {
      const inserted = await tx
        .insertInto('reward_accounts')
        .values({ id: newId('rwa'), ledger_id: ledger, customer_id: customerId })
        .onConflict((oc) => oc.constraint('reward_accounts_ledger_customer_key').doNothing())
        .returning(accountColumns)
        .executeTakeFirst()
      const row = inserted ?? (await tx.selectFrom('reward_accounts').select(accountColumns).where('ledger_id', '=', ledger).where('customer_id', '=', customerId).executeTakeFirstOrThrow())
      const account = toAccount(row)
      if (inserted) await events.emit(tx, { type: 'reward_account.created', customerId, payload: { rewardAccount: account } })
      return { account, created: inserted !== undefined }
    },

    /**
     * {@link ensureAccount} for many customers in one statement (a bulk import's batch): each gets
     * an account in `ledger` unless it has one; `reward_account.created` for each one made.
     * The caller knows the customers are live. Returns how many were made.
     */
    async ensureAccounts(tx: Tx, customerIds: string[], ledger: string): Promise<number> {
      const ids = [...new Set(customerIds)].sort()
      if (ids.length === 0) return 0
      const made = ids.map((customerId) => ({ id: newId('rwa'), customerId }))
      const { rows } = await sql<Selectable<RewardAccountsTable>>`
        INSERT INTO reward_accounts (id, ledger_id, customer_id)
        SELECT v.id, ${ledger}, v.customer_id FROM ${recordset(made.map((m) => ({ id: m.id, customer_id: m.customerId })), 'id text, customer_id text')}
        ORDER BY v.customer_id
        ON CONFLICT ON CONSTRAINT reward_accounts_ledger_customer_key DO NOTHING
        RETURNING id, ledger_id, customer_id, created_at`.execute(tx)
      await events.emit(tx, ...rows.map((r) => {
        const account = toAccount(r)
        return { type: 'reward_account.created' as const, customerId: account.customerId, payload: { rewardAccount: account } }
      }))
      return rows.length
    },

    async list(exec: Executor, customerId: string): Promise<RewardAccount[]> {
      // (a customer's accounts; system accounts have no customer)
      const rows = await exec.selectFrom('reward_accounts').select(accountColumns).where('customer_id', '=', customerId).orderBy('created_at').orderBy('id').execute()
      return rows.map(toAccount)
    },

    /**
     * The insert of a reward account, as one part of a larger statement: nothing on conflict
     * (the customer has one in the ledger already), `RETURNING id` when it made one.
     */
    accountInsertSql(account: RewardAccount, when?: RawBuilder<unknown>): RawBuilder<unknown> {
      return sql`
        INSERT INTO reward_accounts (id, ledger_id, customer_id, created_at)
        SELECT ${account.id}, ${account.ledger}, ${account.customerId}, ${account.createdAt}::timestamptz ${when ? sql`WHERE ${when}` : sql``}
        ON CONFLICT ON CONSTRAINT reward_accounts_ledger_customer_key DO NOTHING
        RETURNING id`
    },

    /** Whether the customer `customerId` (a column reference) has an account in `ledger`: a column for another domain's read. */
    hasAccountSql(customerId: RawBuilder<unknown>, ledger: string): RawBuilder<boolean> {
      return sql<boolean>`EXISTS (SELECT 1 FROM reward_accounts r WHERE r.customer_id = ${customerId} AND r.ledger_id = ${ledger})`
    },

    /** Moves exactly these accounts back: the undo of a merge recorded before merges moved points as transfers; false when one is no longer on `fromId`. */
    moveBack: (tx: Tx, ids: string[], fromId: string, toId: string) => moveRowsBack(tx, 'reward_accounts', ids, fromId, toId),
  }
}
export type LoyaltyService = ReturnType<typeof createLoyaltyService>
