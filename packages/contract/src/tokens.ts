import Type, { type Static } from 'typebox'
import { List, Timestamp } from './common.js'
import { defineDomain } from './define.js'

export const apiRoles = ['admin', 'platform'] as const
export type ApiRole = (typeof apiRoles)[number]

export const TokenInput = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' }),
    role: Type.Enum(apiRoles),
  },
  { additionalProperties: false },
)
export type TokenInput = Static<typeof TokenInput>

export const ApiTokenInfo = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: Type.Enum(apiRoles),
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
  },
  events: {},
  routes: {
    createToken: {
      method: 'POST', path: '/tokens', tags, access: admin,
      summary: 'Create an API token (shown once)',
      body: TokenInput,
      responses: { 201: CreatedToken },
      errors: ['TOKEN_NAME_TAKEN'],
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
