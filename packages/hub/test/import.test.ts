import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'kysely'
import type { ImportRow } from '@his-her/contract'
import { createTestHub, onPostgres, type TestHub } from './helpers/test-hub.js'
import { client } from './helpers/requests.js'
import { jsonLines, platformFiles, type PlatformFile } from './helpers/import-data.js'
import { runImport, syncInputOf } from '../src/imports/run-import.js'

/**
 * The customers as sets of identities: each live customer is the sorted list of what it holds,
 * and the partition the sorted list of those — the same people grouped the same way, whatever
 * the customer ids.
 */
async function partition(hub: TestHub): Promise<string[]> {
  const { rows } = await sql<{ customer_id: string; identity: string }>`
    SELECT i.customer_id, i.kind || ':' || i.namespace || ':' || i.value AS identity
    FROM identities i JOIN customers c ON c.id = i.customer_id WHERE c.deleted_at IS NULL`.execute(hub.database.db)
  const groups = new Map<string, string[]>()
  for (const r of rows) groups.set(r.customer_id, [...(groups.get(r.customer_id) ?? []), r.identity])
  return [...groups.values()].map((g) => g.sort().join(' ')).sort()
}

const count = async (hub: TestHub, table: 'customers' | 'events' | 'identities' | 'merges') =>
  Number((await sql<{ n: string }>`SELECT count(*)::text AS n FROM ${sql.table(table)}`.execute(hub.database.db)).rows[0]!.n)

