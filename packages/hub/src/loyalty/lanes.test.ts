import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { sql } from 'kysely'
import { withTransaction } from '../db/executor.js'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'

let hub: TestHub
beforeAll(async () => {
  hub = await createTestHub()
})
afterAll(async () => {
  await hub?.close()
})

class Rollback extends Error {
  constructor(readonly id: string) {
    super('roll back')
  }
}

describe('a system account lane made on first use', () => {
  test('made by a transaction that rolls back, it is not remembered: the next posting makes it again', async () => {
    const { db } = hub.database
    const store = hub.app.services.ledgerStore
    // a lane the start-up made, gone (as in a database prepared before the lane existed)
    await sql`DELETE FROM reward_accounts WHERE ledger_id = 'reward-points' AND role = 'adjustments' AND lane = 3`.execute(db)

    // two postings of one transaction: the second finds the lane the first made
    const rolledBack = await withTransaction(db, async (tx) => {
      const first = await store.laneId(tx, 'reward-points', 'adjustments', 3)
      expect(await store.laneId(tx, 'reward-points', 'adjustments', 3)).toBe(first)
      throw new Rollback(first)
    }).catch((err: unknown) => (err as Rollback).id)
    expect(rolledBack).toMatch(/^rwa_/)

    const made = await withTransaction(db, (tx) => store.laneId(tx, 'reward-points', 'adjustments', 3))
    expect(made).not.toBe(rolledBack)
    const rows = await sql<{ id: string }>`SELECT id FROM reward_accounts WHERE ledger_id = 'reward-points' AND role = 'adjustments' AND lane = 3`.execute(db)
    expect(rows.rows.map((r) => r.id)).toEqual([made])
    // committed: remembered from now on
    expect(await withTransaction(db, (tx) => store.laneId(tx, 'reward-points', 'adjustments', 3))).toBe(made)
  })
})
