import { sql } from 'kysely'
import { buildOpenApi, errorCatalogue, ErrorResponse, hubApiInfo, routes } from '@his-her/contract'
import { defineModule } from '../module.js'
import { HubError } from '../errors.js'

/** The API's description, built once from the route table. */
let document: Record<string, unknown> | undefined
export function openApiDocument(): Record<string, unknown> {
  return (document ??= buildOpenApi(routes, errorCatalogue, ErrorResponse, hubApiInfo))
}

/** How long `/health` waits for the database's answer before it reports it down (under the 2 s a load balancer is told to expect). */
export const HEALTH_DEADLINE_MS = 1500

/** Health, the OpenAPI document and the metrics (see `metrics.ts`). */
export const operationsModule = defineModule({
  name: 'operations',
  folder: 'http',
  tables: [],
  handlers: (services) => ({
    health: async ({ db }) => {
      // a database that answers nothing (a pool held up, a server gone without closing its
      // connections) must not hold the check up: past the deadline the hub says it is down
      let timer: NodeJS.Timeout | undefined
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('no answer in time')), HEALTH_DEADLINE_MS)
      })
      try {
        await Promise.race([sql`SELECT 1`.execute(db), deadline])
      } catch {
        throw new HubError('DATABASE_UNAVAILABLE', `The database does not answer (within ${HEALTH_DEADLINE_MS} ms).`)
      } finally {
        clearTimeout(timer)
      }
      return { status: 'ok' as const, database: 'up' as const }
    },
    openapi: async () => openApiDocument(),
    metrics: async () => services.metrics.text(),
  }),
})
