import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { sql, type Selectable } from 'kysely'
import type { ApiRole, ApiTokenInfo, CreatedToken } from '@his-her/contract'
import type { Executor, Tx } from '../db/executor.js'
import type { ApiTokenPrincipal } from './principal.js'
import type { ApiTokensTable } from './tables.js'
import { newId } from '../ids.js'
import { HubError } from '../errors.js'

export type { Principal, CustomerPrincipal, ServicePrincipal, ApiTokenPrincipal } from './principal.js'

/** API tokens are 256-bit random strings; the hub keeps only their SHA-256. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

const CACHE_MS = 5_000
const CACHE_MAX = 10_000

function mintToken(): string {
  return `chub_${randomBytes(32).toString('base64url')}`
}

type TokenRow = Pick<Selectable<ApiTokensTable>, 'id' | 'name' | 'role' | 'created_at' | 'last_used_at'>

function info(row: TokenRow): ApiTokenInfo {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    createdAt: row.created_at.toISOString(),
    lastUsedAt: row.last_used_at?.toISOString() ?? null,
  }
}

/**
 * API tokens for platforms and admins: created (the plain token is returned once), listed,
 * revoked, and checked on every request.
 */
export function createApiTokenService(options: { envAdminToken?: string | undefined } = {}) {
  const envHash = options.envAdminToken ? Buffer.from(hashToken(options.envAdminToken), 'hex') : undefined
  // last_used_at is written at most once a minute per token and process: a write on every
  // request would serialize all requests of one token on its row lock.
  const touched = new Map<string, number>()
  // Known tokens are remembered for a few seconds, sparing every request a query. A revocation
  // takes effect at once in the process that made it and within CACHE_MS in the others.
  const known = new Map<string, { principal: ApiTokenPrincipal; until: number }>()

  return {
    /** Creates a token; 409 `TOKEN_NAME_TAKEN` when an active token has the name (unique index). */
    async create(tx: Tx, name: string, role: ApiRole): Promise<CreatedToken> {
      const token = mintToken()
      const row = await tx
        .insertInto('api_tokens')
        .values({ id: newId('tok'), name, role, token_hash: hashToken(token) })
        .onConflict((oc) => oc.doNothing())
        .returning(['id', 'name', 'role', 'created_at', 'last_used_at'])
        .executeTakeFirst()
      if (!row) throw new HubError('TOKEN_NAME_TAKEN')
      return { ...info(row), token }
    },

    /**
     * Makes the first admin token when the database has never had one (platform tokens made
     * with the CLI before the first start do not count), exactly once across all
     * processes (a unique index over the `bootstrap` flag). Returns the plain token to the one
     * process that made it, undefined to every other.
     */
    async bootstrap(tx: Tx): Promise<string | undefined> {
      const token = mintToken()
      const { rows } = await sql<{ id: string }>`
        INSERT INTO api_tokens (id, name, role, token_hash, bootstrap)
        SELECT ${newId('tok')}, 'admin', 'admin', ${hashToken(token)}, true
        WHERE NOT EXISTS (SELECT 1 FROM api_tokens WHERE role = 'admin')
        ON CONFLICT DO NOTHING
        RETURNING id`.execute(tx)
      return rows.length === 1 ? token : undefined
    },

    async list(exec: Executor): Promise<ApiTokenInfo[]> {
      const rows = await exec
        .selectFrom('api_tokens')
        .select(['id', 'name', 'role', 'created_at', 'last_used_at'])
        .where('revoked_at', 'is', null)
        .orderBy('created_at')
        .orderBy('id')
        .execute()
      return rows.map(info)
    },

    async revoke(tx: Tx, name: string): Promise<void> {
      const res = await tx
        .updateTable('api_tokens')
        .set({ revoked_at: new Date() })
        .where('name', '=', name)
        .where('revoked_at', 'is', null)
        .executeTakeFirst()
      if (res.numUpdatedRows === 0n) throw new HubError('TOKEN_NOT_FOUND')
      for (const [hash, entry] of known) if (entry.principal.name === name) known.delete(hash)
    },

    /** The principal a bearer token stands for, or undefined for an unknown or revoked token. */
    async authenticate(db: Executor, token: string): Promise<ApiTokenPrincipal | undefined> {
      const hash = hashToken(token)
      if (envHash && timingSafeEqual(Buffer.from(hash, 'hex'), envHash)) {
        return { kind: 'api-token', role: 'admin', name: 'env', tokenId: null }
      }
      const now = Date.now()
      const cached = known.get(hash)
      if (cached && cached.until > now) return cached.principal
      const row = await db
        .selectFrom('api_tokens')
        .select(['id', 'name', 'role'])
        .where('token_hash', '=', hash)
        .where('revoked_at', 'is', null)
        .executeTakeFirst()
      if (!row) {
        known.delete(hash)
        return undefined
      }
      if ((touched.get(row.id) ?? 0) < now - 60_000) {
        touched.set(row.id, now)
        db.updateTable('api_tokens').set({ last_used_at: new Date(now) }).where('id', '=', row.id).execute().catch(() => {})
      }
      const principal: ApiTokenPrincipal = { kind: 'api-token', role: row.role, name: row.name, tokenId: row.id }
      if (known.size >= CACHE_MAX) known.clear()
      known.set(hash, { principal, until: now + CACHE_MS })
      return principal
    },
  }
}
export type ApiTokenService = ReturnType<typeof createApiTokenService>
