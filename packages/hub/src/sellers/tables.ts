import type { Generated } from 'kysely'
import type { Timestamp } from '../db/database.js'

export interface OrganizationsTable {
  id: string
  created_at: Timestamp
}

/** The house's provider and one per marketplace seller (found by `seller_id`). */
export interface LoyaltyProvidersTable {
  id: string
  kind: 'house' | 'seller'
  handle: string
  name: string
  email: string | null
  phone: string | null
  description: string | null
  seller_id: string | null
  owner_member_id: string | null
  owner_email: string | null
  organization_id: string | null
  status: Generated<'active' | 'suspended' | 'terminated'>
  created_at: Date
  updated_at: Date
}

export interface ChannelsTable {
  id: string
  handle: string
  created_at: Timestamp
}

declare module '../db/database.js' {
  interface Database {
    organizations: OrganizationsTable
    loyalty_providers: LoyaltyProvidersTable
    channels: ChannelsTable
  }
}

declare module '../ids.js' {
  interface IdPrefixes {
    lpr: 'loyalty provider'
    chn: 'channel'
  }
}
