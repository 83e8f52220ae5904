import { createHash, randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { onPostgres, testDatabaseUrl, urlWithSchema } from './helpers/test-hub.js'
import { call, killAll, pool, spawnHub, tempDir, type HubProcess } from './helpers/spawn-hub.js'
import { startPgbouncer, type Pgbouncer } from './helpers/pgbouncer.js'
import {
  checkRecords,
  componentsOf,
  expectedPartition,
  generatePopulation,
  hubFallbackCountry,
  recordsOf,
  shuffled,
  type SyncRecord,
} from './helpers/people.js'

// Scale: people of three platforms (docs/identity.md; the generator is helpers/people.ts:
// one person's records on several platforms share an email or a phone, some carry only a platform
// id, households share a phone) synced in one random order by 64 clients spread over three hub
// processes on one PostgreSQL database — directly, then through pgbouncer in transaction mode —
// must end with the customers the identity rules predict (the connected components of the
// records), and with those one hub ends with that syncs the same records one at a time on a
// schema of its own (the reference; it runs beside the concurrent runs, since one sync at a time
// leaves most of the machine idle): the same groups of identities, every identity held by one
// live customer, no answer 5xx but a 503 the client retried (counted).
//
// The suite runs 2,500 people (about 6,500 syncs a run) to stay within a few minutes on a 2-core
// machine; SYNC_SCALE_PEOPLE=10000 runs the full scale (about 26,000 syncs a run; some ten minutes
// on a busy 2-core machine). SYNC_SCALE_SEED changes the people and the order.
const people = Number(process.env.SYNC_SCALE_PEOPLE ?? 2_500)
const seed = Number(process.env.SYNC_SCALE_SEED ?? 20261204)
const clients = 64
const run = { number: 0, tag: 'x3' }

/** What one replay saw: answers by status, and what the clients retried. */
interface Traffic {
  statuses: Record<string, number>
  /** 503 answers retried, by code (CONTENTION, DATABASE_UNAVAILABLE). */
  retried503: Record<string, number>
  /** Requests that got no answer (connection refused or reset) and were sent again. */
  networkRetries: number
  seconds: number
  /** One answer of each status other than 200 and 201, with the record that got it. */
  examples: Record<string, string>
}

/** The hub's customers as groups of identity keys, and what is wrong with how they are held. */
interface Partition {
  /** Sorted groups (each a sorted list of `kind:namespace:value`), household phones left out. */
  groups: string[][]
  digest: string
  liveCustomers: number
  /** Keys held by two or more rows, live customers' email/phone fields held twice, identities left on a merged or deleted customer. */
  duplicates: number
  /** Valid identifiers of the records that no live customer holds. */
  missing: string[]
  /** Identities held that no record sent. */
  unexpected: string[]
  /** Household phones held by a customer that is none of the household's people. */
  strayHouseholdPhones: string[]
}

const keyOf = (kind: string, namespace: string, value: string) => `${kind}:${namespace}:${value}`
function keysOf(r: SyncRecord): string[] {
  return [
    r.keys.platform && keyOf('platform', r.keys.platform.component, r.keys.platform.value),
    r.keys.email && keyOf('email', '', r.keys.email),
    r.keys.phone && keyOf('phone', '', r.keys.phone),
  ].filter((k): k is string => typeof k === 'string')
}
const digestOf = (groups: string[][]) => createHash('sha256').update(JSON.stringify(groups)).digest('hex').slice(0, 16)
const canonical = (groups: Iterable<string[]>) => [...groups].map((g) => [...new Set(g)].sort()).filter((g) => g.length > 0).sort((a, b) => (a[0]! < b[0]! ? -1 : 1))

describe.skipIf(!onPostgres)(`${people.toLocaleString('en')} people synced from three platforms by ${clients} clients over three hub processes`, () => {
  const admin = `test-admin-${randomBytes(12).toString('hex')}`
  const secret = randomBytes(32).toString('hex')
  const tmp = tempDir()
  const schemas: string[] = []
  let client: pg.Client
  let records: SyncRecord[]
  let order: number[]
  let expected: { groups: string[][]; digest: string; householdPhones: Map<string, Set<string>>; allKeys: Set<string> }
  /** The reference run: one hub syncs the records one at a time, beside the concurrent runs (it leaves most of the machine idle). */
  let referenceRun: Promise<Partition>
  /** The partitions the concurrent runs ended with, by run. */
  const concurrent = new Map<string, Partition>()
  const bouncers: Pgbouncer[] = []

  beforeAll(async () => {
    client = new pg.Client({ connectionString: testDatabaseUrl })
    await client.connect()
    const population = generatePopulation(people, seed)
    records = recordsOf(population, run)
    const roots = expectedPartition(records)
    expect(checkRecords(records, roots)).toEqual([])
    order = shuffled(records.map((r) => r.index), seed + 1)

    // the expected groups: the keys of each connected component of the records, household phones
    // aside (which household member holds one is decided by who came first: docs/identity.md)
    const byRoot = new Map<number, string[]>()
    const householdPhones = new Map<string, Set<string>>()
    const allKeys = new Set<string>()
    for (const r of records) {
      for (const k of keysOf(r)) allKeys.add(k)
      const household = r.householdPhone ? keyOf('phone', '', r.keys.phone!) : undefined
      if (household) householdPhones.set(household, (householdPhones.get(household) ?? new Set()).add(keyOf('email', '', r.keys.email!)))
      const keys = keysOf(r).filter((k) => k !== household)
      byRoot.set(roots[r.index]!, [...(byRoot.get(roots[r.index]!) ?? []), ...keys])
    }
    const groups = canonical(byRoot.values())
    expected = { groups, digest: digestOf(groups), householdPhones, allKeys }

    referenceRun = (async () => {
      const schema = await freshSchema()
      const [hub] = await startHubs(1, { DATABASE_URL: urlWithSchema(schema) })
      const traffic = await syncAll([hub!], 1)
      await hub!.stop()
      const partition = await partitionOf(schema)
      expectClean('reference: one process, one sync at a time', traffic, partition)
      return partition
    })()
    // awaited by the tests; a failure is theirs, not an unhandled rejection meanwhile
    referenceRun.catch(() => {})
  }, 120_000)
  afterAll(async () => {
    await killAll()
    for (const b of bouncers) await b.stop()
    for (const s of schemas) await client?.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`)
    await client?.end()
    tmp.remove()
  })

  async function freshSchema(): Promise<string> {
    const schema = `hubtest_${process.pid}_${randomBytes(6).toString('hex')}`
    await client.query(`CREATE SCHEMA "${schema}"`)
    schemas.push(schema)
    return schema
  }

  /** `count` hub processes on one database; the first migrates it (the others would wait on its lock). */
  async function startHubs(count: number, env: Record<string, string>): Promise<HubProcess[]> {
    const hubEnv = {
      HUB_ADMIN_TOKEN: admin,
      HUB_SECRET: secret,
      HUB_CUSTOMER_DEFAULT_COUNTRY: hubFallbackCountry,
      HUB_IDENTITY_COMPONENT_COUNTRIES: `${componentsOf(run.tag).us}=US`,
      LOG_LEVEL: 'info',
      ...env,
    }
    const first = await spawnHub({ cwd: tmp.dir, env: hubEnv })
    return [first, ...(await Promise.all(Array.from({ length: count - 1 }, () => spawnHub({ cwd: tmp.dir, env: hubEnv }))))]
  }

  /**
   * Sends every record, in `order`, the i-th to `hubs[i % hubs.length]`, `width` at a time. A
   * client sends a request again when it got no answer or a 503 (the hub asks for a retry) —
   * nothing else.
   */
  async function syncAll(hubs: HubProcess[], width: number): Promise<Traffic> {
    const traffic: Traffic = { statuses: {}, retried503: {}, networkRetries: 0, seconds: 0, examples: {} }
    const started = performance.now()
    await pool(order.map((index, i) => ({ record: records[index]!, hub: hubs[i % hubs.length]! })), width, async ({ record, hub }) => {
      for (let attempt = 1; ; attempt++) {
        let res: { status: number; body: any }
        try {
          res = await call(hub.url, 'POST', '/customer/sync', admin, record.body)
        } catch (err) {
          if (attempt >= 5) throw err
          traffic.networkRetries++
          continue
        }
        traffic.statuses[res.status] = (traffic.statuses[res.status] ?? 0) + 1
        if (res.status !== 200 && res.status !== 201) traffic.examples[res.status] ??= `${JSON.stringify(record.body)} answered ${JSON.stringify(res.body)}`
        if (res.status === 503 && attempt < 10) {
          const code = String(res.body?.code)
          traffic.retried503[code] = (traffic.retried503[code] ?? 0) + 1
          continue
        }
        return
      }
    })
    traffic.seconds = (performance.now() - started) / 1000
    return traffic
  }

  /** Reads the customers of `schema` as groups of identities, and checks who holds what. */
  async function partitionOf(schema: string): Promise<Partition> {
    const { rows } = await client.query<{ kind: string; namespace: string; value: string; customer_id: string; live: boolean }>(
      `SELECT i.kind, i.namespace, i.value, i.customer_id, (c.deleted_at IS NULL AND c.merged_into IS NULL) AS live
         FROM "${schema}".identities i JOIN "${schema}".customers c ON c.id = i.customer_id`,
    )
    const twice = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM (
         SELECT email FROM "${schema}".customers WHERE deleted_at IS NULL AND merged_into IS NULL AND email IS NOT NULL GROUP BY email HAVING count(*) > 1
         UNION ALL
         SELECT phone FROM "${schema}".customers WHERE deleted_at IS NULL AND merged_into IS NULL AND phone IS NOT NULL GROUP BY phone HAVING count(*) > 1) d`,
    )
    const live = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".customers WHERE deleted_at IS NULL AND merged_into IS NULL`)
    const holders = new Map<string, string[]>()
    const byCustomer = new Map<string, string[]>()
    let duplicates = twice.rows[0]!.n
    for (const r of rows) {
      const key = keyOf(r.kind, r.namespace, r.value)
      if (!r.live) duplicates++
      holders.set(key, [...(holders.get(key) ?? []), r.customer_id])
      if (r.live) byCustomer.set(r.customer_id, [...(byCustomer.get(r.customer_id) ?? []), key])
    }
    for (const h of holders.values()) if (h.length > 1) duplicates++
    const strayHouseholdPhones: string[] = []
    for (const [phone, emails] of expected.householdPhones) {
      const holder = holders.get(phone)?.[0]
      if (holder !== undefined && !byCustomer.get(holder)?.some((k) => emails.has(k))) strayHouseholdPhones.push(phone)
    }
    const groups = canonical([...byCustomer.values()].map((keys) => keys.filter((k) => !expected.householdPhones.has(k))))
    return {
      groups,
      digest: digestOf(groups),
      liveCustomers: live.rows[0]!.n,
      duplicates,
      missing: [...expected.allKeys].filter((k) => !byCustomer.has(holders.get(k)?.[0] ?? '')),
      unexpected: [...holders.keys()].filter((k) => !expected.allKeys.has(k)),
      strayHouseholdPhones,
    }
  }

  /** The groups of `a` that `b` does not have, a few of them, for a failure message. */
  function differences(a: string[][], b: string[][]): string {
    const inB = new Set(b.map((g) => JSON.stringify(g)))
    return a
      .filter((g) => !inB.has(JSON.stringify(g)))
      .slice(0, 5)
      .map((g) => `  ${g.join(' ')}`)
      .join('\n')
  }

  function expectClean(name: string, traffic: Traffic, partition: Partition) {
    const serverErrors = Object.entries(traffic.statuses).filter(([s]) => Number(s) >= 500).reduce((n, [, c]) => n + c, 0)
    console.log(
      `${name}: ${records.length} syncs of ${people} people in ${traffic.seconds.toFixed(1)} s (${Math.round(records.length / traffic.seconds)}/s); ` +
        `answers ${JSON.stringify(traffic.statuses)}, 5xx ${serverErrors}, 503 retried ${JSON.stringify(traffic.retried503)}, network retries ${traffic.networkRetries}; ` +
        `${partition.liveCustomers} live customers, ${partition.duplicates} duplicates`,
    )
    // every record answered 200 or 201 in the end, and no answer was a server error but a 503
    // asking for a retry (counted above)
    expect(Object.keys(traffic.statuses).filter((s) => s !== '200' && s !== '201' && s !== '503'), JSON.stringify(traffic.examples)).toEqual([])
    expect((traffic.statuses['200'] ?? 0) + (traffic.statuses['201'] ?? 0)).toBe(records.length)
    expect(partition.duplicates, 'identities held twice, or left on a customer that is not live').toBe(0)
    expect(partition.missing, 'identifiers no live customer holds').toEqual([])
    expect(partition.unexpected, 'identities no record sent').toEqual([])
    expect(partition.strayHouseholdPhones, 'household phones held outside the household').toEqual([])
    // every live customer is one group: none is left without identities
    expect(partition.liveCustomers).toBe(partition.groups.length)
    expect(partition.digest, `groups the people do not make:\n${differences(partition.groups, expected.groups)}\nmissing:\n${differences(expected.groups, partition.groups)}`).toBe(
      expected.digest,
    )
  }

  it(`three processes directly on PostgreSQL, ${clients} clients: the reference's customers, 0 duplicates, 0 5xx`, async () => {
    const schema = await freshSchema()
    const hubs = await startHubs(3, { DATABASE_URL: urlWithSchema(schema) })
    const traffic = await syncAll(hubs, clients)
    await Promise.all(hubs.map((h) => h.stop()))
    const partition = await partitionOf(schema)
    expectClean(`three processes, ${clients} clients, direct`, traffic, partition)
    concurrent.set('direct', partition)
  }, 900_000)

  it(`three processes through pgbouncer in transaction mode, ${clients} clients: the reference's customers, 0 duplicates, 0 5xx`, async () => {
    const schema = await freshSchema()
    const bouncer = await startPgbouncer({ schema, poolSize: 12 })
    bouncers.push(bouncer)
    const hubs = await startHubs(3, { DATABASE_URL: bouncer.url, HUB_DB_POOLER: 'transaction', HUB_DB_DIRECT_URL: urlWithSchema(schema) })
    const traffic = await syncAll(hubs, clients)
    // pgbouncer ran the three processes' connections (10 each) on its 12 server connections
    const pools = await bouncer.console<{ database: string; pool_mode: string; cl_active: string; cl_waiting: string; sv_active: string; sv_idle: string; sv_used: string }>('SHOW POOLS')
    const hubPool = pools.find((p) => p.database === 'hub')!
    expect(hubPool.pool_mode).toBe('transaction')
    const servers = Number(hubPool.sv_active) + Number(hubPool.sv_idle) + Number(hubPool.sv_used)
    expect(servers).toBeLessThanOrEqual(12)
    expect(Number(hubPool.cl_active) + Number(hubPool.cl_waiting)).toBeGreaterThan(servers)
    const partition = await partitionOf(schema)
    expectClean(`three processes, ${clients} clients, pgbouncer (${Number(hubPool.cl_active)} clients on ${servers} server connections)`, traffic, partition)
    await Promise.all(hubs.map((h) => h.stop()))
    concurrent.set('pgbouncer', partition)
  }, 900_000)

  it('the reference — one hub, one sync at a time, on a schema of its own — ends with the same customers as both concurrent runs', async () => {
    const reference = await referenceRun
    expect([...concurrent.keys()]).toEqual(['direct', 'pgbouncer'])
    for (const [name, partition] of concurrent) {
      expect(partition.groups.length, name).toBe(reference.groups.length)
      expect(partition.digest, `${name}: groups the reference does not have:\n${differences(partition.groups, reference.groups)}`).toBe(reference.digest)
    }
  }, 900_000)
})
