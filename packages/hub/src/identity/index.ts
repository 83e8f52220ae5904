import { defineModule } from '../module.js'
import { createIdentityService, type IdentityService } from './identity-service.js'
import { identitySection } from './settings.js'
import './tables.js'

declare module '../module.js' {
  interface Services {
    identities: IdentityService
  }
}

/**
 * Who is who: identities (normalization, the unique holder of each), the matching cascade
 * (`match.ts`), and the record of merges. Sync, lookup, linking and merging also touch customer
 * records: they are flows (`flows/`).
 */
export const identityModule = defineModule({
  name: 'identity',
  folder: 'identity',
  tables: ['identities', 'merges'],
  migrations: new URL('./migrations/', import.meta.url),
  config: identitySection,
  services: ({ config, services }) => ({ identities: createIdentityService({ defaultCountry: config.customer.defaultCountry, events: services.events }) }),
  handlers: ({ identities }) => ({
    getMerge: async ({ db, params }) => identities.getMerge(db, params.id),
  }),
})
