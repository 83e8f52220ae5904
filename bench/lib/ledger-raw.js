import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { idLike, laneOf } from './ledger-seed.js'

/**
 * The raw `pg` baseline of a posting: no HTTP, no hub — the least a double-entry posting with a
 * hash chain costs in PostgreSQL, from this process, in a schema of its own.
 *
 * One posting is one transaction of three round trips: `BEGIN`; one statement that inserts the
 * transaction row (claiming its idempotency key), updates the customer account and its system
 * lane (balance, entry count, head hash by `ledger_entry_hash`; the customer's balance guarded
 * against going below zero) and inserts one entry per account; `COMMIT` (or `ROLLBACK` when the
 * guard refused). Same tables' shape as the hub's for these parts (primary keys, the unique key,
 * the foreign keys of the entries); no lots, events or reads before the write.
 */

const LANES = 16
const HASH_FN = `
CREATE FUNCTION ledger_entry_hash(prev text, transaction_id text, account_id text, seq bigint, amount bigint, balance_after bigint, created_at timestamptz)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT encode(sha256(convert_to(
    prev || '|' || transaction_id || '|' || account_id || '|' || seq::text || '|' || amount::text || '|' || balance_after::text || '|' ||
    floor(extract(epoch FROM created_at) * 1000)::bigint::text, 'UTF8')), 'hex')
$$`

const POST = {
  name: 'bench_raw_post',
  text: `
    WITH d (account_id, amount, guard) AS (VALUES ($1::text, $2::bigint, $3::boolean), ($4::text, $5::bigint, false)),
    t AS (
      INSERT INTO transactions (id, idempotency_key, kind, postings, created_at) VALUES ($6, $7, $8, $9::jsonb, $10::timestamptz)
      ON CONFLICT (idempotency_key) DO NOTHING RETURNING id
    ),
    a AS (
      UPDATE accounts r SET balance = r.balance + d.amount, entry_count = r.entry_count + 1,
        head_hash = ledger_entry_hash(r.head_hash, $6, r.id, r.entry_count + 1, d.amount, r.balance + d.amount, $10::timestamptz)
      FROM d WHERE r.id = d.account_id AND EXISTS (SELECT 1 FROM t) AND (NOT d.guard OR r.balance + d.amount >= 0)
      RETURNING r.id, r.balance, r.entry_count, r.head_hash, d.amount
    ),
    e AS (
      INSERT INTO entries (account_id, seq, transaction_id, amount, balance_after, hash, created_at)
      SELECT a.id, a.entry_count, $6, a.amount, a.balance, a.head_hash, $10::timestamptz FROM a
    )
    SELECT count(*)::int AS n FROM a`,
}

/**
 * Makes the schema and its accounts (`customers` funded with `fund` points each, one hot account
 * with `hotFund`), and returns the workloads. `close()` drops the schema.
 *
 * @param {string} baseUrl
 * @param {{ customers: number, fund: number, poolSize: number }} options
 */
