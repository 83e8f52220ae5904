import Type, { type Static } from 'typebox'
import { Timestamp } from './common.js'

const Email = Type.String({ minLength: 3, maxLength: 254 })
const Password = Type.String({ minLength: 1, maxLength: 256 })
const Opaque = Type.String({ minLength: 10, maxLength: 200 })

export const LoginInput = Type.Object({ email: Email, password: Password }, { additionalProperties: false })
export type LoginInput = Static<typeof LoginInput>

export const Session = Type.Object({
  accessToken: Type.String({ description: 'a signed JWT (EdDSA); verify it with GET /.well-known/jwks.json' }),
  refreshToken: Type.String({ description: 'single use: /auth/refresh returns a new one' }),
  expiresIn: Type.Integer({ description: 'seconds until the access token expires' }),
  tokenType: Type.Literal('Bearer'),
})
export type Session = Static<typeof Session>

export const RefreshInput = Type.Object({ refreshToken: Opaque }, { additionalProperties: false })
export type RefreshInput = Static<typeof RefreshInput>

export const EmailRequestInput = Type.Object({ email: Email }, { additionalProperties: false })
export type EmailRequestInput = Static<typeof EmailRequestInput>

export const TokenInput = Type.Object({ token: Opaque }, { additionalProperties: false })
export const PasswordResetInput = Type.Object({ token: Opaque, password: Password }, { additionalProperties: false })
export type PasswordResetInput = Static<typeof PasswordResetInput>

export const Accepted = Type.Object({ accepted: Type.Literal(true) }, { description: 'the same answer whether or not the email is known' })

export const WhoAmI = Type.Object({
  kind: Type.Union([Type.Literal('api-token'), Type.Literal('customer'), Type.Literal('service')]),
  role: Type.Union([Type.Literal('admin'), Type.Literal('platform'), Type.Literal('customer'), Type.Literal('service')]),
  customerId: Type.Optional(Type.String()),
  serviceAccountId: Type.Optional(Type.String()),
  providerId: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  organizationId: Type.Optional(Type.String()),
  name: Type.Optional(Type.String()),
})
export type WhoAmI = Static<typeof WhoAmI>

export const ServiceAccountInput = Type.Object(
  {
    handle: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$', description: "the seller's handle; the email becomes <handle>@<service email domain>" }),
    password: Password,
    roleId: Type.String({ minLength: 1, maxLength: 64 }),
    organizationId: Type.String({ minLength: 1, maxLength: 64 }),
    providerId: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "the seller's loyalty provider" })),
  },
  { additionalProperties: false },
)
export type ServiceAccountInput = Static<typeof ServiceAccountInput>

export const ServiceAccount = Type.Object({
  id: Type.String(),
  handle: Type.String(),
  email: Type.String(),
  roleId: Type.String(),
  organizationId: Type.String(),
  providerId: Type.Union([Type.String(), Type.Null()]),
  createdAt: Timestamp,
})
export type ServiceAccount = Static<typeof ServiceAccount>

/** What a customer may change of its own record: never its role, account state or totals. */
export const CustomerMePatch = Type.Object(
  {
    email: Type.Optional(Email),
    firstName: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 200 }), Type.Null()])),
    lastName: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 200 }), Type.Null()])),
    phone: Type.Optional(Type.Union([Type.String({ minLength: 3, maxLength: 40 }), Type.Null()])),
  },
  { additionalProperties: false },
)
export type CustomerMePatch = Static<typeof CustomerMePatch>
