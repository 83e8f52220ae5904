import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase, urlWithSchema, type TestDatabase } from './helpers/test-hub.js'
import { call, killAll, spawnHub, tempDir, type HubProcess } from './helpers/spawn-hub.js'
import {
  checkRecords,
  componentsOf,
  expectedPartition,
  expectSameCustomersEveryTime,
  generatePopulation,
  hubFallbackCountry,
  judgeRun,
  orderKnobs,
  recordsOf,
  replay,
  shuffled,
  type Population,
  type RunReport,
  type Send,
} from './helpers/people.js'

// identity-order.test.ts across two hub processes sharing one PostgreSQL: each order's records
// are dealt to both processes, 32 in flight, and must still end as the customers the identity
// rules predict. PostgreSQL only (*.pg.test.ts).
//
// Knobs for local runs: see orderKnobs.
const { people, orders, width, seed } = orderKnobs()
const runOf = (order: number) => ({ number: order, tag: `p${order}` })

describe(`sync order does not change who is who, through two hub processes (${people} people, ${orders} orders)`, () => {
  const admin = `test-admin-${randomBytes(12).toString('hex')}`
  const tmp = tempDir()
  let database: TestDatabase
  let hubs: HubProcess[]
  let population: Population
  const sendTo =
    (hub: () => HubProcess): Send =>
    (method, path, body) =>
      call(hub().url, method, path, admin, body)

  beforeAll(async () => {
    population = generatePopulation(people, seed)
    database = await createTestDatabase()
    // the US shop's country comes from the configuration, per component
    const usCountries = Array.from({ length: orders }, (_, o) => `${componentsOf(runOf(o).tag).us}=US`).join(',')
    const env = {
      DATABASE_URL: urlWithSchema(database.schema!),
      HUB_ADMIN_TOKEN: admin,
      HUB_SECRET: randomBytes(32).toString('hex'),
      HUB_CUSTOMER_DEFAULT_COUNTRY: hubFallbackCountry,
      HUB_IDENTITY_COMPONENT_COUNTRIES: usCountries,
      LOG_LEVEL: 'info',
    }
    hubs = await Promise.all([0, 1].map(() => spawnHub({ cwd: tmp.dir, env })))
  })
  afterAll(async () => {
    await killAll()
    await database?.close()
    tmp.remove()
  })

  it(`lands every record on the same customers in ${orders} orders, dealt to two processes (${width} in flight)`, async () => {
    const reports: RunReport[] = []
    let seconds = 0
    let syncs = 0
    for (let o = 0; o < orders; o++) {
      const run = runOf(o)
      const records = recordsOf(population, run)
      const expected = expectedPartition(records)
      if (o === 0) expect(checkRecords(records, expected)).toEqual([])
      const order = shuffled(records.map((r) => r.index), seed + 5000 + o)
      const result = await replay(records, order, hubs.map((h) => sendTo(() => h)), width)
      seconds += result.seconds
      syncs += records.length
      // read back through one process, the other one every other order
      reports.push(await judgeRun(run.tag, records, expected, result, sendTo(() => hubs[o % hubs.length]!), width))
    }
    const joins = reports.reduce((s, r) => s + r.joins, 0)
    console.log(
      `identity order (postgres, ${hubs.length} processes): ${people} people, ${syncs / orders} records, ${orders} orders, ` +
        `${seconds.toFixed(1)} s, ${Math.round(syncs / seconds)} syncs/s, ${joins} joins`,
    )
    expectSameCustomersEveryTime(reports)
  }, 1_800_000)
})
