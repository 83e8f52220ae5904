import { sql } from 'kysely'
import type {
  AccountBalance,
  AdjustInput,
  EarnInput,
  Hold,
  HoldInput,
  HoldResult,
  LedgerTransaction,
  SpendInput,
  TransactionResult,
  TransferInput,
} from '@his-her/contract'
import type { Executor, Tx } from '../db/executor.js'
import { RetryTransaction } from '../db/executor.js'
import { isUniqueViolation } from '../db/pg-errors.js'
import { HubError } from '../errors.js'
import { newId } from '../ids.js'
import { fingerprint } from '../secrets.js'
import type { EventInput, EventService } from '../events/event-store.js'
import type { CustomerService } from '../customers/customer-service.js'
import {
  balanceOf,
  LANES,
  laneOf,
  publicTransaction,
  toNumber,
  type AccountRow,
  type LedgerStore,
  type LotRow,
  type LotUse,
  type NewLot,
  type StoredTransaction,
  type WrittenTransaction,
} from './ledger-store.js'
import { defaultLedger, type LedgerSettings } from './settings.js'

/**
 * The idempotency key of a transaction the hub makes itself (an expiry, a capture, what an order
 * earns, a merge): it holds a space, which a caller's key never does, so no caller can take it first.
 */
const internalKey = (name: string): string => `hub ${name}`

/** The loyalty provider whose issuer account grants the house's points. */
export const HOUSE_PROVIDER = 'house'
const DAY = 86_400_000

/** A write's answer, and whether it is the answer of an earlier request with the same key. */
export interface Posted<T> {
  result: T
  replayed: boolean
}

type HoldRaw = {
  id: string
  ledger_id: string
  account_id: string
  customer_id: string
  amount: string
  status: Hold['status']
  captured_amount: string | null
  capture_transaction_id: string | null
  reference: string | null
  idempotency_key: string
  fingerprint: string
  expires_at: Date
  created_at: Date
  resolved_at: Date | null
}
const holdOf = (r: HoldRaw): Hold => ({
  id: r.id,
  ledger: r.ledger_id,
  accountId: r.account_id,
  customerId: r.customer_id,
  amount: toNumber(r.amount),
  status: r.status,
  capturedAmount: r.captured_amount === null ? null : toNumber(r.captured_amount),
  captureTransactionId: r.capture_transaction_id,
  reference: r.reference,
  idempotencyKey: r.idempotency_key,
  expiresAt: r.expires_at.toISOString(),
  createdAt: r.created_at.toISOString(),
  resolvedAt: r.resolved_at?.toISOString() ?? null,
})

/** JSON with keys sorted, so that two equal bodies give one fingerprint. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (value && typeof value === 'object') {
    return `{${Object.keys(value as object).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`
  }
  return JSON.stringify(value)
}

/** Takes `amount` from lots in the order given; returns the uses and what could not be taken. */
function take(lots: LotRow[], amount: bigint): { uses: LotUse[]; short: bigint } {
  const uses: LotUse[] = []
  let left = amount
  for (const lot of lots) {
    if (left === 0n) break
    const n = lot.remaining < left ? lot.remaining : left
    if (n > 0n) uses.push({ lotId: lot.id, accountId: lot.account_id, amount: n, pending: lot.pending })
    left -= n
  }
  return { uses, short: left }
}

/**
 * The lots a debt moved onto an account consumes: available points first, then pending ones — the
 * account's lots must end at its balance (nothing while below zero), as a debit beyond the
 * available points in a ledger allowing negative balances does.
 */
const takeDebt = (lots: LotRow[], amount: bigint): LotUse[] => take([...lots.filter((l) => !l.pending), ...lots.filter((l) => l.pending)], amount).uses

const sum = (uses: LotUse[]): bigint => uses.reduce((s, u) => s + u.amount, 0n)

export interface LedgerServiceDeps {
  store: LedgerStore
  events: EventService
  customers: CustomerService
  ledgers: LedgerSettings[]
  secret: string
  clock: () => Date
  ensureAccount(tx: Tx, customerId: string, ledger: string): Promise<{ account: { id: string }; created: boolean }>
}

/**
 * The ledger's operations: earn, spend, adjust, transfer, reverse, holds, what orders earn and
 * what merges move. Each takes the request's transaction, locks the customer accounts it moves
 * (in id order), settles what fell due on them (expired lots and holds, ended return windows)
 * and writes one transaction through the store.
 */
