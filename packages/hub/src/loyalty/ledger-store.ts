import { createHash } from 'node:crypto'
import { sql, type RawBuilder } from 'kysely'
import type { AccountBalance, LedgerTransaction, PointsLot, TransactionKind } from '@his-her/contract'
import type { Executor, Tx } from '../db/executor.js'
import { RetryTransaction } from '../db/executor.js'
import { HubError } from '../errors.js'
import { newId } from '../ids.js'
import type { EventInput, EventService } from '../events/event-store.js'
import type { AccountRole } from './tables.js'
import { keyForms } from '../redaction.js'
import { recordset } from '../db/statement.js'

/**
 * The ledger's storage: accounts locked for a posting, the one statement that writes a
 * transaction (its row, one hash-chained entry per account, the guarded balance updates, lots,
 * lot uses and events), lots consumed in expiry order.
 *
 * Amounts are `bigint` here from the database to the answer; they become JSON numbers only at the
 * edge ({@link toNumber} refuses one that would not be exact).
 */

/** A system account is spread over this many rows, so that postings of different customers do not queue on one row lock. */
export const LANES = 16

/** Accounts whose available balance a posting never takes below zero: customers' (unless their ledger allows it) and coupons' (always). */
const guardedRoles: ReadonlySet<AccountRole> = new Set(['customer', 'coupon'])

export interface AccountRow {
  id: string
  ledger_id: string
  customer_id: string | null
  role: AccountRole
  balance: bigint
  held: bigint
  pending: bigint
  next_due_at: Date | null
  created_at: Date
}

export interface LotRow {
  id: string
  account_id: string
  transaction_id: string
  amount: bigint
  remaining: bigint
  expires_at: Date | null
  pending: boolean
  available_at: Date | null
  order_id: string | null
}

/** Points taken from one lot by a debit. */
export interface LotUse {
  lotId: string
  /** The account the lot belongs to. */
  accountId: string
  amount: bigint
  /** The lot was pending (its points count in `pending`). */
  pending: boolean
}

/** Credits for {@link LedgerStore.writeCredits}: one transaction each, in this order. */
export interface CreditsSpec {
  ledger: string
  kind: TransactionKind
  credits: { from: string; to: string; amount: bigint; key: string; fingerprint: string }[]
  /** When every lot made expires (null: never). */
  expiresAt: Date | null
  /** The events of the `n`th credit, given what it wrote. */
  events: (w: WrittenTransaction, n: number) => EventInput[]
}

export interface NewLot {
  accountId: string
  amount: bigint
  expiresAt: Date | null
  /** In its return window until `availableAt`. */
  pending: boolean
  availableAt: Date | null
  orderId: string | null
}

export interface PostingIn {
  from: string
  to: string
  amount: bigint
}

/** A transaction to write, with what it does to accounts beyond its postings. */
export interface TransactionSpec {
  id?: string
  ledger: string
  kind: TransactionKind
  idempotencyKey: string
  fingerprint: string
  postings: PostingIn[]
  reference?: string | null
  reason?: string | null
  reverses?: string | null
  holdId?: string | null
  orderId?: string | null
  mergeId?: string | null
  metadata?: Record<string, unknown>
  /** Changes of `held` by account (a capture releases its hold). */
  held?: Map<string, bigint>
  /** Lots it makes (credits to customer accounts). */
  lots?: NewLot[]
  /** Points it takes from lots (debits of customer accounts). */
  uses?: LotUse[]
  /** Points it gives back to lots a reversed debit took. */
  restores?: LotUse[]
  /** Other parts of the same statement (e.g. a hold's status), each run only when the transaction was written. */
  parts?: [string, RawBuilder<unknown>][]
  /** Customer accounts that may go below zero (a ledger with `allow_negative`). */
  mayGoNegative: boolean
  /** Events; their payload is made from the written transaction and the balances after it. */
  events?: (written: WrittenTransaction) => EventInput[]
}

export interface WrittenTransaction {
  transaction: LedgerTransaction
  /** The customer accounts' balances after it. */
  balances: AccountBalance[]
}

export const toNumber = (value: bigint | string | number): number => {
  const n = Number(value)
  if (!Number.isSafeInteger(n)) throw new Error(`ledger amount ${value} is beyond the exact range of a JSON number`)
  return n
}

const big = (v: string | number | bigint | null | undefined): bigint => (v === null || v === undefined ? 0n : BigInt(v))

export function balanceOf(row: Pick<AccountRow, 'id' | 'customer_id' | 'balance' | 'held' | 'pending'>): AccountBalance {
  return {
    accountId: row.id,
    customerId: row.customer_id,
    balance: toNumber(row.balance),
    held: toNumber(row.held),
    pending: toNumber(row.pending),
    available: toNumber(row.balance - row.held - row.pending),
  }
}

