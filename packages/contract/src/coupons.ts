import Type, { type Static } from 'typebox'
import { Currency, Handle, IdOf, Nullable, Page, PathId, Timestamp } from './common.js'
import { defineDomain } from './define.js'
import { maxPoints } from './loyalty.js'

/** A gift-card code as the platform has it; it is a bearer credential, so the hub keeps only a keyed hash of it and its last characters. */
export const CouponCode = Type.String({ minLength: 4, maxLength: 200, pattern: '^\\S(.*\\S)?$', description: 'the code as the platform shows it (no leading or trailing space)' })

export const couponStatuses = ['active', 'redeemed', 'disabled'] as const

/** Where a coupon came from on a platform: the code itself is never stored or shown, only its last characters. */
export const CouponExternal = Type.Object({
  source: Type.Literal('gift-card'),
  codeLast4: Type.String({ description: 'the last 4 characters of the code, for display' }),
  syncedAt: Timestamp,
})
export type CouponExternal = Static<typeof CouponExternal>

export const Coupon = Type.Object(
  {
    id: IdOf('cpn'),
    kind: Type.Literal('gift_card'),
    providerId: IdOf('lpr'),
    channel: Nullable(Type.String()),
    codeLast4: Type.String(),
    externals: Type.Array(CouponExternal),
    singleUse: Type.Boolean({ description: 'true for a coupon without a balance: it redeems once' }),
    currency: Nullable(Type.String()),
    balance: Nullable(Type.Integer({ description: 'minor units left (null for a single-use coupon)' })),
    available: Nullable(Type.Integer({ description: 'balance less what holds reserve' })),
    accountId: Nullable(Type.String({ description: 'its account in the value ledger of its currency' })),
    ledger: Nullable(Type.String()),
    status: Type.Enum(couponStatuses),
    expiresAt: Nullable(Timestamp),
    redeemedAt: Nullable(Timestamp),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { $id: 'Coupon' },
)
export type Coupon = Static<typeof Coupon>

const MinorUnits = Type.Integer({ minimum: 0, maximum: maxPoints })
const Amount = Type.Integer({ minimum: 1, maximum: maxPoints })
const Key = Type.String({ minLength: 1, maxLength: 200, pattern: '^[\\x21-\\x7e]+$' })
const OrderRef = Type.String({ minLength: 1, maxLength: 200 })

export const GiftCardSyncInput = Type.Object(
  {
    code: CouponCode,
    channelHandle: Type.Optional(Nullable(Handle)),
    expiresAt: Type.Optional(Nullable(Timestamp)),
    balance: Type.Optional(Nullable(MinorUnits)),
    currency: Type.Optional(Nullable(Currency)),
  },
  { additionalProperties: false },
)
export type GiftCardSyncInput = Static<typeof GiftCardSyncInput>

export const GiftCardSyncResult = Type.Object({ coupon: Coupon, created: Type.Boolean() }, { $id: 'GiftCardSyncResult' })
export type GiftCardSyncResult = Static<typeof GiftCardSyncResult>

/** Which coupon: its code, and for a platform or admin token the provider when two providers have the same code. */
const CodeRef = {
  code: CouponCode,
  providerId: Type.Optional(IdOf('lpr')),
}

export const CouponLookupInput = Type.Object(CodeRef, { additionalProperties: false })
export type CouponLookupInput = Static<typeof CouponLookupInput>

export const CouponRedeemInput = Type.Object(
  { ...CodeRef, amount: Type.Optional(Amount), idempotencyKey: Key, orderRef: OrderRef },
  { additionalProperties: false },
)
export type CouponRedeemInput = Static<typeof CouponRedeemInput>

export const CouponRedemption = Type.Object(
  {
    id: IdOf('cred'),
    couponId: IdOf('cpn'),
    amount: Nullable(Type.Integer()),
    orderRef: Type.String(),
    transactionId: Nullable(Type.String()),
    holdId: Nullable(Type.String()),
    createdAt: Timestamp,
  },
  { $id: 'CouponRedemption' },
)
export type CouponRedemption = Static<typeof CouponRedemption>

export const CouponRedeemResult = Type.Object({ redemption: CouponRedemption, coupon: Coupon }, { $id: 'CouponRedeemResult' })
export type CouponRedeemResult = Static<typeof CouponRedeemResult>

export const CouponHoldInput = Type.Object(
  { ...CodeRef, amount: Amount, ttlSeconds: Type.Integer({ minimum: 1, maximum: 7 * 86_400 }), idempotencyKey: Key, orderRef: Type.Optional(OrderRef) },
  { additionalProperties: false },
)
export type CouponHoldInput = Static<typeof CouponHoldInput>

export const CouponHold = Type.Object(
  {
    id: IdOf('hld'),
    couponId: IdOf('cpn'),
    amount: Type.Integer(),
    status: Type.Union([Type.Literal('pending'), Type.Literal('captured'), Type.Literal('voided'), Type.Literal('expired')]),
    capturedAmount: Nullable(Type.Integer()),
    captureTransactionId: Nullable(Type.String()),
    orderRef: Nullable(Type.String()),
    expiresAt: Timestamp,
    createdAt: Timestamp,
    resolvedAt: Nullable(Timestamp),
  },
  { $id: 'CouponHold' },
)
export type CouponHold = Static<typeof CouponHold>

export const CouponHoldResult = Type.Object({ hold: CouponHold, coupon: Coupon }, { $id: 'CouponHoldResult' })
export type CouponHoldResult = Static<typeof CouponHoldResult>

export const CouponCaptureInput = Type.Object({ amount: Type.Optional(Amount) }, { additionalProperties: false })
export type CouponCaptureInput = Static<typeof CouponCaptureInput>

export const CouponPatch = Type.Object(
  {
    expiresAt: Type.Optional(Nullable(Timestamp)),
    status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('disabled')])),
  },
  { additionalProperties: false, minProperties: 1 },
)
export type CouponPatch = Static<typeof CouponPatch>

