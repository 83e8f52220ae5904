import type { Generated } from 'kysely'
import type { Json, RequiredTimestamp, Timestamp } from '../db/database.js'

export interface ApiTokensTable {
  id: string
  name: string
  role: 'admin' | 'platform' | 'events:read' | 'metrics:read'
  /** SHA-256 of the token: the token itself is never stored. */
  token_hash: string
  bootstrap: Generated<boolean>
  /** The identity components a platform token acts in; null: every one (admin tokens, platform tokens made before scopes). */
  components: string[] | null
  /** The platform names a platform token reports orders as; null exactly when `components` is. */
  platforms: string[] | null
  created_at: Timestamp
  last_used_at: Date | null
  revoked_at: Date | null
}

export interface SigningKeysTable {
  kid: string
  public_jwk: Json<Record<string, unknown>>
  /** AES-256-GCM under a key derived from HUB_SECRET. */
  private_key_enc: string
  created_at: Timestamp
  retired_at: Date | null
}

export interface ServiceAccountsTable {
  id: string
  handle: string
  email: string
  password_hash: string
  role_id: string
  organization_id: string
  provider_id: string | null
  created_at: Timestamp
  updated_at: Timestamp
  disabled_at: Date | null
  /** Set while the account's seller is suspended (or for good once it is terminated, with `disabled_at`). */
  suspended_at: Date | null
  /** Access tokens issued before it are refused. */
  sessions_valid_after: Date | null
}

export interface StaffUsersTable {
  id: string
  email: string
  name: string | null
  role: 'admin' | 'support'
  password_hash: string
  /** Access tokens issued before it are refused. */
  sessions_valid_after: Date | null
  disabled_at: Date | null
  created_at: Timestamp
  updated_at: Timestamp
}

export interface RefreshTokensTable {
  id: string
  family_id: string
  subject_kind: 'customer' | 'service' | 'staff'
  subject_id: string
  token_hash: string
  created_at: Timestamp
  expires_at: RequiredTimestamp
  used_at: Date | null
  /** Set with its family's `revoked_at`; the family row is what a refresh checks. */
  revoked_at: Date | null
}

/** One sign-in and the refresh tokens its refreshes rotate through: locked by a refresh, revoked as a whole. */
export interface RefreshFamiliesTable {
  id: string
  subject_kind: 'customer' | 'service' | 'staff'
  subject_id: string
  /** When the sign-in began; a family begun at or before the account's `sessions_valid_after` is refused. */
  created_at: Timestamp
  revoked_at: Date | null
  /** Set while the sign-in that stored the family has not confirmed it: the family is refused from then on. Null once confirmed. */
  pending_until: Generated<Date | null>
}

/** A customer's "log out everywhere": refresh-token families begun at or before it are refused. */
export interface CustomerSessionCutoffsTable {
  customer_id: string
  sessions_valid_after: Date
}

export type OneTimePurpose = 'verify_email' | 'password_reset' | 'change_email' | 'change_phone' | 'register'

export interface OneTimeTokensTable {
  id: string
  purpose: OneTimePurpose
  customer_id: string
  /** The account's email the token is bound to (where a verification or reset was sent; the current email for a change). */
  email: string
  /** The new email or phone of a change. */
  value: string | null
  /** A registration's password, kept until the guest's email is verified. */
  password_hash: string | null
  token_hash: string
  created_at: Timestamp
  expires_at: RequiredTimestamp
  used_at: Date | null
}

export interface RateLimitsTable {
  key: string
  window_start: Date
  hits: number
}

declare module '../db/database.js' {
  interface Database {
    api_tokens: ApiTokensTable
    signing_keys: SigningKeysTable
    service_accounts: ServiceAccountsTable
    staff_users: StaffUsersTable
    refresh_tokens: RefreshTokensTable
    refresh_families: RefreshFamiliesTable
    customer_session_cutoffs: CustomerSessionCutoffsTable
    one_time_tokens: OneTimeTokensTable
    rate_limits: RateLimitsTable
  }
}

declare module '../ids.js' {
  interface IdPrefixes {
    tok: 'API token'
    key: 'signing key'
    svc: 'service account'
    stf: 'staff user'
    rft: 'refresh token'
    ott: 'one-time token'
  }
}