export async function createRawBaseline(baseUrl, { customers, fund, poolSize }) {
  const schema = `bench_raw_${randomBytes(6).toString('hex')}`
  const ids = Array.from({ length: customers + 1 }, () => idLike('rwa'))
  const distinct = ids.slice(0, customers)
  const hotId = ids[customers]
  const lanes = { issuer: [], redemptions: [] }
  for (const role of Object.keys(lanes)) for (let l = 0; l < LANES; l++) lanes[role].push(idLike('rwa'))
  const admin = new pg.Client({ connectionString: baseUrl })
  await admin.connect()
  try {
    await admin.query(`CREATE SCHEMA ${schema}`)
    await admin.query(`SET search_path = ${schema}`)
    await admin.query(HASH_FN)
    await admin.query(`
      CREATE TABLE accounts (id text PRIMARY KEY, role text NOT NULL, balance bigint NOT NULL DEFAULT 0, entry_count bigint NOT NULL DEFAULT 0, head_hash text NOT NULL DEFAULT '');
      CREATE TABLE transactions (id text PRIMARY KEY, idempotency_key text NOT NULL UNIQUE, kind text NOT NULL, postings jsonb NOT NULL, created_at timestamptz NOT NULL);
      CREATE TABLE entries (
        account_id text NOT NULL REFERENCES accounts (id), seq bigint NOT NULL, transaction_id text NOT NULL REFERENCES transactions (id),
        amount bigint NOT NULL, balance_after bigint NOT NULL, hash text NOT NULL, created_at timestamptz NOT NULL, PRIMARY KEY (account_id, seq));
      CREATE INDEX entries_transaction_idx ON entries (transaction_id);`)
    // the funding is the account's opening balance: its chain starts at it (entry 1 follows balance `fund`)
    await admin.query(`INSERT INTO accounts (id, role, balance) SELECT unnest($1::text[]), 'customer', $2::bigint`, [ids, fund])
    await admin.query(`INSERT INTO accounts (id, role) SELECT unnest($1::text[]), 'issuer'`, [lanes.issuer])
    await admin.query(`INSERT INTO accounts (id, role) SELECT unnest($1::text[]), 'redemptions'`, [lanes.redemptions])
    await admin.query('VACUUM ANALYZE accounts')
  } catch (err) {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {})
    throw err
  } finally {
    await admin.end()
  }

  const url = new URL(baseUrl)
  url.searchParams.set('options', [url.searchParams.get('options'), `-c search_path=${schema}`].filter(Boolean).join(' '))
  const pool = new pg.Pool({ connectionString: url.toString(), max: poolSize })
  pool.on('error', () => {})
  let serial = 0
  const run = randomBytes(4).toString('hex')

  /** One posting; resolves true when written, false when the guard refused it. */
  async function post(kind, accountId, amount) {
    const lane = lanes[kind === 'earn' ? 'issuer' : 'redemptions'][laneOf(accountId)]
    const delta = kind === 'earn' ? amount : -amount
    const id = idLike('txn')
    const at = new Date().toISOString()
    const postings = JSON.stringify([kind === 'earn' ? { from: lane, to: accountId, amount } : { from: accountId, to: lane, amount }])
    for (let attempt = 1; ; attempt++) {
      const client = await pool.connect()
      try {
        await client.query('BEGIN')
        const { rows } = await client.query({ ...POST, values: [accountId, delta, delta < 0, lane, -delta, id, `raw:${run}:${serial++}`, kind, postings, at] })
        if (rows[0].n === 2) {
          await client.query('COMMIT')
          return true
        }
        await client.query('ROLLBACK')
        return false
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {})
        if ((err.code === '40P01' || err.code === '40001') && attempt < 12) continue
        throw err
      } finally {
        client.release()
      }
    }
  }
  const wrote = async (p) => {
    if (!(await p)) throw new Error('raw posting refused: not enough points')
  }

  const hot = { before: undefined, seqBefore: 0, earned: 0, spent: 0 }
  const q = (text, values) => pool.query(text, values)

  return {
    schema,
    distinct: (i) => wrote(post((i + Math.floor(i / distinct.length)) % 2 === 0 ? 'earn' : 'spend', distinct[i % distinct.length], (i + Math.floor(i / distinct.length)) % 2 === 0 ? 10 : 5)),
    sequentialEarn: (i) => wrote(post('earn', distinct[i % distinct.length], 1)),
    async prepareHot(need) {
      const { rows } = await q('SELECT balance::int AS balance, entry_count::int AS seq FROM accounts WHERE id = $1', [hotId])
      if (rows[0].balance < need) {
        await wrote(post('earn', hotId, need - rows[0].balance + 1000))
        return this.prepareHot(need)
      }
      hot.before = rows[0].balance
      hot.seqBefore = rows[0].seq
      hot.earned = 0
      hot.spent = 0
    },
    hot: async (i) => {
      if (i % 4 === 3) {
        await wrote(post('earn', hotId, 1))
        hot.earned++
      } else {
        await wrote(post('spend', hotId, 1))
        hot.spent++
      }
    },
    /** The same checks as the hub's hot round, with SQL; and the same race. */
    async checkHotAfter(concurrency) {
      const { rows: [a] } = await q('SELECT balance::int AS balance, entry_count::int AS seq FROM accounts WHERE id = $1', [hotId])
      const { rows: [e] } = await q(
        `SELECT count(*)::int AS n, count(*) FILTER (WHERE balance_after < 0)::int AS negative,
           count(*) FILTER (WHERE balance_after <> prev + amount OR seq <> prev_seq + 1)::int AS breaks
         FROM (SELECT *, lag(balance_after, 1, $3::bigint) OVER (ORDER BY seq) AS prev, lag(seq, 1, $2::bigint) OVER (ORDER BY seq) AS prev_seq
               FROM entries WHERE account_id = $1 AND seq > $2) x`,
        [hotId, hot.seqBefore, hot.before],
      )
      let overdrafts = e.negative + (a.balance < 0 ? 1 : 0)
      const problems = []
      const expected = hot.before + hot.earned - hot.spent
      if (a.balance !== expected) problems.push(`balance ${a.balance} != ${hot.before} + ${hot.earned} - ${hot.spent}`)
      if (e.n !== hot.earned + hot.spent) problems.push(`${e.n} new entries for ${hot.earned + hot.spent} transactions`)
      if (e.breaks) problems.push(`${e.breaks} entries do not follow the one before`)
      const ask = Math.floor(a.balance / 8) + 1
      const results = await Promise.all(Array.from({ length: concurrency }, () => post('spend', hotId, ask)))
      const won = results.filter(Boolean).length
      const { rows: [after] } = await q('SELECT balance::int AS balance FROM accounts WHERE id = $1', [hotId])
      if (won * ask > a.balance || after.balance !== a.balance - won * ask) problems.push(`race: ${won} spends of ${ask} won against ${a.balance}`)
      if (after.balance < 0) overdrafts++
      return {
        overdrafts,
        ok: overdrafts === 0 && problems.length === 0,
        text:
          `overdrafts ${overdrafts}; ${hot.spent} spends, ${hot.earned} earns; balance ${hot.before} -> ${a.balance} ` +
          `(${problems.length ? `MISMATCH: ${problems.join('; ')}` : 'matches the counts and the entry chain'}); ` +
          `race of ${concurrency} spends of ${ask} against ${a.balance}: ${won} won, ${concurrency - won} refused, balance ${after.balance}`,
      }
    },
    async close() {
      await pool.end().catch(() => {})
      const c = new pg.Client({ connectionString: baseUrl })
      await c.connect()
      try {
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
      } finally {
        await c.end()
      }
    },
  }
}
