import Type, { type Static } from 'typebox'
import { Timestamp } from './common.js'

export const apiRoles = ['admin', 'platform'] as const
export type ApiRole = (typeof apiRoles)[number]

export const TokenInput = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' }),
    role: Type.Union([Type.Literal('admin'), Type.Literal('platform')]),
  },
  { additionalProperties: false },
)
export type TokenInput = Static<typeof TokenInput>

export const ApiTokenInfo = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: Type.String(),
  createdAt: Timestamp,
  lastUsedAt: Type.Union([Timestamp, Type.Null()]),
})
export type ApiTokenInfo = Static<typeof ApiTokenInfo>

export const CreatedToken = Type.Object({
  ...ApiTokenInfo.properties,
  token: Type.String({ description: 'shown once; the hub keeps only its hash' }),
})
export type CreatedToken = Static<typeof CreatedToken>
