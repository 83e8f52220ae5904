import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { sql } from 'kysely'
import { buildApp } from '../http/app.js'
import { ConfigError } from '../errors.js'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'

// An event's position is (transaction id << 16) | ordinal. A dump restored into a new server
// brings the old positions while the new server's transaction ids start again near zero: a hub
// started there would place every new event before those already delivered.
let hub: TestHub

beforeAll(async () => {
  hub = await createTestHub()
})
afterAll(async () => {
  await hub?.close()
})

describe('a database whose transaction counter is behind its newest event', () => {
  test('is refused at start-up with what to do, and accepted once the counter is past it again', async () => {
    const { db } = hub.database
    const created = await hub.app.inject({ method: 'POST', url: '/customer', headers: hub.admin, payload: { email: 'restored@example.com' } })
    expect(created.statusCode).toBe(201)
    // the newest event as a server 1,000 transactions ahead of this one wrote it
    const far = await sql<{ position: string }>`SELECT ((pg_current_xact_id()::text::bigint + 1000) << 16 | 1)::text AS position`.execute(db)
    await sql`UPDATE events SET position = ${far.rows[0]!.position}::bigint WHERE position = (SELECT max(position) FROM events)`.execute(db)

    const start = () => buildApp({ config: hub.config, database: hub.database, logger: false })
    const refused = await start().then(() => null, (err: unknown) => err)
    expect(refused).toBeInstanceOf(ConfigError)
    const message = (refused as Error).message
    expect(message).toMatch(/^the database's transaction counter is \d+ transactions behind its newest event .*docs\/scaling\.md/)
    expect(Number(/is (\d+) transactions/.exec(message)![1])).toBeGreaterThan(990)
    expect(Number(/is (\d+) transactions/.exec(message)![1])).toBeLessThanOrEqual(1001)

    // the position back below the counter: the hub starts
    await sql`UPDATE events SET position = ((pg_current_xact_id()::text::bigint - 1) << 16 | 1) WHERE position = ${far.rows[0]!.position}::bigint`.execute(db)
    const app = await start()
    await app.close()
  })
})
