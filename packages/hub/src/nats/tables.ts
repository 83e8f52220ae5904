import type { ColumnType } from 'kysely'

/** How far a NATS stream has been given the outbox's events, and who publishes to it (see migration 0025). */
export interface NatsCursorsTable {
  stream: string
  position: ColumnType<string, string | undefined, string>
  lease_owner: string | null
  lease_until: Date | null
}

declare module '../db/database.js' {
  interface Database {
    nats_cursors: NatsCursorsTable
  }
}
