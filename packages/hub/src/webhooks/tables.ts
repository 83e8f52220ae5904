import type { ColumnType, Generated } from 'kysely'

/** A webhook subscription; its secrets only sealed (see `webhook-service.ts`). */
export interface WebhooksTable {
  id: string
  url: string
  events: ColumnType<string[], string[], string[]>
  description: string | null
  enabled: Generated<boolean>
  allow_secrets: Generated<boolean>
  secret_sealed: string
  previous_secret_sealed: string | null
  previous_secret_expires_at: Date | null
  created_at: Generated<Date>
  updated_at: Generated<Date>
}

declare module '../db/database.js' {
  interface Database {
    webhooks: WebhooksTable
  }
}

declare module '../ids.js' {
  interface IdPrefixes {
    whk: 'webhook subscription'
  }
}
