import { sql } from 'kysely'
import { buildOpenApi, errorCatalogue, ErrorResponse, routes } from '@his-her/contract'
import { defineModule } from '../module.js'
import { HubError } from '../errors.js'

/** The API's description, built once from the route table. */
let document: Record<string, unknown> | undefined
export function openApiDocument(): Record<string, unknown> {
  return (document ??= buildOpenApi(routes, errorCatalogue, ErrorResponse, {
    title: 'Customer Hub API',
    version: '0.2.0',
    description: 'One record per real person across every store and platform.',
  }))
}

/** Health, the OpenAPI document and the metrics (see `metrics.ts`). */
export const operationsModule = defineModule({
  name: 'operations',
  folder: 'http',
  tables: [],
  handlers: (services) => ({
    health: async ({ db }) => {
      try {
        await sql`SELECT 1`.execute(db)
      } catch {
        throw new HubError('DATABASE_UNAVAILABLE', 'The database does not answer.')
      }
      return { status: 'ok' as const, database: 'up' as const }
    },
    openapi: async () => openApiDocument(),
    metrics: async () => services.metrics.text(),
  }),
})
