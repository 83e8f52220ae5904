import Type, { type Static } from 'typebox'
import { List, Nullable, Timestamp } from './common.js'
import { defineDomain } from './define.js'
import { SyncInput } from './identity.js'
import { OrderInput } from './orders.js'

/**
 * `events:read` reads the event feed and nothing else: for a relay that forwards events, without an admin token.
 * `metrics:read` reads `GET /metrics` and nothing else: for a Prometheus scraper, without an admin token.
 */
export const apiRoles = ['admin', 'platform', 'events:read', 'metrics:read'] as const
export type ApiRole = (typeof apiRoles)[number]

/** What a platform token may name: identity components as a sync names them, platform names as an order report does. */
const componentName = SyncInput.properties.platform.properties.component
const platformName = OrderInput.properties.platform
/** At most this many components, and as many platform names, on one token. */
export const maxTokenScope = 100

/** The patterns of a token's scope, for checks outside a request (the `customer-hub token` command). */
export const tokenScopePatterns = {
  component: (componentName as unknown as { pattern: string }).pattern,
  platform: (platformName as unknown as { pattern: string }).pattern,
}

export const TokenInput = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' }),
    role: Type.Enum(apiRoles),
    components: Type.Optional(
      Type.Array(componentName, {
        maxItems: maxTokenScope,
        description: 'platform tokens only: the identity components the token syncs, links, unlinks and looks up in (e.g. identity.shopify-eu); none when left out',
      }),
    ),
    platforms: Type.Optional(
      Type.Array(platformName, {
        maxItems: maxTokenScope,
        description: 'platform tokens only: the platform names the token reports and cancels orders as (e.g. shopify-eu); none when left out',
      }),
    ),
  },
  { additionalProperties: false },
)
export type TokenInput = Static<typeof TokenInput>

const scopeNote = 'null: every one (an admin token, or a platform token made before tokens had scopes)'
export const ApiTokenInfo = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: Type.Enum(apiRoles),
  components: Nullable(Type.Array(Type.String(), { description: `the identity components the token acts in; ${scopeNote}` })),
  platforms: Nullable(Type.Array(Type.String(), { description: `the platform names the token reports orders as; ${scopeNote}` })),
  createdAt: Timestamp,
  lastUsedAt: Type.Union([Timestamp, Type.Null()]),
})
export type ApiTokenInfo = Static<typeof ApiTokenInfo>

export const CreatedToken = Type.Object({
  ...ApiTokenInfo.properties,
  token: Type.String({ description: 'shown once; the hub keeps only its hash' }),
})
export type CreatedToken = Static<typeof CreatedToken>

const tags = ['tokens']
const admin = ['admin'] as const

/** API tokens of platforms and admins. */
export const tokens = defineDomain({
  errors: {
    TOKEN_NOT_FOUND: { status: 404, message: 'No active API token has this name.' },
    TOKEN_NAME_TAKEN: { status: 409, message: 'An active API token already has this name.' },
    TOKEN_SCOPE_INVALID: { status: 400, message: 'Only a platform token is bound to identity components and platform names (components, platforms).' },
    PLATFORM_SCOPE: { status: 403, message: 'This platform token is not bound to the identity component or platform name the request names.' },
  },
  events: {},
  routes: {
    createToken: {
      method: 'POST', path: '/tokens', tags, access: admin,
      summary: 'Create an API token (shown once)',
      description:
        'A platform token acts only for the identity components (components) and platform names (platforms) it is made with: ' +
        'a sync, link, unlink or lookup in another component, or an order under another platform name, is 403 PLATFORM_SCOPE. ' +
        'Left out, a list is empty. See docs/access.md.',
      body: TokenInput,
      responses: { 201: CreatedToken },
      errors: ['TOKEN_NAME_TAKEN', 'TOKEN_SCOPE_INVALID'],
      secretAnswer: true,
    },
    listTokens: {
      method: 'GET', path: '/tokens', tags, access: admin,
      summary: 'List active API tokens (never the tokens themselves)',
      responses: { 200: List(ApiTokenInfo) },
      errors: [],
    },
    revokeToken: {
      method: 'DELETE', path: '/tokens/:name', tags, access: admin,
      summary: 'Revoke an API token by name',
      params: Type.Object({ name: Type.String({ maxLength: 64 }) }),
      responses: { 200: Type.Object({ revoked: Type.Literal(true), name: Type.String() }) },
      errors: ['TOKEN_NOT_FOUND'],
    },
  },
})