export function lotOf(row: LotRow): PointsLot {
  return {
    id: row.id,
    amount: toNumber(row.amount),
    remaining: toNumber(row.remaining),
    expiresAt: row.expires_at?.toISOString() ?? null,
    pending: row.pending,
    availableAt: row.available_at?.toISOString() ?? null,
    orderId: row.order_id,
  }
}

type RawAccount = Omit<AccountRow, 'balance' | 'held' | 'pending'> & { balance: string; held: string; pending: string }
const accountOf = (r: RawAccount): AccountRow => ({ ...r, balance: big(r.balance), held: big(r.held), pending: big(r.pending) })
const accountColumns = sql`id, ledger_id, customer_id, role, balance::text AS balance, held::text AS held, pending::text AS pending, next_due_at, created_at`

type RawLot = Omit<LotRow, 'amount' | 'remaining'> & { amount: string; remaining: string }
const lotRowOf = (r: RawLot): LotRow => ({ ...r, amount: big(r.amount), remaining: big(r.remaining) })
const lotColumns = sql`id, account_id, transaction_id, amount::text AS amount, remaining::text AS remaining, expires_at, pending, available_at, order_id`

type RawTransaction = {
  id: string
  ledger_id: string
  kind: TransactionKind
  idempotency_key: string
  fingerprint: string
  postings: { from: string; to: string; amount: number | string }[]
  reference: string | null
  reason: string | null
  reverses: string | null
  hold_id: string | null
  order_id: string | null
  merge_id: string | null
  metadata: Record<string, unknown>
  created_at: Date | string
}
export type StoredTransaction = Omit<LedgerTransaction, 'metadata'> & { metadata: Record<string, unknown>; fingerprint: string }
export const transactionOf = (r: RawTransaction): StoredTransaction => ({
  id: r.id,
  ledger: r.ledger_id,
  kind: r.kind,
  idempotencyKey: r.idempotency_key,
  fingerprint: r.fingerprint,
  postings: r.postings.map((p) => ({ from: p.from, to: p.to, amount: toNumber(p.amount) })),
  reference: r.reference,
  reason: r.reason,
  reverses: r.reverses,
  holdId: r.hold_id,
  orderId: r.order_id,
  mergeId: r.merge_id,
  metadata: r.metadata ?? {},
  createdAt: new Date(r.created_at).toISOString(),
})
export const publicTransaction = ({ fingerprint: _f, ...t }: StoredTransaction): LedgerTransaction => t

/** Which lane of a system account a customer account's postings use: always the same one. */
export function laneOf(accountId: string): number {
  let h = 2166136261
  for (let i = 0; i < accountId.length; i++) h = Math.imul(h ^ accountId.charCodeAt(i), 16777619)
  return (h >>> 0) % LANES
}

/**
 * The hash of a ledger entry: the SHA-256 of the previous entry's hash, the transaction, the
 * account, the entry's number, its amount, the balance after it and its time in milliseconds —
 * what the database's `ledger_entry_hash` makes, which the ledger's check recomputes.
 */
export function entryHash(prev: string, transactionId: string, accountId: string, seq: bigint, amount: bigint, balanceAfter: bigint, createdAt: Date): string {
  return createHash('sha256').update(`${prev}|${transactionId}|${accountId}|${seq}|${amount}|${balanceAfter}|${createdAt.getTime()}`).digest('hex')
}

