import { createHash, randomBytes } from 'node:crypto'
import { CompiledQuery } from 'kysely'

/**
 * Bulk data of the points ledger for the verify scenario, written with SQL as the hub would have
 * written it through earns — without going through the hub, which would take far too long for a
 * million entries.
 *
 * Each seeded transaction is an earn of the `reward-points` ledger: a posting from a lane of the
 * house issuer account to a customer account, as the hub makes it (the lane by the same hash of
 * the account id), with its two entries (customer +amount, lane -amount) hash-chained per account
 * with the same formula as the `ledger_entry_hash` SQL function, and one lot of the amount on the
 * customer account. The account rows get the balance, entry count and head hash of their chains, so
 * `GET /ledgers/reward-points/verify` finds nothing wrong. Issuer lanes that already exist keep
 * their chains: the seed continues them. No events are written (verify does not read them).
 */

export const LEDGER = 'reward-points'
const LANES = 16 // packages/hub/src/loyalty/ledger-store.ts LANES
const HOUSE = 'house'
const batchTransactions = 10_000
const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'

/** The id of the g-th customer `seedCustomers` made (the same expression as its SQL). */
export const seededCustomerId = (g) => `cus_${createHash('md5').update(`seed-${g}`).digest('hex').slice(0, 26).toUpperCase()}`

/** The hub's lane of a customer account (packages/hub/src/loyalty/ledger-store.ts laneOf). */
export function laneOf(accountId) {
  let h = 2166136261
  for (let i = 0; i < accountId.length; i++) h = Math.imul(h ^ accountId.charCodeAt(i), 16777619)
  return (h >>> 0) % LANES
}

let randomPool = randomBytes(65536)
let randomAt = 0

/** An id of the hub's shape: prefix, 10 base32 characters of time, 16 random ones. */
export function idLike(prefix, time = Date.now()) {
  let t = time
  let head = ''
  for (let i = 0; i < 10; i++) {
    head = alphabet[t % 32] + head
    t = Math.floor(t / 32)
  }
  if (randomAt + 16 > randomPool.length) {
    randomPool = randomBytes(65536)
    randomAt = 0
  }
  let tail = ''
  for (let i = 0; i < 16; i++) tail += alphabet[randomPool[randomAt++] & 31]
  return `${prefix}_${head}${tail}`
}

/** The hash of an entry, as `ledger_entry_hash(prev, transaction_id, account_id, seq, amount, balance_after, created_at)` computes it. */
export function entryHash(prev, transactionId, accountId, seq, amount, balanceAfter, createdAtMs) {
  return createHash('sha256').update(`${prev}|${transactionId}|${accountId}|${seq}|${amount}|${balanceAfter}|${createdAtMs}`, 'utf8').digest('hex')
}

/**
 * Seeds about `entries` ledger entries (two per transaction) over `accounts` customer accounts of
 * the seeded customers `firstCustomer` .. `firstCustomer + accounts - 1`, which must have no account
 * yet. Opens the database as the hub does (PGlite: before the hub starts).
 *
 * @param {{ createDatabase: Function }} build
 * @param {{ url?: string, dataDir?: string }} target
 * @param {{ entries: number, accounts: number, firstCustomer: number }} plan
 * @returns {Promise<undefined | { seconds: number, transactions: number, entries: number, accounts: number, triggersOff: boolean }>}
 *   undefined when the build has no points ledger
 */
