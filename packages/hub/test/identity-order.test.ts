import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestHub, onPostgres, type TestHub } from './helpers/test-hub.js'
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

// The same people, synced by three platforms in many orders, one after another and 32 at a time,
// must end as the same customers every time: the ones the identity rules predict (the expected
// partition of helpers/people.ts), with no customer holding two people. Every run has identifiers
// of its own, so all runs share this one hub and database.
//
// Knobs for local runs: see orderKnobs. In one process the default is three orders of each mode
// of 1,000 people — on PGlite one order of the concurrent mode: its one connection takes requests
// one at a time, so "32 in flight" adds no interleaving in the database, only the hub's own
// queueing, which one order covers; identity-order.pg.test.ts adds five orders of 2,000
// people across two hub processes on PostgreSQL, and `npm run soak` runs many more.
const { people, orders, width, seed } = orderKnobs(process.env, { people: 1000, orders: 3 })
const modes = [
  { name: 'sequential', letter: 's', width: 1, orders },
  { name: 'concurrent', letter: 'c', width, orders: onPostgres ? orders : 1 },
] as const
const runOf = (mode: number, order: number) => ({ number: mode * orders + order, tag: `${modes[mode]!.letter}${order}` })

describe(`sync order does not change who is who (${people} people, ${orders} orders)`, () => {
  let hub: TestHub
  let population: Population
  const send: Send = async (method, url, body) => {
    const res = await hub.app.inject({ method, url, headers: hub.admin, ...(body === undefined ? {} : { payload: body as object }) })
    return { status: res.statusCode, body: res.body ? res.json() : undefined }
  }

  beforeAll(async () => {
    population = generatePopulation(people, seed)
    // the US shop's country comes from the configuration, per component
    const us = Object.fromEntries(modes.flatMap((_, m) => Array.from({ length: orders }, (_, o) => [componentsOf(runOf(m, o).tag).us, { defaultCountry: 'US' as const }])))
    hub = await createTestHub({ customer: { defaultCountry: hubFallbackCountry }, identity: { components: us } })
  })
  afterAll(async () => {
    await hub?.close()
  })

  it('generates records whose truth is knowable', () => {
    const records = recordsOf(population, runOf(0, 0))
    const expected = expectedPartition(records)
    expect(checkRecords(records, expected)).toEqual([])
    // every kind of record is there, and enough of the tricky ones to matter
    const kinds = new Set(records.map((r) => r.kind))
    expect([...kinds].sort()).toEqual(['email', 'id', 'id+email', 'id+email+phone', 'id+phone', 'phone'])
    expect(records.filter((r) => r.badPhone).length).toBeGreaterThan(people / 100)
    expect(records.filter((r) => r.householdPhone).length).toBeGreaterThan(people / 50)
    expect(population.households.length).toBeGreaterThan(people / 100)
    // the runs share no identifier
    const other = recordsOf(population, runOf(1, orders - 1))
    const values = (rs: typeof records) => new Set(rs.flatMap((r) => [r.keys.platform?.value, r.keys.email, r.keys.phone, r.body.platform.component].filter(Boolean)))
    const first = values(records)
    expect([...values(other)].filter((v) => first.has(v))).toEqual([])
  })

  modes.forEach((mode, m) => {
    it(`lands every record on the same customers in ${mode.orders} order(s), ${mode.name}ly (${mode.width} in flight)`, async () => {
      const reports: RunReport[] = []
      let seconds = 0
      let syncs = 0
      for (let o = 0; o < mode.orders; o++) {
        const run = runOf(m, o)
        const records = recordsOf(population, run)
        const expected = expectedPartition(records)
        const order = shuffled(records.map((r) => r.index), seed + 1000 * (m + 1) + o)
        const result = await replay(records, order, [send], mode.width)
        seconds += result.seconds
        syncs += records.length
        reports.push(await judgeRun(run.tag, records, expected, result, send, width))
      }
      const joins = reports.reduce((s, r) => s + r.joins, 0)
      console.log(
        `identity order (${onPostgres ? 'postgres' : 'pglite'}, ${mode.name}): ${people} people, ${syncs / mode.orders} records, ${mode.orders} order(s), ` +
          `${seconds.toFixed(1)} s, ${Math.round(syncs / seconds)} syncs/s, ${joins} joins`,
      )
      expectSameCustomersEveryTime(reports)
    }, 1_800_000)
  })
})
