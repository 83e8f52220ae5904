import type { ColumnType, JSONColumnType } from 'kysely'
import type { CouponExternal } from '@his-her/contract'

export interface CouponsTable {
  id: string
  kind: 'gift_card'
  provider_id: string
  channel_id: string | null
  code_hash: string
  code_last4: string
  externals: JSONColumnType<CouponExternal[], string, string>
  single_use: boolean
  currency: string | null
  account_id: string | null
  status: 'active' | 'redeemed' | 'disabled'
  expires_at: Date | null
  redeemed_at: Date | null
  created_at: Date
  updated_at: Date
}

/** Insert-only: one row per redemption (and per hold captured), claimed by its idempotency key. */
export interface CouponRedemptionsTable {
  id: string
  coupon_id: string
  idempotency_key: string
  fingerprint: string
  single_use: boolean
  /** bigint minor units, read as text. */
  amount: ColumnType<string | null, string | null, never>
  order_ref: string
  transaction_id: string | null
  hold_id: string | null
  created_at: Date
}

declare module '../db/database.js' {
  interface Database {
    coupons: CouponsTable
    coupon_redemptions: CouponRedemptionsTable
  }
}

declare module '../ids.js' {
  interface IdPrefixes {
    cpn: 'coupon'
    cred: 'coupon redemption'
  }
}