export async function seedLedgerEntries(build, target, { entries, accounts, firstCustomer }) {
  const database = await build.createDatabase(target.url ? { url: target.url, poolSize: 1 } : { dataDir: target.dataDir })
  const started = performance.now()
  try {
    const { db } = database
    return await db.connection().execute(async (conn) => {
      const spent = new Map()
      const q = async (text, params = []) => {
        const t = performance.now()
        try {
          return (await conn.executeQuery(CompiledQuery.raw(text, params))).rows
        } finally {
          const k = text.trim().split(/\s+/).slice(0, 3).join(' ')
          spent.set(k, (spent.get(k) ?? 0) + performance.now() - t)
        }
      }
      const [{ has }] = await q(`SELECT to_regclass('ledger_entries') IS NOT NULL AND to_regprocedure('ledger_entry_hash(text,text,text,bigint,bigint,bigint,timestamptz)') IS NOT NULL AS has`)
      if (!has) return undefined

      const transactions = Math.max(1, Math.floor(entries / 2))
      const now = Date.now()
      // every seeded transaction one millisecond after the one before, all in the past
      const t0 = now - transactions - 3_600_000

      await q('BEGIN')
      // foreign keys are checked by triggers: off for the bulk load (the rows are consistent by construction)
      let triggersOff = true
      await q('SAVEPOINT replica')
      try {
        await q('SET LOCAL session_replication_role = replica')
        await q('RELEASE SAVEPOINT replica')
      } catch {
        await q('ROLLBACK TO SAVEPOINT replica')
        triggersOff = false
      }

      // the issuer lanes (the hub makes them at start-up too; ON CONFLICT keeps either's)
      const laneValues = Array.from({ length: LANES }, (_, lane) => lane)
      await q(
        `INSERT INTO reward_accounts (id, ledger_id, role, provider, lane)
         SELECT x.id, $1, 'issuer', $2, x.lane FROM unnest($3::text[], $4::int[]) AS x (id, lane)
         ON CONFLICT (ledger_id, role, coalesce(provider, ''), lane) WHERE role <> 'customer' DO NOTHING`,
        [LEDGER, HOUSE, laneValues.map(() => idLike('rwa')), laneValues],
      )
      const laneRows = await q(
        `SELECT id, lane, balance::text AS balance, entry_count::text AS entry_count, head_hash FROM reward_accounts
         WHERE ledger_id = $1 AND role = 'issuer' AND provider = $2 ORDER BY lane`,
        [LEDGER, HOUSE],
      )
      const lanes = laneRows.map((r) => ({ id: r.id, balance: BigInt(r.balance), seq: Number(r.entry_count), head: r.head_hash }))
      if (lanes.length !== LANES) throw new Error(`expected ${LANES} issuer lanes, found ${lanes.length}`)

      // the customer accounts, made with their final figures (computed below, written after)
      const custs = Array.from({ length: accounts }, (_, k) => {
        const id = idLike('rwa', t0 - 1000)
        return { id, customerId: seededCustomerId(firstCustomer + k), lane: lanes[laneOf(id)], balance: 0n, seq: 0, head: '' }
      })

      const makeBatch = (from, to) => {
        const tx = { id: [], key: [], postings: [], at: [] }
        const en = { account: [], seq: [], txn: [], amount: [], after: [], hash: [], at: [] }
        const lots = { id: [], account: [], txn: [], amount: [], at: [] }
        for (let k = from; k < to; k++) {
          const c = custs[k % accounts]
          const lane = c.lane
          const amount = 1 + ((k * 7919) % 500)
          const ms = t0 + k
          const at = new Date(ms).toISOString()
          const txn = idLike('txn', ms)
          tx.id.push(txn)
          tx.key.push(`bench-seed:${k}`)
          tx.postings.push(JSON.stringify([{ from: lane.id, to: c.id, amount }]))
          tx.at.push(at)
          for (const [acc, delta] of [[c, BigInt(amount)], [lane, -BigInt(amount)]]) {
            acc.seq += 1
            acc.balance += delta
            acc.head = entryHash(acc.head, txn, acc.id, acc.seq, delta, acc.balance, ms)
            en.account.push(acc.id)
            en.seq.push(acc.seq)
            en.txn.push(txn)
            en.amount.push(String(delta))
            en.after.push(String(acc.balance))
            en.hash.push(acc.head)
            en.at.push(at)
          }
          lots.id.push(idLike('lot', ms))
          lots.account.push(c.id)
          lots.txn.push(txn)
          lots.amount.push(amount)
          lots.at.push(at)
        }
        return { tx, en, lots }
      }
      const writeBatch = async ({ tx, en, lots }) => {
        await q(
          `INSERT INTO ledger_transactions (id, ledger_id, kind, idempotency_key, fingerprint, postings, created_at)
           SELECT x.id, $1, 'earn', x.key, 'bench-seed', x.postings::jsonb, x.at FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[]) AS x (id, key, postings, at)`,
          [LEDGER, tx.id, tx.key, tx.postings, tx.at],
        )
        await q(
          `INSERT INTO ledger_entries (account_id, seq, transaction_id, amount, balance_after, hash, created_at)
           SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::timestamptz[])`,
          [en.account, en.seq, en.txn, en.amount, en.after, en.hash, en.at],
        )
        await q(
          `INSERT INTO ledger_lots (id, account_id, transaction_id, amount, remaining, created_at)
           SELECT x.id, x.account, x.txn, x.amount, x.amount, x.at FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::timestamptz[]) AS x (id, account, txn, amount, at)`,
          [lots.id, lots.account, lots.txn, lots.amount, lots.at],
        )
      }

      await q(
        `INSERT INTO reward_accounts (id, ledger_id, customer_id, role, created_at)
         SELECT x.id, $1, x.customer_id, 'customer', $4::timestamptz FROM unnest($2::text[], $3::text[]) AS x (id, customer_id)`,
        [LEDGER, custs.map((c) => c.id), custs.map((c) => c.customerId), new Date(t0 - 1000).toISOString()],
      )
      // the next batch is computed while the database writes the one before
      let writing = Promise.resolve()
      for (let from = 0; from < transactions; from += batchTransactions) {
        const batch = makeBatch(from, Math.min(transactions, from + batchTransactions))
        await writing
        writing = writeBatch(batch)
        writing.catch(() => {}) // awaited on the next turn or below
      }
      await writing
      const final = [...custs, ...lanes]
      await q(
        `UPDATE reward_accounts r SET balance = x.balance, entry_count = x.seq, head_hash = x.head
         FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[]) AS x (id, balance, seq, head) WHERE r.id = x.id`,
        [final.map((a) => a.id), final.map((a) => String(a.balance)), final.map((a) => a.seq), final.map((a) => a.head)],
      )
      // the JS hash must be the database's: checked on one entry before committing
      const [probe] = await q(
        `SELECT e.hash = ledger_entry_hash(coalesce(p.hash, ''), e.transaction_id, e.account_id, e.seq, e.amount, e.balance_after, e.created_at) AS same
         FROM ledger_entries e LEFT JOIN ledger_entries p ON p.account_id = e.account_id AND p.seq = e.seq - 1
         WHERE e.account_id = $1 AND e.seq = $2`,
        [custs[0].id, Math.min(2, custs[0].seq)],
      )
      if (!probe?.same) throw new Error('the seed computes entry hashes unlike ledger_entry_hash: see 0009_points_ledger.sql')
      await q('COMMIT')
      for (const table of ['reward_accounts', 'ledger_transactions', 'ledger_entries', 'ledger_lots']) await q(`VACUUM ANALYZE ${table}`)
      if (process.env.BENCH_DEBUG_SEED) console.log(spent)
      return { seconds: (performance.now() - started) / 1000, transactions, entries: transactions * 2, accounts, triggersOff }
    })
  } finally {
    await database.close()
  }
}
