import { defineModule } from '../module.js'
import './requests-tables.js'

/**
 * The HTTP layer's own table: the Idempotency-Key answers, written by the unit of work
 * (`unit-of-work.ts`) and swept after 48 hours.
 */
export const requestsModule = defineModule({
  name: 'requests',
  folder: 'http',
  tables: ['idempotency_keys'],
  migrations: new URL('./migrations/', import.meta.url),
})
