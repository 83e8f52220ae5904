import type { BodyOf, Coupon, CouponHoldResult, CouponListQuery, CouponPatch, CouponRedeemResult, GiftCardSyncInput, GiftCardSyncResult, ResultOf, Routes } from '@his-her/contract'
import type { HttpClient } from './http-client.js'
import { createRetryingCall, keyHeader, newIdempotencyKey, type RetryOptions } from './retrying-call.js'
import type { IdempotencyKeyOption } from './loyalty-client.js'

/**
 * A platform's gift card, as `syncGiftCardCoupon` takes it: the contract's {@link GiftCardSyncInput}
 * (`code`, and optionally its channel, expiry, and balance in minor units with its currency —
 * without a balance the coupon is single-use), where `channelHandle` may be `undefined` (then the
 * client's `LOYALTY_CHANNEL_HANDLE`, or none) and `expiresAt` a `Date` too.
 */
export type GiftCardCouponInput = Omit<GiftCardSyncInput, 'expiresAt' | 'channelHandle'> & {
  /** The channel where the card is used, e.g. `multistore`; default the client's `LOYALTY_CHANNEL_HANDLE`. */
  channelHandle?: string | null | undefined
  /** An ISO timestamp or a `Date`; `null` for none; left out, a re-sync keeps the coupon's. */
  expiresAt?: string | Date | null | undefined
}
/** `{ code, amount?, orderRef, providerId? }` of `POST /coupons/redeem`, with the idempotency key the client makes when none is given. */
export type RedeemCouponInput = Omit<BodyOf<Routes['redeemCoupon']>, 'idempotencyKey'> & IdempotencyKeyOption
/** `{ code, amount, ttlSeconds, orderRef?, providerId? }` of `POST /coupons/holds`, with the idempotency key the client makes when none is given. */
export type HoldCouponInput = Omit<BodyOf<Routes['holdCoupon']>, 'idempotencyKey'> & IdempotencyKeyOption
/** `{ amount? }` of `POST /coupons/holds/:id/capture` (default the whole hold); its key travels as the `Idempotency-Key` header. */
export type CaptureCouponInput = NonNullable<BodyOf<Routes['captureCouponHold']>> & IdempotencyKeyOption
/** A page of coupons, newest first; pass `nextCursor` back as `cursor` for the next. */
export type CouponPage = ResultOf<Routes['listCoupons']>

/**
 * Gift-card coupons. With a service account's session (`service-jwt`) these are that seller's (or
 * the partner's) coupons: a sync makes them its own, and it sees and changes no other. With an API
 * token (the checkout) it looks up, redeems and holds any provider's. Writes carry an idempotency
 * key (the caller's or a new one) and are sent again with it after no answer, a 5xx or a timeout.
 */
