import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ImportSummary } from '@his-her/contract'
import { createTestHub, type TestHub } from './helpers/test-hub.js'
import { client, expectError, type Call } from './helpers/requests.js'
import { jsonLines } from './helpers/import-data.js'
import { startImport } from '../src/imports/run-import.js'
import { resumeAbandoned } from '../src/imports/index.js'

let hub: TestHub
let call: Call

beforeAll(async () => {
  hub = await createTestHub({ imports: { resume: true, maxUploadMiB: 1 } })
  call = client(hub)
})
afterAll(async () => hub?.close())

const upload = (query: string, body: string, type = 'application/x-ndjson', headers = hub.admin) =>
  hub.app.inject({ method: 'POST', url: `/imports?${query}`, headers: { ...headers, 'content-type': type }, payload: body })

/** Polls GET /imports/:id until it is done (or the deadline passes). */
async function finished(id: string): Promise<ImportSummary> {
  const deadline = Date.now() + 60_000
  for (;;) {
    const res = await call('GET', `/imports/${id}`)
    expect(res.status, res.raw).toBe(200)
    if (res.body.status === 'done' || res.body.status === 'failed' || Date.now() > deadline) return res.body as ImportSummary
    await new Promise((r) => setImmediate(r))
  }
}

describe('POST /imports', () => {
  const rows = [
    ...Array.from({ length: 120 }, (_, i) => ({ externalId: `a${i}`, email: `api.${i}@example.com`, firstName: `Api${i}` })),
    { email: 'not an email' },
    { externalId: 'a0', phone: '+14155550100' },
  ]
  const body = jsonLines(rows)
  let first: ImportSummary

  it('takes a JSON Lines file, answers 202 with the import, and finishes it in the background', async () => {
    const res = await upload('platform=identity.api-shop', body)
    expect(res.statusCode, res.body).toBe(202)
    const started = res.json() as ImportSummary
    expect(started).toMatchObject({ id: expect.stringMatching(/^imp_/), component: 'identity.api-shop', status: expect.stringMatching(/^(staging|running)$/) })
    first = await finished(started.id)
    expect(first).toMatchObject({ status: 'done', totalRows: 122, processedRows: 122, created: 120, matched: 1, rejected: 1 })
    const found = await call('GET', '/customer/lookup?component=identity.api-shop&externalId=a0')
    expect(found.body.customer).toMatchObject({ email: 'api.0@example.com', phone: '+14155550100' })
  })

  it('lists the imports, newest first, and the rejected rows with line and reason, nothing of the row', async () => {
    const list = await call('GET', '/imports')
    expect(list.status, list.raw).toBe(200)
    expect(list.body.data[0].id).toBe(first.id)
    const rejected = await call('GET', `/imports/${first.id}/rejected`)
    expect(rejected.body).toEqual({ data: [{ line: 121, reason: expect.stringMatching(/^INVALID_EMAIL: /) }], nextAfter: null })
    expectError(await call('GET', '/imports/imp_nothing'), 404, 'IMPORT_NOT_FOUND')
    expectError(await call('GET', '/imports/imp_nothing/rejected'), 404, 'IMPORT_NOT_FOUND')
  })

  it('the same file again answers 200 with the import it made, and changes nothing', async () => {
    const res = await upload('platform=identity.api-shop', body)
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json()).toMatchObject({ id: first.id, status: 'done', created: 120 })
  })

  it('takes CSV as text/csv', async () => {
    const res = await upload('platform=identity.api-csv', 'externalId,email\nc1,csv.api@example.com\n', 'text/csv')
    expect(res.statusCode, res.body).toBe(202)
    expect(await finished(res.json().id)).toMatchObject({ status: 'done', totalRows: 1, created: 1 })
  })

  it('refuses a JSON body (415), a file over the limit (413), another role (403), and a missing platform (400)', async () => {
    const json = await hub.app.inject({ method: 'POST', url: '/imports?platform=identity.x', headers: hub.admin, payload: { rows: [] } })
    expectError({ status: json.statusCode, body: json.json(), raw: json.body }, 415, 'UNSUPPORTED_MEDIA_TYPE')
    const big = await upload('platform=identity.big', `${JSON.stringify({ externalId: 'x', metadata: { pad: 'x'.repeat(1000) } })}\n`.repeat(1200))
    expectError({ status: big.statusCode, body: big.json(), raw: big.body }, 413, 'IMPORT_TOO_LARGE')
    const platform = await hub.platform()
    const other = await upload('platform=identity.x', body, 'application/x-ndjson', platform)
    expectError({ status: other.statusCode, body: other.json(), raw: other.body }, 403, 'FORBIDDEN')
    const none = await upload('', body)
    expectError({ status: none.statusCode, body: none.json(), raw: none.body }, 400, 'VALIDATION_FAILED')
    // an upload type on a route that takes JSON
    const csv = await hub.app.inject({ method: 'POST', url: '/customer', headers: { ...hub.admin, 'content-type': 'text/csv' }, payload: 'a,b\n' })
    expectError({ status: csv.statusCode, body: csv.json(), raw: csv.body }, 415, 'UNSUPPORTED_MEDIA_TYPE')
    expect((await call('GET', '/imports')).body.data.map((i: ImportSummary) => i.component)).not.toContain('identity.big')
  })

  it('an import whose process stopped between batches is taken over and finished by a hub', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hub-import-api-'))
    const path = join(dir, 'stopped.jsonl')
    writeFileSync(path, jsonLines(Array.from({ length: 60 }, (_, i) => ({ externalId: `s${i}`, email: `stopped.${i}@example.com` }))))
    const stop = new AbortController()
    const started = await startImport({
      db: hub.database.db, services: hub.app.services, settings: hub.config.customer, identity: hub.config.identity, path, component: 'identity.stopped', batchSize: 20,
      onProgress: (p) => {
        if (p.phase === 'importing' && p.done >= 20) stop.abort()
      },
    })
    await expect(started.run(stop.signal)).rejects.toThrow(/stopped between two batches/)
    const halfway = (await call('GET', `/imports/${started.summary.id}`)).body as ImportSummary
    expect(halfway).toMatchObject({ status: 'running', processedRows: 20, totalRows: 60 })
    await resumeAbandoned(hub.database.db, hub.app.services, hub.config, hub.app.log)
    expect(await finished(started.summary.id)).toMatchObject({ status: 'done', processedRows: 60, created: 60 })
  })
})