export function createLedgerService(deps: LedgerServiceDeps) {
  const { store, events, customers, clock } = deps
  const configured = new Map(deps.ledgers.map((l) => [l.handle, l]))
  const dbAllowNegative = new Map<string, boolean>()

  async function settingsOf(exec: Executor, ledger: string): Promise<LedgerSettings> {
    const s = configured.get(ledger)
    if (s) return s
    if (!dbAllowNegative.has(ledger)) {
      const row = await exec.selectFrom('ledgers').select('allow_negative').where('id', '=', ledger).executeTakeFirst()
      if (!row) throw new HubError('LEDGER_NOT_FOUND', `No ledger "${ledger}"; declare it under ledgers: in the configuration.`)
      dbAllowNegative.set(ledger, row.allow_negative)
    }
    return defaultLedger(ledger, dbAllowNegative.get(ledger))
  }

  const fingerprintOf = (operation: string, ledger: string, body: unknown) => fingerprint(deps.secret, 'ledger request', `${operation}\0${ledger}\0${canonical(body)}`)

  /** The customer accounts a transaction moved, as they are now. */
  async function currentBalances(exec: Executor, t: LedgerTransaction): Promise<AccountBalance[]> {
    const ids = [...new Set(t.postings.flatMap((p) => [p.from, p.to]))]
    const rows = await Promise.all(ids.map((id) => store.read(exec, id)))
    return rows.filter((r): r is AccountRow => r !== undefined && r.role === 'customer').map(balanceOf)
  }

  async function replay(exec: Executor, stored: StoredTransaction, fp: string): Promise<Posted<TransactionResult>> {
    if (stored.fingerprint !== fp) throw new HubError('IDEMPOTENCY_KEY_REUSED', `The idempotency key ${stored.idempotencyKey} was used for another transaction of this ledger.`)
    const transaction = publicTransaction(stored)
    return { result: { transaction, balances: await currentBalances(exec, transaction) }, replayed: true }
  }

  /**
   * The live customer's account in the ledger, read with the customer's liveness in one statement
   * (its row locked when `lock`); made when `create`, else undefined when there is none. A customer
   * that is not live answers as `customers.requireLive` does.
   */
  async function accountRow(tx: Tx, ledger: string, customerId: string, create: boolean, lock: boolean): Promise<AccountRow | undefined> {
    const found = await store.customerAccount(tx, ledger, customerId, customers.liveSql(customerId), lock)
    if (found?.live) return found.row
    await customers.requireLive(tx, customerId)
    if (found) return found.row
    if (!create) return undefined
    const id = (await deps.ensureAccount(tx, customerId, ledger)).account.id
    return lock ? (await store.lock(tx, [id])).get(id) : store.read(tx, id)
  }
  async function accountOf(tx: Tx, ledger: string, customerId: string, create: boolean): Promise<string | undefined> {
    return (await accountRow(tx, ledger, customerId, create, false))?.id
  }
  /** One customer's account locked (and what fell due on it settled), for a posting that moves it alone. */
  async function lockedAccount(tx: Tx, ledger: string, customerId: string, create: boolean): Promise<Map<string, AccountRow> | undefined> {
    const row = await accountRow(tx, ledger, customerId, create, true)
    if (!row) return undefined
    const accounts = new Map([[row.id, row]])
    await settle(tx, accounts, row.id)
    return accounts
  }

  // the issuer's lane an account's credits come from: its own (a hash of its id), or `lane` (modulo the lanes) when given
  const issuer = (tx: Tx, ledger: string, accountId: string, provider = HOUSE_PROVIDER, lane = laneOf(accountId)) => store.laneId(tx, ledger, 'issuer', lane % LANES, provider)

  const pointsEvent = (type: 'points.earned' | 'points.spent' | 'points.expired' | 'points.reversed' | 'points.transferred' | 'points.adjusted', customerId: string | null) =>
    (w: WrittenTransaction): EventInput[] => [{ type, customerId, payload: { transaction: w.transaction, balances: w.balances } }]

  /**
   * What fell due on a locked customer account: holds past their timeout are released, lots past
   * their return window become available, lots past their expiry expire (never into points that
   * are held: what a hold reserves expires once the hold is resolved).
   */
  async function settle(tx: Tx, accounts: Map<string, AccountRow>, accountId: string): Promise<void> {
    const row = accounts.get(accountId)
    const now = clock()
    if (!row || (row.role !== 'customer' && row.role !== 'coupon') || !row.next_due_at || row.next_due_at > now) return
    const settings = await settingsOf(tx, row.ledger_id)
    const expiredHolds = await sql<HoldRaw>`
      UPDATE ledger_holds h SET status = 'expired', resolved_at = ${now.toISOString()}::timestamptz
      FROM reward_accounts r
      WHERE h.account_id = ${accountId} AND h.status = 'pending' AND h.expires_at <= ${now.toISOString()}::timestamptz AND r.id = h.account_id
      RETURNING ${holdColumns}`.execute(tx)
    const matured = await sql<{ remaining: string }>`
      UPDATE ledger_lots SET pending = false
      WHERE account_id = ${accountId} AND pending AND available_at <= ${now.toISOString()}::timestamptz
      RETURNING remaining::text AS remaining`.execute(tx)
    const released = expiredHolds.rows.reduce((s, h) => s + BigInt(h.amount), 0n)
    const available = matured.rows.reduce((s, l) => s + BigInt(l.remaining), 0n)
    if (released > 0n || available > 0n) {
      const next = await store.setReserved(tx, row, { held: -released, pending: -available })
      // a coupon's hold that timed out shows as expired on the hold; its points events are a customer's
      if (row.role === 'customer') {
        await events.emit(tx, ...expiredHolds.rows.map((h): EventInput => ({ type: 'points.released', customerId: h.customer_id, payload: { hold: holdOf(h), balance: balanceOf(next) } })))
      }
      accounts.set(accountId, next)
    }
    const current = accounts.get(accountId)!
    const lots = (await store.openLots(tx, accountId)).filter((l) => l.expires_at !== null && l.expires_at <= now)
    let free = current.balance - current.held - current.pending
    const uses: LotUse[] = []
    for (const lot of lots) {
      const n = lot.pending ? lot.remaining : lot.remaining < free ? lot.remaining : free > 0n ? free : 0n
      if (n <= 0n) continue
      if (!lot.pending) free -= n
      uses.push({ lotId: lot.id, accountId: lot.account_id, amount: n, pending: lot.pending })
    }
    const total = sum(uses)
    if (total > 0n) {
      const expiry = await store.laneId(tx, row.ledger_id, 'expiry', laneOf(accountId))
      const id = newId('txn')
      await store.write(tx, accounts, {
        id,
        ledger: row.ledger_id,
        kind: 'expiry',
        idempotencyKey: internalKey(`expiry:${id}`),
        fingerprint: 'expiry',
        postings: [{ from: accountId, to: expiry, amount: total }],
        uses,
        mayGoNegative: settings.allowNegative,
        events: pointsEvent('points.expired', row.customer_id),
      })
    }
    await store.recomputeDue(tx, accountId, now)
    accounts.set(accountId, { ...accounts.get(accountId)!, next_due_at: null })
  }

  /** Locks accounts and settles what fell due on each. */
  async function lockAndSettle(tx: Tx, ids: string[]): Promise<Map<string, AccountRow>> {
    const accounts = await store.lock(tx, ids)
    for (const id of [...accounts.keys()]) await settle(tx, accounts, id)
    return accounts
  }

  const availableOf = (row: AccountRow) => row.balance - row.held - row.pending
  const insufficient = (row: AccountRow | undefined, amount: bigint) =>
    new HubError('INSUFFICIENT_POINTS', `The account has ${row ? availableOf(row) : 0n} available points; ${amount} were asked for. Nothing was posted.`, {
      available: row ? toNumber(availableOf(row)) : 0,
    })

  /** A credit of a customer account from a system account, as one new lot. */
  async function credit(
    tx: Tx,
    ledger: string,
    accountId: string,
    amount: bigint,
    spec: { kind: 'earn' | 'adjust' | 'order' | 'import'; from: string; key: string; fp: string; expiresAt: Date | null; availableAt: Date | null; orderId?: string; reference?: string | null; reason?: string | null; metadata?: Record<string, unknown>; event: 'points.earned' | 'points.adjusted'; accounts?: Map<string, AccountRow> },
  ): Promise<WrittenTransaction> {
    const settings = await settingsOf(tx, ledger)
    const accounts = spec.accounts ?? (await store.lock(tx, [accountId]))
    const row = accounts.get(accountId)!
    const debt = row.balance < 0n ? -row.balance : 0n
    const lotAmount = amount > debt ? amount - debt : 0n
    const lots: NewLot[] = lotAmount > 0n ? [{ accountId, amount: lotAmount, expiresAt: spec.expiresAt, pending: spec.availableAt !== null, availableAt: spec.availableAt, orderId: spec.orderId ?? null }] : []
    return store.write(tx, accounts, {
      ledger,
      kind: spec.kind,
      idempotencyKey: spec.key,
      fingerprint: spec.fp,
      postings: [{ from: spec.from, to: accountId, amount }],
      reference: spec.reference,
      reason: spec.reason,
      orderId: spec.orderId,
      metadata: spec.metadata,
      lots,
      mayGoNegative: settings.allowNegative,
      events: pointsEvent(spec.event, row.customer_id),
    })
  }

  /** A debit of a customer account to another account, taking lots soonest-expiring first (`first`: these lots before the rest). */
  async function debit(
    tx: Tx,
    ledger: string,
    accountId: string,
    amount: bigint,
    spec: {
      kind: 'spend' | 'adjust' | 'capture' | 'order'
      to: string
      key: string
      fp: string
      id?: string
      heldRelease?: bigint
      holdId?: string
      orderId?: string
      reference?: string | null
      reason?: string | null
      metadata?: Record<string, unknown> | ((taken: bigint) => Record<string, unknown>)
      parts?: [string, ReturnType<typeof sql>][]
      /** Take at most what there is instead of refusing (an order taking back what it earned). */
      upTo?: boolean
      accounts?: Map<string, AccountRow>
      events: (w: WrittenTransaction) => EventInput[]
    },
  ): Promise<{ written: WrittenTransaction; taken: bigint } | undefined> {
    const settings = await settingsOf(tx, ledger)
    const accounts = spec.accounts ?? (await lockAndSettle(tx, [accountId]))
    const row = accounts.get(accountId)!
    const lots = await store.openLots(tx, accountId)
    const own = spec.orderId ? lots.filter((l) => l.order_id === spec.orderId) : []
    const rest = lots.filter((l) => !l.pending && !own.includes(l))
    const available = availableOf(row) + (spec.heldRelease ?? 0n) + own.filter((l) => l.pending).reduce((s, l) => s + l.remaining, 0n)
    let wanted = amount
    if (!settings.allowNegative && available < amount) {
      if (!spec.upTo) throw insufficient(row, amount)
      wanted = available > 0n ? available : 0n
    }
    if (wanted === 0n) return undefined
    // in a ledger that allows negative balances, a debit beyond the available points takes pending ones before going below zero
    const pendingRest = settings.allowNegative ? lots.filter((l) => l.pending && !own.includes(l)) : []
    const { uses } = take([...own, ...rest, ...pendingRest], wanted)
    const written = await store.write(tx, accounts, {
      id: spec.id,
      ledger,
      kind: spec.kind,
      idempotencyKey: spec.key,
      fingerprint: spec.fp,
      postings: [{ from: accountId, to: spec.to, amount: wanted }],
      reference: spec.reference,
      reason: spec.reason,
      holdId: spec.holdId,
      orderId: spec.orderId,
      metadata: typeof spec.metadata === 'function' ? spec.metadata(wanted) : spec.metadata,
      held: spec.heldRelease ? new Map([[accountId, -spec.heldRelease]]) : undefined,
      uses,
      parts: spec.parts,
      mayGoNegative: settings.allowNegative,
      events: spec.events,
    })
    return { written, taken: wanted }
  }

  /**
   * The mirror image of `original` as a new transaction: each account that received points gives
   * back exactly the lots the original made for it (refused with `spentCode` when some were spent,
   * expired or moved, unless the ledger allows negative balances and `strict` is off), and each
   * account that gave points gets back exactly what the original took from its lots.
   */
  async function mirror(
    tx: Tx,
    original: StoredTransaction,
    spec: { key: string; fp: string; reason: string; strict: boolean; spentCode: 'REVERSAL_POINTS_SPENT' | 'MERGE_UNDO_CONFLICT'; accounts?: Map<string, AccountRow>; heldBack?: Map<string, bigint>; parts?: [string, ReturnType<typeof sql>][] },
  ): Promise<WrittenTransaction> {
    const settings = await settingsOf(tx, original.ledger)
    const ids = [...new Set(original.postings.flatMap((p) => [p.from, p.to]))]
    const accounts = spec.accounts ?? (await store.lock(tx, ids))
    if (await store.reversalOf(tx, original.id)) throw new HubError('TRANSACTION_ALREADY_REVERSED', `Transaction ${original.id} was reversed already.`)
    const net = new Map<string, bigint>()
    for (const p of original.postings) {
      net.set(p.from, (net.get(p.from) ?? 0n) - BigInt(p.amount))
      net.set(p.to, (net.get(p.to) ?? 0n) + BigInt(p.amount))
    }
    const made = await store.lotsMadeBy(tx, original.id)
    const taken = await store.usesOf(tx, original.id)
    // Each customer account's lots must end at what its balance will be (nothing while below zero):
    // an account the original credited gives back the lots it made (then, in a ledger that allows
    // negative balances, other lots); one it debited gets back what was taken from its lots (and a
    // new lot for points it had beyond them).
    const uses: LotUse[] = []
    const restores: LotUse[] = []
    const lots: NewLot[] = []
    const max0 = (v: bigint) => (v > 0n ? v : 0n)
    for (const [account, n] of net) {
      const row = accounts.get(account)
      if (!row || row.role !== 'customer') continue
      const before = max0(row.balance)
      const after = max0(row.balance - n)
      if (n > 0n) {
        const mine = made.filter((l) => l.account_id === account)
        const left = mine.reduce((s, l) => s + l.remaining, 0n)
        const lotTotal = mine.reduce((s, l) => s + l.amount, 0n)
        if (left < lotTotal && (spec.strict || !settings.allowNegative)) {
          throw new HubError(spec.spentCode, `${lotTotal - left} of the ${lotTotal} points transaction ${original.id} credited to ${account} were spent, expired or moved since.`, {
            transactionId: original.id,
            accountId: account,
          })
        }
        const others = (await store.openLots(tx, account)).filter((l) => !mine.some((m) => m.id === l.id))
        uses.push(...take([...mine, ...others.filter((l) => !l.pending), ...others.filter((l) => l.pending)], before - after).uses)
      } else if (n < 0n) {
        let room = after - before
        for (const u of taken.filter((t) => t.accountId === account)) {
          const k = u.amount < room ? u.amount : room
          if (k > 0n) restores.push({ ...u, amount: k })
          room -= k
        }
        if (room > 0n) lots.push({ accountId: account, amount: room, expiresAt: null, pending: false, availableAt: null, orderId: original.orderId })
      }
    }
    const customerId = [...accounts.values()].find((r) => r.role === 'customer')?.customer_id ?? null
    return store.write(tx, accounts, {
      ledger: original.ledger,
      kind: 'reversal',
      idempotencyKey: spec.key,
      fingerprint: spec.fp,
      postings: original.postings.map((p) => ({ from: p.to, to: p.from, amount: BigInt(p.amount) })),
      reason: spec.reason,
      reverses: original.id,
      holdId: original.holdId,
      orderId: original.orderId,
      mergeId: original.mergeId,
      held: spec.heldBack,
      uses,
      restores,
      lots,
      parts: spec.parts,
      mayGoNegative: settings.allowNegative && !spec.strict,
      events: pointsEvent('points.reversed', customerId),
    })
  }

  const holdColumns = sql`h.id, h.ledger_id, h.account_id, r.customer_id, h.amount::text AS amount, h.status, h.captured_amount::text AS captured_amount,
    h.capture_transaction_id, h.reference, h.idempotency_key, h.fingerprint, h.expires_at, h.created_at, h.resolved_at`
  async function readHold(exec: Executor, id: string): Promise<HoldRaw | undefined> {
    const { rows } = await sql<HoldRaw>`SELECT ${holdColumns} FROM ledger_holds h JOIN reward_accounts r ON r.id = h.account_id WHERE h.id = ${id}`.execute(exec)
    return rows[0]
  }

  /** Locks the hold's account (settling it, which may expire the hold) and reads the hold again under that lock. */
  async function lockHold(tx: Tx, id: string): Promise<{ hold: HoldRaw; accounts: Map<string, AccountRow> }> {
    const before = await readHold(tx, id)
    if (!before) throw new HubError('HOLD_NOT_FOUND', `No hold has the id ${id}.`)
    const accounts = await lockAndSettle(tx, [before.account_id])
    const hold = (await readHold(tx, id))!
    if (hold.account_id !== before.account_id) throw new RetryTransaction(`hold ${id} moved to another account`)
    if (hold.status !== 'pending') throw new HubError('HOLD_RESOLVED', `The hold ${id} is ${hold.status}.`, { hold: holdOf(hold) })
    return { hold, accounts }
  }

  return {
    settingsOf,
    holdOf,
    lockAndSettle,

    async earn(tx: Tx, ledger: string, input: EarnInput): Promise<Posted<TransactionResult>> {
      const settings = await settingsOf(tx, ledger)
      const fp = fingerprintOf('transaction', ledger, input)
      const existing = await store.byKey(tx, ledger, input.idempotencyKey)
      if (existing) return replay(tx, existing, fp)
      const now = clock()
      const expiresAt = input.expiresAt ? new Date(input.expiresAt) : settings.expiryDays ? new Date(now.getTime() + settings.expiryDays * DAY) : null
      if (expiresAt && expiresAt <= now) throw new HubError('VALIDATION_FAILED', 'expiresAt must be in the future.')
      const accounts = (await lockedAccount(tx, ledger, input.customerId, true))!
      const accountId = [...accounts.keys()][0]!
      const w = await credit(tx, ledger, accountId, BigInt(input.amount), {
        accounts,
        kind: 'earn',
        from: await issuer(tx, ledger, accountId, input.providerId),
        key: input.idempotencyKey,
        fp,
        expiresAt,
        availableAt: null,
        reference: input.reference,
        metadata: input.metadata as Record<string, unknown> | undefined,
        event: 'points.earned',
      })
      return { result: w, replayed: false }
    },

    /**
     * Platforms' points balances brought by a bulk import's batch: each earned once, as a
     * transaction of kind `import` from the house issuer to the customer's account (made if
     * missing), with the ledger's expiry counted from now; in the order given. `key` (the row's
     * stable key) makes each idempotent: a repeat with the same amount posts nothing, one with
     * another amount posts nothing and gets 409 `IDEMPOTENCY_KEY_REUSED` as its answer (the
     * others go on); a balance of 0 posts nothing unless the key posted before. The keys are
     * internal ones (`hub import:<key>`): no caller's earn can take one first; they are read for
     * the whole batch in one query. The fingerprint holds the amount alone: the same row
     * imported after its customer was merged into another lands on the merge's target and is
     * still the same balance. Emits `points.earned`, whose transaction says `kind: 'import'`.
     * Answers, per item, the error that kept it from posting, or null. The batch's postings are
     * written by one statement ({@link LedgerStore.writeCredits}): the customers' accounts are
     * locked (and settled) first, then their issuer lanes, the order a single posting takes them
     * in; a customer with no account yet or not live is posted alone, first. `lane` names the one
     * issuer lane every credit comes from (an import gives each batch its own, so that batches
     * resolved at once, and live earns, do not all queue on the same sixteen lanes until the
     * batch commits); without it each customer's own lane, as an earn.
     */
    async importBalances(tx: Tx, ledger: string, items: { customerId: string; amount: number; key: string }[], options: { lane?: number | undefined } = {}): Promise<(HubError | null)[]> {
      const settings = await settingsOf(tx, ledger)
      const keyOf = (key: string) => internalKey(`import:${key}`)
      const posted = new Map([...(await store.byKeys(tx, ledger, items.map((i) => keyOf(i.key))))].map(([key, t]) => [key, t.fingerprint]))
      const answers: (HubError | null)[] = items.map(() => null)
      // what posts, in order: a key seen before (in the ledger or earlier in the batch) posts nothing
      const due: { n: number; customerId: string; amount: bigint; key: string; fp: string }[] = []
      const firstInBatch = new Map<string, number>()
      const repeats: { n: number; key: string }[] = []
      for (const [n, input] of items.entries()) {
        const key = keyOf(input.key)
        const fp = fingerprintOf('import', ledger, { amount: input.amount })
        const before = posted.get(key)
        if (before !== undefined) {
          if (before !== fp) answers[n] = new HubError('IDEMPOTENCY_KEY_REUSED', `The balance of ${input.key} was imported before with another amount; nothing was posted.`)
          else if (firstInBatch.has(key)) repeats.push({ n, key })
          continue
        }
        firstInBatch.set(key, n)
        // a balance of 0 posts nothing (a transaction moves at least one point), and keeps the key free
        if (input.amount === 0) continue
        posted.set(key, fp)
        due.push({ n, customerId: input.customerId, amount: BigInt(input.amount), key, fp })
      }
      const now = clock()
      const expiresAt = settings.expiryDays ? new Date(now.getTime() + settings.expiryDays * DAY) : null
      const customerIds = [...new Set(due.map((d) => d.customerId))]
      const accountIds = await store.customerAccountIds(tx, ledger, customerIds, customers.liveIdsSql(customerIds))
      // one by one: a customer with no account yet, or one that is not live (which answers why)
      for (const d of due.filter((d) => !accountIds.has(d.customerId))) {
        try {
          const accounts = (await lockedAccount(tx, ledger, d.customerId, true))!
          const accountId = [...accounts.keys()][0]!
          await credit(tx, ledger, accountId, d.amount, {
            accounts, kind: 'import', from: await issuer(tx, ledger, accountId, HOUSE_PROVIDER, options.lane), key: d.key, fp: d.fp, expiresAt, availableAt: null, event: 'points.earned',
          })
        } catch (err) {
          if (!(err instanceof HubError)) throw err
          answers[d.n] = err
        }
      }
      // a repeat of a row in the batch answers as its first did
      for (const r of repeats) answers[r.n] = answers[firstInBatch.get(r.key)!] ?? null
      // the rest at once: the customers' accounts locked (what fell due on them settled), then their issuer lanes
      const rest = due.filter((d) => accountIds.has(d.customerId))
      if (rest.length === 0) return answers
      const accounts = await lockAndSettle(tx, [...new Set(rest.map((d) => accountIds.get(d.customerId)!))])
      const from = new Map<string, string>()
      for (const accountId of accounts.keys()) from.set(accountId, await issuer(tx, ledger, accountId, HOUSE_PROVIDER, options.lane))
      for (const [id, row] of await store.lock(tx, [...new Set(from.values())])) accounts.set(id, row)
      await store.writeCredits(tx, accounts, {
        ledger,
        kind: 'import',
        credits: rest.map((d) => {
          const to = accountIds.get(d.customerId)!
          return { from: from.get(to)!, to, amount: d.amount, key: d.key, fingerprint: d.fp }
        }),
        expiresAt,
        events: (w, n) => pointsEvent('points.earned', rest[n]!.customerId)(w),
      })
      return answers
    },

    async spend(tx: Tx, ledger: string, input: SpendInput): Promise<Posted<TransactionResult>> {
      await settingsOf(tx, ledger)
      const fp = fingerprintOf('transaction', ledger, input)
      const existing = await store.byKey(tx, ledger, input.idempotencyKey)
      if (existing) return replay(tx, existing, fp)
      const accounts = await lockedAccount(tx, ledger, input.customerId, false)
      if (!accounts) throw insufficient(undefined, BigInt(input.amount))
      const accountId = [...accounts.keys()][0]!
      const done = await debit(tx, ledger, accountId, BigInt(input.amount), {
        accounts,
        kind: 'spend',
        to: await store.laneId(tx, ledger, 'redemptions', laneOf(accountId)),
        key: input.idempotencyKey,
        fp,
        reference: input.reference,
        metadata: input.metadata as Record<string, unknown> | undefined,
        events: pointsEvent('points.spent', input.customerId),
      })
      return { result: done!.written, replayed: false }
    },

    async adjust(tx: Tx, ledger: string, input: AdjustInput): Promise<Posted<TransactionResult>> {
      if (input.amount === 0) throw new HubError('VALIDATION_FAILED', 'An adjustment moves a non-zero amount.')
      await settingsOf(tx, ledger)
      const fp = fingerprintOf('transaction', ledger, input)
      const existing = await store.byKey(tx, ledger, input.idempotencyKey)
      if (existing) return replay(tx, existing, fp)
      const accounts = await lockedAccount(tx, ledger, input.customerId, input.amount > 0)
      if (!accounts) throw insufficient(undefined, BigInt(-input.amount))
      const accountId = [...accounts.keys()][0]!
      const lane = await store.laneId(tx, ledger, 'adjustments', laneOf(accountId))
      if (input.amount > 0) {
        const w = await credit(tx, ledger, accountId, BigInt(input.amount), {
          accounts,
          kind: 'adjust', from: lane, key: input.idempotencyKey, fp, expiresAt: null, availableAt: null, reason: input.reason, metadata: input.metadata as Record<string, unknown> | undefined, event: 'points.adjusted',
        })
        return { result: w, replayed: false }
      }
      const done = await debit(tx, ledger, accountId, BigInt(-input.amount), {
        accounts,
        kind: 'adjust', to: lane, key: input.idempotencyKey, fp, reason: input.reason, metadata: input.metadata as Record<string, unknown> | undefined, events: pointsEvent('points.adjusted', input.customerId),
      })
      return { result: done!.written, replayed: false }
    },

    async transfer(tx: Tx, ledger: string, input: TransferInput): Promise<Posted<TransactionResult>> {
      const settings = await settingsOf(tx, ledger)
      if (input.fromCustomerId === input.toCustomerId) throw new HubError('SAME_ACCOUNT')
      const fp = fingerprintOf('transaction', ledger, input)
      const existing = await store.byKey(tx, ledger, input.idempotencyKey)
      if (existing) return replay(tx, existing, fp)
      const from = await accountOf(tx, ledger, input.fromCustomerId, false)
      const amount = BigInt(input.amount)
      if (!from) throw insufficient(undefined, amount)
      const to = (await accountOf(tx, ledger, input.toCustomerId, true))!
      const accounts = await lockAndSettle(tx, [from, to])
      const row = accounts.get(from)!
      if (!settings.allowNegative && availableOf(row) < amount) throw insufficient(row, amount)
      const open = await store.openLots(tx, from)
      const { uses } = take([...open.filter((l) => !l.pending), ...(settings.allowNegative ? open.filter((l) => l.pending) : [])], amount)
      const target = accounts.get(to)!
      const debt = target.balance < 0n ? -target.balance : 0n
      // the receiver's lots keep the expiry of the points they came from; a debt of the receiver is paid first
      const lots: NewLot[] = []
      let toPay = debt
      const lotsById = new Map((await store.openLots(tx, from)).map((l) => [l.id, l]))
      for (const u of uses) {
        const paid = toPay < u.amount ? toPay : u.amount
        toPay -= paid
        if (u.amount - paid > 0n) lots.push({ accountId: to, amount: u.amount - paid, expiresAt: lotsById.get(u.lotId)?.expires_at ?? null, pending: false, availableAt: null, orderId: null })
      }
      const beyond = amount - sum(uses) // points beyond the lots (a ledger allowing negative balances)
      if (beyond - toPay > 0n) lots.push({ accountId: to, amount: beyond - (toPay < beyond ? toPay : beyond), expiresAt: null, pending: false, availableAt: null, orderId: null })
      const w = await store.write(tx, accounts, {
        ledger,
        kind: 'transfer',
        idempotencyKey: input.idempotencyKey,
        fingerprint: fp,
        postings: [{ from, to, amount }],
        reference: input.reference,
        metadata: input.metadata as Record<string, unknown> | undefined,
        uses,
        lots,
        mayGoNegative: settings.allowNegative,
        events: pointsEvent('points.transferred', input.fromCustomerId),
      })
      return { result: w, replayed: false }
    },

    async reverse(tx: Tx, ledger: string, id: string, input: { idempotencyKey: string; reason: string }): Promise<Posted<TransactionResult>> {
      await settingsOf(tx, ledger)
      const fp = fingerprintOf('reverse', ledger, { id, ...input })
      const existing = await store.byKey(tx, ledger, input.idempotencyKey)
      if (existing) return replay(tx, existing, fp)
      const original = await store.transaction(tx, ledger, id)
      if (!original) throw new HubError('TRANSACTION_NOT_FOUND', `No transaction ${id} in ledger ${ledger}.`)
      if (!['earn', 'spend', 'adjust', 'transfer', 'capture'].includes(original.kind)) {
        throw new HubError('TRANSACTION_NOT_REVERSIBLE', `A ${original.kind} transaction is not reversed by this route.`)
      }
      const ids = [...new Set(original.postings.flatMap((p) => [p.from, p.to]))]
      const accounts = await lockAndSettle(tx, ids)
      try {
        const w = await mirror(tx, original, { key: input.idempotencyKey, fp, reason: input.reason, strict: false, spentCode: 'REVERSAL_POINTS_SPENT', accounts })
        return { result: w, replayed: false }
      } catch (err) {
        if (isUniqueViolation(err, 'ledger_transactions_reverses_key')) throw new RetryTransaction(`transaction ${id} was reversed meanwhile`)
        throw err
      }
    },

    async transaction(exec: Executor, ledger: string, id: string): Promise<LedgerTransaction> {
      await settingsOf(exec, ledger)
      const t = await store.transaction(exec, ledger, id)
      if (!t) throw new HubError('TRANSACTION_NOT_FOUND', `No transaction ${id} in ledger ${ledger}.`)
      return publicTransaction(t)
    },

    async hold(tx: Tx, ledger: string, input: HoldInput): Promise<Posted<HoldResult>> {
      const settings = await settingsOf(tx, ledger)
      const fp = fingerprintOf('hold', ledger, input)
      const { rows: found } = await sql<{ id: string; fingerprint: string }>`SELECT id, fingerprint FROM ledger_holds WHERE ledger_id = ${ledger} AND idempotency_key IN (${sql.join(deps.store.keyForms(input.idempotencyKey))})`.execute(tx)
      if (found[0]) {
        if (found[0].fingerprint !== fp) throw new HubError('IDEMPOTENCY_KEY_REUSED', `The idempotency key ${input.idempotencyKey} was used for another hold of this ledger.`)
        const hold = (await readHold(tx, found[0].id))!
        return { result: { hold: holdOf(hold), balance: balanceOf((await store.read(tx, hold.account_id))!), transaction: null }, replayed: true }
      }
      const amount = BigInt(input.amount)
      const accounts = await lockedAccount(tx, ledger, input.customerId, false)
      if (!accounts) throw insufficient(undefined, amount)
      const accountId = [...accounts.keys()][0]!
      const row = accounts.get(accountId)!
      if (!settings.allowNegative && availableOf(row) < amount) throw insufficient(row, amount)
      const now = clock()
      const id = newId('hld')
      const expiresAt = new Date(now.getTime() + input.ttlSeconds * 1000)
      const hold: Hold = {
        id, ledger, accountId, customerId: input.customerId, amount: input.amount, status: 'pending', capturedAmount: null, captureTransactionId: null,
        reference: input.reference ?? null, idempotencyKey: input.idempotencyKey, expiresAt: expiresAt.toISOString(), createdAt: now.toISOString(), resolvedAt: null,
      }
      const insert = sql`
        INSERT INTO ledger_holds (id, ledger_id, account_id, amount, reference, idempotency_key, fingerprint, expires_at, created_at)
        VALUES (${id}, ${ledger}, ${accountId}, ${String(amount)}::bigint, ${hold.reference}, ${input.idempotencyKey}, ${fp}, ${hold.expiresAt}::timestamptz, ${hold.createdAt}::timestamptz)`
      const balance = balanceOf({ ...row, held: row.held + amount })
      try {
        const next = await store.setReserved(tx, row, { held: amount, due: expiresAt, mayGoNegative: settings.allowNegative }, [['h', insert]], [
          { type: 'points.held', customerId: input.customerId, payload: { hold, balance } },
        ])
        return { result: { hold, balance: balanceOf(next), transaction: null }, replayed: false }
      } catch (err) {
        if (isUniqueViolation(err, 'ledger_holds_key')) throw new RetryTransaction(`hold key ${input.idempotencyKey} was claimed meanwhile`)
        throw err
      }
    },

    async getHold(exec: Executor, id: string): Promise<Hold> {
      const hold = await readHold(exec, id)
      if (!hold) throw new HubError('HOLD_NOT_FOUND', `No hold has the id ${id}.`)
      return holdOf(hold)
    },

    async capture(tx: Tx, id: string, amount: number | undefined): Promise<HoldResult> {
      const { hold, accounts } = await lockHold(tx, id)
      const held = BigInt(hold.amount)
      const captured = amount === undefined ? held : BigInt(amount)
      if (captured > held) throw new HubError('CAPTURE_EXCEEDS_HOLD', `The hold reserved ${held} points; ${captured} cannot be captured.`)
      const txnId = newId('txn')
      const now = clock().toISOString()
      const after: Hold = { ...holdOf(hold), status: 'captured', capturedAmount: toNumber(captured), captureTransactionId: txnId, resolvedAt: now }
      const done = await debit(tx, hold.ledger_id, hold.account_id, captured, {
        id: txnId,
        kind: 'capture',
        to: await store.laneId(tx, hold.ledger_id, 'redemptions', laneOf(hold.account_id)),
        key: internalKey(`capture:${hold.id}`),
        fp: 'capture',
        heldRelease: held,
        holdId: hold.id,
        reference: hold.reference,
        accounts,
        parts: [['hc', sql`UPDATE ledger_holds SET status = 'captured', captured_amount = ${String(captured)}::bigint, capture_transaction_id = ${txnId}, resolved_at = ${now}::timestamptz
          WHERE id = ${hold.id} AND status = 'pending' AND EXISTS (SELECT 1 FROM t)`]],
        events: (w) => [{ type: 'points.captured', customerId: hold.customer_id, payload: { hold: after, balance: w.balances[0]!, transaction: w.transaction } }],
      })
      const written = done!.written
      return { hold: after, balance: written.balances.find((b) => b.accountId === hold.account_id)!, transaction: written.transaction }
    },

    async void(tx: Tx, id: string): Promise<HoldResult> {
      const { hold, accounts } = await lockHold(tx, id)
      const row = accounts.get(hold.account_id)!
      const now = clock().toISOString()
      const after: Hold = { ...holdOf(hold), status: 'voided', resolvedAt: now }
      const balance = balanceOf({ ...row, held: row.held - BigInt(hold.amount) })
      const next = await store.setReserved(
        tx,
        row,
        // a lot that expired while the hold kept it is due now
        { held: -BigInt(hold.amount), due: clock() },
        [['hv', sql`UPDATE ledger_holds SET status = 'voided', resolved_at = ${now}::timestamptz WHERE id = ${hold.id} AND status = 'pending'`]],
        [{ type: 'points.released', customerId: hold.customer_id, payload: { hold: after, balance } }],
      )
      return { hold: after, balance: balanceOf(next), transaction: null }
    },

    /**
     * Brings what an order earned in each ledger with an earn rule for its currency to what its
     * total earns now (nothing once cancelled): the difference is earned (pending for the ledger's
     * return window) or taken back — the order's own lots first, pending or not, then the soonest
     * expiring; what the customer no longer has is recorded as `unrecovered` on the transaction.
     */
    async settleOrder(tx: Tx, order: { id: string; customerId: string; total: number; currency: string; cancelled: boolean }): Promise<LedgerTransaction[]> {
      const posted: LedgerTransaction[] = []
      const ledgers = [...configured.values()]
      if (!configured.has('reward-points')) ledgers.push(defaultLedger('reward-points'))
      for (const settings of ledgers) {
        const rule = settings.earn.find((r) => r.currency === order.currency)
        if (!rule) continue
        const ledger = settings.handle
        const due = order.cancelled ? 0n : (BigInt(order.total) / BigInt(rule.per)) * BigInt(rule.points)
        const before = await store.transactionsWhere(tx, 'order_id', order.id, ledger)
        const granted = before.reduce((s, t) => s + BigInt(Number(t.metadata.orderPoints ?? 0)), 0n)
        const diff = due - granted
        if (diff === 0n) continue
        const id = newId('txn')
        if (diff > 0n) {
          const accountId = (await accountOf(tx, ledger, order.customerId, true))!
          const now = clock()
          const w = await credit(tx, ledger, accountId, diff, {
            kind: 'order',
            from: await issuer(tx, ledger, accountId),
            key: internalKey(`order:${order.id}:${id}`),
            fp: 'order',
            expiresAt: settings.expiryDays ? new Date(now.getTime() + settings.expiryDays * DAY) : null,
            availableAt: settings.pendingDays > 0 ? new Date(now.getTime() + settings.pendingDays * DAY) : null,
            orderId: order.id,
            metadata: { orderPoints: toNumber(diff) },
            event: 'points.earned',
          })
          posted.push(w.transaction)
        } else {
          const accountId = await store.customerAccountId(tx, ledger, order.customerId)
          if (!accountId) continue
          const done = await debit(tx, ledger, accountId, -diff, {
            kind: 'order',
            to: await issuer(tx, ledger, accountId),
            key: internalKey(`order:${order.id}:${id}`),
            fp: 'order',
            id,
            orderId: order.id,
            upTo: true,
            // what the customer no longer has stays with them: the order's next change starts from what was really taken
            metadata: (taken) => ({ orderPoints: -toNumber(taken), unrecovered: toNumber(-diff - taken) }),
            events: pointsEvent('points.reversed', order.customerId),
          })
          if (done) posted.push(done.written.transaction)
        }
      }
      return posted
    },

    /**
     * A merge: each of the source's accounts moves its points to the target's account in the
     * same ledger (made if missing) as one `merge` transaction — lots keep their expiry and return
     * window, holds still pending follow the points.
     */
    async moveOnMerge(tx: Tx, sourceId: string, targetId: string, mergeId: string): Promise<LedgerTransaction[]> {
      const posted: LedgerTransaction[] = []
      const { rows: sources } = await sql<{ id: string; ledger_id: string }>`SELECT id, ledger_id FROM reward_accounts WHERE customer_id = ${sourceId} ORDER BY ledger_id`.execute(tx)
      for (const source of sources) {
        const settings = await settingsOf(tx, source.ledger_id)
        // nothing to move: no account made for the target (both customers' rows are locked, so this holds)
        const empty = (await store.read(tx, source.id))!
        if (empty.balance === 0n && empty.held === 0n) continue
        const target = (await deps.ensureAccount(tx, targetId, source.ledger_id)).account.id
        const accounts = await lockAndSettle(tx, [source.id, target])
        const from = accounts.get(source.id)!
        if (from.balance === 0n && from.held === 0n) continue
        const { rows: holds } = await sql<{ id: string; amount: string }>`
          UPDATE ledger_holds SET account_id = ${target} WHERE account_id = ${source.id} AND status = 'pending' RETURNING id, amount::text AS amount`.execute(tx)
        const held = holds.reduce((s, h) => s + BigInt(h.amount), 0n)
        const lots = await store.openLots(tx, source.id)
        const uses: LotUse[] = lots.map((l) => ({ lotId: l.id, accountId: l.account_id, amount: l.remaining, pending: l.pending }))
        // the target's lots keep the expiry of the points they came from; a debt of the target is paid first
        const to = accounts.get(target)!
        let debt = to.balance < 0n ? -to.balance : 0n
        const copies: NewLot[] = []
        for (const l of lots) {
          const paid = debt < l.remaining ? debt : l.remaining
          debt -= paid
          if (l.remaining - paid > 0n) copies.push({ accountId: target, amount: l.remaining - paid, expiresAt: l.expires_at, pending: l.pending, availableAt: l.available_at, orderId: l.order_id })
        }
        const positive = from.balance > 0n
        const amount = positive ? from.balance : -from.balance
        const w = await store.write(tx, accounts, {
          ledger: source.ledger_id,
          kind: 'merge',
          idempotencyKey: internalKey(`merge:${mergeId}:${source.id}`),
          fingerprint: 'merge',
          postings: amount === 0n ? [] : [positive ? { from: source.id, to: target, amount } : { from: target, to: source.id, amount }],
          mergeId,
          metadata: { holds: holds.map((h) => h.id), sourceCustomerId: sourceId, targetCustomerId: targetId },
          held: held > 0n ? new Map([[source.id, -held], [target, held]]) : undefined,
          uses: positive ? uses : takeDebt(await store.openLots(tx, target), amount),
          lots: positive ? copies : [],
          mayGoNegative: settings.allowNegative,
          events: pointsEvent('points.transferred', targetId),
        })
        posted.push(w.transaction)
        if (held > 0n) await store.recomputeDue(tx, target, clock())
      }
      return posted
    },

    /**
     * Undoes what a merge moved: each of its transactions is reversed exactly — refused with
     * `MERGE_UNDO_CONFLICT` when points it moved were spent, expired or moved since — and holds
     * it moved that are still pending move back.
     */
    async undoMerge(tx: Tx, mergeId: string): Promise<LedgerTransaction[]> {
      const posted: LedgerTransaction[] = []
      const moved = (await store.transactionsWhere(tx, 'merge_id', mergeId)).filter((t) => t.kind === 'merge')
      for (const original of moved) {
        if (await store.reversalOf(tx, original.id)) continue
        const holdIds = (original.metadata.holds as string[] | undefined) ?? []
        const ids = [...new Set(original.postings.flatMap((p) => [p.from, p.to]))]
        const { rows: pair } = await sql<{ id: string; customer_id: string }>`
          SELECT id, customer_id FROM reward_accounts WHERE ledger_id = ${original.ledger} AND customer_id IN (${String(original.metadata.sourceCustomerId)}, ${String(original.metadata.targetCustomerId)})`.execute(tx)
        const sourceAccount = pair.find((r) => r.customer_id === original.metadata.sourceCustomerId)!.id
        const targetAccount = pair.find((r) => r.customer_id === original.metadata.targetCustomerId)!.id
        const accounts = await lockAndSettle(tx, [...ids, sourceAccount, targetAccount])
        const { rows: holds } = holdIds.length
          ? await sql<{ id: string; amount: string }>`
              UPDATE ledger_holds SET account_id = ${sourceAccount} WHERE id = ANY (${holdIds}::text[]) AND account_id = ${targetAccount} AND status = 'pending'
              RETURNING id, amount::text AS amount`.execute(tx)
          : { rows: [] }
        const held = holds.reduce((s, h) => s + BigInt(h.amount), 0n)
        if (original.postings.length === 0) {
          // only holds moved: give them back
          if (held > 0n) {
            await store.setReserved(tx, accounts.get(targetAccount)!, { held: -held })
            await store.setReserved(tx, accounts.get(sourceAccount)!, { held, mayGoNegative: true })
          }
          continue
        }
        const w = await mirror(tx, original, {
          key: internalKey(`merge-undo:${original.id}`),
          fp: 'merge-undo',
          reason: `merge ${mergeId} undone`,
          strict: true,
          spentCode: 'MERGE_UNDO_CONFLICT',
          accounts,
          heldBack: held > 0n ? new Map([[targetAccount, -held], [sourceAccount, held]]) : undefined,
        }).catch((err: unknown) => {
          // the target no longer has the points free to give back (a hold took them, say)
          if (err instanceof HubError && err.code === 'INSUFFICIENT_POINTS') throw new HubError('MERGE_UNDO_CONFLICT', `Cannot undo: the target no longer has the ${original.postings[0]?.amount ?? 0} points the merge moved free to give back.`, { mergeId })
          throw err
        })
        posted.push(w.transaction)
        await store.recomputeDue(tx, sourceAccount, clock())
      }
      return posted
    },

    /** Settles every account that fell due (expired lots and holds, ended return windows), in batches; returns how many. */
    async settleDue(tx: Tx, limit = 100, ledger?: string): Promise<number> {
      const { rows } = await sql<{ id: string }>`
        SELECT id FROM reward_accounts WHERE next_due_at <= ${clock().toISOString()}::timestamptz ${ledger ? sql`AND ledger_id = ${ledger}` : sql``}
        ORDER BY next_due_at LIMIT ${limit}`.execute(tx)
      if (rows.length === 0) return 0
      await lockAndSettle(tx, rows.map((r) => r.id))
      return rows.length
    },
  }
}
export type LedgerService = ReturnType<typeof createLedgerService>
