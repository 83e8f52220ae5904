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
  failing_since: Date | null
  disabled_reason: 'gone' | 'failing' | null
}

/** What a subscription is sent, one row per event (see migration 0023). */
export interface WebhookDeliveriesTable {
  webhook_id: string
  event_id: string
  event_position: ColumnType<string, string | bigint, never>
  order_key: string
  status: Generated<'pending' | 'succeeded' | 'failed'>
  attempts: Generated<number>
  next_attempt_at: Generated<Date>
  lease_owner: string | null
  lease_until: Date | null
  last_status: number | null
  last_error: string | null
  last_attempt_at: Date | null
  completed_at: Date | null
  replays: Generated<number>
  created_at: Generated<Date>
}

/** How far the fan-out has read the outbox: one row. */
export interface WebhookFanoutTable {
  singleton: Generated<boolean>
  position: ColumnType<string, string, string>
}

declare module '../db/database.js' {
  interface Database {
    webhooks: WebhooksTable
    webhook_deliveries: WebhookDeliveriesTable
    webhook_fanout: WebhookFanoutTable
  }
}

declare module '../ids.js' {
  interface IdPrefixes {
    whk: 'webhook subscription'
  }
}
