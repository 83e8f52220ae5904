import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'kysely'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { expectError, unique, type Res as Answer } from '../../test/helpers/requests.js'

interface Res extends Answer {
  replayed: boolean
  contentType: string | undefined
}

let hub: TestHub

async function call(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown, key?: string, auth: Record<string, string> = hub.admin): Promise<Res> {
  const headers = { ...auth, ...(key === undefined ? {} : { 'idempotency-key': key }) }
  const res = await hub.app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload: payload as object }) })
  expect(res.statusCode, `${method} ${url} answered ${res.body}`).toBeLessThan(500)
  return {
    status: res.statusCode,
    body: res.body ? res.json() : undefined,
    raw: res.body,
    replayed: res.headers['idempotent-replayed'] === 'true',
    contentType: res.headers['content-type'] as string | undefined,
  }
}

async function customersWithEmail(email: string) {
  const { rows } = await sql<{ id: string }>`SELECT id FROM customers WHERE email = ${email}`.execute(hub.database.db)
  return rows.map((r) => r.id)
}

async function eventTypes(customerId: string) {
  const { rows } = await sql<{ type: string }>`SELECT type FROM events WHERE customer_id = ${customerId} ORDER BY position`.execute(hub.database.db)
  return rows.map((r) => r.type)
}

beforeAll(async () => {
  hub = await createTestHub()
})
afterAll(async () => hub?.close())

