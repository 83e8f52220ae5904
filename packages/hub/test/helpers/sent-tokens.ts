import { sql } from 'kysely'
import { oneTimeToken } from '../../src/auth/session-service.js'
import type { OneTimePurpose } from '../../src/auth/tables.js'
import type { TestHub } from './test-hub.js'

/**
 * The token the last `type` event of the customer asks to send, derived as the one who delivers
 * the message derives it: from the event's `tokenId` under the hub's secret. Fails when the
 * event itself carries a token (no usable secret may sit in the outbox).
 */
export async function sentToken(hub: Pick<TestHub, 'database' | 'config'>, customerId: string, type: string): Promise<string> {
  const { rows } = await sql<{ payload: unknown }>`
    SELECT payload FROM events WHERE customer_id = ${customerId} AND type = ${type} ORDER BY position DESC LIMIT 1`.execute(hub.database.db)
  if (!rows[0]) throw new Error(`no ${type} event for ${customerId}`)
  const raw = rows[0].payload
  const payload = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { tokenId: string; token?: unknown }
  if ('token' in payload) throw new Error(`the ${type} event holds a token`)
  const row = await hub.database.db.selectFrom('one_time_tokens').select('purpose').where('id', '=', payload.tokenId).executeTakeFirstOrThrow()
  return oneTimeToken(hub.config.secret!, payload.tokenId, row.purpose as OneTimePurpose)
}
