import type { Generated, Selectable } from 'kysely'
import type { Json, Timestamp } from '../db/database.js'

/** How a customer is known: an email, a phone, or a platform's own customer id. */
export interface IdentitiesTable {
  id: string
  customer_id: string
  kind: 'platform' | 'email' | 'phone'
  namespace: Generated<string>
  value: string
  raw_value: string
  external_id_field: string | null
  created_at: Timestamp
}

/** Every merge, with exactly what moved, so that it can be undone. */
export interface MergesTable {
  id: string
  target_id: string
  source_id: string
  reason: string
  moved: Json<Record<string, unknown>>
  created_at: Timestamp
  undone_at: Date | null
}

export type IdentityRow = Selectable<IdentitiesTable>
export type MergeRow = Selectable<MergesTable>

declare module '../db/database.js' {
  interface Database {
    identities: IdentitiesTable
    merges: MergesTable
  }
}

declare module '../ids.js' {
  interface IdPrefixes {
    idn: 'identity'
    mrg: 'merge'
  }
}