describe('Idempotency-Key', () => {
  it('replays the first answer to a retry with the same key and body, doing the work once', async () => {
    const key = unique('key')
    const email = `${unique('once')}@example.com`
    const first = await call('POST', '/customer', { email, firstName: 'Once' }, key)
    expect(first.status, first.raw).toBe(201)
    expect(first.replayed).toBe(false)
    const retry = await call('POST', '/customer', { email, firstName: 'Once' }, key)
    expect(retry.status).toBe(201)
    expect(retry.replayed).toBe(true)
    expect(retry.raw).toBe(first.raw)
    expect(retry.contentType).toMatch(/^application\/json/)
    expect(await customersWithEmail(email)).toEqual([first.body.id])
    expect(await eventTypes(first.body.id)).toEqual(['customer.created'])
  })

  it('replays PATCH and DELETE answers without doing them again', async () => {
    const c = (await call('POST', '/customer', { email: `${unique('pd')}@example.com` })).body
    const patchKey = unique('patch')
    const patched = await call('PATCH', `/customer/${c.id}`, { firstName: 'First' }, patchKey)
    expect(patched.status).toBe(200)
    expect((await call('PATCH', `/customer/${c.id}`, { firstName: 'Later' })).status).toBe(200)
    const retry = await call('PATCH', `/customer/${c.id}`, { firstName: 'First' }, patchKey)
    expect(retry).toMatchObject({ status: 200, replayed: true, raw: patched.raw })
    expect((await call('GET', `/customer/${c.id}`)).body.firstName).toBe('Later')
    expect((await eventTypes(c.id)).filter((t) => t === 'customer.updated')).toHaveLength(2)

    const deleteKey = unique('delete')
    const deleted = await call('DELETE', `/customer/${c.id}`, undefined, deleteKey)
    expect(deleted.status).toBe(200)
    const again = await call('DELETE', `/customer/${c.id}`, undefined, deleteKey)
    expect(again).toMatchObject({ status: 200, replayed: true, raw: deleted.raw })
    expectError(await call('DELETE', `/customer/${c.id}`), 404, 'CUSTOMER_NOT_FOUND')
    expect((await eventTypes(c.id)).filter((t) => t === 'customer.deleted')).toHaveLength(1)
  })

  it('answers 422 IDEMPOTENCY_KEY_REUSED for the same key with another body or path, doing nothing', async () => {
    const key = unique('reuse')
    const email = `${unique('reuse')}@example.com`
    expect((await call('POST', '/customer', { email }, key)).status).toBe(201)
    const other = `${unique('other')}@example.com`
    expectError(await call('POST', '/customer', { email: other }, key), 422, 'IDEMPOTENCY_KEY_REUSED')
    expectError(await call('POST', '/customer/sync', { platform: { component: 'identity.shop', externalId: 'x' }, email: other }, key), 422, 'IDEMPOTENCY_KEY_REUSED')
    expect(await customersWithEmail(other)).toEqual([])
    // the stored answer is still there for the real retry
    expect((await call('POST', '/customer', { email }, key)).replayed).toBe(true)
  })

  it('scopes keys to the token: another token with the same key runs anew', async () => {
    const platform = await hub.platform()
    const key = unique('scoped')
    const email = `${unique('scoped')}@example.com`
    const byAdmin = await call('POST', '/customer', { email }, key)
    expect(byAdmin.status).toBe(201)
    // the same request under another token is not a retry: it runs, and the email is taken
    const byPlatform = await call('POST', '/customer', { email }, key, platform)
    expectError(byPlatform, 409, 'EMAIL_TAKEN')
    expect(byPlatform.replayed).toBe(false)
    // and a different body is no reuse for that token's own key
    const anotherPlatform = await hub.platform()
    const fresh = await call('POST', '/customer', { email: `${unique('fresh')}@example.com` }, key, anotherPlatform)
    expect(fresh.status).toBe(201)
    expect(await customersWithEmail(email)).toEqual([byAdmin.body.id])
  })

  it('replays a 4xx answer too, even after the cause went away', async () => {
    const email = `${unique('taken')}@example.com`
    const holder = (await call('POST', '/customer', { email })).body
    const key = unique('fourxx')
    const refused = await call('POST', '/customer', { email, firstName: 'Late' }, key)
    expectError(refused, 409, 'EMAIL_TAKEN')
    expect((await call('DELETE', `/customer/${holder.id}`)).status).toBe(200)
    const retry = await call('POST', '/customer', { email, firstName: 'Late' }, key)
    expect(retry).toMatchObject({ status: 409, replayed: true, raw: refused.raw })
    expect(await customersWithEmail(email)).toEqual([holder.id])
  })

  it('stores nothing for a request refused before it ran (bad body, no token)', async () => {
    const key = unique('unrun')
    const email = `${unique('unrun')}@example.com`
    expectError(await call('POST', '/customer', { email, unknown: 1 }, key), 400, 'VALIDATION_FAILED')
    expectError(await call('POST', '/customer', { email }, key, {}), 401, 'UNAUTHORIZED')
    const res = await call('POST', '/customer', { email }, key)
    expect(res).toMatchObject({ status: 201, replayed: false })
  })

  it('answers 400 INVALID_IDEMPOTENCY_KEY for a key that is too long, has spaces or is empty, doing nothing', async () => {
    const email = `${unique('badkey')}@example.com`
    for (const key of ['k'.repeat(300), 'has spaces', '']) {
      expectError(await call('POST', '/customer', { email }, key), 400, 'INVALID_IDEMPOTENCY_KEY')
    }
    expect(await customersWithEmail(email)).toEqual([])
    // the longest key allowed works
    expect((await call('POST', '/customer', { email }, 'k'.repeat(200))).status).toBe(201)
    // reads ignore the header
    expect((await call('GET', '/customer?limit=1', undefined, 'has spaces')).status).toBe(200)
  })

  it('does the work once when requests with one key arrive together', async () => {
    for (let round = 0; round < 3; round++) {
      const key = unique('together')
      const email = `${unique('together')}@example.com`
      const answers = await Promise.all(Array.from({ length: 8 }, () => call('POST', '/customer', { email }, key)))
      for (const a of answers) {
        if (a.status === 409) expect(a.body.code).toBe('IDEMPOTENCY_IN_PROGRESS')
        else expect(a.status, a.raw).toBe(201)
      }
      const fresh = answers.filter((a) => a.status === 201 && !a.replayed)
      expect(fresh).toHaveLength(1)
      for (const a of answers.filter((x) => x.replayed)) expect(a.raw).toBe(fresh[0]!.raw)
      const ids = await customersWithEmail(email)
      expect(ids).toEqual([fresh[0]!.body.id])
      expect(await eventTypes(ids[0]!)).toEqual(['customer.created'])
      // once the first answered, every retry is a replay
      expect((await call('POST', '/customer', { email }, key)).replayed).toBe(true)
    }
  })

  it('works on POST /customer/sync', async () => {
    const key = unique('sync')
    const body = { platform: { component: 'identity.shop', externalId: unique('ext') }, email: `${unique('sync')}@example.com`, rewardLedger: 'reward-points' }
    const first = await call('POST', '/customer/sync', body, key)
    expect(first.status, first.raw).toBe(201)
    const retry = await call('POST', '/customer/sync', body, key)
    expect(retry).toMatchObject({ status: 201, replayed: true, raw: first.raw })
    // without the key the same sync is a match (200), not a creation
    const unkeyed = await call('POST', '/customer/sync', body)
    expect(unkeyed.status).toBe(200)
    expect(unkeyed.body.documentId).toBe(first.body.documentId)
    expect(await customersWithEmail(body.email)).toEqual([first.body.documentId])
    expect(await eventTypes(first.body.documentId)).toEqual(['customer.created', 'reward_account.created'])
  })
})
