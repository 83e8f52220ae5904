import { defineModule } from '../module.js'
import { createProviderService, type ProviderService } from './provider-service.js'
import './tables.js'

declare module '../module.js' {
  interface Services {
    providers: ProviderService
  }
}

/** Organizations, loyalty providers (the house and each marketplace seller) and channels. */
export const sellersModule = defineModule({
  name: 'sellers',
  folder: 'sellers',
  tables: ['organizations', 'loyalty_providers', 'channels'],
  migrations: new URL('./migrations/', import.meta.url),
  services: ({ services, clock }) => ({ providers: createProviderService({ events: services.events, clock }) }),
  handlers: ({ providers }) => ({
    listProviders: async ({ db, query }) => ({ data: await providers.list(db, query) }),
    getProvider: async ({ db, params }) => providers.get(db, params.id),
    listChannels: async ({ db }) => ({ data: await providers.channels(db) }),
    listOrganizations: async ({ db }) => ({ data: await providers.organizations(db) }),
  }),
})
