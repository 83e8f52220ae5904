import { hostname } from 'node:os'
import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import type { ImportRow, ImportSummary } from '@his-her/contract'
import type { Executor, Tx } from '../db/executor.js'
import { isUniqueViolation } from '../db/pg-errors.js'
import { HubError } from '../errors.js'
import { recordset } from '../db/statement.js'
import { newId } from '../ids.js'
import type { RowOutcome } from '../flows/import-batch.js'
import type { ImportsTable } from './tables.js'
import type { Selectable } from 'kysely'

/** How long a process keeps an import it works on without a batch committing: after that another may take it over. */
export const IMPORT_LEASE_SECONDS = 60

const toSummary = (r: Selectable<ImportsTable>): ImportSummary => ({
  id: r.id,
  component: r.component,
  source: r.source,
  status: r.status,
  totalRows: r.total_rows,
  processedRows: r.processed_rows,
  created: r.created,
  matched: r.matched,
  joined: r.joined,
  conflicts: r.conflicts,
  rejected: r.rejected,
  partial: r.partial,
  rejectedIdentifiers: r.rejected_identifiers,
  error: r.error,
  createdAt: new Date(r.created_at).toISOString(),
  updatedAt: new Date(r.updated_at).toISOString(),
  finishedAt: r.finished_at ? new Date(r.finished_at).toISOString() : null,
})

export interface ImportFile {
  component: string
  externalIdField: string | null
  format: 'csv' | 'jsonl'
  source: string
  contentHash: string
  /** Lines of a chunk (a batch), kept by the import. */
  chunkLines: number
}

/** Who works on an import: this machine, this process, and a random part (two runs in one process differ). */
export function importOwner(): string {
  return `${hostname()}:${process.pid}:${randomUUID()}`
}

/** The owner is a process of this machine that no longer runs. */
function ownerIsGone(owner: string): boolean {
  const [host, pid] = owner.split(':')
  if (host !== hostname() || !/^\d+$/.test(pid ?? '')) return false
  try {
    process.kill(Number(pid), 0)
    return false
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH'
  }
}

/** A staged row: the parsed row, or why it could not be read. */
export type StagedRow = { line: number; row: ImportRow } | { line: number; invalid: string }

/**
 * Imports and their staged rows (migration 0030). An import is found again by its platform and
 * its file's hash; the process working on it holds a lease that each batch renews in its own
 * transaction, so two processes never both commit rows of one import.
 */
