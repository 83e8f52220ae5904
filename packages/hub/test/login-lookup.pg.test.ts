import { CompiledQuery, sql, type KyselyPlugin, type RootOperationNode } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Executor } from '../src/db/executor.js'
import { createTestHub, onPostgres, type TestHub } from './helpers/test-hub.js'
import { expectError } from './helpers/requests.js'

const password = 'correct horse battery'
const crowd = 5000

interface PlanNode {
  'Node Type': string
  'Relation Name'?: string
  'Index Name'?: string
  Plans?: PlanNode[]
}

/** Every node of a plan, depth first. */
function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)]
}

/** How PostgreSQL would run a compiled statement, with its own parameters. */
async function planOf(db: Executor, query: CompiledQuery): Promise<PlanNode[]> {
  const { rows } = await db.executeQuery<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(CompiledQuery.raw(`EXPLAIN (FORMAT JSON) ${query.sql}`, [...query.parameters]))
  return nodes(rows[0]!['QUERY PLAN'][0]!.Plan)
}

const readsCustomersByIndex = (plan: PlanNode[]) =>
  plan.some((n) => n['Relation Name'] === 'customers' && ['Index Scan', 'Index Only Scan', 'Bitmap Heap Scan'].includes(n['Node Type']))
const scansCustomers = (plan: PlanNode[]) => plan.some((n) => n['Relation Name'] === 'customers' && n['Node Type'] === 'Seq Scan')

// A sign-in finds its account among every customer: through the identities' unique index on the
// email, then the customer by primary key — never by reading the customers table through
// (`customers.email` has no index: the identities hold the emails).
describe.skipIf(!onPostgres)('the sign-in lookup reads indexes, not the customers table', () => {
  let hub: TestHub
  let email: string
  const statements: CompiledQuery[] = []
  let recording: Executor

  beforeAll(async () => {
    hub = await createTestHub({ customer: { requireEmailVerification: false } })
    const db = hub.database.db
    // a crowd of accounts and guests, each with its email identity, as registrations leave them
    await sql`
      INSERT INTO customers (id, email, has_account, password_hash)
      SELECT 'cus_crowd' || n, 'crowd' || n || '@example.com', n % 2 = 0, CASE WHEN n % 2 = 0 THEN 'not a hash' END
      FROM generate_series(1, ${crowd}::int) n`.execute(db)
    await sql`
      INSERT INTO identities (id, customer_id, kind, value, raw_value)
      SELECT 'idt_crowd' || n, 'cus_crowd' || n, 'email', 'crowd' || n || '@example.com', 'crowd' || n || '@example.com'
      FROM generate_series(1, ${crowd}::int) n`.execute(db)
    email = 'Signing.In@Example.com'
    const res = await hub.app.inject({ method: 'POST', url: '/customer', headers: hub.admin, payload: { email, password } })
    expect(res.statusCode, res.body).toBe(201)
    await sql`ANALYZE customers`.execute(db)
    await sql`ANALYZE identities`.execute(db)
    // the sign-in runs on a handle that keeps each statement it sends, compiled as sent
    const keep: KyselyPlugin = {
      transformQuery: ({ node, queryId }) => {
        statements.push(db.getExecutor().compileQuery(node as RootOperationNode, queryId))
        return node
      },
      transformResult: async ({ result }) => result,
    }
    recording = db.withPlugin(keep)
  })

  afterAll(async () => {
    await hub?.close()
  })

  it('a sign-in finds its account through an index, among thousands of customers', async () => {
    const session = await hub.app.services.sessions.login(recording, ' signing.in@example.COM ', password, '192.0.2.10')
    expect(session.accessToken).toEqual(expect.any(String))
    // the lookup as its service builds it, and the statement that counts the attempt and reads the account with it (the one sent)
    const lookups = statements.filter((s) => /from "customers"/.test(s.sql) && /"password_hash"/.test(s.sql))
    expect(lookups.filter((s) => /rate_limits/.test(s.sql))).toHaveLength(1)
    for (const lookup of lookups) {
      const plan = await planOf(hub.database.db, lookup)
      expect(scansCustomers(plan), JSON.stringify(plan)).toBe(false)
      expect(readsCustomersByIndex(plan), JSON.stringify(plan)).toBe(true)
      // the email is found through the identities' unique index (an Index Scan, or a Bitmap Index Scan under its heap scan)
      expect(plan.some((n) => n['Index Name'] === 'identities_email_key'), JSON.stringify(plan)).toBe(true)
      expect(plan.some((n) => n['Relation Name'] === 'identities' && n['Node Type'] === 'Seq Scan'), JSON.stringify(plan)).toBe(false)
    }
  })

  it('the check tells: the same lookup by customers.email alone reads the whole table', async () => {
    const bare = hub.database.db.selectFrom('customers').select(['id', 'email_verified', 'password_hash'])
      .where('email', '=', 'signing.in@example.com').where('has_account', '=', true).where('deleted_at', 'is', null).compile()
    const plan = await planOf(hub.database.db, bare)
    expect(scansCustomers(plan), JSON.stringify(plan)).toBe(true)
    expect(readsCustomersByIndex(plan)).toBe(false)
  })

  it('an account signs in only with its own email: a second email it holds finds no account', async () => {
    const [account] = (await sql<{ id: string }>`SELECT id FROM customers WHERE email = 'signing.in@example.com'`.execute(hub.database.db)).rows
    await sql`
      INSERT INTO identities (id, customer_id, kind, value, raw_value)
      VALUES ('idt_second_email', ${account!.id}, 'email', 'second@example.com', 'second@example.com')`.execute(hub.database.db)
    const res = await hub.app.inject({ method: 'POST', url: '/auth/login', payload: { email: 'second@example.com', password }, remoteAddress: '192.0.2.11' })
    expectError(res, 401, 'INVALID_CREDENTIALS')
  })
})
