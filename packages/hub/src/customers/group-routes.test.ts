import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'kysely'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { client, expectError, type Call } from '../../test/helpers/requests.js'
import { newId } from '../ids.js'

let hub: TestHub
let call: Call
beforeAll(async () => {
  hub = await createTestHub()
  call = client(hub)
})
afterAll(async () => hub?.close())

let seq = 0
async function newCustomer(): Promise<string> {
  const res = await call('POST', '/customer', { email: `group-${++seq}-${Date.now().toString(36)}@example.com` })
  expect(res.status, res.raw).toBe(201)
  return res.body.id
}

async function events(customerId: string, type: string) {
  const { rows } = await sql<{ payload: { customerId: string; group: string } }>`
    SELECT payload FROM events WHERE customer_id = ${customerId} AND type = ${type} ORDER BY position`.execute(hub.database.db)
  return rows.map((r) => r.payload)
}

async function storedGroups(customerId: string) {
  const row = await hub.database.db.selectFrom('customers').select('groups').where('id', '=', customerId).executeTakeFirstOrThrow()
  return row.groups
}

describe('POST /customer/:id/group', () => {
  it('adds a group once: a repeat changes nothing and emits no second customer.group_added', async () => {
    const id = await newCustomer()
    const first = await call('POST', `/customer/${id}/group`, { group: 'vip' })
    expect(first.status, first.raw).toBe(200)
    expect(first.body.groups).toEqual(['vip'])
    const second = await call('POST', `/customer/${id}/group`, { group: 'vip' })
    expect(second.status).toBe(200)
    expect(second.body.groups).toEqual(['vip'])
    expect(second.body.updatedAt).toBe(first.body.updatedAt)
    expect(await storedGroups(id)).toEqual(['vip'])
    expect(await events(id, 'customer.group_added')).toEqual([{ customerId: id, group: 'vip' }])
    expect((await call('GET', `/customer/${id}`)).body.groups).toEqual(['vip'])
  })

  it('keeps several groups in the order they were added', async () => {
    const id = await newCustomer()
    for (const group of ['vip', 'wholesale', 'b2b', 'vip', 'wholesale']) expect((await call('POST', `/customer/${id}/group`, { group })).status).toBe(200)
    expect(await storedGroups(id)).toEqual(['vip', 'wholesale', 'b2b'])
    expect((await events(id, 'customer.group_added')).map((e) => e.group)).toEqual(['vip', 'wholesale', 'b2b'])
  })

  it('adds a group once under concurrency', async () => {
    const id = await newCustomer()
    const results = await Promise.all(Array.from({ length: 20 }, () => call('POST', `/customer/${id}/group`, { group: 'vip' })))
    for (const r of results) {
      expect(r.status, r.raw).toBe(200)
      expect(r.body.groups).toEqual(['vip'])
    }
    expect(await storedGroups(id)).toEqual(['vip'])
    expect(await events(id, 'customer.group_added')).toHaveLength(1)
  })

  it('loses no group when different groups are added concurrently', async () => {
    const id = await newCustomer()
    const groups = Array.from({ length: 12 }, (_, i) => `segment-${i}`)
    const results = await Promise.all([...groups, ...groups].map((group) => call('POST', `/customer/${id}/group`, { group })))
    for (const r of results) expect(r.status, r.raw).toBe(200)
    expect([...(await storedGroups(id))].sort()).toEqual([...groups].sort())
    expect((await events(id, 'customer.group_added')).map((e) => e.group).sort()).toEqual([...groups].sort())
  })

  it('refuses a group that is not a lower-case tag, changing nothing', async () => {
    const id = await newCustomer()
    for (const group of ['VIP', '', '-vip', 'with space', 'x'.repeat(65), 'vip!']) {
      expectError(await call('POST', `/customer/${id}/group`, { group }), 400, 'VALIDATION_FAILED')
    }
    for (const body of [{}, { group: 1 }, { group: ['vip'] }, { group: 'vip', extra: true }]) {
      expectError(await call('POST', `/customer/${id}/group`, body), 400, 'VALIDATION_FAILED')
    }
    expect(await storedGroups(id)).toEqual([])
    expect(await events(id, 'customer.group_added')).toEqual([])
  })

  it('answers 404 for an unknown customer and 400 for a malformed id', async () => {
    const unknown = newId('cus')
    expectError(await call('POST', `/customer/${unknown}/group`, { group: 'vip' }), 404, 'CUSTOMER_NOT_FOUND')
    expectError(await call('POST', '/customer/nope/group', { group: 'vip' }), 404, 'CUSTOMER_NOT_FOUND')
    expectError(await call('DELETE', `/customer/${unknown}/group/vip`), 404, 'CUSTOMER_NOT_FOUND')
    expectError(await call('DELETE', '/customer/nope/group/vip'), 404, 'CUSTOMER_NOT_FOUND')
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM events WHERE customer_id = ${unknown}`.execute(hub.database.db)
    expect(rows[0]!.n).toBe(0)
  })

  it('is allowed to a platform token', async () => {
    const id = await newCustomer()
    const platform = await hub.platform()
    expect((await call('POST', `/customer/${id}/group`, { group: 'b2b' }, platform)).body.groups).toEqual(['b2b'])
    expect((await call('DELETE', `/customer/${id}/group/b2b`, undefined, platform)).body.groups).toEqual([])
  })
})

describe('DELETE /customer/:id/group/:group', () => {
  it('removes a group once: a repeat or an absent group changes nothing', async () => {
    const id = await newCustomer()
    await call('POST', `/customer/${id}/group`, { group: 'vip' })
    await call('POST', `/customer/${id}/group`, { group: 'wholesale' })
    const removed = await call('DELETE', `/customer/${id}/group/vip`)
    expect(removed.status, removed.raw).toBe(200)
    expect(removed.body.groups).toEqual(['wholesale'])
    const again = await call('DELETE', `/customer/${id}/group/vip`)
    expect(again.status).toBe(200)
    expect(again.body.groups).toEqual(['wholesale'])
    expect((await call('DELETE', `/customer/${id}/group/never-added`)).body.groups).toEqual(['wholesale'])
    expect(await storedGroups(id)).toEqual(['wholesale'])
    expect(await events(id, 'customer.group_removed')).toEqual([{ customerId: id, group: 'vip' }])

    // it can be added again, and that is a real addition
    expect((await call('POST', `/customer/${id}/group`, { group: 'vip' })).body.groups).toEqual(['wholesale', 'vip'])
    expect((await events(id, 'customer.group_added')).map((e) => e.group)).toEqual(['vip', 'wholesale', 'vip'])
  })

  it('removes a group once under concurrency', async () => {
    const id = await newCustomer()
    await call('POST', `/customer/${id}/group`, { group: 'vip' })
    const results = await Promise.all(Array.from({ length: 10 }, () => call('DELETE', `/customer/${id}/group/vip`)))
    for (const r of results) expect(r.body.groups).toEqual([])
    expect(await events(id, 'customer.group_removed')).toHaveLength(1)
  })
})
