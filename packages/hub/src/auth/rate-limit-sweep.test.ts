import { afterAll, beforeAll, expect, test } from 'vitest'
import { sql } from 'kysely'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'

let hub: TestHub
beforeAll(async () => {
  hub = await createTestHub()
})
afterAll(async () => hub?.close())

test('the sweep deletes only rate-limit rows no limit can read any more', async () => {
  const db = hub.database.db
  const limiter = hub.app.services.limiter
  await limiter.hit(db, 'sweep:fresh', 10, 60)
  await sql`INSERT INTO rate_limits (key, window_start, hits) VALUES
    ('sweep-week', now() - interval '7 days', 3), ('sweep-old', now() - interval '10 days', 3)`.execute(db)
  expect(await limiter.sweep(db)).toBeGreaterThanOrEqual(1)
  const { rows } = await sql<{ key: string }>`SELECT key FROM rate_limits WHERE key LIKE 'sweep-%'`.execute(db)
  expect(rows.map((r) => r.key)).toEqual(['sweep-week'])
  // the fresh row (its key is hashed) is still counting
  await expect(limiter.check(db, 'sweep:fresh', 1, 60)).rejects.toMatchObject({ code: 'RATE_LIMITED' })
})
