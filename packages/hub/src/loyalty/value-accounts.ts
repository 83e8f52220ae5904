import { sql } from 'kysely'
import type { Executor, Tx } from '../db/executor.js'
import { RetryTransaction } from '../db/executor.js'
import { isUniqueViolation } from '../db/pg-errors.js'
import { HubError } from '../errors.js'
import { newId } from '../ids.js'
import { laneOf, type AccountRow, type LedgerStore } from './ledger-store.js'
import type { LedgerService } from './ledger-service.js'
import type { LedgerTransaction } from '@his-her/contract'

/** The value ledger of a currency, where gift cards' balances live: `gift-cards-usd`, … */
export const valueLedgerOf = (currency: string): string => `gift-cards-${currency.toLowerCase()}`

/** A value account's balance: `available` is what neither a hold reserves nor was spent. */
export interface ValueBalance {
  accountId: string
  ledger: string
  balance: bigint
  held: bigint
  available: bigint
}

export interface ValueHold {
  id: string
  accountId: string
  amount: bigint
  status: 'pending' | 'captured' | 'voided' | 'expired'
  capturedAmount: bigint | null
  captureTransactionId: string | null
  reference: string | null
  idempotencyKey: string
  fingerprint: string
  expiresAt: Date
  createdAt: Date
  resolvedAt: Date | null
}

type HoldRaw = Omit<ValueHold, 'accountId' | 'amount' | 'capturedAmount' | 'idempotencyKey' | 'captureTransactionId'> & {
  account_id: string
  amount: string
  captured_amount: string | null
  capture_transaction_id: string | null
  idempotency_key: string
}
const holdColumns = sql`id, account_id, amount::text AS amount, status, captured_amount::text AS captured_amount, capture_transaction_id,
  reference, idempotency_key, fingerprint, expires_at AS "expiresAt", created_at AS "createdAt", resolved_at AS "resolvedAt"`
const holdOf = (r: HoldRaw): ValueHold => ({
  id: r.id,
  accountId: r.account_id,
  amount: BigInt(r.amount),
  status: r.status,
  capturedAmount: r.captured_amount === null ? null : BigInt(r.captured_amount),
  captureTransactionId: r.capture_transaction_id,
  reference: r.reference,
  idempotencyKey: r.idempotency_key,
  fingerprint: r.fingerprint,
  expiresAt: r.expiresAt,
  createdAt: r.createdAt,
  resolvedAt: r.resolvedAt,
})

const balanceOf = (row: Pick<AccountRow, 'id' | 'ledger_id' | 'balance' | 'held'>): ValueBalance => ({
  accountId: row.id,
  ledger: row.ledger_id,
  balance: row.balance,
  held: row.held,
  available: row.balance - row.held,
})

/** The hub's own transaction keys hold a space, which no caller's key can (see ledger-service). */
const internalKey = (name: string): string => `hub ${name}`

/**
 * Accounts of money-like value outside customers' points: a gift card's balance, issued by its
 * provider's issuer account in the value ledger of its currency and redeemed to the ledger's
 * redemptions. Every change is a ledger transaction written by the ledger store (guarded balance,
 * hash-chained entries), and holds are the ledger's two-phase holds, so a balance is never spent
 * twice however many processes redeem it at once: each operation locks the account row first.
 */
