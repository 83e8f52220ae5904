import { createReadStream } from 'node:fs'
import { basename } from 'node:path'
import type { ImportRow, ImportSummary, SyncInput } from '@his-her/contract'
import type { Services } from '../module.js'
import type { CustomerSettings } from '../customers/settings.js'
import type { IdentitySettings } from '../identity/settings.js'
import { sql } from 'kysely'
import { RetryTransaction, withTransaction, type Executor } from '../db/executor.js'
import { isRetryable } from '../db/pg-errors.js'
import { importBatch } from '../flows/import-batch.js'
import { importExtras, importStarts } from '../flows/import-extras.js'
import { createHash } from 'node:crypto'
import { fileHash, formatOf, readRows } from './read-rows.js'
import { importOwner, type StagedRow } from './import-service.js'

/** An import stopped between batches (its process shuts down): it stays unfinished, for this or another process to resume. */
export class ImportStopped extends Error {
  override name = 'ImportStopped'
  constructor() {
    super('the import was stopped between two batches; it resumes where it stopped')
  }
}

/**
 * Where an import is: rows read into the staging table (`staging`), or rows resolved
 * (`importing`) — which begins while the file is still read, its `total` null until the file is
 * staged whole.
 */
export interface ImportProgress {
  phase: 'staging' | 'importing'
  done: number
  total: number | null
}

export interface RunImportOptions {
  db: Executor
  services: Services
  settings: CustomerSettings
  identity: IdentitySettings
  path: string
  component: string
  externalIdField?: string | undefined
  format?: 'csv' | 'jsonl' | undefined
  /** The name the import is shown with (the file's name by default). */
  source?: string | undefined
  /** Lines a batch transaction resolves (1,000 by default): the chunks the file is staged in, kept by the import when it resumes. */
  batchSize?: number | undefined
  /**
   * Batches resolved at once, each in a transaction of its own (1 by default): on PostgreSQL a
   * second one keeps the database busy while this process decides the next batch. Batches that
   * touch the same people are kept apart by the database (the guarded updates and the identities'
   * unique indexes make the later one start again).
   */
  workers?: number | undefined
  onProgress?: ((p: ImportProgress) => void) | undefined
  /** Given the rejected rows (line, reason, the row as read) in pages, before the import finishes and clears them. */
  onRejected?: ((rows: { line: number; reason: string; row: unknown }[]) => Promise<void>) | undefined
  /** Stops between batches: the import stays unfinished, to be resumed. */
  signal?: AbortSignal | undefined
}

/** Rows read before they are staged (then at the next chunk's first row). */
const STAGE_ROWS = 5_000

/**
 * The tables whose rows a batch looks up (by identifier, by id, by platform and order id, by
 * customer, a points balance by its key). An import grows them faster than the database's
 * statistics follow (autovacuum looks at a table about once a minute, and is off on some
 * servers); planned with statistics of a table a fraction of its size, a batch's statements pick
 * indexes that fit an empty table and slow down as the table grows. So the import refreshes their
 * statistics itself (`ANALYZE`, a sample of each table) whenever the rows it resolved since the
 * statistics were taken reach three times the customers they counted (at least
 * {@link ANALYZE_FIRST}): each time the table may have grown fourfold — four times for a first
 * file of 333,333 rows, and none for a file smaller than three times the customers the hub has
 * (the planner scales the counts it has by the table's size on disk, so statistics of a table a
 * quarter of its size still pick the same indexes; taken at each doubling, they cost twice as
 * much for no faster batch). Tables a batch only appends to (events, ledger entries and lots) are
 * left to autovacuum.
 */
const IMPORT_TABLES = ['customers', 'identities', 'addresses', 'orders', 'reward_accounts', 'ledger_transactions']
const ANALYZE_FIRST = 2_000

/** Refreshes the statistics of the tables an import's batches look rows up in. */
async function analyzeImportTables(db: Executor): Promise<void> {
  await sql.raw(`ANALYZE ${IMPORT_TABLES.join(', ')}`).execute(db)
}

/** The rows resolved before the statistics are taken again: three times the customers they count now, at least {@link ANALYZE_FIRST}. */
async function rowsUntilAnalyze(db: Executor): Promise<number> {
  const { rows } = await sql<{ n: number }>`SELECT greatest(reltuples, 0)::float8 AS n FROM pg_class WHERE oid = 'customers'::regclass`.execute(db)
  return Math.max(ANALYZE_FIRST, Math.round(3 * Number(rows[0]?.n ?? 0)))
}
const MAX_ATTEMPTS = 20

/** The sync a row stands for. */
export function syncInputOf(row: ImportRow, component: string, externalIdField: string | null): SyncInput {
  return {
    platform: { component, ...(externalIdField ? { externalIdField } : {}), ...(row.externalId ? { externalId: row.externalId } : {}) },
    ...(row.email !== undefined ? { email: row.email } : {}),
    ...(row.phone !== undefined ? { phone: row.phone } : {}),
    ...(row.firstName !== undefined ? { firstName: row.firstName } : {}),
    ...(row.lastName !== undefined ? { lastName: row.lastName } : {}),
    ...(row.metadata !== undefined ? { metadata: row.metadata } : {}),
  }
}

