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
  /** How it was linked (see the contract's LinkedBy). */
  linked_via: Generated<'sync' | 'create' | 'api' | 'profile' | 'unrecorded'>
  linked_component: string | null
  linked_rule: 'new' | 'platform' | 'email' | 'phone' | null
  /** The merge that brought it to this customer, if one did. */
  merge_id: string | null
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
