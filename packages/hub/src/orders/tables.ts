import type { ColumnType } from 'kysely'
import type { Timestamp } from '../db/database.js'

/** Orders are facts reported by platforms; (platform, external_id) makes a report idempotent. */
export interface OrdersTable {
  id: string
  platform: string
  external_id: string
  customer_id: string
  /** bigint minor units, read as text. */
  total: ColumnType<string, number | string, number | string>
  currency: string
  placed_at: ColumnType<Date, Date | string, Date | string>
  recorded_at: Timestamp
  updated_at: Timestamp
  /** Set when the order was cancelled: it no longer counts in the totals. */
  cancelled_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  /** How many orders the row stands for: 1 for an order reported alone, the platform's count for an imported summary. */
  order_count: ColumnType<number, number | undefined, number>
  /** The platform's time of the order's state last applied, when its reports give one (`reportedAt`). */
  reported_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
}

declare module '../db/database.js' {
  interface Database {
    orders: OrdersTable
  }
}

declare module '../ids.js' {
  interface IdPrefixes {
    ord: 'order'
  }
}
