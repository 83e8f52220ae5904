import type { Generated, JSONColumnType } from 'kysely'
import type { Timestamp } from '../db/database.js'

/** Points ledgers; `reward-points` always exists, others come from the configuration. */
export interface LedgersTable {
  id: string
  name: string
  allow_negative: Generated<boolean>
  /** `points`, or `value` for a ledger of money-like balances in `currency` (gift cards). */
  kind: Generated<'points' | 'value'>
  currency: string | null
  created_at: Timestamp
}

export type AccountRole = 'customer' | 'issuer' | 'redemptions' | 'expiry' | 'adjustments' | 'coupon'

/** A customer's reward account in one ledger, or one lane of a system account (see the migration). */
export interface RewardAccountsTable {
  id: string
  ledger_id: string
  customer_id: string | null
  role: Generated<AccountRole>
  provider: string | null
  lane: number | null
  /** The coupon whose balance the account holds (role `coupon`). */
  coupon_id: string | null
  /** bigint columns come back as strings: exact. */
  balance: Generated<string>
  held: Generated<string>
  pending: Generated<string>
  entry_count: Generated<string>
  head_hash: Generated<string>
  next_due_at: Date | null
  created_at: Timestamp
}

export interface LedgerTransactionsTable {
  id: string
  ledger_id: string
  kind: string
  idempotency_key: string
  fingerprint: string
  postings: JSONColumnType<{ from: string; to: string; amount: number }[]>
  reference: string | null
  reason: string | null
  reverses: string | null
  hold_id: string | null
  order_id: string | null
  merge_id: string | null
  metadata: JSONColumnType<Record<string, unknown>>
  created_at: Date
}

export interface LedgerEntriesTable {
  account_id: string
  seq: string
  transaction_id: string
  amount: string
  balance_after: string
  hash: string
  created_at: Date
}

export interface LedgerLotsTable {
  id: string
  account_id: string
  transaction_id: string
  amount: string
  remaining: string
  expires_at: Date | null
  pending: boolean
  available_at: Date | null
  order_id: string | null
  created_at: Date
}

export interface LedgerLotUsesTable {
  transaction_id: string
  lot_id: string
  amount: string
}

export interface LedgerHoldsTable {
  id: string
  ledger_id: string
  account_id: string
  amount: string
  status: 'pending' | 'captured' | 'voided' | 'expired'
  captured_amount: string | null
  capture_transaction_id: string | null
  reference: string | null
  idempotency_key: string
  fingerprint: string
  expires_at: Date
  created_at: Date
  resolved_at: Date | null
}

declare module '../db/database.js' {
  interface Database {
    ledgers: LedgersTable
    reward_accounts: RewardAccountsTable
    ledger_transactions: LedgerTransactionsTable
    ledger_entries: LedgerEntriesTable
    ledger_lots: LedgerLotsTable
    ledger_lot_uses: LedgerLotUsesTable
    ledger_holds: LedgerHoldsTable
  }
}

declare module '../ids.js' {
  interface IdPrefixes {
    rwa: 'reward account'
    txn: 'ledger transaction'
    lot: 'points lot'
    hld: 'points hold'
  }
}
