import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { sql, type Selectable } from 'kysely'
import { maxTokenScope, tokenScopePatterns, type ApiRole, type ApiTokenInfo, type CreatedToken } from '@his-her/contract'
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

const infoColumns = ['id', 'name', 'role', 'components', 'platforms', 'created_at', 'last_used_at'] as const
type TokenRow = Pick<Selectable<ApiTokensTable>, (typeof infoColumns)[number]>

function info(row: TokenRow): ApiTokenInfo {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    components: row.components,
    platforms: row.platforms,
    createdAt: row.created_at.toISOString(),
    lastUsedAt: row.last_used_at?.toISOString() ?? null,
  }
}

/** What a platform token is made for: the identity components and the platform names it may name. */
export interface TokenScope {
  components?: readonly string[] | undefined
  platforms?: readonly string[] | undefined
}

const componentPattern = new RegExp(tokenScopePatterns.component)
const platformPattern = new RegExp(tokenScopePatterns.platform)

/** One list of a scope, checked (the route's schema checks it too; the command does not) and without repeats. */
function scopeList(values: readonly string[] | undefined, pattern: RegExp, what: string): string[] {
  const list = [...new Set(values ?? [])]
  const bad = list.find((v) => !pattern.test(v))
  if (bad !== undefined) throw new HubError('TOKEN_SCOPE_INVALID', `${JSON.stringify(bad)} is not ${what} (${pattern.source}).`)
  if (list.length > maxTokenScope) throw new HubError('TOKEN_SCOPE_INVALID', `A token names at most ${maxTokenScope} ${what}s.`)
  return list
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
    /**
     * Creates a token; 409 `TOKEN_NAME_TAKEN` when an active token has the name (unique index).
     * A platform token is always bound: it acts only in the identity components and under the
     * platform names of `scope` (a list left out is empty). An admin token acts for all and takes
     * no scope (400 `TOKEN_SCOPE_INVALID`). Unbound platform tokens are only those made before
     * tokens had scopes; the table's check `api_tokens_scope` keeps the two lists together.
     *
     * @example
     * ```ts
     * await tokens.create(tx, 'shopify-eu', 'platform', { components: ['identity.shopify-eu'], platforms: ['shopify-eu'] })
     * ```
     */
    async create(tx: Tx, name: string, role: ApiRole, scope: TokenScope = {}): Promise<CreatedToken> {
      const bound = role === 'platform'
      if (!bound && (scope.components !== undefined || scope.platforms !== undefined)) {
        throw new HubError(
          'TOKEN_SCOPE_INVALID',
          role === 'admin'
            ? 'An admin token acts for every component and platform; only a platform token takes components or platforms.'
            : `A ${role} token acts for no component or platform; only a platform token takes components or platforms.`,
        )
      }
      const components = bound ? scopeList(scope.components, componentPattern, 'an identity component') : null
      const platforms = bound ? scopeList(scope.platforms, platformPattern, 'a platform name') : null
      const token = mintToken()
      const row = await tx
        .insertInto('api_tokens')
        .values({
          id: newId('tok'),
          name,
          role,
          token_hash: hashToken(token),
          components: components && sql<string[]>`${components}::text[]`,
          platforms: platforms && sql<string[]>`${platforms}::text[]`,
        })
        .onConflict((oc) => oc.doNothing())
        .returning(infoColumns)
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
        .select(infoColumns)
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

    /**
     * The principal a bearer token stands for, or undefined for an unknown or revoked token.
     * `guard` runs before anything that could tell a guessed token right (the comparison with
     * `HUB_ADMIN_TOKEN`, the lookup), not for a token accepted within the last 5 s; it throws to
     * refuse the request.
     */
    async authenticate(db: Executor, token: string, guard?: () => Promise<void>): Promise<ApiTokenPrincipal | undefined> {
      const hash = hashToken(token)
      const cached = known.get(hash)
      if (cached && cached.until > Date.now()) return cached.principal
      await guard?.()
      if (envHash && timingSafeEqual(Buffer.from(hash, 'hex'), envHash)) {
        return { kind: 'api-token', role: 'admin', name: 'env', tokenId: null, components: null, platforms: null }
      }
      const now = Date.now()
      const row = await db
        .selectFrom('api_tokens')
        .select(['id', 'name', 'role', 'components', 'platforms'])
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
      // an admin row has no scope (the table's check): it acts for every component and platform
      const principal: ApiTokenPrincipal = { kind: 'api-token', role: row.role, name: row.name, tokenId: row.id, components: row.components, platforms: row.platforms }
      if (known.size >= CACHE_MAX) known.clear()
      known.set(hash, { principal, until: now + CACHE_MS })
      return principal
    },
  }
}
export type ApiTokenService = ReturnType<typeof createApiTokenService>
