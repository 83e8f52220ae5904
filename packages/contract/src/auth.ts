import Type, { type Static } from 'typebox'
import { List, Timestamp } from './common.js'
import { defineDomain, roles } from './define.js'

const Email = Type.String({ minLength: 3, maxLength: 254 })
export const Password = Type.String({ minLength: 1, maxLength: 256 })
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

export const OneTimeTokenInput = Type.Object({ token: Opaque }, { additionalProperties: false })
export type OneTimeTokenInput = Static<typeof OneTimeTokenInput>
export const PasswordResetInput = Type.Object({ token: Opaque, password: Password }, { additionalProperties: false })
export type PasswordResetInput = Static<typeof PasswordResetInput>

export const Accepted = Type.Object({ accepted: Type.Literal(true) }, { description: 'the same answer whether or not the email is known' })

export const principalKinds = ['api-token', 'customer', 'service', 'staff'] as const
export const WhoAmI = Type.Object({
  kind: Type.Enum(principalKinds),
  role: Type.Enum(roles),
  customerId: Type.Optional(Type.String()),
  serviceAccountId: Type.Optional(Type.String()),
  staffId: Type.Optional(Type.String()),
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

export const Jwks = Type.Object({ keys: Type.Array(Type.Object({}, { additionalProperties: true })) })
export type Jwks = Static<typeof Jwks>

const TokenId = Type.String({ description: 'the token is derived from this id under HUB_SECRET when the message is delivered; no usable token is stored' })
const OneTimeTokenEvent = Type.Object({ customerId: Type.String(), email: Type.String({ description: 'where to send the token' }), tokenId: TokenId, expiresAt: Timestamp })
const VerificationEvent = Type.Object({
  customerId: Type.String(),
  email: Type.String({ description: 'where to send the token' }),
  tokenId: TokenId,
  expiresAt: Timestamp,
  registration: Type.Boolean({ description: 'true when the token completes a registration over a guest record' }),
})
const CustomerRef = Type.Object({ customerId: Type.String() })

const tags = ['auth']
const open = 'public' as const
const limited = ['RATE_LIMITED'] as const

/** Sign-in: sessions of customers and service accounts, email verification, password reset, signing keys. */
export const auth = defineDomain({
  errors: {
    INVALID_TOKEN: { status: 400, message: 'The verification or reset token is unknown, used or expired; request a new one.' },
    PASSWORD_TOO_SHORT: { status: 400, message: 'The password is shorter than password_min_length.' },
    INVALID_CREDENTIALS: { status: 401, message: 'The email or the password is wrong.' },
    INVALID_REFRESH_TOKEN: { status: 401, message: 'The refresh token is unknown, expired or revoked; log in again.' },
    REFRESH_TOKEN_REUSED: { status: 401, message: 'This refresh token was used already; every session of its family is revoked. Log in again.' },
    EMAIL_NOT_VERIFIED: { status: 403, message: 'Verify the email address before logging in (require_email_verification).' },
    SERVICE_ACCOUNT_TAKEN: { status: 409, message: 'A service account already has this handle.' },
  },
  events: {
    'customer.verification_requested': VerificationEvent,
    'customer.email_change_requested': OneTimeTokenEvent,
    'customer.phone_change_requested': Type.Object({ customerId: Type.String(), phone: Type.String({ description: 'where to send the token (E.164)' }), tokenId: TokenId, expiresAt: Timestamp }),
    'customer.contact_change_notice': Type.Object({
      customerId: Type.String(),
      email: Type.String({ description: 'the current email, to tell' }),
      change: Type.Union([Type.Literal('email'), Type.Literal('phone')]),
      newValue: Type.String({ description: 'the new address, masked (j***@example.com)' }),
    }),
    'customer.email_verified': CustomerRef,
    'customer.password_reset_requested': OneTimeTokenEvent,
    'customer.password_changed': CustomerRef,
  },
  routes: {
    login: {
      method: 'POST', path: '/auth/login', tags, access: open,
      summary: 'Log in a customer or a service account with email and password',
      body: LoginInput,
      responses: { 200: Session },
      errors: ['INVALID_CREDENTIALS', 'EMAIL_NOT_VERIFIED', ...limited],
      secretAnswer: true,
    },
    refreshSession: {
      method: 'POST', path: '/auth/refresh', tags, access: open,
      summary: 'Trade a refresh token for a new session (the old token is used up)',
      body: RefreshInput,
      responses: { 200: Session },
      errors: ['INVALID_REFRESH_TOKEN', 'REFRESH_TOKEN_REUSED'],
      secretAnswer: true,
    },
    logout: {
      method: 'POST', path: '/auth/logout', tags, access: open,
      summary: 'End the session of a refresh token',
      body: RefreshInput,
      responses: { 200: Type.Object({ loggedOut: Type.Literal(true) }) },
      errors: [],
    },
    requestVerification: {
      method: 'POST', path: '/auth/verify-email/request', tags, access: open,
      summary: 'Send a verification token (event customer.verification_requested)',
      body: EmailRequestInput,
      responses: { 202: Accepted },
      errors: ['INVALID_EMAIL', ...limited],
    },
    verifyEmail: {
      method: 'POST', path: '/auth/verify-email', tags, access: open,
      summary: 'Verify an email with its token (a verification, a change of email, or a registration over a guest record)',
      body: OneTimeTokenInput,
      responses: { 200: Type.Object({ customerId: Type.String(), emailVerified: Type.Literal(true) }) },
      errors: ['INVALID_TOKEN', 'EMAIL_TAKEN', 'PHONE_TAKEN'],
    },
    verifyPhone: {
      method: 'POST', path: '/auth/verify-phone', tags, access: open,
      summary: 'Confirm a change of phone with the token sent to the new phone',
      body: OneTimeTokenInput,
      responses: { 200: Type.Object({ customerId: Type.String(), phone: Type.String() }) },
      errors: ['INVALID_TOKEN', 'PHONE_TAKEN'],
    },
    requestPasswordReset: {
      method: 'POST', path: '/auth/password-reset/request', tags, access: open,
      summary: 'Send a password-reset token (event customer.password_reset_requested)',
      body: EmailRequestInput,
      responses: { 202: Accepted },
      errors: ['INVALID_EMAIL', ...limited],
    },
    resetPassword: {
      method: 'POST', path: '/auth/password-reset', tags, access: open,
      summary: 'Set a new password with a reset token; every session is revoked',
      body: PasswordResetInput,
      responses: { 200: Type.Object({ customerId: Type.String(), passwordChanged: Type.Literal(true) }) },
      errors: ['INVALID_TOKEN', 'PASSWORD_TOO_SHORT', ...limited],
    },
    getSession: {
      method: 'GET', path: '/auth/session', tags, access: roles,
      summary: 'Who the bearer token stands for',
      responses: { 200: WhoAmI },
      errors: [],
    },
    jwks: {
      method: 'GET', path: '/.well-known/jwks.json', tags, access: open,
      summary: 'The public keys that verify access tokens (JWKS)',
      responses: { 200: Jwks },
      errors: [],
    },
    rotateKeys: {
      method: 'POST', path: '/keys/rotate', tags, access: ['admin'],
      summary: 'Start signing with a new key; tokens signed before stay valid until they expire',
      responses: { 200: Type.Object({ kid: Type.String() }) },
      errors: [],
    },
    createServiceAccount: {
      method: 'POST', path: '/service-accounts', tags: ['service accounts'], access: ['admin'],
      summary: 'Create a service account (email <handle>@<service email domain>)',
      body: ServiceAccountInput,
      responses: { 201: ServiceAccount },
      errors: ['PASSWORD_TOO_SHORT', 'SERVICE_ACCOUNT_TAKEN'],
    },
    listServiceAccounts: {
      method: 'GET', path: '/service-accounts', tags: ['service accounts'], access: ['admin'],
      summary: 'List service accounts',
      responses: { 200: List(ServiceAccount) },
      errors: [],
    },
  },
})
