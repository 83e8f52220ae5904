import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { sql } from 'kysely'
import { collectMigrations, migrate } from '../db/migrate.js'
import { createTestDatabase, type TestDatabase } from '../../test/helpers/test-hub.js'

let database: TestDatabase

beforeAll(async () => {
  // a database with refresh tokens made before families had rows of their own
  database = await createTestDatabase({ migrate: false })
  await migrate(database.db, collectMigrations().filter((m) => m.order < 17))
  await sql`
    INSERT INTO refresh_tokens (id, family_id, subject_kind, subject_id, token_hash, created_at, expires_at, used_at, revoked_at) VALUES
      ('rft_a1', 'rft_famA', 'customer', 'cus_a', 'hash-a1', '2026-01-01T10:00:00Z', now() + interval '1 day', '2026-01-01T10:15:00Z', NULL),
      ('rft_a2', 'rft_famA', 'customer', 'cus_a', 'hash-a2', '2026-01-01T10:15:00Z', now() + interval '1 day', NULL, NULL),
      -- logged out, but a refresh in flight committed its successor after the logout looked
      ('rft_b1', 'rft_famB', 'customer', 'cus_b', 'hash-b1', '2026-01-02T10:00:00Z', now() + interval '1 day', '2026-01-02T10:15:00Z', '2026-01-02T10:15:00Z'),
      ('rft_b2', 'rft_famB', 'customer', 'cus_b', 'hash-b2', '2026-01-02T10:15:00Z', now() + interval '1 day', NULL, NULL),
      ('rft_c1', 'rft_famC', 'service', 'svc_c', 'hash-c1', '2026-01-03T10:00:00Z', now() + interval '1 day', NULL, NULL)`.execute(database.db)
  await migrate(database.db)
})
afterAll(async () => database?.close())

describe('migration 0017: a row for every refresh-token family', () => {
  test('each family gets its subject and the time its first token was made; a family with a revoked token is revoked, with every token in it', async () => {
    const families = await sql<{ id: string; subject_kind: string; subject_id: string; created_at: Date; revoked: boolean }>`
      SELECT id, subject_kind, subject_id, created_at, revoked_at IS NOT NULL AS revoked FROM refresh_families ORDER BY id`.execute(database.db)
    expect(families.rows).toEqual([
      { id: 'rft_famA', subject_kind: 'customer', subject_id: 'cus_a', created_at: new Date('2026-01-01T10:00:00Z'), revoked: false },
      { id: 'rft_famB', subject_kind: 'customer', subject_id: 'cus_b', created_at: new Date('2026-01-02T10:00:00Z'), revoked: true },
      { id: 'rft_famC', subject_kind: 'service', subject_id: 'svc_c', created_at: new Date('2026-01-03T10:00:00Z'), revoked: false },
    ])
    const live = await sql<{ id: string }>`SELECT id FROM refresh_tokens WHERE revoked_at IS NULL ORDER BY id`.execute(database.db)
    expect(live.rows.map((r) => r.id)).toEqual(['rft_a1', 'rft_a2', 'rft_c1'])
  })

  test('a refresh token needs its family row', async () => {
    await expect(sql`
      INSERT INTO refresh_tokens (id, family_id, subject_kind, subject_id, token_hash, expires_at)
      VALUES ('rft_x', 'rft_nofamily', 'customer', 'cus_x', 'hash-x', now() + interval '1 day')`.execute(database.db)).rejects.toThrow(/foreign key/)
  })
})
