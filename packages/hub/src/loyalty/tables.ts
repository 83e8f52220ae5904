import type { Generated } from 'kysely'
import type { Timestamp } from '../db/database.js'

/** Points ledgers; `reward-points` always exists, others come from the configuration. */
export interface LedgersTable {
  id: string
  name: string
  allow_negative: Generated<boolean>
  created_at: Timestamp
}

/** One customer's account in one ledger. */
export interface RewardAccountsTable {
  id: string
  ledger_id: string
  customer_id: string
  created_at: Timestamp
}

declare module '../db/database.js' {
  interface Database {
    ledgers: LedgersTable
    reward_accounts: RewardAccountsTable
  }
}

declare module '../ids.js' {
  interface IdPrefixes {
    rwa: 'reward account'
  }
}