export function createLedgerStore({ events, clock, secret }: { events: EventService; clock: () => Date; secret: string }) {
  // lanes of system accounts never change once made
  const laneIds = new Map<string, string>()

  return {
    /**
     * The id of a system account's lane, made on first use (race-free by its unique index). Only
     * ids of rows that existed before are remembered: a row made here is gone if the transaction
     * rolls back.
     */
    async laneId(tx: Executor, ledger: string, role: Exclude<AccountRole, 'customer'>, lane: number, provider: string | null = null): Promise<string> {
      const key = `${ledger}\0${role}\0${provider ?? ''}\0${lane}`
      const known = laneIds.get(key)
      if (known) return known
      // `mine`: made by this very transaction, not committed yet — not remembered, for other
      // transactions cannot see it, and a rollback would leave an id that names nothing
      const find = async () =>
        (await sql<{ id: string; mine: boolean }>`
          SELECT id, coalesce(xmin = xid(pg_current_xact_id_if_assigned()), false) AS mine
          FROM reward_accounts WHERE ledger_id = ${ledger} AND role = ${role} AND coalesce(provider, '') = ${provider ?? ''} AND lane = ${lane}`.execute(tx)).rows[0]
      const existing = await find()
      if (existing) {
        if (!existing.mine) laneIds.set(key, existing.id)
        return existing.id
      }
      await sql`
        INSERT INTO reward_accounts (id, ledger_id, customer_id, role, provider, lane)
        VALUES (${newId('rwa')}, ${ledger}, NULL, ${role}, ${provider}, ${lane})
        ON CONFLICT (ledger_id, role, coalesce(provider, ''), lane) WHERE role <> 'customer' DO NOTHING`.execute(tx)
      return (await find())!.id
    },

    /** Makes every lane of a ledger's system accounts (at start-up, so that postings find them). */
    async ensureLanes(tx: Tx, ledger: string, provider: string): Promise<void> {
      const roles: [Exclude<AccountRole, 'customer'>, string | null][] = [['issuer', provider], ['redemptions', null], ['expiry', null], ['adjustments', null]]
      const rows = roles.flatMap(([role, p]) => Array.from({ length: LANES }, (_, lane) => sql`(${newId('rwa')}::text, ${ledger}::text, ${role}::text, ${p}::text, ${lane}::int)`))
      await sql`
        INSERT INTO reward_accounts (id, ledger_id, role, provider, lane) VALUES ${sql.join(rows)}
        ON CONFLICT (ledger_id, role, coalesce(provider, ''), lane) WHERE role <> 'customer' DO NOTHING`.execute(tx)
    },

    /** Locks accounts (in id order, so that two postings never wait on each other) and reads them. */
    async lock(tx: Tx, ids: string[]): Promise<Map<string, AccountRow>> {
      const sorted = [...new Set(ids)].sort()
      const { rows } = await sql<RawAccount>`SELECT ${accountColumns} FROM reward_accounts WHERE id = ANY (${sorted}::text[]) ORDER BY id FOR UPDATE`.execute(tx)
      return new Map(rows.map((r) => [r.id, accountOf(r)]))
    },

    async read(exec: Executor, id: string): Promise<AccountRow | undefined> {
      const { rows } = await sql<RawAccount>`SELECT ${accountColumns} FROM reward_accounts WHERE id = ${id}`.execute(exec)
      return rows[0] ? accountOf(rows[0]) : undefined
    },

    /**
     * A customer's account in a ledger, if any, with whether the customer is live (`live`, a part
     * the customers domain builds) — one read; its row locked when `lock`.
     */
    async customerAccount(tx: Executor, ledger: string, customerId: string, live: RawBuilder<boolean>, lock: boolean): Promise<{ row: AccountRow; live: boolean } | undefined> {
      const { rows } = await sql<RawAccount & { live: boolean }>`
        SELECT ${accountColumns}, ${live} AS live FROM reward_accounts WHERE ledger_id = ${ledger} AND customer_id = ${customerId} ${lock ? sql`FOR UPDATE` : sql``}`.execute(tx)
      if (!rows[0]) return undefined
      const { live: isLive, ...raw } = rows[0]
      return { row: accountOf(raw), live: isLive }
    },

    /** The accounts in a ledger of those of `customerIds` that are live (`live`: a select of the live ones' ids), by customer id. */
    async customerAccountIds(exec: Executor, ledger: string, customerIds: string[], live: RawBuilder<unknown>): Promise<Map<string, string>> {
      if (customerIds.length === 0) return new Map()
      const { rows } = await sql<{ id: string; customer_id: string }>`
        SELECT id, customer_id FROM reward_accounts WHERE ledger_id = ${ledger} AND customer_id = ANY (${customerIds}::text[]) AND customer_id IN (${live})`.execute(exec)
      return new Map(rows.map((r) => [r.customer_id, r.id]))
    },

    /** A customer's account in a ledger, if any. */
    async customerAccountId(exec: Executor, ledger: string, customerId: string): Promise<string | undefined> {
      const { rows } = await sql<{ id: string }>`SELECT id FROM reward_accounts WHERE ledger_id = ${ledger} AND customer_id = ${customerId}`.execute(exec)
      return rows[0]?.id
    },

    /** Lots of an account with points left, in the order a spend takes them: soonest expiry first, then oldest. */
    async openLots(exec: Executor, accountId: string): Promise<LotRow[]> {
      const { rows } = await sql<RawLot>`
        SELECT ${lotColumns} FROM ledger_lots WHERE account_id = ${accountId} AND remaining > 0
        ORDER BY expires_at ASC NULLS LAST, created_at, id`.execute(exec)
      return rows.map(lotRowOf)
    },

    async lotsOf(exec: Executor, accountIds: string[]): Promise<LotRow[]> {
      if (accountIds.length === 0) return []
      const { rows } = await sql<RawLot>`
        SELECT ${lotColumns} FROM ledger_lots WHERE account_id = ANY (${accountIds}::text[]) AND remaining > 0
        ORDER BY expires_at ASC NULLS LAST, created_at, id`.execute(exec)
      return rows.map(lotRowOf)
    },

    async lotsMadeBy(exec: Executor, transactionId: string): Promise<LotRow[]> {
      const { rows } = await sql<RawLot>`SELECT ${lotColumns} FROM ledger_lots WHERE transaction_id = ${transactionId} ORDER BY id`.execute(exec)
      return rows.map(lotRowOf)
    },

    /** What a transaction took from lots, by lot. */
    async usesOf(exec: Executor, transactionId: string): Promise<LotUse[]> {
      const { rows } = await sql<{ lot_id: string; account_id: string; amount: string; pending: boolean }>`
        SELECT u.lot_id, l.account_id, u.amount::text AS amount, l.pending FROM ledger_lot_uses u JOIN ledger_lots l ON l.id = u.lot_id
        WHERE u.transaction_id = ${transactionId} ORDER BY u.lot_id`.execute(exec)
      return rows.map((r) => ({ lotId: r.lot_id, accountId: r.account_id, amount: big(r.amount), pending: r.pending }))
    },

    async transaction(exec: Executor, ledger: string, id: string): Promise<StoredTransaction | undefined> {
      const { rows } = await sql<RawTransaction>`SELECT * FROM ledger_transactions WHERE id = ${id} AND ledger_id = ${ledger}`.execute(exec)
      return rows[0] ? transactionOf(rows[0]) : undefined
    },

    /** A caller's idempotency key and the form an erase may have rewritten it to (see `erasedKey`). */
    keyForms: (key: string) => keyForms(secret, key),

    async byKey(exec: Executor, ledger: string, key: string): Promise<StoredTransaction | undefined> {
      const { rows } = await sql<RawTransaction>`SELECT * FROM ledger_transactions WHERE ledger_id = ${ledger} AND idempotency_key IN (${sql.join(keyForms(secret, key))})`.execute(exec)
      return rows[0] ? transactionOf(rows[0]) : undefined
    },

    /** {@link byKey} for many keys in one query: the transactions found, by the key they were asked by. */
    async byKeys(exec: Executor, ledger: string, keys: string[]): Promise<Map<string, StoredTransaction>> {
      const found = new Map<string, StoredTransaction>()
      if (keys.length === 0) return found
      const asked = new Map<string, string>()
      for (const key of keys) for (const form of keyForms(secret, key)) asked.set(form, key)
      const { rows } = await sql<RawTransaction>`SELECT * FROM ledger_transactions WHERE ledger_id = ${ledger} AND idempotency_key = ANY (${[...asked.keys()]}::text[])`.execute(exec)
      for (const r of rows) found.set(asked.get(r.idempotency_key)!, transactionOf(r))
      return found
    },

    async reversalOf(exec: Executor, id: string): Promise<string | undefined> {
      const { rows } = await sql<{ id: string }>`SELECT id FROM ledger_transactions WHERE reverses = ${id}`.execute(exec)
      return rows[0]?.id
    },

    async transactionsWhere(exec: Executor, column: 'order_id' | 'merge_id', value: string, ledger?: string): Promise<StoredTransaction[]> {
      const { rows } = await sql<RawTransaction>`
        SELECT * FROM ledger_transactions WHERE ${sql.ref(column)} = ${value} ${ledger ? sql`AND ledger_id = ${ledger}` : sql``}
        ORDER BY created_at, id`.execute(exec)
      return rows.map(transactionOf)
    },

    /**
     * Writes many credits at once — each its own transaction of one posting from a system account
     * (`from`, never guarded) to a customer account, with one lot — in one statement: the
     * transactions' rows (claiming their keys), every entry, the balances, the lots and the
     * events. The entries are chained here ({@link entryHash}), from the accounts' heads read
     * under the caller's locks: an account's entries one after the other in the order given, each
     * hash covering the one before — the chain {@link write} makes posting them one by one. The
     * update of each account is guarded by the head and balance the chain started from. What
     * {@link write} checks and this has no need to: credits never lower what is available. The
     * accounts must be locked by the caller, customers before system accounts (the order a single
     * posting takes them in); `accounts` is updated in place. Answers the transactions written.
     */
    async writeCredits(tx: Tx, accounts: Map<string, AccountRow>, spec: CreditsSpec): Promise<WrittenTransaction[]> {
      const createdAt = clock()
      const at = createdAt.toISOString()
      if (spec.credits.length === 0) return []
      // the chains' heads, stable while the caller holds the accounts' locks
      const touched = [...new Set(spec.credits.flatMap((c) => [c.to, c.from]))]
      const { rows: heads } = await sql<{ id: string; entry_count: string; head_hash: string }>`
        SELECT id, entry_count::text AS entry_count, head_hash FROM reward_accounts WHERE id = ANY (${touched}::text[])`.execute(tx)
      const chains = new Map(heads.map((h) => {
        const row = accounts.get(h.id)!
        return [h.id, { count: BigInt(h.entry_count), head: h.head_hash, before: { count: h.entry_count, balance: String(row.balance) }, balance: row.balance, total: 0n, due: null as string | null }]
      }))
      if (chains.size !== touched.length) throw new RetryTransaction('an account of the credits is gone')
      const items: { id: string; key: string; fp: string; postings: unknown; account_id: string; lot_id: string | null; lot_amount: string | null }[] = []
      const entries: { account_id: string; seq: string; transaction_id: string; amount: string; balance_after: string; hash: string }[] = []
      const written: WrittenTransaction[] = []
      // each credit's two entries extend their accounts' chains in the order given, as posting them one by one would
      const entry = (accountId: string, transactionId: string, amount: bigint, due: string | null) => {
        const c = chains.get(accountId)!
        c.count += 1n
        c.balance += amount
        c.total += amount
        if (due !== null && (c.due === null || due < c.due)) c.due = due
        c.head = entryHash(c.head, transactionId, accountId, c.count, amount, c.balance, createdAt)
        entries.push({ account_id: accountId, seq: String(c.count), transaction_id: transactionId, amount: String(amount), balance_after: String(c.balance), hash: c.head })
      }
      for (const c of spec.credits) {
        if (c.amount <= 0n) throw new Error('a posting moves a positive amount')
        const row = accounts.get(c.to)!
        // a customer below zero is paid back first: only what is left over makes a lot
        const debt = row.balance < 0n ? -row.balance : 0n
        const lotAmount = c.amount > debt ? c.amount - debt : 0n
        const id = newId('txn')
        const postings = [{ from: c.from, to: c.to, amount: toNumber(c.amount) }]
        const next = { ...row, balance: row.balance + c.amount }
        accounts.set(c.to, next)
        const stored: StoredTransaction = {
          id, ledger: spec.ledger, kind: spec.kind, idempotencyKey: c.key, fingerprint: c.fingerprint, postings,
          reference: null, reason: null, reverses: null, holdId: null, orderId: null, mergeId: null, metadata: {}, createdAt: at,
        }
        written.push({ transaction: publicTransaction(stored), balances: [balanceOf(next)] })
        entry(c.to, id, c.amount, lotAmount > 0n ? spec.expiresAt?.toISOString() ?? null : null)
        entry(c.from, id, -c.amount, null)
        items.push({ id, key: c.key, fp: c.fingerprint, postings, account_id: c.to, lot_id: lotAmount > 0n ? newId('lot') : null, lot_amount: lotAmount > 0n ? String(lotAmount) : null })
      }
      for (const [id, c] of chains) {
        const row = accounts.get(id)
        if (row && row.role !== 'customer') accounts.set(id, { ...row, balance: c.balance })
      }
      const updates = [...chains].map(([id, c]) => ({ id, count: c.before.count, balance: c.before.balance, total: String(c.total), entries: String(c.count), head: c.head, due: c.due }))
      const eventRows = written.flatMap((w, n) => spec.events(w, n))
      const claimed = sql`(SELECT claimed FROM ok)`
      const { rows } = await sql<{ claimed: boolean; accounts: number }>`
        WITH d AS (
          SELECT * FROM ${recordset(items, 'id text, key text, fp text, postings jsonb, account_id text, lot_id text, lot_amount bigint')}
        ),
        t AS (
          INSERT INTO ledger_transactions (id, ledger_id, kind, idempotency_key, fingerprint, postings, metadata, created_at)
          SELECT id, ${spec.ledger}, ${spec.kind}, key, fp, postings, '{}'::jsonb, ${at}::timestamptz FROM d
          ON CONFLICT ON CONSTRAINT ledger_transactions_key DO NOTHING
          RETURNING id
        ),
        ok AS (SELECT count(*) = ${items.length} AS claimed FROM t),
        a AS (
          UPDATE reward_accounts r SET balance = r.balance + v.total, entry_count = v.entries, head_hash = v.head, next_due_at = least(r.next_due_at, v.due)
          FROM ${recordset(updates, 'id text, count bigint, balance bigint, total bigint, entries bigint, head text, due timestamptz')}
          -- the chains were extended from these heads: an account that moved since makes the batch start again.
          -- The accounts are looked up by their ids, an index scan whatever the statistics (joined with the
          -- batch's rows alone, a plan made while the table was small scans every account)
          WHERE r.id = v.id AND r.id = ANY (${touched}::text[]) AND r.entry_count = v.count AND r.balance = v.balance AND ${claimed}
          RETURNING r.id
        ),
        e AS (
          INSERT INTO ledger_entries (account_id, seq, transaction_id, amount, balance_after, hash, created_at)
          SELECT v.account_id, v.seq, v.transaction_id, v.amount, v.balance_after, v.hash, ${at}::timestamptz
          FROM ${recordset(entries, 'account_id text, seq bigint, transaction_id text, amount bigint, balance_after bigint, hash text')} WHERE ${claimed}
        ),
        l AS (
          INSERT INTO ledger_lots (id, account_id, transaction_id, amount, remaining, expires_at, pending, available_at, order_id, created_at)
          SELECT lot_id, account_id, id, lot_amount, lot_amount, ${spec.expiresAt?.toISOString() ?? null}::timestamptz, false, NULL, NULL, ${at}::timestamptz
          FROM d WHERE lot_id IS NOT NULL AND ${claimed}
        )
        ${eventRows.length ? sql`, ev AS (${events.insertSql(tx, eventRows, claimed)})` : sql``}
        SELECT (SELECT claimed FROM ok) AS claimed, (SELECT count(*) FROM a)::int AS accounts`.execute(tx)
      if (!rows[0]!.claimed) throw new RetryTransaction(`an idempotency key of ledger ${spec.ledger} was claimed meanwhile`)
      if (rows[0]!.accounts !== touched.length) throw new RetryTransaction('an account of the credits changed under them')
      return written
    },

    /**
     * Writes a transaction in one statement: its row (claiming its idempotency key), for each
     * account one entry whose hash covers the account's previous one, the balances by guarded
     * update (a customer account's available points never below zero unless `mayGoNegative`),
     * its lots, what it took from or gave back to lots, and its events. The accounts must be
     * locked by the caller (`lock`), so `accounts` holds their current rows; they are updated in place.
     */
    async write(tx: Tx, accounts: Map<string, AccountRow>, spec: TransactionSpec): Promise<WrittenTransaction> {
      const id = spec.id ?? newId('txn')
      const createdAt = clock()
      const net = new Map<string, bigint>()
      for (const p of spec.postings) {
        if (p.amount <= 0n) throw new Error('a posting moves a positive amount')
        net.set(p.from, (net.get(p.from) ?? 0n) - p.amount)
        net.set(p.to, (net.get(p.to) ?? 0n) + p.amount)
      }
      const pendingDelta = new Map<string, bigint>()
      const addPending = (account: string, by: bigint) => pendingDelta.set(account, (pendingDelta.get(account) ?? 0n) + by)
      for (const lot of spec.lots ?? []) if (lot.pending) addPending(lot.accountId, lot.amount)
      for (const u of spec.uses ?? []) if (u.pending) addPending(u.accountId, -u.amount)
      for (const u of spec.restores ?? []) if (u.pending) addPending(u.accountId, u.amount)

      const touched = new Set([...net.keys(), ...(spec.held?.keys() ?? []), ...pendingDelta.keys()])
      const due = new Map<string, Date>()
      for (const lot of spec.lots ?? []) {
        const at = [lot.expiresAt, lot.pending ? lot.availableAt : null].filter((d): d is Date => d !== null).sort((a, b) => a.getTime() - b.getTime())[0]
        if (at && (!due.has(lot.accountId) || at < due.get(lot.accountId)!)) due.set(lot.accountId, at)
      }
      for (const u of spec.restores ?? []) due.set(u.accountId, createdAt) // a restored lot may have expired meanwhile: look at it next time
      // points a hold kept from expiring are free again: look at the account next time
      for (const [account, delta] of spec.held ?? []) if (delta < 0n) due.set(account, createdAt)

      const rows = [...touched].map((account) => {
        const row = accounts.get(account)
        // only a change that lowers what is available can overdraw
        const availableDelta = (net.get(account) ?? 0n) - (spec.held?.get(account) ?? 0n) - (pendingDelta.get(account) ?? 0n)
        const guard = row !== undefined && guardedRoles.has(row.role) && (row.role === 'coupon' || !spec.mayGoNegative) && availableDelta < 0n
        return sql`(${account}::text, ${String(net.get(account) ?? 0n)}::bigint, ${String(spec.held?.get(account) ?? 0n)}::bigint, ${String(pendingDelta.get(account) ?? 0n)}::bigint, ${guard}::boolean, ${due.get(account)?.toISOString() ?? null}::timestamptz)`
      })
      const postings = spec.postings.map((p) => ({ from: p.from, to: p.to, amount: toNumber(p.amount) }))
      const stored: StoredTransaction = {
        id,
        ledger: spec.ledger,
        kind: spec.kind,
        idempotencyKey: spec.idempotencyKey,
        fingerprint: spec.fingerprint,
        postings,
        reference: spec.reference ?? null,
        reason: spec.reason ?? null,
        reverses: spec.reverses ?? null,
        holdId: spec.holdId ?? null,
        orderId: spec.orderId ?? null,
        mergeId: spec.mergeId ?? null,
        metadata: spec.metadata ?? {},
        createdAt: createdAt.toISOString(),
      }
      const at = createdAt.toISOString()
      const lotRows = (spec.lots ?? []).map(
        (l) => sql`(${newId('lot')}::text, ${l.accountId}::text, ${String(l.amount)}::bigint, ${l.expiresAt?.toISOString() ?? null}::timestamptz, ${l.pending}::boolean, ${l.availableAt?.toISOString() ?? null}::timestamptz, ${l.orderId}::text)`,
      )
      const useRows = (spec.uses ?? []).map((u) => sql`(${u.lotId}::text, ${String(u.amount)}::bigint)`)
      const restoreRows = (spec.restores ?? []).map((u) => sql`(${u.lotId}::text, ${String(u.amount)}::bigint)`)

      // the balances after, for the events (computed here from the locked rows; checked against the database's below)
      const after = new Map<string, AccountRow>()
      for (const account of touched) {
        const row = accounts.get(account)
        if (!row) continue
        after.set(account, {
          ...row,
          balance: row.balance + (net.get(account) ?? 0n),
          held: row.held + (spec.held?.get(account) ?? 0n),
          pending: row.pending + (pendingDelta.get(account) ?? 0n),
        })
      }
      const balances = [...after.values()].filter((r) => r.role === 'customer').map(balanceOf)
      const written: WrittenTransaction = { transaction: publicTransaction(stored), balances }
      const eventRows = spec.events?.(written) ?? []
      const claimed = sql`EXISTS (SELECT 1 FROM t)`

      const statement = sql<{ claimed: number; accounts: { id: string; balance: string; held: string; pending: string; entry: boolean }[] }>`
        WITH d (account_id, amount, held_delta, pending_delta, guard, due) AS (VALUES ${sql.join(rows)}),
        t AS (
          INSERT INTO ledger_transactions (id, ledger_id, kind, idempotency_key, fingerprint, postings, reference, reason, reverses, hold_id, order_id, merge_id, metadata, created_at)
          VALUES (${id}, ${spec.ledger}, ${spec.kind}, ${spec.idempotencyKey}, ${spec.fingerprint}, ${JSON.stringify(postings)}::jsonb, ${stored.reference}, ${stored.reason},
                  ${stored.reverses}, ${stored.holdId}, ${stored.orderId}, ${stored.mergeId}, ${JSON.stringify(stored.metadata)}::jsonb, ${at}::timestamptz)
          ON CONFLICT ON CONSTRAINT ledger_transactions_key DO NOTHING
          RETURNING id
        ),
        a AS (
          UPDATE reward_accounts r SET
            balance = r.balance + d.amount,
            held = r.held + d.held_delta,
            pending = r.pending + d.pending_delta,
            entry_count = r.entry_count + CASE WHEN d.amount <> 0 THEN 1 ELSE 0 END,
            head_hash = CASE WHEN d.amount <> 0 THEN ledger_entry_hash(r.head_hash, ${id}, r.id, r.entry_count + 1, d.amount, r.balance + d.amount, ${at}::timestamptz) ELSE r.head_hash END,
            next_due_at = least(r.next_due_at, d.due)
          FROM d
          WHERE r.id = d.account_id AND ${claimed}
            AND (NOT d.guard OR r.balance + d.amount - r.held - d.held_delta - r.pending - d.pending_delta >= 0)
          RETURNING r.id, r.balance, r.held, r.pending, r.entry_count, r.head_hash, d.amount
        ),
        e AS (
          INSERT INTO ledger_entries (account_id, seq, transaction_id, amount, balance_after, hash, created_at)
          SELECT a.id, a.entry_count, ${id}, a.amount, a.balance, a.head_hash, ${at}::timestamptz FROM a WHERE a.amount <> 0
        ),
        l AS (
          INSERT INTO ledger_lots (id, account_id, transaction_id, amount, remaining, expires_at, pending, available_at, order_id, created_at)
          SELECT v.id, v.account_id, ${id}, v.amount, v.amount, v.expires_at, v.pending, v.available_at, v.order_id, ${at}::timestamptz
          FROM (VALUES ${lotRows.length ? sql.join(lotRows) : sql`(NULL::text, NULL::text, NULL::bigint, NULL::timestamptz, NULL::boolean, NULL::timestamptz, NULL::text)`})
            v (id, account_id, amount, expires_at, pending, available_at, order_id)
          WHERE v.id IS NOT NULL AND ${claimed}
        ),
        u AS (
          INSERT INTO ledger_lot_uses (transaction_id, lot_id, amount)
          SELECT ${id}, v.lot_id, v.amount FROM (VALUES ${useRows.length ? sql.join(useRows) : sql`(NULL::text, NULL::bigint)`}) v (lot_id, amount)
          WHERE v.lot_id IS NOT NULL AND ${claimed}
        ),
        lu AS (
          UPDATE ledger_lots SET remaining = remaining - v.amount
          FROM (VALUES ${useRows.length ? sql.join(useRows) : sql`(NULL::text, NULL::bigint)`}) v (lot_id, amount)
          WHERE ledger_lots.id = v.lot_id AND ${claimed}
        ),
        lr AS (
          UPDATE ledger_lots SET remaining = remaining + v.amount
          FROM (VALUES ${restoreRows.length ? sql.join(restoreRows) : sql`(NULL::text, NULL::bigint)`}) v (lot_id, amount)
          WHERE ledger_lots.id = v.lot_id AND ${claimed}
        )
        ${sql.join(
          (spec.parts ?? []).map(([name, part]) => sql`, ${sql.ref(name)} AS (${part})`),
          sql``,
        )}
        ${eventRows.length ? sql`, ev AS (${events.insertSql(tx, eventRows, claimed)})` : sql``}
        SELECT (SELECT count(*) FROM t)::int AS claimed,
               (SELECT coalesce(json_agg(json_build_object('id', a.id, 'balance', a.balance::text, 'held', a.held::text, 'pending', a.pending::text)), '[]'::json) FROM a) AS accounts`

      const result = (await statement.execute(tx)).rows[0]!
      if (result.claimed === 0) throw new RetryTransaction(`idempotency key ${spec.idempotencyKey} of ledger ${spec.ledger} was claimed meanwhile`)
      if (result.accounts.length !== touched.size) {
        throw new HubError('INSUFFICIENT_POINTS', 'The account does not have enough available points; nothing was posted.')
      }
      for (const a of result.accounts) {
        const row = accounts.get(a.id)
        if (!row) continue
        const next = { ...row, balance: big(a.balance), held: big(a.held), pending: big(a.pending) }
        const expected = after.get(a.id)!
        if (next.balance !== expected.balance || next.held !== expected.held || next.pending !== expected.pending) {
          // the caller did not hold the account's lock: run again from the start
          throw new RetryTransaction(`account ${a.id} changed under a posting`)
        }
        accounts.set(a.id, next)
      }
      return written
    },

    /**
     * Changes `held` and `pending` of a locked account without entries (a hold made or resolved,
     * lots leaving their return window), with `parts` of the same statement and its events. A
     * change that lowers what is available is guarded like a posting.
     */
    async setReserved(
      tx: Tx,
      account: AccountRow,
      change: { held?: bigint; pending?: bigint; due?: Date | null; mayGoNegative?: boolean },
      parts: [string, RawBuilder<unknown>][] = [],
      eventRows: EventInput[] = [],
    ): Promise<AccountRow> {
      const held = change.held ?? 0n
      const pending = change.pending ?? 0n
      const guarded = guardedRoles.has(account.role) && held + pending > 0n && (account.role === 'coupon' || !change.mayGoNegative)
      const statement = sql<{ balance: string; held: string; pending: string }>`
        WITH ${sql.join(parts.map(([name, part]) => sql`${sql.ref(name)} AS (${part}), `), sql``)}a AS (
          UPDATE reward_accounts r SET held = r.held + ${String(held)}::bigint, pending = r.pending + ${String(pending)}::bigint,
            next_due_at = least(r.next_due_at, ${change.due?.toISOString() ?? null}::timestamptz)
          WHERE r.id = ${account.id} AND (${!guarded} OR r.balance - r.held - ${String(held)}::bigint - r.pending - ${String(pending)}::bigint >= 0)
          RETURNING r.balance::text AS balance, r.held::text AS held, r.pending::text AS pending
        )
        ${eventRows.length ? sql`, ev AS (${events.insertSql(tx, eventRows, sql`EXISTS (SELECT 1 FROM a)`)})` : sql``}
        SELECT * FROM a`
      const { rows } = await statement.execute(tx)
      if (!rows[0]) throw new HubError('INSUFFICIENT_POINTS', 'The account does not have enough available points; nothing was held.')
      const next = { ...account, balance: big(rows[0].balance), held: big(rows[0].held), pending: big(rows[0].pending) }
      return next
    },

    /**
     * Sets when the account next needs a look: its soonest lot expiry, end of a return window or
     * hold timeout after `now`. A lot past its expiry that is still there is one a hold kept from
     * expiring: it is looked at again when the hold times out, or when it is resolved (see `void`).
     */
    async recomputeDue(tx: Tx, accountId: string, now: Date): Promise<void> {
      await sql`
        UPDATE reward_accounts r SET next_due_at = (SELECT min(x) FROM (
          SELECT min(CASE WHEN pending THEN least(available_at, expires_at) ELSE expires_at END) AS x FROM ledger_lots
          WHERE account_id = r.id AND remaining > 0 AND (pending OR expires_at > ${now.toISOString()}::timestamptz)
          UNION ALL SELECT min(expires_at) FROM ledger_holds WHERE account_id = r.id AND status = 'pending') m)
        WHERE r.id = ${accountId}`.execute(tx)
    },
  }
}
export type LedgerStore = ReturnType<typeof createLedgerStore>
