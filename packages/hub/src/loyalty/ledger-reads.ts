import { sql } from 'kysely'
import type { Ledger, LedgerEntry, RewardAccountBalance, TransactionKind, VerifyReport } from '@his-her/contract'
import type { Executor } from '../db/executor.js'
import { HubError } from '../errors.js'
import { balanceOf, lotOf, toNumber, type LedgerStore } from './ledger-store.js'
import type { LedgerSettings } from './settings.js'

type Problem = VerifyReport['problems'][number]

/** How many accounts one step of `verify` checks (its progress moves by these). */
const VERIFY_BATCH = 2000
/** A ledger with this many transactions or more has them checked in two halves at once. */
const SPLIT_TRANSACTIONS = 20_000

/** Reads of the ledger: balances with lots, entries, a balance at a past moment, and the check of everything. */
export function createLedgerReads({ store, clock }: { store: LedgerStore; clock: () => Date }) {
  return {
    /** A customer's accounts with balances and open lots. */
    async customerAccounts(exec: Executor, customerId: string): Promise<RewardAccountBalance[]> {
      const ids = (await exec.selectFrom('reward_accounts').select('id').where('customer_id', '=', customerId).orderBy('created_at').orderBy('id').execute()).map((r) => r.id)
      const rows = await Promise.all(ids.map((id) => store.read(exec, id)))
      const lots = await store.lotsOf(exec, ids)
      return rows.map((row) => {
        const { balance, available, held, pending } = balanceOf(row!)
        return {
          id: row!.id,
          ledger: row!.ledger_id,
          customerId,
          createdAt: row!.created_at.toISOString(),
          balance,
          available,
          held,
          pending,
          lots: lots.filter((l) => l.account_id === row!.id).map(lotOf),
        }
      })
    },

    /** The account, if it is in the ledger (and, for a customer's token, theirs). */
    async requireAccount(exec: Executor, ledger: string, id: string, customerId?: string): Promise<void> {
      const row = await store.read(exec, id)
      if (!row || row.ledger_id !== ledger || (customerId !== undefined && row.customer_id !== customerId)) {
        throw new HubError('ACCOUNT_NOT_FOUND', `No account ${id} in ledger ${ledger}.`)
      }
    },

    /** Entries newest first; the cursor is the `seq` to continue below. */
    async entries(exec: Executor, accountId: string, cursor: string | undefined, limit = 50): Promise<{ data: LedgerEntry[]; nextCursor: string | null }> {
      if (cursor !== undefined && !/^[1-9][0-9]{0,17}$/.test(cursor)) throw new HubError('INVALID_CURSOR')
      const { rows } = await sql<{ transaction_id: string; account_id: string; seq: string; amount: string; balance_after: string; hash: string; created_at: Date; kind: TransactionKind }>`
        SELECT e.transaction_id, e.account_id, e.seq::text AS seq, e.amount::text AS amount, e.balance_after::text AS balance_after, e.hash, e.created_at, t.kind
        FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
        WHERE e.account_id = ${accountId} ${cursor ? sql`AND e.seq < ${cursor}::bigint` : sql``}
        ORDER BY e.seq DESC LIMIT ${limit + 1}`.execute(exec)
      const page = rows.slice(0, limit)
      return {
        data: page.map((r) => ({
          transactionId: r.transaction_id,
          accountId: r.account_id,
          seq: toNumber(r.seq),
          amount: toNumber(r.amount),
          balanceAfter: toNumber(r.balance_after),
          kind: r.kind,
          hash: r.hash,
          createdAt: r.created_at.toISOString(),
        })),
        nextCursor: rows.length > limit ? page[page.length - 1]!.seq : null,
      }
    },

    /** The balance after the last entry written at or before `at` (the current balance without `at`). */
    async balanceAt(exec: Executor, accountId: string, at: Date | undefined): Promise<{ accountId: string; at: string; balance: number; entries: number }> {
      const when = at ?? clock()
      const { rows } = await sql<{ balance_after: string; seq: string }>`
        SELECT balance_after::text AS balance_after, seq::text AS seq FROM ledger_entries
        WHERE account_id = ${accountId} AND created_at <= ${when.toISOString()}::timestamptz ORDER BY seq DESC LIMIT 1`.execute(exec)
      return { accountId, at: when.toISOString(), balance: rows[0] ? toNumber(rows[0].balance_after) : 0, entries: rows[0] ? toNumber(rows[0].seq) : 0 }
    },

    async ledger(exec: Executor, settings: LedgerSettings): Promise<Ledger> {
      const { rows } = await sql<{ role: 'issuer' | 'redemptions' | 'expiry' | 'adjustments'; provider: string | null; balance: string; lanes: string[] }>`
        SELECT role, provider, sum(balance)::text AS balance, array_agg(id ORDER BY lane) AS lanes
        FROM reward_accounts WHERE ledger_id = ${settings.handle} AND role NOT IN ('customer', 'coupon')
        GROUP BY role, provider ORDER BY role, provider`.execute(exec)
      return {
        handle: settings.handle,
        name: settings.name,
        allowNegative: settings.allowNegative,
        pendingDays: settings.pendingDays,
        expiryDays: settings.expiryDays,
        earn: settings.earn,
        systemAccounts: rows.map((r) => ({ role: r.role, provider: r.provider, balance: toNumber(r.balance), lanes: r.lanes })),
      }
    },

    /**
     * Recomputes the ledger from its facts: every transaction's entries sum to zero and match its
     * postings; each account's chain of entries is unbroken (seq, balance after, hash); each
     * account's balance, entry count and head hash are those of its entries; a customer account's
     * lots add up to its balance and its pending points, its pending holds to its held points.
     */
    async verify(exec: Executor, ledger: string, onProgress?: (done: number, total: number) => void, options: { splitAt?: number } = {}): Promise<VerifyReport> {
      const problems: Problem[] = []
      const counts = (
        await sql<{ accounts: number; transactions: number; entries: number }>`
          SELECT (SELECT count(*) FROM reward_accounts WHERE ledger_id = ${ledger})::int AS accounts,
                 (SELECT count(*) FROM ledger_transactions WHERE ledger_id = ${ledger})::int AS transactions,
                 (SELECT count(*) FROM ledger_entries e JOIN reward_accounts r ON r.id = e.account_id WHERE r.ledger_id = ${ledger})::int AS entries`.execute(exec)
      ).rows[0]!

      // transactions: postings balance by construction; entries must equal the postings' net per account.
      // On PostgreSQL this check runs on other connections while the accounts are walked (the chain
      // and the balances of a batch at once too), a large ledger's transactions in two halves, so
      // verify uses every core; each statement is consistent in itself.
      const unbalancedIn = (from: string | null, to: string | null) => sql<{ id: string; account: string | null; posted: string | null; entered: string | null }>`
        WITH p AS (
          SELECT t.id, x.account, sum(x.amount) AS amount
          FROM ledger_transactions t
          CROSS JOIN LATERAL (
            SELECT j->>'to' AS account, (j->>'amount')::bigint AS amount FROM jsonb_array_elements(t.postings) j
            UNION ALL SELECT j->>'from', -(j->>'amount')::bigint FROM jsonb_array_elements(t.postings) j
          ) x
          WHERE t.ledger_id = ${ledger} AND (${from}::text IS NULL OR t.id >= ${from}) AND (${to}::text IS NULL OR t.id < ${to})
          GROUP BY t.id, x.account HAVING sum(x.amount) <> 0
        ),
        e AS (
          SELECT e.transaction_id AS id, e.account_id AS account, e.amount
          FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
          WHERE t.ledger_id = ${ledger} AND (${from}::text IS NULL OR t.id >= ${from}) AND (${to}::text IS NULL OR t.id < ${to})
        )
        SELECT coalesce(p.id, e.id) AS id, coalesce(p.account, e.account) AS account, p.amount::text AS posted, e.amount::text AS entered
        FROM p FULL JOIN e ON p.id = e.id AND p.account = e.account
        WHERE p.amount IS DISTINCT FROM e.amount
        UNION ALL
        SELECT id, NULL, NULL, sum(amount)::text FROM e GROUP BY id HAVING sum(amount) <> 0
        LIMIT 1000`.execute(exec)
      const middle =
        counts.transactions >= (options.splitAt ?? SPLIT_TRANSACTIONS)
          ? (await sql<{ id: string }>`SELECT id FROM ledger_transactions WHERE ledger_id = ${ledger} ORDER BY id OFFSET ${Math.floor(counts.transactions / 2)} LIMIT 1`.execute(exec)).rows[0]?.id
          : undefined
      const unbalancedRun = Promise.all(middle ? [unbalancedIn(null, middle), unbalancedIn(middle, null)] : [unbalancedIn(null, null)]).then((parts) => ({
        rows: parts.flatMap((p) => p.rows).slice(0, 1000),
      }))
      // awaited after the accounts; a failure meanwhile is not an unhandled rejection
      unbalancedRun.catch(() => {})

      let after = ''
      let done = 0
      onProgress?.(0, counts.accounts)
      for (;;) {
        const { rows: batch } = await sql<{ id: string }>`
          SELECT id FROM reward_accounts WHERE ledger_id = ${ledger} AND id > ${after} ORDER BY id LIMIT ${VERIFY_BATCH}`.execute(exec)
        if (batch.length === 0) break
        const ids = batch.map((b) => b.id)
        after = ids[ids.length - 1]!

        const chainRun = sql<{ account_id: string; seq: string; transaction_id: string; what: string }>`
          SELECT account_id, seq::text AS seq, transaction_id,
            CASE WHEN seq <> prev_seq + 1 THEN 'seq' WHEN balance_after <> prev_balance + amount THEN 'balance' ELSE 'hash' END AS what
          FROM (
            SELECT e.*, coalesce(lag(seq) OVER w, 0) AS prev_seq, coalesce(lag(balance_after) OVER w, 0) AS prev_balance,
              ledger_entry_hash(coalesce(lag(hash) OVER w, ''), transaction_id, account_id, seq, amount, balance_after, created_at) AS expected
            FROM ledger_entries e WHERE account_id = ANY (${ids}::text[])
            WINDOW w AS (PARTITION BY account_id ORDER BY seq)
          ) c
          WHERE seq <> prev_seq + 1 OR balance_after <> prev_balance + amount OR hash <> expected
          LIMIT 1000`.execute(exec)
        // lots are summed through the open lots' partial index (remaining > 0): used-up lots add nothing
        const accountsRun = sql<{ id: string; role: string; balance: string; entry_balance: string; entry_count: string; entries: string; head_hash: string; last_hash: string | null; lots: string; held: string; holds: string; pending: string; pending_lots: string }>`
          SELECT r.id, r.role, r.balance::text AS balance, r.entry_count::text AS entry_count, r.head_hash,
            coalesce(e.total, 0)::text AS entry_balance, coalesce(e.n, 0)::text AS entries, e.last_hash,
            coalesce(l.remaining, 0)::text AS lots, coalesce(l.pending, 0)::text AS pending_lots, r.pending::text AS pending,
            r.held::text AS held, coalesce(h.amount, 0)::text AS holds
          FROM reward_accounts r
          LEFT JOIN LATERAL (
            SELECT sum(amount) AS total, count(*) AS n, (array_agg(hash ORDER BY seq DESC))[1] AS last_hash FROM ledger_entries WHERE account_id = r.id
          ) e ON true
          LEFT JOIN LATERAL (
            SELECT sum(remaining) AS remaining, sum(remaining) FILTER (WHERE pending) AS pending FROM ledger_lots WHERE account_id = r.id AND remaining > 0
          ) l ON true
          LEFT JOIN LATERAL (SELECT sum(amount) AS amount FROM ledger_holds WHERE account_id = r.id AND status = 'pending') h ON true
          WHERE r.id = ANY (${ids}::text[])`.execute(exec)
        const [chain, accounts] = await Promise.all([chainRun, accountsRun])
        for (const r of chain.rows) {
          problems.push({
            kind: 'chain',
            accountId: r.account_id,
            transactionId: r.transaction_id,
            detail: r.what === 'hash' ? `entry ${r.seq}: its hash does not cover it and the entry before` : r.what === 'seq' ? `entry ${r.seq} does not follow the one before` : `entry ${r.seq}: balance after is not the one before plus its amount`,
          })
        }

        for (const a of accounts.rows) {
          if (a.balance !== a.entry_balance) problems.push({ kind: 'balance', accountId: a.id, transactionId: null, detail: `balance ${a.balance}, its entries sum to ${a.entry_balance}` })
          if (a.entry_count !== a.entries || (a.last_hash ?? '') !== a.head_hash) {
            problems.push({ kind: 'chain', accountId: a.id, transactionId: null, detail: `the account says ${a.entry_count} entries ending in ${a.head_hash.slice(0, 12) || '(none)'}, it has ${a.entries} ending in ${(a.last_hash ?? '').slice(0, 12) || '(none)'}` })
          }
          if (a.role === 'coupon') {
            if (BigInt(a.balance) < 0n) problems.push({ kind: 'balance', accountId: a.id, transactionId: null, detail: `a coupon's balance is ${a.balance}, below zero` })
            if (a.held !== a.holds) problems.push({ kind: 'held', accountId: a.id, transactionId: null, detail: `held ${a.held}, its pending holds reserve ${a.holds}` })
          }
          if (a.role !== 'customer') continue
          const balance = BigInt(a.balance)
          const lotsShouldBe = balance > 0n ? balance : 0n
          if (BigInt(a.lots) !== lotsShouldBe) problems.push({ kind: 'lots', accountId: a.id, transactionId: null, detail: `its lots hold ${a.lots} points, its balance is ${a.balance}` })
          if (a.pending !== a.pending_lots) problems.push({ kind: 'pending', accountId: a.id, transactionId: null, detail: `pending ${a.pending}, its pending lots hold ${a.pending_lots}` })
          if (a.held !== a.holds) problems.push({ kind: 'held', accountId: a.id, transactionId: null, detail: `held ${a.held}, its pending holds reserve ${a.holds}` })
        }
        done += batch.length
        onProgress?.(done, counts.accounts)
      }
      const transactionProblems: Problem[] = (await unbalancedRun).rows.map((r) => ({
        kind: 'unbalanced',
        accountId: r.account,
        transactionId: r.id,
        detail: r.account === null ? `its entries sum to ${r.entered}, not 0` : `postings move ${r.posted ?? 0} on the account, its entry ${r.entered ?? 'is missing'}`,
      }))
      problems.unshift(...transactionProblems)
      return { ledger, ok: problems.length === 0, ...counts, problems }
    },
  }
}
export type LedgerReads = ReturnType<typeof createLedgerReads>