export function createImportService() {
  return {
    /**
     * The import of this file: the one it made before (finished, or to resume), or a new one.
     * 409 `IMPORT_RUNNING` while another file of the same platform is being imported.
     */
    async open(db: Executor, file: ImportFile): Promise<ImportSummary & { externalIdField: string | null; chunkLines: number }> {
      const now = new Date()
      try {
        await db.insertInto('imports').values({
          id: newId('imp'), component: file.component, external_id_field: file.externalIdField, format: file.format, source: file.source,
          content_hash: file.contentHash, chunk_lines: file.chunkLines, total_rows: null, error: null, lease_owner: null, lease_until: null, created_at: now, updated_at: now, finished_at: null,
        }).onConflict((oc) => oc.constraint('imports_file_key').doNothing()).execute()
      } catch (err) {
        if (!isUniqueViolation(err, 'imports_one_running_key')) throw err
        const other = await db.selectFrom('imports').select(['id', 'source']).where('component', '=', file.component).where('status', 'in', ['staging', 'running']).executeTakeFirst()
        throw new HubError('IMPORT_RUNNING', `An import of ${file.component} is not finished: ${other?.id ?? '?'} (${other?.source ?? '?'}). Run it again to finish it first.`, { importId: other?.id })
      }
      const row = await db.selectFrom('imports').selectAll().where('component', '=', file.component).where('content_hash', '=', file.contentHash).executeTakeFirstOrThrow()
      return { ...toSummary(row), externalIdField: row.external_id_field, chunkLines: row.chunk_lines }
    },

    /**
     * Takes the import for `owner` (see {@link importOwner}) while no other process holds it: its
     * lease ran out, or its owner is a process of this machine that is gone (a SIGKILLed or
     * interrupted import, run again at once). 409 `IMPORT_RUNNING` while another holds it.
     */
    async claim(db: Executor, id: string, owner: string): Promise<void> {
      const take = async (from: string | null) => {
        const { rows } = await sql<{ id: string }>`
          UPDATE imports SET lease_owner = ${owner}, lease_until = now() + make_interval(secs => ${IMPORT_LEASE_SECONDS}),
            status = CASE WHEN status = 'failed' THEN (CASE WHEN total_rows IS NULL THEN 'staging' ELSE 'running' END) ELSE status END, error = NULL
          WHERE id = ${id} AND status <> 'done'
            AND (lease_until IS NULL OR lease_until < now() OR lease_owner = ${owner} OR lease_owner = ${from})
          RETURNING id`.execute(db)
        return rows.length > 0
      }
      if (await take(null)) return
      const holder = await db.selectFrom('imports').select('lease_owner').where('id', '=', id).executeTakeFirst()
      if (holder?.lease_owner && ownerIsGone(holder.lease_owner) && (await take(holder.lease_owner))) return
      throw new HubError('IMPORT_RUNNING', `Another process is working on import ${id}.`, { importId: id })
    },

    /** What the import keeps of how it was started: the platform's id field, the lines of a chunk. */
    async settings(db: Executor, id: string): Promise<{ externalIdField: string | null; chunkLines: number }> {
      const row = await db.selectFrom('imports').select(['external_id_field', 'chunk_lines']).where('id', '=', id).executeTakeFirstOrThrow()
      return { externalIdField: row.external_id_field, chunkLines: row.chunk_lines }
    },

    /** The newest imports first. */
    async list(db: Executor, limit = 100): Promise<ImportSummary[]> {
      const rows = await db.selectFrom('imports').selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute()
      return rows.map(toSummary)
    },

    /**
     * Imports staged whole whose process is gone (its lease ran out, or it was a process of this
     * machine that no longer runs): any process may take them over and finish them.
     */
    async abandoned(db: Executor): Promise<{ id: string; leaseOwner: string | null }[]> {
      const rows = await db.selectFrom('imports').select(['id', 'lease_owner']).where('status', '=', 'running').where('total_rows', 'is not', null).execute()
      return rows.map((r) => ({ id: r.id, leaseOwner: r.lease_owner }))
    },

    async get(db: Executor, id: string): Promise<ImportSummary> {
      const row = await db.selectFrom('imports').selectAll().where('id', '=', id).executeTakeFirst()
      if (!row) throw new HubError('IMPORT_NOT_FOUND', `No import has the id ${id}.`)
      return toSummary(row)
    },

    /**
     * Stages rows, whole chunks of `chunkLines` lines at a time (the caller hands over only
     * chunks it read to their end): one row per chunk of valid rows, one per row refused while
     * read. A chunk staged before is skipped: staging resumes by reading the file again.
     */
    async stage(db: Executor, id: string, rows: StagedRow[], chunkLines: number): Promise<void> {
      if (rows.length === 0) return
      const chunks = new Map<number, { line: number; row: ImportRow }[]>()
      const invalid: { line: number; reason: string }[] = []
      for (const r of rows) {
        if ('row' in r) {
          const first = Math.floor((r.line - 1) / chunkLines) * chunkLines + 1
          let list = chunks.get(first)
          if (!list) chunks.set(first, (list = []))
          list.push({ line: r.line, row: r.row })
        } else invalid.push({ line: r.line, reason: r.invalid })
      }
      if (chunks.size) {
        const doc = [...chunks].map(([first, list]) => ({ first_line: first, rows: JSON.stringify(list), row_count: list.length }))
        await sql`
          INSERT INTO import_chunks (import_id, first_line, rows, row_count)
          SELECT ${id}, v.first_line, v.rows, v.row_count FROM ${recordset(doc, 'first_line integer, rows text, row_count integer')}
          ON CONFLICT (import_id, first_line) DO NOTHING`.execute(db)
      }
      if (invalid.length) {
        await sql`
          INSERT INTO import_rows (import_id, line, data, status, reason)
          SELECT ${id}, v.line, NULL, 'rejected', v.reason FROM ${recordset(invalid, 'line integer, reason text')}
          ON CONFLICT (import_id, line) DO NOTHING`.execute(db)
      }
    },

    /**
     * The file is staged whole: `total` rows, of which `invalid` were refused while read (they
     * count as rejected and processed now; the rows resolved while the file was staged counted
     * as their batches committed).
     */
    async staged(db: Executor, id: string, total: number, invalid: number): Promise<void> {
      await sql`
        UPDATE imports SET status = 'running', total_rows = ${total}, updated_at = now(),
          rejected = rejected + ${invalid}, processed_rows = processed_rows + ${invalid}
        WHERE id = ${id} AND total_rows IS NULL`.execute(db)
    },

    /** The next chunk not done, in line order, locked for the batch; chunks another batch holds are passed over. */
    async pending(tx: Tx, id: string): Promise<{ firstLine: number; rows: { line: number; row: ImportRow }[] } | undefined> {
      const { rows } = await sql<{ first_line: number; rows: string }>`
        SELECT first_line, rows FROM import_chunks WHERE import_id = ${id} AND NOT done ORDER BY first_line LIMIT 1 FOR UPDATE SKIP LOCKED`.execute(tx)
      const chunk = rows[0]
      return chunk && { firstLine: chunk.first_line, rows: JSON.parse(chunk.rows) as { line: number; row: ImportRow }[] }
    },

    /**
     * Records what became of a chunk's rows and adds it to the import's counts, in the batch's
     * transaction, while `owner` still holds the lease (which it renews); throws when it lost it.
     * The chunk's rows are cleared; a row refused, or applied in part, stays with its reason
     * (and its data, for the file of rejected rows, until the import finishes).
     */
    async done(tx: Tx, id: string, owner: string, firstLine: number, outcomes: RowOutcome[], rowOf: (line: number) => ImportRow): Promise<{ processedRows: number; totalRows: number | null }> {
      const sum = (f: (o: RowOutcome) => number) => outcomes.reduce((n, o) => n + f(o), 0)
      const { rows } = await sql<{ processed_rows: number; total_rows: number | null }>`
        UPDATE imports SET processed_rows = processed_rows + ${outcomes.length},
          created = created + ${sum((o) => (o.status === 'created' ? 1 : 0))}, matched = matched + ${sum((o) => (o.status === 'matched' ? 1 : 0))},
          joined = joined + ${sum((o) => o.joined)}, conflicts = conflicts + ${sum((o) => o.conflicts)},
          rejected = rejected + ${sum((o) => (o.status === 'rejected' ? 1 : 0))}, partial = partial + ${sum((o) => (o.status !== 'rejected' && o.reason !== null ? 1 : 0))},
          rejected_identifiers = rejected_identifiers + ${sum((o) => o.rejectedIdentifiers)},
          lease_until = now() + make_interval(secs => ${IMPORT_LEASE_SECONDS}), updated_at = now()
        WHERE id = ${id} AND lease_owner = ${owner}
        RETURNING processed_rows, total_rows`.execute(tx)
      const counted = rows[0]
      if (!counted) throw new HubError('IMPORT_RUNNING', `Import ${id} was taken over by another process.`, { importId: id })
      await sql`UPDATE import_chunks SET done = true, rows = NULL WHERE import_id = ${id} AND first_line = ${firstLine}`.execute(tx)
      const result = { processedRows: counted.processed_rows, totalRows: counted.total_rows }
      const told = outcomes.filter((o) => o.reason !== null)
      if (told.length === 0) return result
      const doc = told.map((o) => ({ line: o.line, data: rowOf(o.line), status: o.status === 'rejected' ? 'rejected' : 'done', outcome: o.status === 'rejected' ? null : o.status, customer_id: o.customerId, joined: o.joined, conflicts: o.conflicts, reason: o.reason }))
      await sql`
        INSERT INTO import_rows (import_id, line, data, status, outcome, customer_id, joined, conflicts, reason)
        SELECT ${id}, v.line, v.data, v.status, v.outcome, v.customer_id, v.joined, v.conflicts, v.reason
        FROM ${recordset(doc, 'line integer, data jsonb, status text, outcome text, customer_id text, joined integer, conflicts integer, reason text')}`.execute(tx)
      return result
    },

    /** The lines and reasons of the rows refused whole or in part, a page after line `after` (the reasons stay when the import finishes). */
    async rejections(db: Executor, id: string, after: number, limit: number): Promise<{ data: { line: number; reason: string }[]; nextAfter: number | null }> {
      await this.get(db, id)
      const rows = await db.selectFrom('import_rows').select(['line', 'reason']).where('import_id', '=', id).where('reason', 'is not', null).where('line', '>', after)
        .orderBy('line').limit(limit + 1).execute()
      const page = rows.slice(0, limit).map((r) => ({ line: r.line, reason: r.reason ?? '' }))
      return { data: page, nextAfter: rows.length > limit ? page[page.length - 1]!.line : null }
    },

    /** The rows refused whole or in part: line, reason and the row as read (until {@link finish} clears it). */
    async rejected(db: Executor, id: string, after = 0, limit = 1000): Promise<{ line: number; reason: string; row: unknown }[]> {
      const { rows } = await sql<{ line: number; reason: string; data: unknown }>`
        SELECT line, reason, data FROM import_rows WHERE import_id = ${id} AND reason IS NOT NULL AND line > ${after} ORDER BY line LIMIT ${limit}`.execute(db)
      return rows.map((r) => ({ line: r.line, reason: r.reason, row: typeof r.data === 'string' ? JSON.parse(r.data) : r.data }))
    },

    /** Marks the import done and clears what rejected rows held of their people. */
    async finish(db: Executor, id: string, owner: string): Promise<ImportSummary> {
      await sql`UPDATE import_rows SET data = NULL WHERE import_id = ${id} AND data IS NOT NULL`.execute(db)
      await sql`DELETE FROM import_chunks WHERE import_id = ${id}`.execute(db)
      await sql`UPDATE imports SET status = 'done', finished_at = now(), updated_at = now(), lease_owner = NULL, lease_until = NULL WHERE id = ${id} AND lease_owner = ${owner}`.execute(db)
      return this.get(db, id)
    },

    /** Gives the import up without failing it (a process shutting down): another process may take it over at once. */
    async release(db: Executor, id: string, owner: string): Promise<void> {
      await sql`UPDATE imports SET lease_owner = NULL, lease_until = NULL, updated_at = now() WHERE id = ${id} AND lease_owner = ${owner}`.execute(db)
    },

    /** Records why the import stopped; run it again to resume. */
    async fail(db: Executor, id: string, owner: string, error: string): Promise<void> {
      await sql`UPDATE imports SET status = 'failed', error = ${error}, updated_at = now(), lease_owner = NULL, lease_until = NULL WHERE id = ${id} AND lease_owner = ${owner}`.execute(db)
    },
  }
}
export type ImportService = ReturnType<typeof createImportService>
