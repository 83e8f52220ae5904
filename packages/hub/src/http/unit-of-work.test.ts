import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'kysely'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { bearer, unique } from '../../test/helpers/requests.js'

let hub: TestHub

/** An answer as the tests read it, with whether it was a replay. Any status is allowed here: these tests make requests fail. */
async function send(method: 'POST' | 'PATCH', url: string, payload: object, key?: string, headers: Record<string, string> = hub.admin) {
  const res = await hub.app.inject({ method, url, payload, headers: { ...headers, ...(key === undefined ? {} : { 'idempotency-key': key }) } })
  return { status: res.statusCode, body: res.body ? res.json() : undefined, raw: res.body, replayed: res.headers['idempotent-replayed'] === 'true' }
}

const count = async (query: ReturnType<typeof sql<{ n: number }>>) => (await query.execute(hub.database.db)).rows[0]!.n
const customersWithEmail = (email: string) => count(sql<{ n: number }>`SELECT count(*)::int AS n FROM customers WHERE email = ${email}`)
const eventsFor = (email: string) => count(sql<{ n: number }>`SELECT count(*)::int AS n FROM events WHERE payload -> 'customer' ->> 'email' = ${email}`)
const keysNamed = (key: string) => count(sql<{ n: number }>`SELECT count(*)::int AS n FROM idempotency_keys WHERE key = ${key}`)

beforeAll(async () => {
  hub = await createTestHub()
})
afterAll(async () => {
  // these tests answer 500 on purpose; the check of declared answers is for the rest of the suite
  hub.undeclared.splice(0)
  await hub?.close()
})

describe('one transaction per write request', () => {
  it('a request that fails after its effect was written leaves neither the effect, its events nor its key', async () => {
    // the last statement of the transaction, the one that keeps the answer, fails
    await sql`CREATE FUNCTION refuse_answers() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'answer refused'; END $$`.execute(hub.database.db)
    await sql`CREATE TRIGGER refuse_answers BEFORE UPDATE ON idempotency_keys FOR EACH ROW EXECUTE FUNCTION refuse_answers()`.execute(hub.database.db)
    const key = unique('fails-late')
    const email = `${unique('late')}@example.com`
    try {
      const failed = await send('POST', '/customer', { email }, key)
      expect(failed.status, failed.raw).toBe(500)
      expect(await customersWithEmail(email)).toBe(0)
      expect(await eventsFor(email)).toBe(0)
      expect(await keysNamed(key)).toBe(0)
    } finally {
      await sql`DROP TRIGGER refuse_answers ON idempotency_keys`.execute(hub.database.db)
      await sql`DROP FUNCTION refuse_answers()`.execute(hub.database.db)
    }
    // the client's retry with its key then runs the effect, once
    const retry = await send('POST', '/customer', { email }, key)
    expect(retry).toMatchObject({ status: 201, replayed: false })
    expect(await customersWithEmail(email)).toBe(1)
    expect(await eventsFor(email)).toBe(1)
    expect(await keysNamed(key)).toBe(1)
  })

  it('a request whose commit fails (a deferred check) leaves nothing either, with or without a key', async () => {
    await sql`CREATE FUNCTION refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.first_name = 'FailsAtCommit' THEN RAISE EXCEPTION 'refused at commit'; END IF; RETURN NEW; END $$`.execute(hub.database.db)
    await sql`CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT OR UPDATE ON customers DEFERRABLE INITIALLY DEFERRED
      FOR EACH ROW EXECUTE FUNCTION refuse_at_commit()`.execute(hub.database.db)
    try {
      for (const key of [unique('commit'), undefined]) {
        const email = `${unique('commit')}@example.com`
        const failed = await send('POST', '/customer', { email, firstName: 'FailsAtCommit' }, key)
        expect(failed.status, failed.raw).toBe(500)
        expect(await customersWithEmail(email)).toBe(0)
        expect(await eventsFor(email)).toBe(0)
        if (key) expect(await keysNamed(key)).toBe(0)
      }
      // a change to an existing customer rolls back whole too: fields, identities, events
      const email = `${unique('kept')}@example.com`
      const created = await send('POST', '/customer', { email, firstName: 'Kept' })
      expect(created.status).toBe(201)
      const moved = `${unique('moved')}@example.com`
      const failed = await send('PATCH', `/customer/${created.body.id}`, { email: moved, firstName: 'FailsAtCommit' }, unique('patch'))
      expect(failed.status).toBe(500)
      const after = await hub.app.inject({ method: 'GET', url: `/customer/${created.body.id}`, headers: hub.admin })
      expect(after.json()).toMatchObject({ email, firstName: 'Kept' })
      expect(await count(sql<{ n: number }>`SELECT count(*)::int AS n FROM identities WHERE value = ${moved}`)).toBe(0)
      expect(await count(sql<{ n: number }>`SELECT count(*)::int AS n FROM events WHERE customer_id = ${created.body.id} AND type = 'customer.updated'`)).toBe(0)
    } finally {
      await sql`DROP TRIGGER refuse_at_commit ON customers`.execute(hub.database.db)
      await sql`DROP FUNCTION refuse_at_commit()`.execute(hub.database.db)
    }
  })
})

describe('answers kept for Idempotency-Key replays', () => {
  it('keep an answer that holds a plaintext token only encrypted, and replay it whole', async () => {
    const key = unique('token')
    const name = unique('shop')
    const created = await send('POST', '/tokens', { name, role: 'platform' }, key)
    expect(created.status, created.raw).toBe(201)
    const token = created.body.token as string
    const { rows } = await sql<{ response: string }>`SELECT response FROM idempotency_keys WHERE key = ${key}`.execute(hub.database.db)
    expect(rows[0]!.response).toMatch(/^sealed:/)
    expect(rows[0]!.response).not.toContain(token)
    expect(rows[0]!.response).not.toContain(name)

    const replay = await send('POST', '/tokens', { name, role: 'platform' }, key)
    expect(replay).toMatchObject({ status: 201, replayed: true, raw: created.raw })
    // one token was made, and the replayed one is it
    expect(await count(sql<{ n: number }>`SELECT count(*)::int AS n FROM api_tokens WHERE name = ${name}`)).toBe(1)
    expect((await hub.app.inject({ method: 'GET', url: '/customer/lookup?email=nobody@example.com', headers: bearer(replay.body.token) })).statusCode).toBe(404)
  })

  it('fingerprint the request with a key of the hub, not a bare hash of its body (a body may hold a password)', async () => {
    const key = unique('fingerprint')
    const body = { handle: unique('seller').replace(/[^a-z0-9_-]/g, ''), password: 'a seller password', roleId: '3', organizationId: '12' }
    expect((await send('POST', '/service-accounts', body, key)).status).toBe(201)
    const { rows } = await sql<{ request_hash: string }>`SELECT request_hash FROM idempotency_keys WHERE key = ${key}`.execute(hub.database.db)
    const bare = createHash('sha256').update(`POST /service-accounts\n${JSON.stringify(body)}`).digest('hex')
    expect(rows[0]!.request_hash).toMatch(/^[0-9a-f]{64}$/)
    expect(rows[0]!.request_hash).not.toBe(bare)
    // and the retry still matches it
    expect((await send('POST', '/service-accounts', body, key)).replayed).toBe(true)
  })
})