export const CouponListQuery = Type.Object(
  {
    providerId: Type.Optional(IdOf('lpr')),
    cursor: Type.Optional(Type.String({ maxLength: 60 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
  },
  { additionalProperties: false },
)
export type CouponListQuery = Static<typeof CouponListQuery>

const couponEvent = Type.Object({ coupon: Coupon })
const tags = ['coupons']
const Params = Type.Object({ id: PathId })
const byCode = ['COUPON_NOT_FOUND', 'COUPON_AMBIGUOUS', 'RATE_LIMITED', 'SERVICE_ACCOUNT_REQUIRED'] as const
const anyCaller = ['admin', 'platform', 'service'] as const

/** Gift-card coupons: synced by a seller's service account, owned by its provider, redeemed through the value ledger of their currency. */
export const coupons = defineDomain({
  errors: {
    COUPON_NOT_FOUND: { status: 404, message: 'No coupon has this code or id (for this caller).' },
    COUPON_AMBIGUOUS: { status: 409, message: 'Several providers have a coupon with this code: name the provider (providerId).' },
    COUPON_EXPIRED: { status: 422, message: 'The coupon has expired.' },
    COUPON_EXHAUSTED: { status: 422, message: 'The coupon has no balance left.' },
    COUPON_ALREADY_REDEEMED: { status: 409, message: 'The single-use coupon was redeemed already.' },
    COUPON_DISABLED: { status: 422, message: 'The coupon was disabled by its provider.' },
    COUPON_INSUFFICIENT_BALANCE: { status: 422, message: 'The coupon does not have this much available; nothing was taken.' },
    COUPON_AMOUNT_REQUIRED: { status: 400, message: 'A coupon with a balance is redeemed or held for an amount.' },
    COUPON_NOT_HOLDABLE: { status: 422, message: 'A single-use coupon is redeemed, not held.' },
    COUPON_CURRENCY_REQUIRED: { status: 400, message: 'A gift card with a balance needs its currency.' },
    COUPON_KIND_CHANGED: { status: 409, message: 'This code was synced as a single-use coupon (no balance) or with another currency; that does not change.' },
    COUPON_BALANCE_HELD: { status: 409, message: 'The new balance is below what holds reserve on the coupon now.' },
    SERVICE_ACCOUNT_REQUIRED: { status: 403, message: "Only a seller's service account syncs gift cards: log in as it (service-jwt)." },
  },
  events: {
    'coupon.created': couponEvent,
    'coupon.updated': couponEvent,
    'coupon.redeemed': Type.Object({ coupon: Coupon, redemption: CouponRedemption }),
    'coupon.held': Type.Object({ coupon: Coupon, hold: CouponHold }),
    'coupon.captured': Type.Object({ coupon: Coupon, hold: CouponHold, redemption: CouponRedemption }),
    'coupon.released': Type.Object({ coupon: Coupon, hold: CouponHold }),
  },
  routes: {
    syncGiftCard: {
      method: 'POST', path: '/coupons/gift-cards/sync', tags, access: ['service'],
      summary: "Create or update the gift-card coupon of a code, owned by the calling service account's provider",
      description:
        '201 when made, 200 when the provider had a coupon with this code (its expiry, channel and balance are updated; a changed balance is posted to the value ledger). Another provider syncing the same code gets a coupon of its own.',
      body: GiftCardSyncInput,
      responses: { 200: GiftCardSyncResult, 201: GiftCardSyncResult },
      errors: ['SERVICE_ACCOUNT_REQUIRED', 'COUPON_CURRENCY_REQUIRED', 'COUPON_KIND_CHANGED', 'COUPON_BALANCE_HELD', 'SELLER_SUSPENDED', 'SELLER_TERMINATED'],
    },
    listCoupons: {
      method: 'GET', path: '/coupons', tags, access: ['admin', 'platform', 'service', 'support'],
      summary: "Coupons, newest first (a service account sees its own provider's only)",
      query: CouponListQuery,
      responses: { 200: Page(Coupon) },
      errors: ['INVALID_CURSOR', 'SERVICE_ACCOUNT_REQUIRED'],
    },
    getCoupon: {
      method: 'GET', path: '/coupons/:id', tags, access: ['admin', 'platform', 'service', 'support'],
      summary: 'A coupon (a service account reads its own provider\'s only)',
      params: Params,
      responses: { 200: Coupon },
      errors: ['COUPON_NOT_FOUND', 'SERVICE_ACCOUNT_REQUIRED'],
    },
    updateCoupon: {
      method: 'PATCH', path: '/coupons/:id', tags, access: ['admin', 'service'],
      summary: "Change a coupon's expiry, or disable and enable it (a service account changes its own provider's only)",
      params: Params,
      body: CouponPatch,
      responses: { 200: Coupon },
      errors: ['COUPON_NOT_FOUND', 'COUPON_ALREADY_REDEEMED', 'SERVICE_ACCOUNT_REQUIRED'],
    },
    lookupCoupon: {
      method: 'POST', path: '/coupons/lookup', tags, access: ['admin', 'platform', 'service', 'support'],
      summary: 'Find a coupon by its code (rate-limited per caller: codes are not to be guessed)',
      body: CouponLookupInput,
      responses: { 200: Coupon },
      errors: [...byCode],
    },
    redeemCoupon: {
      method: 'POST', path: '/coupons/redeem', tags, access: anyCaller,
      summary: 'Redeem a coupon: an amount of a balance, or a single-use coupon once',
      description: '201 with the redemption; the same idempotencyKey with the same body answers it again (200, `Idempotent-Replayed: true`).',
      body: CouponRedeemInput,
      responses: { 200: CouponRedeemResult, 201: CouponRedeemResult },
      errors: [...byCode, 'COUPON_EXPIRED', 'COUPON_EXHAUSTED', 'COUPON_ALREADY_REDEEMED', 'COUPON_DISABLED', 'COUPON_INSUFFICIENT_BALANCE', 'COUPON_AMOUNT_REQUIRED', 'SELLER_SUSPENDED', 'SELLER_TERMINATED'],
    },
    holdCoupon: {
      method: 'POST', path: '/coupons/holds', tags, access: anyCaller,
      summary: "Reserve an amount of a gift card's balance at checkout: capture or void later; expires by itself after ttlSeconds",
      body: CouponHoldInput,
      responses: { 200: CouponHoldResult, 201: CouponHoldResult },
      errors: [...byCode, 'COUPON_EXPIRED', 'COUPON_EXHAUSTED', 'COUPON_DISABLED', 'COUPON_INSUFFICIENT_BALANCE', 'COUPON_NOT_HOLDABLE', 'SELLER_SUSPENDED', 'SELLER_TERMINATED'],
    },
    captureCouponHold: {
      method: 'POST', path: '/coupons/holds/:id/capture', tags, access: anyCaller,
      summary: 'Redeem all or part of a hold and release the rest',
      params: Params,
      body: CouponCaptureInput,
      responses: { 200: CouponRedeemResult },
      errors: ['HOLD_NOT_FOUND', 'HOLD_RESOLVED', 'CAPTURE_EXCEEDS_HOLD', 'SELLER_SUSPENDED', 'SELLER_TERMINATED', 'SERVICE_ACCOUNT_REQUIRED'],
    },
    voidCouponHold: {
      method: 'POST', path: '/coupons/holds/:id/void', tags, access: anyCaller,
      summary: "Release a hold's amount",
      params: Params,
      responses: { 200: CouponHoldResult },
      errors: ['HOLD_NOT_FOUND', 'HOLD_RESOLVED', 'SERVICE_ACCOUNT_REQUIRED'],
    },
  },
})
