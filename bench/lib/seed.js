import { CompiledQuery, sql } from 'kysely'

const firstNames = ['Ann', 'Bo', 'Chai', 'Dara', 'Eli', 'Fern', 'Gus', 'Hana', 'Ivan', 'June', 'Kai', 'Lena', 'Mali', 'Nico', 'Olga', 'Pim']
const lastNames = ['Adams', 'Boonma', 'Chen', 'Dubois', 'Eriksen', 'Fischer', 'Garcia', 'Hughes', 'Ito', 'Jones', 'Kowalski', 'Lopez', 'Muller', 'Nakamura', 'Okafor', 'Park', 'Quinn', 'Rossi', 'Srisuk', 'Tanaka']
const batchSize = 25_000

/**
 * Opens the database the way the hub does (the built `createDatabase`), applies the hub's
 * migrations and inserts `count` customers with SQL: about 10% in group `vip` (and 20% in
 * `newsletter`, independently), order_count 0..20, total_spent growing with it, created over
 * the last two years. No identities: the list query does not read them. Then
 * `VACUUM ANALYZE`, as autovacuum would after a bulk load, and an `EXPLAIN ANALYZE` of the
 * list query as the hub builds it.
 *
 * PGlite must be seeded before the hub starts: one data directory, one process.
 *
 * @param {{ createDatabase: Function, migrate: Function, listCustomers: Function }} build the build whose storage seeds
 * @param {{ url?: string, dataDir?: string }} target
 * @param {number} count
 * @param {Record<string, unknown>} listQuery the list query to explain, as the route receives it
 * @returns {Promise<{ seconds: number, plan: string[] }>}
 */
export async function seedCustomers(build, target, count, listQuery) {
  const { createDatabase, migrate, listCustomers } = build
  const database = await createDatabase(target.url ? { url: target.url } : { dataDir: target.dataDir })
  try {
    const { db } = database
    await migrate(db)
    const started = performance.now()
    await db.transaction().execute(async (tx) => {
      await sql`SELECT setseed(0.42)`.execute(tx)
      for (let from = 1; from <= count; from += batchSize) {
        const to = Math.min(count, from + batchSize - 1)
        await sql`
          INSERT INTO customers (id, email, first_name, last_name, phone, groups, order_count, total_spent, currency, created_at, updated_at)
          SELECT 'cus_' || upper(substr(md5('seed-' || g), 1, 26)),
                 'seed' || g || '@example.com',
                 (${firstNames}::text[])[1 + g % ${firstNames.length}],
                 (${lastNames}::text[])[1 + (g / ${firstNames.length}) % ${lastNames.length}],
                 '+1212' || lpad((2000000 + g)::text, 7, '0'),
                 array_remove(ARRAY[CASE WHEN vip < 0.10 THEN 'vip' END, CASE WHEN news < 0.20 THEN 'newsletter' END], NULL),
                 orders,
                 orders * (500 + floor(random() * 19500))::bigint,
                 'USD',
                 now() - age_days * interval '1 day',
                 now() - age_days * interval '1 day'
          FROM (
            SELECT g, random() AS vip, random() AS news, floor(random() * 21)::int AS orders, random() * 730 AS age_days
            FROM generate_series(${from}::int, ${to}::int) AS g
          ) s`.execute(tx)
      }
    })
    await sql`VACUUM ANALYZE customers`.execute(db)
    const seconds = (performance.now() - started) / 1000
    return { seconds, plan: await explainList(db, listQuery, listCustomers) }
  } finally {
    await database.close()
  }
}

/** EXPLAIN (ANALYZE, BUFFERS) of exactly the statement the hub's list runs for `query`. */
export async function explainList(db, query, listCustomers) {
  let compiled
  const capture = {
    transformQuery(args) {
      compiled = db.getExecutor().compileQuery(args.node, args.queryId)
      return args.node
    },
    async transformResult(args) {
      return args.result
    },
  }
  await listCustomers(db.withPlugin(capture), query)
  const { rows } = await db.executeQuery(CompiledQuery.raw(`EXPLAIN (ANALYZE, BUFFERS) ${compiled.sql}`, [...compiled.parameters]))
  return rows.map((r) => r['QUERY PLAN'])
}
