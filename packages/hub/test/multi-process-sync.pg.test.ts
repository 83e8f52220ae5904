import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'kysely'
import { createTestDatabase, urlWithSchema, type TestDatabase } from './helpers/test-hub.js'
import { call, killAll, spawnHub, tempDir, type HubProcess } from './helpers/spawn-hub.js'

// Several hub processes share one PostgreSQL (the embedded database is one process by design),
// so this file runs in the postgres project only (*.pg.test.ts).
describe('sync through several hub processes on PostgreSQL', () => {
  const admin = `test-admin-${randomBytes(12).toString('hex')}`
  const tmp = tempDir()
  let database: TestDatabase
  let hubs: HubProcess[]

  beforeAll(async () => {
    database = await createTestDatabase()
    const env = { DATABASE_URL: urlWithSchema(database.schema!), HUB_ADMIN_TOKEN: admin, HUB_SECRET: randomBytes(32).toString('hex'), HUB_CUSTOMER_DEFAULT_COUNTRY: 'TH', LOG_LEVEL: 'info' }
    hubs = await Promise.all([0, 1, 2].map(() => spawnHub({ cwd: tmp.dir, env })))
  })
  afterAll(async () => {
    await killAll()
    await database?.close()
    tmp.remove()
  })

  it('ends with one customer per person, 0 duplicates and 0 5xx, for 96 concurrent overlapping syncs', async () => {
    const medusa = 'identity.his-and-her-store'
    const shopify = 'identity.shopify-store'
    const people = Array.from({ length: 16 }, (_, i) => ({
      email: `person${i}.${randomBytes(3).toString('hex')}@example.com`,
      medusa: `cus_m${i}_${randomBytes(3).toString('hex')}`,
      shopify: `shp_${i}_${randomBytes(3).toString('hex')}`,
      phone: `+668140${String(10000 + i)}`,
    }))
    // Six requests a person, each with the email and a different mix of the rest, in shuffled order.
    const requests = people.flatMap((p) => [
      { platform: { component: medusa, externalIdField: 'medusaCustomerId', externalId: p.medusa }, email: p.email },
      { platform: { component: shopify, externalIdField: 'shopifyCustomerId', externalId: p.shopify }, email: p.email.toUpperCase() },
      { platform: { component: medusa, externalId: p.medusa }, email: p.email, phone: p.phone },
      { platform: { component: shopify, externalId: p.shopify }, email: ` ${p.email} `, phone: p.phone.replace('+66', '0'), rewardLedger: 'reward-points' },
      { platform: { component: shopify }, email: p.email, firstName: 'Ann', rewardLedger: 'reward-points' },
      { platform: { component: medusa, externalId: p.medusa }, email: p.email, lastName: 'Lee', metadata: { source: 'concurrency' } },
    ])
    for (let i = requests.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1))
      ;[requests[i], requests[j]] = [requests[j]!, requests[i]!]
    }
    const answers = await Promise.all(requests.map((body, i) => call(hubs[i % hubs.length]!.url, 'POST', '/customer/sync', admin, body)))

    expect(answers.filter((a) => a.status >= 500)).toEqual([])
    expect(answers.filter((a) => a.status !== 200 && a.status !== 201)).toEqual([])
    expect(answers.flatMap((a) => a.body.conflicts)).toEqual([])
    const db = database.db
    const customers = await sql<{ email: string; n: string }>`SELECT email, count(*) AS n FROM customers GROUP BY email`.execute(db)
    expect(customers.rows).toHaveLength(people.length)
    expect(customers.rows.every((r) => Number(r.n) === 1)).toBe(true)
    for (const p of people) {
      const holders = await sql<{ customer_id: string; n: string }>`
        SELECT customer_id, count(*) AS n FROM identities WHERE value IN (${p.email}, ${p.medusa}, ${p.shopify}, ${p.phone}) GROUP BY customer_id`.execute(db)
      expect(holders.rows).toHaveLength(1)
      expect(Number(holders.rows[0]!.n)).toBe(4)
      const id = holders.rows[0]!.customer_id
      const ofPerson = answers.filter((a) => a.body.documentId === id)
      expect(ofPerson).toHaveLength(6)
      expect(ofPerson.filter((a) => a.body.created)).toHaveLength(1)
      expect(ofPerson.filter((a) => a.body.rewardAccountCreated)).toHaveLength(1)
      const accounts = await sql<{ n: string }>`SELECT count(*) AS n FROM reward_accounts WHERE customer_id = ${id}`.execute(db)
      expect(Number(accounts.rows[0]!.n)).toBe(1)
      const created = await sql<{ n: string }>`SELECT count(*) AS n FROM events WHERE customer_id = ${id} AND type = 'customer.created'`.execute(db)
      expect(Number(created.rows[0]!.n)).toBe(1)
    }
  })

  it('runs a request once when its Idempotency-Key reaches two processes at once', async () => {
    const key = `key-${randomBytes(8).toString('hex')}`
    const body = { email: `idem.${randomBytes(4).toString('hex')}@example.com` }
    const send = (hub: HubProcess) =>
      fetch(`${hub.url}/customer`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify(body),
      })
    const answers = await Promise.all([send(hubs[0]!), send(hubs[1]!), send(hubs[2]!), send(hubs[0]!)])
    const statuses = answers.map((a) => a.status)
    expect(statuses.every((s) => s === 201 || s === 409)).toBe(true)
    expect(statuses.filter((s) => s === 201).length).toBeGreaterThanOrEqual(1)
    const rows = await sql<{ n: string }>`SELECT count(*) AS n FROM customers WHERE email = ${body.email}`.execute(database.db)
    expect(Number(rows.rows[0]!.n)).toBe(1)
    const replay = await send(hubs[2]!)
    expect(replay.status).toBe(201)
    expect(replay.headers.get('idempotent-replayed')).toBe('true')
  })
})
