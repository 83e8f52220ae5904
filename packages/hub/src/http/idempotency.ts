import { createHash } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Database } from '../db/schema.js'
import { HubError } from '../errors.js'

declare module 'fastify' {
  interface FastifyRequest {
    idempotency: { scope: string; key: string } | undefined
  }
}

const keyPattern = /^[\x21-\x7e]{1,200}$/
/** A key whose first request has not answered within this time is taken over by a retry. */
const STALE_PENDING = '2 minutes'
/** Keys are kept at least 24 hours; older ones are swept. */
const KEEP = '48 hours'

function requestHash(request: FastifyRequest): string {
  return createHash('sha256')
    .update(`${request.method} ${request.url}\n${request.body === undefined ? '' : JSON.stringify(request.body)}`)
    .digest('hex')
}

/**
 * `Idempotency-Key` on POST, PATCH and DELETE: the first request with a key runs and its answer
 * is stored; a retry with the same key and body gets that answer again (`Idempotent-Replayed:
 * true`) and changes nothing; the same key with another body is 422 `IDEMPOTENCY_KEY_REUSED`.
 * Keys are scoped to the caller's token. The key's row is claimed with `INSERT … ON CONFLICT DO
 * NOTHING`, so two processes given the same key at once run it once (the other answers 409
 * `IDEMPOTENCY_IN_PROGRESS`). A 5xx answer is not stored: the retry runs again.
 */
export function registerIdempotency(app: FastifyInstance, db: Kysely<Database>): void {
  app.decorateRequest('idempotency', undefined)

  app.addHook('preHandler', async (request, reply) => {
    if (request.method !== 'POST' && request.method !== 'PATCH' && request.method !== 'DELETE') return
    const header = request.headers['idempotency-key']
    if (header === undefined) return
    if (typeof header !== 'string' || !keyPattern.test(header)) throw new HubError('INVALID_IDEMPOTENCY_KEY')
    const principal = request.principal
    if (!principal) return // public routes have nobody to scope a key to
    const scope = principal.tokenId ?? `${principal.kind}:${principal.name}`
    const hash = requestHash(request)

    const claimed = await sql<{ key: string }>`
      INSERT INTO idempotency_keys (scope, key, request_hash) VALUES (${scope}, ${header}, ${hash})
      ON CONFLICT (scope, key) DO NOTHING RETURNING key`.execute(db)
    if (claimed.rows[0]) {
      request.idempotency = { scope, key: header }
      return
    }
    const row = await db.selectFrom('idempotency_keys').selectAll().where('scope', '=', scope).where('key', '=', header).executeTakeFirst()
    if (!row) throw new HubError('IDEMPOTENCY_IN_PROGRESS') // swept between the two statements: a retry will claim it
    if (row.request_hash !== hash) throw new HubError('IDEMPOTENCY_KEY_REUSED')
    if (row.completed_at && row.status_code !== null) {
      return reply
        .code(row.status_code)
        .header('idempotent-replayed', 'true')
        .type('application/json; charset=utf-8')
        .send(row.response ?? '')
    }
    const retaken = await sql<{ key: string }>`
      UPDATE idempotency_keys SET created_at = now()
      WHERE scope = ${scope} AND key = ${header} AND completed_at IS NULL AND created_at < now() - ${STALE_PENDING}::interval
      RETURNING key`.execute(db)
    if (!retaken.rows[0]) throw new HubError('IDEMPOTENCY_IN_PROGRESS')
    request.idempotency = { scope, key: header }
  })

  app.addHook('onSend', async (request, reply, payload) => {
    const claim = request.idempotency
    if (!claim) return payload
    request.idempotency = undefined
    if (reply.statusCode >= 500) {
      await db.deleteFrom('idempotency_keys').where('scope', '=', claim.scope).where('key', '=', claim.key).execute()
    } else {
      await db
        .updateTable('idempotency_keys')
        .set({ status_code: reply.statusCode, response: typeof payload === 'string' ? payload : null, completed_at: new Date() })
        .where('scope', '=', claim.scope)
        .where('key', '=', claim.key)
        .execute()
    }
    return payload
  })

  const sweep = () => {
    sql`DELETE FROM idempotency_keys WHERE created_at < now() - ${KEEP}::interval`.execute(db).catch(() => {})
  }
  const timer = setInterval(sweep, 60 * 60 * 1000)
  timer.unref()
  app.addHook('onClose', async () => clearInterval(timer))
}
