import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'kysely'
import { createTestHub, type TestHub } from './helpers/test-hub.js'
import { client, unique, type Call } from './helpers/requests.js'

// PostgreSQL only: an erase and changes of the same person sent at once, on a pool of connections,
// end in a state an order of them one by one would give — never an erased customer holding data.
let hub: TestHub
let call: Call

beforeAll(async () => {
  hub = await createTestHub({ customer: { requireEmailVerification: false } })
  call = client(hub)
})
afterAll(async () => hub?.close())

describe('an erase and a sync, a merge, an address and an order of the same person at once', () => {
  it('ends consistent: the person is erased whole, or the change came after it and made or found someone else', async () => {
    const platform = await hub.platform()
    const rounds = 12
    const outcomes = { syncMatched: 0, syncCreated: 0, mergedFirst: 0, mergeRefused: 0 }
    for (let round = 0; round < rounds; round++) {
      const tag = unique('zqc')
      const email = `${tag}@example.com`
      const platformId = `${tag}-shop`
      const person = (await call('POST', '/customer', { email, firstName: `${tag}First` })).body.id as string
      expect((await call('POST', '/customer/sync', { platform: { component: 'identity.shop', externalIdField: 'shopId', externalId: platformId }, email }, platform)).status).toBe(200)
      const other = (await call('POST', '/customer', { email: `${tag}-other@example.com`, lastName: `${tag}Other` })).body.id as string

      // each round sends them in another order, so that the erase is sometimes first and sometimes last to start
      const requests = [
        () => call('POST', `/customer/${person}/erase`),
        () => call('POST', '/customer/sync', { platform: { component: 'identity.shop', externalIdField: 'shopId', externalId: platformId }, email, firstName: `${tag}Sync` }, platform),
        () => call('POST', `/customer/${person}/merge`, { sourceId: other }),
        () => call('POST', `/customer/${person}/address`, { line1: `1 ${tag} Road`, city: 'Austin', country: 'US' }),
        () => call('POST', '/orders', { platform: 'shop', externalId: unique('order'), customerId: person, total: 100, currency: 'USD', placedAt: new Date().toISOString() }),
      ]
      const shift = round % requests.length
      const started = [...requests.slice(shift), ...requests.slice(0, shift)].map((send) => send())
      const answers = await Promise.all(started)
      const answerOf = (n: number) => answers[(n - shift + requests.length) % requests.length]!
      const [erase, sync, merge, address, order] = [answerOf(0), answerOf(1), answerOf(2), answerOf(3), answerOf(4)]
      expect(erase.status, erase.raw).toBe(200)

      // the merge either went first (the other record was erased with the person) or was refused
      if (merge.status === 200) {
        outcomes.mergedFirst++
        expect(erase.body.records.sort()).toEqual([person, other].sort())
      } else {
        outcomes.mergeRefused++
        expect(merge.body.code).toBe('CUSTOMER_ERASED')
        expect(erase.body.records).toEqual([person])
        expect((await call('GET', `/customer/${other}`)).body.lastName).toBe(`${tag}Other`)
      }
      for (const res of [address, order]) expect([201, 410], res.raw).toContain(res.status)
      if (address.status === 410) expect(address.body.code).toBe('CUSTOMER_ERASED')

      // the sync found the person before the erase, or a new customer after it
      expect([200, 201], sync.raw).toContain(sync.status)
      const holder = sync.body.customer.id as string
      if (sync.status === 200) {
        outcomes.syncMatched++
        expect(holder).toBe(person)
      } else {
        outcomes.syncCreated++
        expect(holder).not.toBe(person)
        expect((await call('GET', `/customer/${holder}`)).body.email).toBe(email)
      }

      // whatever the order: every erased record is empty, holds nothing and is held by nothing
      const erased = erase.body.records as string[]
      const rows = await hub.database.db.selectFrom('customers').select(['email', 'phone', 'first_name', 'last_name', 'erased_at', 'metadata']).where('id', 'in', erased).execute()
      for (const row of rows) expect(row).toMatchObject({ email: null, phone: null, first_name: null, last_name: null, erased_at: expect.any(Date), metadata: {} })
      expect(await hub.database.db.selectFrom('identities').select('id').where('customer_id', 'in', erased).execute()).toEqual([])
      expect(await hub.database.db.selectFrom('addresses').select('id').where('customer_id', 'in', erased).execute()).toEqual([])
      const { rows: leaked } = await sql<{ type: string }>`
        SELECT type FROM events WHERE customer_id = ANY (${erased}::text[]) AND payload::text ILIKE ${`%${tag}%`}`.execute(hub.database.db)
      expect(leaked).toEqual([])
      // the identifiers are someone else's now, or no one's
      const { rows: held } = await sql<{ customer_id: string; live: boolean }>`
        SELECT i.customer_id, c.deleted_at IS NULL AS live FROM identities i JOIN customers c ON c.id = i.customer_id
        WHERE (i.kind = 'email' AND i.value = ${email}) OR (i.kind = 'platform' AND i.value = ${platformId})`.execute(hub.database.db)
      for (const h of held) expect(h).toEqual({ customer_id: sync.status === 201 ? holder : expect.any(String), live: true })
      if (sync.status === 200) expect(held).toEqual([])
    }
    expect(outcomes.syncMatched + outcomes.syncCreated).toBe(rounds)
    expect(outcomes.mergedFirst + outcomes.mergeRefused).toBe(rounds)
  })
})