const hasExtras = (row: ImportRow) =>
  row.groups !== undefined || row.addresses !== undefined || row.orderCount !== undefined || row.totalSpent !== undefined || row.points !== undefined

/**
 * A row's key across files of one platform: its platform id, or without one a hash of its email
 * and phone as sent — the same row of a later export has the same key, so its order history and
 * points are brought once.
 */
export function rowKey(component: string, row: ImportRow): string {
  if (row.externalId) return `${component}:${row.externalId}`
  return `${component}:${createHash('sha256').update(`${row.email?.trim().toLowerCase() ?? ''}\u0000${row.phone?.trim() ?? ''}`).digest('hex').slice(0, 32)}`
}

/** Runs `fn` in a transaction, again when it lost a race (a concurrent writer, a deadlock, a serialization failure). */
async function retrying<T>(db: Executor, fn: Parameters<typeof withTransaction<T>>[1]): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await withTransaction(db, fn)
    } catch (err) {
      if (attempt >= MAX_ATTEMPTS || !(err instanceof RetryTransaction || isRetryable(err))) throw err
    }
  }
}

/**
 * Imports a file of one platform's customers (`customer-hub import`, `POST /imports`): stages its
 * rows, then resolves them in batches — each batch one transaction that writes the rows' effects
 * and marks them done — with the sync's rules ({@link importBatch}). Interrupted anywhere, a run
 * with the same file resumes where it stopped; a file imported before is found by its hash and
 * changes nothing. Live traffic goes on meanwhile: a batch holds its locks for one short
 * transaction.
 *
 * @example
 * ```ts
 * const summary = await runImport({ db, services, settings, identity, path: 'shop.jsonl', component: 'identity.shop' })
 * ```
 */
export async function runImport(o: RunImportOptions): Promise<ImportSummary & { alreadyDone: boolean }> {
  const started = await startImport(o)
  if (started.alreadyDone) return { ...started.summary, alreadyDone: true }
  return { ...(await started.run()), alreadyDone: false }
}

/**
 * The first part of {@link runImport}: finds or makes the import of the file and takes it for
 * this process; `run()` then does the work. `POST /imports` answers between the two.
 */
export async function startImport(o: RunImportOptions): Promise<{ summary: ImportSummary; alreadyDone: boolean; run: (signal?: AbortSignal) => Promise<ImportSummary> }> {
  const { db, services } = o
  const imports = services.imports
  const format = o.format ?? formatOf(o.path)
  const opened = await imports.open(db, {
    component: o.component, externalIdField: o.externalIdField ?? null, format, source: o.source ?? basename(o.path), contentHash: await fileHash(o.path),
    chunkLines: o.batchSize ?? 1000,
  })
  if (opened.status === 'done') return { summary: await imports.get(db, opened.id), alreadyDone: true, run: () => imports.get(db, opened.id) }
  const owner = importOwner()
  const id = opened.id
  await imports.claim(db, id, owner)
  const run = async (signal?: AbortSignal): Promise<ImportSummary> => {
    const stopped = new AbortController()
    const stop = signal ?? o.signal
    stop?.addEventListener('abort', () => stopped.abort(), { once: true })
    let staging: Staging | undefined
    try {
      // the rows are resolved while the file is still being staged: a batch takes each chunk once it is staged
      if ((await imports.get(db, id)).totalRows === null) staging = stageFile(o, id, owner, opened.chunkLines, stopped.signal)
      return await processStaged({ ...o, id, owner, signal: stopped.signal, staging })
    } catch (err) {
      // the reading has stopped before the import is failed or released (a chunk staged after would take the import again)
      stopped.abort()
      await staging?.done.catch(() => {})
      if (err instanceof ImportStopped) await imports.release(db, id, owner).catch(() => {})
      else await imports.fail(db, id, owner, (err as Error).message).catch(() => {})
      throw err
    }
  }
  return { summary: await imports.get(db, id), alreadyDone: false, run }
}

/**
 * The staging of a file under way: resolves when the file is staged whole (`imports.staged`),
 * rejects when it could not be read. `next()` resolves when more rows are staged or the staging
 * ended, whichever comes first.
 */
export interface Staging {
  done: Promise<void>
  ended: () => boolean
  next: () => Promise<void>
}

/**
 * Reads the file into the staging table, whole chunks at a time, and marks the import staged.
 * Stops between two chunks when `signal` aborts (the import resumes by reading the file again:
 * the chunks staged before are skipped).
 */
