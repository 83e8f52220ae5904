import { defineModule } from '../module.js'
import { withTransaction } from '../db/executor.js'
import { createLoyaltyService, type LoyaltyService } from './loyalty-service.js'
import { ledgerSection } from './settings.js'
import './tables.js'

declare module '../module.js' {
  interface Services {
    loyalty: LoyaltyService
  }
}

/** Points ledgers and reward accounts. */
export const loyaltyModule = defineModule({
  name: 'loyalty',
  folder: 'loyalty',
  tables: ['ledgers', 'reward_accounts'],
  migrations: new URL('./migrations/', import.meta.url),
  config: ledgerSection,
  services: ({ services }) => ({ loyalty: createLoyaltyService({ events: services.events }) }),
  start: async ({ db, services, config }) => {
    if (config.ledgers.length > 0) await withTransaction(db, (tx) => services.loyalty.ensureConfigured(tx, config.ledgers))
  },
})
