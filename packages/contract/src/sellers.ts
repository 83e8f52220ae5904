import Type, { type Static } from 'typebox'
import { IdOf, List, Nullable, PathId, Timestamp } from './common.js'
import { Password, ServiceAccount } from './auth.js'
import { defineDomain } from './define.js'

/** A seller's or service account's handle: lower-case letters, digits, `_` and `-`. */
export const SellerHandle = Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$' })

export const providerStatuses = ['active', 'suspended', 'terminated'] as const
export type ProviderStatus = (typeof providerStatuses)[number]

/**
 * A party that issues points and coupons: the house (`kind: 'house'`, its handle the partner
 * handle such as `hisher`) or a marketplace seller (`kind: 'seller'`). Each is an issuer account
 * in the ledgers, so what it grants is its own liability.
 */
export const LoyaltyProvider = Type.Object(
  {
    id: IdOf('lpr'),
    kind: Type.Union([Type.Literal('house'), Type.Literal('seller')]),
    handle: Type.String(),
    name: Type.String(),
    email: Nullable(Type.String()),
    phone: Nullable(Type.String()),
    description: Nullable(Type.String()),
    sellerId: Nullable(Type.String({ description: "the marketplace's id of the seller" })),
    ownerMemberId: Nullable(Type.String()),
    ownerEmail: Nullable(Type.String()),
    organizationId: Nullable(Type.String()),
    status: Type.Enum(providerStatuses),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { $id: 'LoyaltyProvider' },
)
export type LoyaltyProvider = Static<typeof LoyaltyProvider>

/** Where points and coupons are used, e.g. `multistore`. */
export const Channel = Type.Object({ id: IdOf('chn'), handle: Type.String(), createdAt: Timestamp }, { $id: 'Channel' })
export type Channel = Static<typeof Channel>

export const Organization = Type.Object({ id: Type.String(), createdAt: Timestamp }, { $id: 'Organization' })
export type Organization = Static<typeof Organization>

const Text = (max: number) => Type.String({ minLength: 1, maxLength: max })

/** How the seller's service account is made: its password (the connect library derives one per seller), role and organization. */
export const ServiceAccountSpec = Type.Object(
  {
    password: Password,
    roleId: Text(64),
    organizationId: Text(64),
  },
  { additionalProperties: false },
)
export type ServiceAccountSpec = Static<typeof ServiceAccountSpec>

export const SellerOnboardingInput = Type.Object(
  {
    seller: Type.Object(
      {
        id: Text(100),
        handle: SellerHandle,
        name: Text(200),
        email: Type.Optional(Nullable(Type.String({ maxLength: 320 }))),
        phone: Type.Optional(Nullable(Type.String({ maxLength: 40 }))),
        description: Type.Optional(Nullable(Type.String({ maxLength: 2000 }))),
      },
      { additionalProperties: false },
    ),
    ownerMember: Type.Object({ id: Text(100), email: Type.Optional(Nullable(Type.String({ maxLength: 320 }))) }, { additionalProperties: false }),
    serviceAccount: ServiceAccountSpec,
  },
  { additionalProperties: false },
)
export type SellerOnboardingInput = Static<typeof SellerOnboardingInput>

/**
 * What a marketplace stores on its seller (e.g. Mercur's `seller.metadata`): ids, handles and
 * times, never a password, token or hash.
 */
export const SellerMetadata = Type.Object(
  {
    customerHubProviderId: Type.String(),
    customerHubProviderHandle: Type.String(),
    customerHubServiceAccountId: Type.String(),
    customerHubServiceAccountEmail: Type.String(),
    customerHubOrganizationId: Type.String(),
    customerHubRoleId: Type.String(),
    customerHubOnboardedAt: Timestamp,
    customerHubSyncedAt: Timestamp,
  },
  { $id: 'SellerMetadata' },
)
export type SellerMetadata = Static<typeof SellerMetadata>

export const SellerOnboardingResult = Type.Object(
  {
    created: Type.Boolean({ description: 'true when this call made the provider and its service account' }),
    provider: LoyaltyProvider,
    serviceAccount: ServiceAccount,
    metadata: SellerMetadata,
  },
  { $id: 'SellerOnboardingResult' },
)
export type SellerOnboardingResult = Static<typeof SellerOnboardingResult>

export const PartnerInput = Type.Object(
  {
    handle: SellerHandle,
    name: Type.Optional(Text(200)),
    serviceAccount: ServiceAccountSpec,
  },
  { additionalProperties: false },
)
export type PartnerInput = Static<typeof PartnerInput>

export const PartnerResult = Type.Object(
  { created: Type.Boolean(), provider: LoyaltyProvider, serviceAccount: ServiceAccount },
  { $id: 'PartnerResult' },
)
export type PartnerResult = Static<typeof PartnerResult>

export const SellerParams = Type.Object({ id: PathId }, { description: "the marketplace's seller id, or the provider's id (lpr_…)" })
export const ProviderParams = Type.Object({ id: PathId })

export const SellerStatusResult = Type.Object({
  provider: LoyaltyProvider,
  changed: Type.Boolean({ description: 'false when the seller was in that state already' }),
})
export type SellerStatusResult = Static<typeof SellerStatusResult>

const sellerEvent = Type.Object({ provider: LoyaltyProvider })
const tags = ['sellers']
const platforms = ['admin', 'platform'] as const

/** Organizations, loyalty providers (the house and each seller), channels, seller onboarding and lifecycle. */
export const sellers = defineDomain({
  errors: {
    SELLER_HANDLE_TAKEN: { status: 409, message: 'Another seller, or another service account, owns this handle.' },
    SELLER_HANDLE_CHANGED: { status: 409, message: "This seller was onboarded with another handle; a seller's handle names its service account and does not change." },
    SELLER_NOT_FOUND: { status: 404, message: 'No seller has this id.' },
    SELLER_TERMINATED: { status: 409, message: 'The seller was terminated; that is final.' },
    SELLER_SUSPENDED: { status: 403, message: "The seller is suspended: its coupons cannot be redeemed until it is resumed." },
    PROVIDER_NOT_FOUND: { status: 404, message: 'No loyalty provider has this id.' },
  },
  events: {
    'seller.onboarded': sellerEvent,
    'seller.updated': sellerEvent,
    'seller.suspended': sellerEvent,
    'seller.resumed': sellerEvent,
    'seller.terminated': sellerEvent,
  },
  routes: {
    onboardSeller: {
      method: 'POST', path: '/sellers/onboarding', tags, access: platforms,
      summary: "Create once — or find — a seller's loyalty provider and service account",
      description:
        '201 when this call made them, 200 when they existed (a changed name, email, phone, description or owner updates the provider; a changed password, role or organization updates the service account). `metadata` is safe to store on the marketplace seller.',
      body: SellerOnboardingInput,
      responses: { 200: SellerOnboardingResult, 201: SellerOnboardingResult },
      errors: ['SELLER_HANDLE_TAKEN', 'SELLER_HANDLE_CHANGED', 'SELLER_TERMINATED', 'PASSWORD_TOO_SHORT'],
    },
    suspendSeller: {
      method: 'POST', path: '/sellers/:id/suspend', tags, access: platforms,
      summary: 'Suspend a seller: its service account cannot log in, its tokens stop working, its coupons cannot be redeemed',
      params: SellerParams,
      responses: { 200: SellerStatusResult },
      errors: ['SELLER_NOT_FOUND', 'SELLER_TERMINATED'],
    },
    resumeSeller: {
      method: 'POST', path: '/sellers/:id/resume', tags, access: platforms,
      summary: 'Resume a suspended seller',
      params: SellerParams,
      responses: { 200: SellerStatusResult },
      errors: ['SELLER_NOT_FOUND', 'SELLER_TERMINATED'],
    },
    terminateSeller: {
      method: 'POST', path: '/sellers/:id/terminate', tags, access: platforms,
      summary: 'Terminate a seller for good: as suspended, and it cannot be resumed',
      params: SellerParams,
      responses: { 200: SellerStatusResult },
      errors: ['SELLER_NOT_FOUND'],
    },
    ensurePartner: {
      method: 'POST', path: '/loyalty-providers/partner', tags, access: platforms,
      summary: "Create once — or find — the house's loyalty provider (the partner handle) and its service account",
      body: PartnerInput,
      responses: { 200: PartnerResult, 201: PartnerResult },
      errors: ['SELLER_HANDLE_TAKEN', 'PASSWORD_TOO_SHORT'],
    },
    listProviders: {
      method: 'GET', path: '/loyalty-providers', tags, access: ['admin', 'support'],
      summary: 'Loyalty providers: the house and every seller',
      query: Type.Object({ kind: Type.Optional(Type.Union([Type.Literal('house'), Type.Literal('seller')])), status: Type.Optional(Type.Enum(providerStatuses)) }, { additionalProperties: false }),
      responses: { 200: List(LoyaltyProvider) },
      errors: [],
    },
    getProvider: {
      method: 'GET', path: '/loyalty-providers/:id', tags, access: ['admin', 'support'],
      summary: 'A loyalty provider',
      params: ProviderParams,
      responses: { 200: LoyaltyProvider },
      errors: ['PROVIDER_NOT_FOUND'],
    },
    listChannels: {
      method: 'GET', path: '/channels', tags, access: ['admin', 'support'],
      summary: 'Channels where points and coupons are used (made when a coupon first names one)',
      responses: { 200: List(Channel) },
      errors: [],
    },
    listOrganizations: {
      method: 'GET', path: '/organizations', tags, access: ['admin', 'support'],
      summary: 'Organizations that service accounts belong to (made when an onboarding first names one)',
      responses: { 200: List(Organization) },
      errors: [],
    },
  },
})