function stageFile(o: RunImportOptions, id: string, owner: string, chunkLines: number, signal: AbortSignal): Staging {
  const { db } = o
  const imports = o.services.imports
  const format = o.format ?? formatOf(o.path)
  const chunkOf = (line: number) => Math.floor((line - 1) / chunkLines)
  let total = 0
  let ended = false
  let wake: () => void = () => {}
  let waiting = new Promise<void>((resolve) => (wake = resolve))
  const staged = () => {
    const woken = wake
    waiting = new Promise<void>((resolve) => (wake = resolve))
    woken()
  }
  const done = (async () => {
    try {
      let read: StagedRow[] = []
      let invalid = 0
      const flush = async () => {
        if (signal.aborted) throw new ImportStopped()
        await imports.stage(db, id, read, chunkLines)
        await imports.claim(db, id, owner)
        read = []
        staged()
        o.onProgress?.({ phase: 'staging', done: total, total: null })
      }
      for await (const row of readRows(createReadStream(o.path), format)) {
        // only chunks read to their end are staged: a row of a later chunk says the earlier ones are whole
        if (read.length >= STAGE_ROWS && chunkOf(row.line) !== chunkOf(read[read.length - 1]!.line)) await flush()
        read.push(row)
        total++
        if ('invalid' in row) invalid++
      }
      await flush()
      await imports.staged(db, id, total, invalid)
    } finally {
      ended = true
      wake()
    }
  })()
  // a failure is thrown where the import waits for the staging; until then it must not count as unhandled
  done.catch(() => {})
  return { done, ended: () => ended, next: () => waiting }
}

/**
 * Resolves the staged rows of import `id` that are not done, batch after batch, while `owner`
 * holds it, then finishes it. Needs no file: an import staged whole is resumed by any process.
 */
export async function processStaged(o: Omit<RunImportOptions, 'path' | 'component'> & { id: string; owner: string; staging?: Staging | undefined }): Promise<ImportSummary> {
  const { db, services, id, owner } = o
  const imports = services.imports
  const summary = await imports.get(db, id)
  const { externalIdField: field, chunkLines } = await imports.settings(db, id)
  const { staging } = o
  // rows are resolved while the file is still staged: their total is known (not null) once it is staged whole
  const progress = (p: { processedRows: number; totalRows: number | null }) => o.onProgress?.({ phase: 'importing', done: p.processedRows, total: p.totalRows })
  progress(summary)
  let failed = false
  // rows resolved by this run, and when the statistics are refreshed next (one worker at a time, the others go on)
  let resolved = 0
  let analyzeAt = await rowsUntilAnalyze(db)
  let analyzing = false
  const work = async () => {
    for (;;) {
      if (o.signal?.aborted) throw new ImportStopped()
      if (failed) return
      // taken before the batch looks for a chunk: rows staged while it looks wake it at once
      const more = staging?.next()
      const batch = await resolveBatch()
      if (!batch) {
        if (more && !staging!.ended()) {
          await more
          continue
        }
        return
      }
      progress(batch)
      resolved += batch.rows
      if (resolved >= analyzeAt && !analyzing) {
        analyzing = true
        try {
          await analyzeImportTables(db)
          analyzeAt = resolved + (await rowsUntilAnalyze(db))
        } finally {
          analyzing = false
        }
      }
    }
  }
  const resolveBatch = () =>
    retrying(db, async (tx) => {
      const chunk = await imports.pending(tx, id)
      if (!chunk) return undefined
      const rows = chunk.rows
      const keyOf = new Map(rows.map((r) => [r.line, rowKey(summary.component, r.row)]))
      // a new customer is written with its row's groups and order history (importStarts), the rest
      // of what the row brings beyond a sync after the batch: addresses, points, and the same for matched customers
      const starts = importStarts(rows.map((r) => ({ ...r, key: keyOf.get(r.line)! })), summary.component)
      const outcomes = await importBatch(tx, services, o.settings, o.identity, rows.map((r) => ({ line: r.line, input: syncInputOf(r.row, summary.component, field), start: starts.get(r.line) })))
      const rowOf = new Map(rows.map((r) => [r.line, r.row]))
      const extras = outcomes.flatMap((x) => (x.customerId && hasExtras(rowOf.get(x.line)!)
        ? [{ line: x.line, customerId: x.customerId, row: rowOf.get(x.line)!, key: keyOf.get(x.line)!, started: x.started ?? undefined }]
        : []))
      if (extras.length) {
        // consecutive chunks, resolved at once, post their points from different issuer lanes
        const reasons = await importExtras(tx, services, o.settings, summary.component, extras, { lane: Math.floor((chunk.firstLine - 1) / chunkLines) })
        for (const x of outcomes) if (reasons.has(x.line)) x.reason = reasons.get(x.line)!
      }
      const counted = await imports.done(tx, id, owner, chunk.firstLine, outcomes, (line) => rowOf.get(line)!)
      return { rows: rows.length, ...counted }
    })
  const ended = await Promise.allSettled(Array.from({ length: Math.max(1, o.workers ?? 1) }, () => work().catch((err: unknown) => {
    failed = true
    throw err
  })))
  const first = ended.find((e): e is PromiseRejectedResult => e.status === 'rejected')
  // the reading is stopped, and waited for, by the run that started it
  if (first) throw first.reason
  if (staging) {
    // the workers end when the staging has ended: a reading that failed fails the import here
    await staging.done
    progress(await imports.get(db, id))
  }
  if (o.onRejected) {
    for (let after = 0; ;) {
      const page = await imports.rejected(db, id, after)
      if (page.length === 0) break
      await o.onRejected(page)
      after = page[page.length - 1]!.line
    }
  }
  return imports.finish(db, id, owner)
}
