import type { ColumnType, Generated } from 'kysely'

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>

export interface CustomersTable {
  id: string
  email: string | null
  first_name: string | null
  last_name: string | null
  phone: string | null
  password_hash: string | null
  groups: ColumnType<string[], string[] | undefined, string[]>
  metadata: ColumnType<Record<string, unknown>, string | undefined, string>
  order_count: Generated<number>
  total_spent: ColumnType<string, number | string | undefined, number | string>
  currency: string | null
  has_account: Generated<boolean>
  email_verified: Generated<boolean>
  address_count: Generated<number>
  created_at: Timestamp
  updated_at: Timestamp
  deleted_at: Date | null
  merged_into: string | null
  search: ColumnType<string, never, never>
}

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

export interface AddressesTable {
  id: string
  customer_id: string
  label: string | null
  first_name: string | null
  last_name: string | null
  line1: string
  line2: string | null
  city: string
  state: string | null
  postal_code: string | null
  country: string
  phone: string | null
  is_default: Generated<boolean>
  created_at: Timestamp
  updated_at: Timestamp
}

export interface OrdersTable {
  id: string
  platform: string
  external_id: string
  customer_id: string
  total: ColumnType<string, number | string, number | string>
  currency: string
  placed_at: ColumnType<Date, Date | string, Date | string>
  recorded_at: Timestamp
  updated_at: Timestamp
}

export interface EventsTable {
  position: ColumnType<string, never, never>
  id: string
  type: string
  customer_id: string | null
  payload: ColumnType<Record<string, unknown>, string, string>
  created_at: Timestamp
}

export interface ApiTokensTable {
  id: string
  name: string
  role: 'admin' | 'platform'
  token_hash: string
  bootstrap: Generated<boolean>
  created_at: Timestamp
  last_used_at: Date | null
  revoked_at: Date | null
}

export interface LedgersTable {
  id: string
  name: string
  allow_negative: Generated<boolean>
  created_at: Timestamp
}

export interface RewardAccountsTable {
  id: string
  ledger_id: string
  customer_id: string
  created_at: Timestamp
}

export interface MergesTable {
  id: string
  target_id: string
  source_id: string
  reason: string
  moved: ColumnType<Record<string, unknown>, string, string>
  created_at: Timestamp
  undone_at: Date | null
}

export interface IdempotencyKeysTable {
  scope: string
  key: string
  request_hash: string
  status_code: number | null
  response: string | null
  created_at: Timestamp
  completed_at: Date | null
}

export interface SigningKeysTable {
  kid: string
  public_jwk: ColumnType<Record<string, unknown>, string, string>
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
}

export interface RefreshTokensTable {
  id: string
  family_id: string
  subject_kind: 'customer' | 'service'
  subject_id: string
  token_hash: string
  created_at: Timestamp
  expires_at: ColumnType<Date, Date | string, Date | string>
  used_at: Date | null
  revoked_at: Date | null
}

export interface OneTimeTokensTable {
  id: string
  purpose: 'verify_email' | 'password_reset'
  customer_id: string
  email: string
  token_hash: string
  created_at: Timestamp
  expires_at: ColumnType<Date, Date | string, Date | string>
  used_at: Date | null
}

export interface RateLimitsTable {
  key: string
  window_start: Date
  hits: number
}

export interface Database {
  customers: CustomersTable
  identities: IdentitiesTable
  addresses: AddressesTable
  orders: OrdersTable
  events: EventsTable
  api_tokens: ApiTokensTable
  ledgers: LedgersTable
  reward_accounts: RewardAccountsTable
  merges: MergesTable
  idempotency_keys: IdempotencyKeysTable
  signing_keys: SigningKeysTable
  service_accounts: ServiceAccountsTable
  refresh_tokens: RefreshTokensTable
  one_time_tokens: OneTimeTokensTable
  rate_limits: RateLimitsTable
}
