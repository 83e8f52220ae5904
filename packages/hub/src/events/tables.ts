import type { ColumnType } from 'kysely'
import type { Json, Timestamp } from '../db/database.js'

/** The outbox: every change's events, written in the change's transaction. */
export interface EventsTable {
  /** (transaction id << 16) | ordinal within the transaction; see `event-store.ts`. */
  position: ColumnType<string, never, never>
  id: string
  type: string
  customer_id: string | null
  payload: Json<Record<string, unknown>>
  created_at: Timestamp
}

declare module '../db/database.js' {
  interface Database {
    events: EventsTable
  }
}

declare module '../ids.js' {
  interface IdPrefixes {
    evt: 'event'
  }
}
