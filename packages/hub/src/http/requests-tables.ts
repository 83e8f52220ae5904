import type { Timestamp } from '../db/database.js'

/** Idempotency-Key: the answer to a (caller, key), replayed to retries. */
export interface IdempotencyKeysTable {
  scope: string
  key: string
  /** HMAC-SHA256 of method, URL and body under HUB_SECRET. */
  request_hash: string
  status_code: number | null
  /** The answer as sent; `sealed:`… (encrypted under HUB_SECRET) when it holds a secret. */
  response: string | null
  created_at: Timestamp
  completed_at: Date | null
}

declare module '../db/database.js' {
  interface Database {
    idempotency_keys: IdempotencyKeysTable
  }
}
