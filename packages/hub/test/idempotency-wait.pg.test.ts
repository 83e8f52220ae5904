import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'kysely'
import pg from 'pg'
import { createTestHub, testDatabaseUrl, type TestHub } from './helpers/test-hub.js'
import { unique } from './helpers/requests.js'
import { fingerprint } from '../src/secrets.js'

// PostgreSQL only: a second connection holds a first request's claim while the hub serves the second.
let hub: TestHub

async function send(method: 'POST', url: string, payload: object, key: string) {
  const res = await hub.app.inject({ method, url, payload, headers: { ...hub.admin, 'idempotency-key': key } })
  return { status: res.statusCode, body: res.body ? res.json() : undefined, raw: res.body, replayed: res.headers['idempotent-replayed'] === 'true' }
}

async function customersWithEmail(email: string): Promise<number> {
  const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM customers WHERE email = ${email}`.execute(hub.database.db)
  return rows[0]!.n
}

beforeAll(async () => {
  hub = await createTestHub()
})
afterAll(async () => hub?.close())

describe('a second request with the same key, while the first runs', () => {
  /** A transaction on a connection of its own that holds the key's claim, as a first request still running does. */
  async function holdClaim(key: string, scope: string) {
    const client = new pg.Client({ connectionString: testDatabaseUrl, options: `-c search_path=${hub.database.schema},public` })
    await client.connect()
    await client.query('BEGIN')
    await client.query(`INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ($1, $2, 'held')`, [scope, key])
    return client
  }

  /** Resolves once the hub's claim of `key` waits on a lock: the second request is blocked on the first's claim. */
  async function untilWaiting(key: string): Promise<void> {
    for (;;) {
      const { rows } = await sql<{ n: number }>`
        SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND position(${key} IN query) > 0`.execute(hub.database.db)
      if (rows[0]!.n > 0) return
      await new Promise((resolve) => setImmediate(resolve))
    }
  }

  it('waits for the first to commit and answers its answer, running nothing', async () => {
    const key = unique('held')
    const email = `${unique('held')}@example.com`
    const payload = { email }
    const holder = await holdClaim(key, 'api-token:env')
    const second = send('POST', '/customer', payload, key)
    await untilWaiting(key)
    // the first request finishes: its answer is kept under its fingerprint, which is this request's
    const hash = fingerprint(hub.config.secret!, 'idempotency request', `POST /customer\n${JSON.stringify(payload)}`)
    const first = '{"answered":"by the first request"}'
    await holder.query(`UPDATE idempotency_keys SET request_hash = $3, status_code = 201, response = $4, completed_at = now() WHERE scope = $1 AND key = $2`, ['api-token:env', key, hash, first])
    await holder.query('COMMIT')
    await holder.end()
    expect(await second).toMatchObject({ status: 201, replayed: true, raw: first })
    expect(await customersWithEmail(email)).toBe(0)
  })

  it('runs itself when the first rolls back (its process died)', async () => {
    const key = unique('rolled-back')
    const holder = await holdClaim(key, 'api-token:env')
    const email = `${unique('rolled')}@example.com`
    const second = send('POST', '/customer', { email }, key)
    await untilWaiting(key)
    await holder.query('ROLLBACK')
    await holder.end()
    expect(await second).toMatchObject({ status: 201, replayed: false })
    expect(await customersWithEmail(email)).toBe(1)
  })
})