describe('bulk import', () => {
  // on PostgreSQL four batches at once
  const workers = onPostgres ? 4 : 1
  let imported: TestHub
  let synced: TestHub
  let dir: string
  let files: (PlatformFile & { path: string })[]
  const summaries: Awaited<ReturnType<typeof runImport>>[] = []
  const rejectedRows: { line: number; reason: string; row: unknown }[][] = []

  const importFile = (hub: TestHub, f: { path: string; component: string }, extra: Partial<Parameters<typeof runImport>[0]> = {}) =>
    runImport({ db: hub.database.db, services: hub.app.services, settings: hub.config.customer, identity: hub.config.identity, path: f.path, component: f.component, batchSize: 200, ...extra })

  beforeAll(async () => {
    imported = await createTestHub()
    synced = await createTestHub()
    dir = mkdtempSync(join(tmpdir(), 'hub-import-'))
    files = platformFiles(1200, { tag: `i${Math.random().toString(36).slice(2, 7)}` }).map((f, n) => {
      const path = join(dir, `shop-${n}.jsonl`)
      writeFileSync(path, jsonLines(f.rows))
      return { ...f, path }
    })
    for (const f of files) {
      const rejected: { line: number; reason: string; row: unknown }[] = []
      // on PostgreSQL four batches at once: batches that meet the same people (households share
      // a phone, joins bring two rows together) are kept apart by the database and start again
      summaries.push(await importFile(imported, f, { workers, onRejected: async (rows) => void rejected.push(...rows) }))
      rejectedRows.push(rejected)
    }
    // the same rows, one sync request at a time, file after file, in line order
    const call = client(synced)
    const platform = await synced.platform()
    for (const f of files) {
      for (const row of f.rows) {
        const res = await call('POST', '/customer/sync', syncInputOf(row, f.component, null), platform)
        expect([200, 201, 400], res.raw).toContain(res.status)
      }
    }
  }, 600_000)
  afterAll(async () => {
    await imported?.close()
    await synced?.close()
  })

  it('groups the people exactly as syncing the rows one by one does', async () => {
    const mine = await partition(imported)
    expect(mine.length).toBeGreaterThan(1000)
    expect(mine).toEqual(await partition(synced))
    // the data set exercises the rules: joins, conflicts and rejections happened
    expect(summaries.reduce((n, s) => n + s.joined, 0)).toBeGreaterThan(0)
    // one batch at a time, the rows go in line order and make the merges the syncs made; with
    // batches side by side, a row bringing two identifiers may be resolved before the rows that
    // bring them one each, and finds one customer where the syncs made two and joined them
    if (workers === 1) expect(await count(imported, 'merges')).toBe(await count(synced, 'merges'))
    else expect(await count(imported, 'merges')).toBeLessThanOrEqual(await count(synced, 'merges'))
  })

  it('counts every row: created, matched or rejected, with the conflicts and set-aside identifiers', () => {
    for (const [n, s] of summaries.entries()) {
      expect(s.status).toBe('done')
      expect(s.totalRows).toBe(files[n]!.rows.length)
      expect(s.processedRows).toBe(s.totalRows)
      expect(s.created + s.matched + s.rejected).toBe(s.totalRows)
    }
    expect(summaries.reduce((n, s) => n + s.conflicts, 0)).toBeGreaterThan(0)
    expect(summaries.reduce((n, s) => n + s.rejectedIdentifiers, 0)).toBeGreaterThan(0)
  })

  it('reports each rejected row with its line and reason', () => {
    for (const [n, f] of files.entries()) {
      const expected = f.rows.flatMap((r, i) => (r.externalId === undefined && !r.phone ? [i + 1] : []))
      expect(expected.length).toBeGreaterThan(0)
      expect(rejectedRows[n]!.map((r) => r.line)).toEqual(expected)
      for (const r of rejectedRows[n]!) {
        expect(r.reason).toMatch(/^INVALID_EMAIL: /)
        expect(r.row).toEqual(f.rows[r.line - 1])
      }
      expect(summaries[n]!.rejected).toBe(expected.length)
    }
  })

  it('keeps nothing of the people in the staging table once done', async () => {
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM import_rows WHERE data IS NOT NULL`.execute(imported.database.db)
    expect(rows[0]!.n).toBe(0)
    const chunks = await sql<{ n: number }>`SELECT count(*)::int AS n FROM import_chunks`.execute(imported.database.db)
    expect(chunks.rows[0]!.n).toBe(0)
    // while it ran, the rows refused or applied in part were kept with their reasons: they still are
    const kept = await sql<{ n: number }>`SELECT count(*)::int AS n FROM import_rows WHERE reason IS NOT NULL`.execute(imported.database.db)
    expect(kept.rows[0]!.n).toBe(summaries.reduce((n, s) => n + s.rejected + s.partial, 0))
  })

  it('importing the same file again changes nothing', async () => {
    const before = await Promise.all((['customers', 'events', 'identities'] as const).map((t) => count(imported, t)))
    const again = await importFile(imported, files[1]!)
    expect(again.alreadyDone).toBe(true)
    expect(again.id).toBe(summaries[1]!.id)
    expect(await Promise.all((['customers', 'events', 'identities'] as const).map((t) => count(imported, t)))).toEqual(before)
  })

  it('a file whose rows were all synced before changes no customer', async () => {
    const f = files[0]!
    const path = join(dir, 'shop-0-again.jsonl')
    // the same rows in another file (another hash): every row is matched, and nothing changes
    writeFileSync(path, jsonLines([...f.rows].reverse()))
    const partitionBefore = await partition(imported)
    const summary = await importFile(imported, { path, component: f.component })
    expect(summary.created).toBe(0)
    expect(summary.matched + summary.rejected).toBe(f.rows.length)
    expect(await partition(imported)).toEqual(partitionBefore)
  })

  it('reads CSV with the same columns, nested fields as JSON', async () => {
    const component = 'identity.csv-shop'
    const rows: ImportRow[] = [
      { externalId: 'c1', email: 'csv.one@example.com', firstName: 'Csv', metadata: { plan: 'gold' } },
      { externalId: 'c2', phone: '+14155550199', lastName: 'Two, with a comma' },
      { externalId: 'c3', email: 'csv.one@example.com' },
    ]
    const path = join(dir, 'shop.csv')
    const cell = (v: unknown) => (v === undefined ? '' : `"${(typeof v === 'string' ? v : JSON.stringify(v)).replace(/"/g, '""')}"`)
    const columns = ['externalId', 'email', 'phone', 'firstName', 'lastName', 'metadata'] as const
    writeFileSync(path, `${columns.join(',')}\n${rows.map((r) => columns.map((c) => cell(r[c])).join(',')).join('\n')}\nc4,,,,,{not json}\n`)
    const rejected: { line: number; reason: string }[] = []
    const summary = await importFile(imported, { path, component }, { onRejected: async (r) => void rejected.push(...r) })
    expect(summary).toMatchObject({ totalRows: 4, created: 2, matched: 1, rejected: 1 })
    expect(rejected).toEqual([{ line: 4, reason: expect.stringMatching(/^INVALID_JSON/), row: null }])
    const call = client(imported)
    const found = await call('GET', `/customer/lookup?component=${component}&externalId=c3`)
    expect(found.status, found.raw).toBe(200)
    expect(found.body.customer ?? found.body).toMatchObject({ email: 'csv.one@example.com', firstName: 'Csv', metadata: { plan: 'gold' } })
    expect(readFileSync(path, 'utf8')).toContain('Two, with a comma')
  })

  it("applies a row's groups, addresses, order history and points, once per row whatever the files; a part it cannot apply is reported and the rest stays", async () => {
    const component = 'identity.extras-shop'
    const rows: ImportRow[] = [
      { externalId: 'x1', email: 'extras.one@example.com', groups: ['vip', 'wholesale'], orderCount: 3, totalSpent: 12_900, currency: 'EUR', points: 250,
        addresses: [{ line1: '1 Extra Road', city: 'Leeds', country: 'GB' }] },
      { externalId: 'x2', email: 'extras.two@example.com', orderCount: 1, totalSpent: 500, currency: 'USD' },
      // the same person as x2 on another account of the platform, its history in another currency
      { externalId: 'x3', email: 'extras.two@example.com', orderCount: 2, totalSpent: 700, currency: 'EUR', groups: ['b2b'] },
    ]
    const path = join(dir, 'extras.jsonl')
    writeFileSync(path, jsonLines(rows))
    const rejected: { line: number; reason: string }[] = []
    const first = await importFile(imported, { path, component }, { onRejected: async (r) => void rejected.push(...r) })
    expect(first).toMatchObject({ totalRows: 3, created: 2, matched: 1, rejected: 0, partial: 1 })
    expect(rejected).toEqual([expect.objectContaining({ line: 3, reason: expect.stringMatching(/^CURRENCY_MISMATCH: /) })])
    const call = client(imported)
    const one = (await call('GET', `/customer/lookup?component=${component}&externalId=x1`)).body.customer
    expect(one).toMatchObject({ groups: ['vip', 'wholesale'], orderCount: 3, totalSpent: 12_900, currency: 'EUR' })
    expect(one.addresses).toEqual([expect.objectContaining({ line1: '1 Extra Road', city: 'Leeds', country: 'GB' })])
    const two = (await call('GET', `/customer/lookup?component=${component}&externalId=x3`)).body.customer
    expect(two).toMatchObject({ orderCount: 1, totalSpent: 500, currency: 'USD', groups: ['b2b'] })
    const balance = async () => (await call('GET', `/customer/${one.id}/reward-accounts`)).body
    const before = await balance()
    expect(JSON.stringify(before)).toContain('250')

    // the same rows in another file: nothing is brought twice
    const again = join(dir, 'extras-again.jsonl')
    writeFileSync(again, jsonLines([...rows].reverse()))
    expect(await importFile(imported, { path: again, component })).toMatchObject({ created: 0, matched: 3 })
    expect((await call('GET', `/customer/${one.id}`)).body).toMatchObject({ groups: ['vip', 'wholesale'], orderCount: 3, totalSpent: 12_900, addresses: [expect.anything()] })
    expect(await balance()).toEqual(before)
    const verify = await call('GET', '/ledgers/reward-points/verify')
    expect(verify.body.ok, verify.raw).toBe(true)
  })

  it('creates a new customer with its row\'s groups and history, announced as a sync and the extras would; a history another customer holds is left out and reported', async () => {
    const component = 'identity.start-shop'
    const call = client(imported)
    const platform = await imported.platform()
    // an order under the key the history of row y2 would get, recorded for someone else
    const other = await call('POST', '/customer/sync', { platform: { component: 'identity.other-shop', externalId: 'o1' }, email: 'start.other@example.com' }, platform)
    expect(other.status, other.raw).toBe(201)
    const held = await call('POST', '/orders', { platform: component, externalId: `import:${component}:y2`, customerId: other.body.customer.id, total: 900, currency: 'EUR', placedAt: new Date().toISOString() }, platform)
    expect(held.status, held.raw).toBe(201)
    const rows: ImportRow[] = [
      { externalId: 'y1', email: 'start.one@example.com', groups: ['vip', 'gold', 'vip'], orderCount: 4, totalSpent: 8_000, currency: 'GBP' },
      { externalId: 'y2', email: 'start.two@example.com', groups: ['silver'], orderCount: 2, totalSpent: 300, currency: 'EUR' },
    ]
    const path = join(dir, 'start.jsonl')
    writeFileSync(path, jsonLines(rows))
    const rejected: { line: number; reason: string }[] = []
    expect(await importFile(imported, { path, component }, { onRejected: async (r) => void rejected.push(...r) })).toMatchObject({ created: 2, partial: 1 })
    expect(rejected).toEqual([expect.objectContaining({ line: 2, reason: expect.stringMatching(/^ORDER_CUSTOMER_MISMATCH: /) })])
    const one = (await call('GET', `/customer/lookup?component=${component}&externalId=y1`)).body.customer
    expect(one).toMatchObject({ groups: ['vip', 'gold'], orderCount: 4, totalSpent: 8_000, currency: 'GBP' })
    const two = (await call('GET', `/customer/lookup?component=${component}&externalId=y2`)).body.customer
    expect(two).toMatchObject({ groups: ['silver'], orderCount: 0, totalSpent: 0, currency: null })
    expect((await call('GET', `/customer/${other.body.customer.id}`)).body).toMatchObject({ orderCount: 1, totalSpent: 900 })

    const events = async (id: string) =>
      (await sql<{ type: string; payload: any }>`SELECT type, payload FROM events WHERE customer_id = ${id} ORDER BY position`.execute(imported.database.db)).rows
    // created as a sync creates it (no groups, no history), then each group and the history, as the extras announce them
    const ofOne = await events(one.id)
    expect(ofOne.map((e) => e.type)).toEqual(['customer.created', 'customer.group_added', 'customer.group_added', 'order.recorded'])
    expect(ofOne[0]!.payload.customer).toMatchObject({ id: one.id, groups: [], orderCount: 0, totalSpent: 0, currency: null })
    expect(ofOne.slice(1, 3).map((e) => e.payload)).toEqual([{ customerId: one.id, group: 'vip' }, { customerId: one.id, group: 'gold' }])
    expect(ofOne[3]!.payload).toMatchObject({ order: { platform: component, externalId: `import:${component}:y1`, total: 8_000, currency: 'GBP' }, orderCount: 4, totalSpent: 8_000 })
    expect((await events(two.id)).map((e) => e.type)).toEqual(['customer.created', 'customer.group_added'])
  })

  it('a customer a row matches takes the row\'s new groups and its history in the update of its sync; announced as a sync and the extras would', async () => {
    const first = 'identity.match-first'
    const second = 'identity.match-second'
    const call = client(imported)
    const write = (name: string, rows: ImportRow[]) => {
      const path = join(dir, name)
      writeFileSync(path, jsonLines(rows))
      return path
    }
    await importFile(imported, {
      component: first,
      path: write('match-first.jsonl', [
        { externalId: 'p1', email: 'match.one@example.com', firstName: 'Ann', groups: ['vip'], orderCount: 2, totalSpent: 2_000, currency: 'EUR' },
        { externalId: 'p2', email: 'match.two@example.com', firstName: 'Bo', orderCount: 1, totalSpent: 100, currency: 'EUR' },
      ]),
    })
    const one = (await call('GET', `/customer/lookup?component=${first}&externalId=p1`)).body.customer
    const two = (await call('GET', `/customer/lookup?component=${first}&externalId=p2`)).body.customer
    const events = async (id: string, after: number) =>
      (await sql<{ type: string; payload: any }>`SELECT type, payload FROM events WHERE customer_id = ${id} ORDER BY position`.execute(imported.database.db)).rows.slice(after)
    const seenOne = (await events(one.id, 0)).length
    const seenTwo = (await events(two.id, 0)).length

    const rejected: { line: number; reason: string }[] = []
    const summary = await importFile(imported, {
      component: second,
      path: write('match-second.jsonl', [
        // a new name (the sync updates the customer), one group it has and one it has not, a history in its currency
        { externalId: 'q1', email: 'match.one@example.com', firstName: 'Anne', groups: ['vip', 'gold'], orderCount: 3, totalSpent: 900, currency: 'EUR' },
        // a history in another currency: reported; the group is added all the same
        { externalId: 'q2', email: 'match.two@example.com', firstName: 'Bob', groups: ['usd'], orderCount: 1, totalSpent: 50, currency: 'USD' },
      ]),
    }, { onRejected: async (r) => void rejected.push(...r) })
    expect(summary).toMatchObject({ created: 0, matched: 2, partial: 1 })
    expect(rejected).toEqual([expect.objectContaining({ line: 2, reason: expect.stringMatching(/^CURRENCY_MISMATCH: /) })])
    expect((await call('GET', `/customer/${one.id}`)).body).toMatchObject({ firstName: 'Anne', groups: ['vip', 'gold'], orderCount: 5, totalSpent: 2_900, currency: 'EUR' })
    expect((await call('GET', `/customer/${two.id}`)).body).toMatchObject({ firstName: 'Bob', groups: ['usd'], orderCount: 1, totalSpent: 100, currency: 'EUR' })

    // the sync's update as a sync makes it (the groups and sums it had), then the group it did not
    // have and the history with the sums after it
    const ofOne = (await events(one.id, seenOne)).filter((e) => e.type !== 'customer.identity_linked')
    expect(ofOne.map((e) => e.type)).toEqual(['customer.updated', 'customer.group_added', 'order.recorded'])
    expect(ofOne[0]!.payload.customer).toMatchObject({ firstName: 'Anne', groups: ['vip'], orderCount: 2, totalSpent: 2_000 })
    expect(ofOne[1]!.payload).toEqual({ customerId: one.id, group: 'gold' })
    expect(ofOne[2]!.payload).toMatchObject({ order: { externalId: `import:${second}:q1`, total: 900, currency: 'EUR' }, orderCount: 5, totalSpent: 2_900 })
    const ofTwo = (await events(two.id, seenTwo)).filter((e) => e.type !== 'customer.identity_linked')
    expect(ofTwo.map((e) => e.type)).toEqual(['customer.updated', 'customer.group_added'])
    expect(ofTwo[0]!.payload.customer).toMatchObject({ firstName: 'Bob', groups: [], orderCount: 1, totalSpent: 100 })

    // a later file with other numbers for the same row corrects the history by the difference
    await importFile(imported, { component: second, path: write('match-second-again.jsonl', [{ externalId: 'q1', email: 'match.one@example.com', firstName: 'Annie', orderCount: 4, totalSpent: 1_000, currency: 'EUR' }]) })
    expect((await call('GET', `/customer/${one.id}`)).body).toMatchObject({ firstName: 'Annie', groups: ['vip', 'gold'], orderCount: 6, totalSpent: 3_000 })
    expect((await events(one.id, seenOne)).filter((e) => e.type === 'order.corrected').map((e) => e.payload)).toEqual([expect.objectContaining({ orderCount: 6, totalSpent: 3_000 })])
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM orders WHERE customer_id = ${one.id}`.execute(imported.database.db)
    expect(rows[0]!.n).toBe(2)
  })

  it("posts a batch's points from one issuer lane, its chunk's: batches side by side take different lanes; the chains verify", async () => {
    const component = 'identity.lanes-shop'
    const rows: ImportRow[] = Array.from({ length: 600 }, (_, i) => ({ externalId: `l${i}`, email: `lanes.${i}@example.com`, points: 10 + i }))
    const path = join(dir, 'lanes.jsonl')
    writeFileSync(path, jsonLines(rows))
    expect(await importFile(imported, { path, component }, { workers })).toMatchObject({ created: 600, rejected: 0, partial: 0 })
    const { rows: posted } = await sql<{ key: string; lane: number; amount: string }>`
      SELECT t.idempotency_key AS key, r.lane, (t.postings->0->>'amount') AS amount
      FROM ledger_transactions t JOIN reward_accounts r ON r.id = t.postings->0->>'from'
      WHERE t.kind = 'import' AND t.idempotency_key LIKE ${`hub import:${component}:%`}`.execute(imported.database.db)
    expect(posted).toHaveLength(600)
    // rows 1-200 are the first chunk (batches of 200 lines), 201-400 the second, 401-600 the third
    const lanes = new Map<number, Set<number>>()
    for (const p of posted) {
      const n = Number(p.key.slice(p.key.lastIndexOf(':l') + 2))
      expect(Number(p.amount)).toBe(10 + n)
      const chunk = Math.floor(n / 200)
      lanes.set(chunk, new Set([...(lanes.get(chunk) ?? []), p.lane]))
    }
    expect([...lanes].sort(([a], [b]) => a - b).map(([chunk, l]) => [chunk, [...l]])).toEqual([[0, [0]], [1, [1]], [2, [2]]])
    const verify = await client(imported)('GET', '/ledgers/reward-points/verify')
    expect(verify.body.ok, verify.raw).toBe(true)
  })

  it('refuses a second file of a platform while one is unfinished, and resumes the unfinished one', async () => {
    const component = 'identity.resume-shop'
    const rows: ImportRow[] = Array.from({ length: 50 }, (_, i) => ({ externalId: `r${i}`, email: `resume.${i}@example.com` }))
    const first = join(dir, 'resume-1.jsonl')
    writeFileSync(first, jsonLines(rows))
    // stop it after its first batch, as a crash would
    await expect(importFile(imported, { path: first, component }, {
      batchSize: 10,
      onProgress: (p) => {
        if (p.phase === 'importing' && p.done >= 10) throw new Error('stopped')
      },
    })).rejects.toThrow('stopped')
    const other = join(dir, 'resume-2.jsonl')
    writeFileSync(other, jsonLines([{ externalId: 'x', email: 'other@example.com' }]))
    const refused = importFile(imported, { path: other, component })
    await expect(refused).rejects.toMatchObject({ code: 'IMPORT_RUNNING' })
    const resumed = await importFile(imported, { path: first, component })
    expect(resumed).toMatchObject({ status: 'done', totalRows: 50, processedRows: 50, created: 50, matched: 0, alreadyDone: false })
    const { rows: held } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM identities WHERE kind = 'platform' AND namespace = ${component}`.execute(imported.database.db)
    expect(held[0]!.n).toBe(50)
    expect((await importFile(imported, { path: other, component })).created).toBe(1)
  })
})