export function createValueAccounts({ store, ledger, clock }: { store: LedgerStore; ledger: LedgerService; clock: () => Date }) {
  // value ledgers that existed before: a row made in a transaction that rolls back is not remembered
  const knownLedgers = new Set<string>()

  async function ensureLedger(tx: Tx, currency: string): Promise<string> {
    const id = valueLedgerOf(currency)
    if (knownLedgers.has(id)) return id
    const { rows } = await sql<{ id: string }>`
      INSERT INTO ledgers (id, name, kind, currency) VALUES (${id}, ${`Gift cards (${currency})`}, 'value', ${currency})
      ON CONFLICT (id) DO NOTHING RETURNING id`.execute(tx)
    if (rows.length === 0) knownLedgers.add(id)
    return id
  }

  /** Moves the balance of a locked account to `target`, from or back to the provider's issuer account. */
  async function setBalance(tx: Tx, accounts: Map<string, AccountRow>, accountId: string, provider: string, target: bigint, first: boolean): Promise<LedgerTransaction | null> {
    const row = accounts.get(accountId)!
    const diff = target - row.balance
    if (diff === 0n) return null
    const issuer = await store.laneId(tx, row.ledger_id, 'issuer', laneOf(accountId), provider)
    const id = newId('txn')
    try {
      const written = await store.write(tx, accounts, {
        id,
        ledger: row.ledger_id,
        kind: first ? 'earn' : 'adjust',
        idempotencyKey: internalKey(`value:${id}`),
        fingerprint: 'value balance',
        postings: [diff > 0n ? { from: issuer, to: accountId, amount: diff } : { from: accountId, to: issuer, amount: -diff }],
        reason: first ? 'issued' : 'balance synced',
        mayGoNegative: false,
      })
      return written.transaction
    } catch (err) {
      if (err instanceof HubError && err.code === 'INSUFFICIENT_POINTS') {
        throw new HubError('COUPON_BALANCE_HELD', `Holds reserve ${row.held} on this coupon now; its balance cannot become ${target}.`, { held: Number(row.held) })
      }
      throw err
    }
  }

  async function readHold(exec: Executor, id: string): Promise<ValueHold | undefined> {
    const { rows } = await sql<HoldRaw>`SELECT ${holdColumns} FROM ledger_holds WHERE id = ${id}`.execute(exec)
    return rows[0] ? holdOf(rows[0]) : undefined
  }

  /** Locks the hold's account (settling it: a hold past its timeout expires) and reads the hold again under the lock. */
  async function lockHold(tx: Tx, id: string, accountId: string): Promise<{ hold: ValueHold; accounts: Map<string, AccountRow> }> {
    const accounts = await ledger.lockAndSettle(tx, [accountId])
    const hold = (await readHold(tx, id))!
    if (hold.status !== 'pending') throw new HubError('HOLD_RESOLVED', `The hold ${id} is ${hold.status}.`)
    return { hold, accounts }
  }

  async function debit(
    tx: Tx,
    accounts: Map<string, AccountRow>,
    accountId: string,
    amount: bigint,
    spec: { kind: 'spend' | 'capture'; key: string; fingerprint: string; reference: string | null; id?: string; heldRelease?: bigint; holdId?: string; parts?: [string, ReturnType<typeof sql>][] },
  ): Promise<LedgerTransaction> {
    const row = accounts.get(accountId)!
    const redemptions = await store.laneId(tx, row.ledger_id, 'redemptions', laneOf(accountId))
    const written = await store.write(tx, accounts, {
      id: spec.id,
      ledger: row.ledger_id,
      kind: spec.kind,
      idempotencyKey: spec.key,
      fingerprint: spec.fingerprint,
      postings: [{ from: accountId, to: redemptions, amount }],
      reference: spec.reference,
      holdId: spec.holdId,
      held: spec.heldRelease ? new Map([[accountId, -spec.heldRelease]]) : undefined,
      parts: spec.parts,
      mayGoNegative: false,
    })
    return written.transaction
  }

  return {
    ledgerOf: valueLedgerOf,
    holdOf: readHold,

    /**
     * Opens the account of a coupon in the value ledger of `currency` (made on first use) and
     * issues `amount` to it from `provider`'s issuer account. One account per coupon (unique index).
     */
    async open(tx: Tx, input: { currency: string; provider: string; couponId: string; amount: bigint; accountId?: string }): Promise<{ balance: ValueBalance; transaction: LedgerTransaction | null }> {
      const ledgerId = await ensureLedger(tx, input.currency)
      const id = input.accountId ?? newId('rwa')
      const { rows } = await sql<{ id: string }>`
        INSERT INTO reward_accounts (id, ledger_id, customer_id, role, coupon_id) VALUES (${id}, ${ledgerId}, NULL, 'coupon', ${input.couponId})
        ON CONFLICT (coupon_id) WHERE coupon_id IS NOT NULL DO NOTHING RETURNING id`.execute(tx)
      if (!rows[0]) throw new RetryTransaction(`the account of coupon ${input.couponId} was opened meanwhile`)
      const accounts = await store.lock(tx, [id])
      const transaction = await setBalance(tx, accounts, id, input.provider, input.amount, true)
      return { balance: balanceOf(accounts.get(id)!), transaction }
    },

    /** Sets the balance of a coupon's account to `target` by a transaction of the difference; refused below what holds reserve. */
    async setBalance(tx: Tx, accountId: string, provider: string, target: bigint): Promise<{ balance: ValueBalance; transaction: LedgerTransaction | null }> {
      const accounts = await ledger.lockAndSettle(tx, [accountId])
      const transaction = await setBalance(tx, accounts, accountId, provider, target, false)
      return { balance: balanceOf(accounts.get(accountId)!), transaction }
    },

    /** The account locked (what fell due settled), for a check before a debit or hold in the same transaction. */
    async lock(tx: Tx, accountId: string): Promise<ValueBalance> {
      const accounts = await ledger.lockAndSettle(tx, [accountId])
      return balanceOf(accounts.get(accountId)!)
    },

    /** Balances as they are now; holds past their timeout no longer count even before they are settled. */
    async read(exec: Executor, accountIds: string[]): Promise<Map<string, ValueBalance>> {
      if (accountIds.length === 0) return new Map()
      const { rows } = await sql<{ id: string; ledger_id: string; balance: string; held: string }>`
        SELECT r.id, r.ledger_id, r.balance::text AS balance,
          coalesce((SELECT sum(amount) FROM ledger_holds h WHERE h.account_id = r.id AND h.status = 'pending' AND h.expires_at > ${clock().toISOString()}::timestamptz), 0)::text AS held
        FROM reward_accounts r WHERE r.id = ANY (${accountIds}::text[])`.execute(exec)
      return new Map(rows.map((r) => [r.id, balanceOf({ id: r.id, ledger_id: r.ledger_id, balance: BigInt(r.balance), held: BigInt(r.held) })]))
    },

    /**
     * Takes `amount` off the account (to the ledger's redemptions), under its row lock and the
     * guarded update: never below what holds reserve. 422 `INSUFFICIENT_POINTS` when short.
     */
    async redeem(tx: Tx, accountId: string, amount: bigint, spec: { reference: string | null; transactionId?: string }): Promise<{ balance: ValueBalance; transaction: LedgerTransaction }> {
      const accounts = await ledger.lockAndSettle(tx, [accountId])
      const id = spec.transactionId ?? newId('txn')
      const transaction = await debit(tx, accounts, accountId, amount, { kind: 'spend', key: internalKey(`redeem:${id}`), fingerprint: 'value redeem', reference: spec.reference, id })
      return { balance: balanceOf(accounts.get(accountId)!), transaction }
    },

    /** Reserves `amount` for `ttlSeconds` (a ledger hold); its key is unique per value ledger. */
    async hold(
      tx: Tx,
      accountId: string,
      input: { amount: bigint; ttlSeconds: number; key: string; fingerprint: string; reference: string | null; /** Refusals that do not apply to a replay. */ before?: () => Promise<void> },
    ): Promise<{ hold: ValueHold; balance: ValueBalance; replayed: boolean }> {
      const accounts = await ledger.lockAndSettle(tx, [accountId])
      const row = accounts.get(accountId)!
      const { rows: found } = await sql<HoldRaw>`SELECT ${holdColumns} FROM ledger_holds WHERE ledger_id = ${row.ledger_id} AND idempotency_key IN (${sql.join(store.keyForms(input.key))})`.execute(tx)
      if (found[0]) {
        const hold = holdOf(found[0])
        if (hold.fingerprint !== input.fingerprint || hold.accountId !== accountId) {
          throw new HubError('IDEMPOTENCY_KEY_REUSED', `The idempotency key ${input.key} was used for another hold.`)
        }
        return { hold, balance: balanceOf(row), replayed: true }
      }
      await input.before?.()
      const now = clock()
      const id = newId('hld')
      const expiresAt = new Date(now.getTime() + input.ttlSeconds * 1000)
      const insert = sql`
        INSERT INTO ledger_holds (id, ledger_id, account_id, amount, reference, idempotency_key, fingerprint, expires_at, created_at)
        VALUES (${id}, ${row.ledger_id}, ${accountId}, ${String(input.amount)}::bigint, ${input.reference}, ${input.key}, ${input.fingerprint}, ${expiresAt.toISOString()}::timestamptz, ${now.toISOString()}::timestamptz)`
      try {
        const next = await store.setReserved(tx, row, { held: input.amount, due: expiresAt }, [['h', insert]])
        const hold: ValueHold = {
          id, accountId, amount: input.amount, status: 'pending', capturedAmount: null, captureTransactionId: null, reference: input.reference,
          idempotencyKey: input.key, fingerprint: input.fingerprint, expiresAt, createdAt: now, resolvedAt: null,
        }
        return { hold, balance: balanceOf(next), replayed: false }
      } catch (err) {
        if (isUniqueViolation(err, 'ledger_holds_key')) throw new RetryTransaction(`hold key ${input.key} was claimed meanwhile`)
        throw err
      }
    },

    /** Redeems all or part of a pending hold and releases the rest, once (the hold's status is guarded). */
    async capture(tx: Tx, holdId: string, accountId: string, amount: bigint | undefined): Promise<{ hold: ValueHold; balance: ValueBalance; transaction: LedgerTransaction }> {
      const { hold, accounts } = await lockHold(tx, holdId, accountId)
      const captured = amount ?? hold.amount
      if (captured > hold.amount) throw new HubError('CAPTURE_EXCEEDS_HOLD', `The hold reserved ${hold.amount}; ${captured} cannot be captured.`)
      const id = newId('txn')
      const now = clock()
      const transaction = await debit(tx, accounts, accountId, captured, {
        id,
        kind: 'capture',
        key: internalKey(`capture:${hold.id}`),
        fingerprint: 'value capture',
        reference: hold.reference,
        heldRelease: hold.amount,
        holdId: hold.id,
        parts: [['hc', sql`UPDATE ledger_holds SET status = 'captured', captured_amount = ${String(captured)}::bigint, capture_transaction_id = ${id}, resolved_at = ${now.toISOString()}::timestamptz
          WHERE id = ${hold.id} AND status = 'pending' AND EXISTS (SELECT 1 FROM t)`]],
      })
      return {
        hold: { ...hold, status: 'captured', capturedAmount: captured, captureTransactionId: id, resolvedAt: now },
        balance: balanceOf(accounts.get(accountId)!),
        transaction,
      }
    },

    /** Releases a pending hold, once. */
    async void(tx: Tx, holdId: string, accountId: string): Promise<{ hold: ValueHold; balance: ValueBalance }> {
      const { hold, accounts } = await lockHold(tx, holdId, accountId)
      const now = clock()
      const next = await store.setReserved(tx, accounts.get(accountId)!, { held: -hold.amount, due: now }, [
        ['hv', sql`UPDATE ledger_holds SET status = 'voided', resolved_at = ${now.toISOString()}::timestamptz WHERE id = ${hold.id} AND status = 'pending'`],
      ])
      return { hold: { ...hold, status: 'voided', resolvedAt: now }, balance: balanceOf(next) }
    },
  }
}
export type ValueAccounts = ReturnType<typeof createValueAccounts>
