import { defineModule, postedAnswer as answer } from '../module.js'
import { createCouponService, type CouponService } from './coupon-service.js'
import './tables.js'

declare module '../module.js' {
  interface Services {
    coupons: CouponService
  }
}

/** Gift-card coupons: synced by sellers' service accounts, redeemed through the value ledgers. */
export const couponsModule = defineModule({
  name: 'coupons',
  folder: 'coupons',
  tables: ['coupons', 'coupon_redemptions'],
  migrations: new URL('./migrations/', import.meta.url),
  services: ({ services, config, clock }) => ({
    coupons: createCouponService({
      events: services.events,
      providers: services.providers,
      values: services.valueAccounts,
      limiter: services.limiter,
      secret: config.secret ?? '', // buildApp refuses to start without one
      clock,
    }),
  }),
  handlers: ({ coupons }) => {
    return {
      syncGiftCard: async ({ tx, principal, body }) => {
        const result = await coupons.syncGiftCard(tx, principal, body)
        return { status: result.created ? 201 : 200, body: result }
      },
      listCoupons: async ({ db, principal, query }) => coupons.list(db, principal, query),
      getCoupon: async ({ db, principal, params }) => coupons.get(db, principal, params.id),
      updateCoupon: async ({ tx, principal, params, body }) => coupons.update(tx, principal, params.id, body),
      lookupCoupon: async ({ tx, principal, body }) => coupons.lookup(tx, principal, body.code, body.providerId),
      redeemCoupon: async ({ tx, principal, body, reply }) => answer(await coupons.redeem(tx, principal, body), reply),
      holdCoupon: async ({ tx, principal, body, reply }) => answer(await coupons.hold(tx, principal, body), reply),
      captureCouponHold: async ({ tx, principal, params, body }) => coupons.capture(tx, principal, params.id, body?.amount),
      voidCouponHold: async ({ tx, principal, params }) => coupons.void(tx, principal, params.id),
    }
  },
})
