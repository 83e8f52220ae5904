import type { ColumnType, Generated } from 'kysely'
import type { RequiredTimestamp } from '../db/database.js'

/** A bulk import of one platform's customers (see migration 0030). */
export interface ImportsTable {
  id: string
  component: string
  external_id_field: string | null
  format: 'csv' | 'jsonl'
  source: string
  content_hash: string
  status: Generated<'staging' | 'running' | 'done' | 'failed'>
  total_rows: number | null
  processed_rows: Generated<number>
  created: Generated<number>
  matched: Generated<number>
  joined: Generated<number>
  conflicts: Generated<number>
  rejected: Generated<number>
  partial: Generated<number>
  rejected_identifiers: Generated<number>
  error: string | null
  lease_owner: string | null
  lease_until: Date | null
  created_at: RequiredTimestamp
  updated_at: RequiredTimestamp
  finished_at: Date | null
  chunk_lines: Generated<number>
}

/** A row of an import refused (while read, or when resolved) or applied in part, with why. */
export interface ImportRowsTable {
  import_id: string
  line: number
  data: ColumnType<unknown, string | null, string | null>
  status: Generated<'pending' | 'done' | 'rejected'>
  outcome: 'created' | 'matched' | null
  customer_id: string | null
  joined: Generated<number>
  conflicts: Generated<number>
  reason: string | null
}

/** A chunk of an import's staged rows: the valid rows of lines `first_line` onwards, as JSON text until done. */
export interface ImportChunksTable {
  import_id: string
  first_line: number
  rows: string | null
  row_count: number
  done: Generated<boolean>
}

declare module '../db/database.js' {
  interface Database {
    imports: ImportsTable
    import_rows: ImportRowsTable
    import_chunks: ImportChunksTable
  }
}

declare module '../ids.js' {
  interface IdPrefixes {
    imp: 'import'
  }
}