export interface CouponsApi {
  /**
   * Creates or updates the coupon of a platform's gift card. Only a service account syncs: the
   * coupon's owner is its provider. Throws `SERVICE_ACCOUNT_REQUIRED` (403), `SELLER_SUSPENDED`
   * (403), `COUPON_KIND_CHANGED` (409), `COUPON_BALANCE_HELD` (409).
   *
   * @example
   * ```ts
   * await hisHer.loyaltyCoupons.syncGiftCardCoupon({ code: giftCard.code, channelHandle: 'multistore', expiresAt: giftCard.expires_at ?? null })
   * ```
   */
  syncGiftCardCoupon(input: GiftCardCouponInput): Promise<GiftCardSyncResult>
  /**
   * One page of coupons, newest first.
   *
   * @example
   * ```ts
   * const { data, nextCursor } = await hisHer.loyaltyCoupons.list({ limit: 50 })
   * ```
   */
  list(query?: CouponListQuery): Promise<CouponPage>
  /**
   * A coupon by id. Throws `COUPON_NOT_FOUND` (404), also for another seller's.
   *
   * @example
   * ```ts
   * const coupon = await hisHer.loyaltyCoupons.get(couponId)
   * ```
   */
  get(couponId: string): Promise<Coupon>
  /**
   * Changes a coupon's expiry or disables it. Throws `COUPON_NOT_FOUND` (404).
   *
   * @example
   * ```ts
   * await hisHer.loyaltyCoupons.update(couponId, { status: 'disabled' })
   * ```
   */
  update(couponId: string, patch: CouponPatch, options?: IdempotencyKeyOption): Promise<Coupon>
  /**
   * A coupon by its code (failed look-ups are counted: guessing answers `RATE_LIMITED`, 429).
   * Throws `COUPON_NOT_FOUND` (404), `COUPON_AMBIGUOUS` (409: name the provider).
   *
   * @example
   * ```ts
   * const coupon = await hisHer.coupons.lookup('GC-1234-ABCD')
   * ```
   */
  lookup(code: string, providerId?: string): Promise<Coupon>
  /**
   * Redeems `amount` of a gift card's balance, or a single-use coupon once. Throws
   * `COUPON_INSUFFICIENT_BALANCE`, `COUPON_EXHAUSTED`, `COUPON_EXPIRED` (422),
   * `COUPON_ALREADY_REDEEMED` (409), `SELLER_SUSPENDED` (403).
   *
   * @example
   * ```ts
   * const { redemption, coupon } = await hisHer.coupons.redeem({ code, amount: 2500, orderRef: order.id })
   * ```
   */
  redeem(input: RedeemCouponInput): Promise<CouponRedeemResult>
  /**
   * Reserves an amount of a gift card at checkout; capture or void it later, or it expires after `ttlSeconds`.
   *
   * @example
   * ```ts
   * const { hold } = await hisHer.coupons.hold({ code, amount: 2500, ttlSeconds: 900, orderRef: cart.id })
   * ```
   */
  hold(input: HoldCouponInput): Promise<CouponHoldResult>
  /**
   * Redeems all of a hold, or `amount` of it and releases the rest. Throws `HOLD_RESOLVED` (409).
   *
   * @example
   * ```ts
   * await hisHer.coupons.capture(hold.id, { amount: 2000 })
   * ```
   */
  capture(holdId: string, input?: CaptureCouponInput): Promise<CouponRedeemResult>
  /**
   * Releases a hold. Throws `HOLD_RESOLVED` (409).
   *
   * @example
   * ```ts
   * await hisHer.coupons.void(hold.id)
   * ```
   */
  void(holdId: string, input?: IdempotencyKeyOption): Promise<CouponHoldResult>
}

/** The coupon calls on `http` (whose token says whose coupons they are). */
export function createCouponsApi(http: HttpClient, retry: RetryOptions, defaults: { channelHandle?: string | undefined } = {}): CouponsApi {
  const call = createRetryingCall(http, retry)
  return {
    async syncGiftCardCoupon(input) {
      const { channelHandle, expiresAt, ...rest } = input
      const channel = channelHandle === undefined ? defaults.channelHandle : channelHandle
      const body: GiftCardSyncInput = {
        ...rest,
        ...(channel === undefined ? {} : { channelHandle: channel }),
        ...(expiresAt === undefined ? {} : { expiresAt: expiresAt instanceof Date ? expiresAt.toISOString() : expiresAt }),
      }
      // a re-sync of the same card changes nothing: a retry under one key is safe either way
      return call('syncGiftCard', { body }, keyHeader(undefined))
    },
    list: async (query = {}) => call('listCoupons', { query }),
    get: async (couponId) => call('getCoupon', { params: { id: couponId } }),
    update: async (couponId, patch, options) => call('updateCoupon', { params: { id: couponId }, body: patch }, keyHeader(options)),
    lookup: async (code, providerId) => call('lookupCoupon', { body: providerId === undefined ? { code } : { code, providerId } }),
    async redeem(input) {
      const { idempotencyKey, ...rest } = input
      return call('redeemCoupon', { body: { ...rest, idempotencyKey: idempotencyKey ?? newIdempotencyKey() } })
    },
    async hold(input) {
      const { idempotencyKey, ...rest } = input
      return call('holdCoupon', { body: { ...rest, idempotencyKey: idempotencyKey ?? newIdempotencyKey() } })
    },
    async capture(holdId, input = {}) {
      const { idempotencyKey, ...body } = input
      return call('captureCouponHold', { params: { id: holdId }, body }, keyHeader({ idempotencyKey }))
    },
    void: async (holdId, input) => call('voidCouponHold', { params: { id: holdId } }, keyHeader(input)),
  }
}
