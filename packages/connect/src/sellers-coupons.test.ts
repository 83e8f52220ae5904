import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHisHerConnectClient, createHisHerCustomerConfigFromEnv, deriveServiceAccountPassword, sellerIdsOf, type EnvSource, type HisHerConnectClient, type LoyaltyProvider } from './index.js'
import { startListeningHub, type ListeningHub } from '../test/helpers/listening-hub.js'
import { failure } from '../test/helpers/failure.js'

// Two sellers of one marketplace against a listening hub: each one's coupons are its own, the
// checkout redeems any of them, and the marketplace's seller events suspend, resume and
// terminate them. The environment is the document's, with the hub's address and a platform token.

let hub: ListeningHub
let env: EnvSource
let hisHer: HisHerConnectClient
const secret = 'service-user-password'

const onboard = (client: HisHerConnectClient, handle: string) =>
  client.features.mercurSeller.syncOnboarding({ seller: { id: `sel_${handle}`, handle, name: `Brand ${handle}` }, ownerMember: { id: `mem_${handle}` } })

async function providers(): Promise<LoyaltyProvider[]> {
  const res = await fetch(`${hub.baseUrl}/loyalty-providers`, { headers: { authorization: `Bearer ${hub.adminToken}` } })
  return ((await res.json()) as { data: LoyaltyProvider[] }).data
}

beforeAll(async () => {
  hub = await startListeningHub()
  env = {
    HIS_HER_CUSTOMER_STRAPI_URL: hub.baseUrl,
    HIS_HER_CUSTOMER_STRAPI_API_TOKEN: await hub.platformToken(),
    HIS_HER_CUSTOMER_AUTH_MODE: 'service-jwt',
    HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD: secret,
    HIS_HER_CUSTOMER_SERVICE_ACCOUNT_ROLE_ID: '3',
    HIS_HER_CUSTOMER_SERVICE_ACCOUNT_EMAIL_DOMAIN: 'service.local',
    HIS_HER_CUSTOMER_SERVICE_ACCOUNT_ORGANIZATION_ID: '12',
    HIS_HER_CUSTOMER_LOYALTY_PROVIDER_PARTNER_HANDLE: 'hisher',
    LOYALTY_CHANNEL_HANDLE: 'multistore',
  }
  hisHer = createHisHerConnectClient(createHisHerCustomerConfigFromEnv(env), { retryDelayMs: 1 })
})
afterAll(async () => {
  await hub?.close()
})

describe('two sellers of one marketplace', () => {
  let a: Awaited<ReturnType<typeof onboard>>
  let b: Awaited<ReturnType<typeof onboard>>
  let bCouponId: string

  beforeAll(async () => {
    a = await onboard(hisHer, 'seller_a')
    b = await onboard(hisHer, 'seller_b')
    const synced = await hisHer.forSeller('seller_b').loyaltyCoupons.syncGiftCardCoupon({ code: 'GC-SELLER-B-0001', balance: 5000, currency: 'USD', expiresAt: null })
    expect(synced.created).toBe(true)
    bCouponId = synced.coupon.id
  })

  it("a seller's sync makes a coupon owned by its own provider, in the configured channel", async () => {
    const { coupon, created } = await hisHer.forSeller('seller_a').loyaltyCoupons.syncGiftCardCoupon({ code: 'GC-SELLER-A-0001' })
    expect(created).toBe(true)
    expect(coupon).toMatchObject({ providerId: a.provider.id, channel: 'multistore', singleUse: true, codeLast4: '0001' })
    // the same card again: the same coupon
    const again = await hisHer.forSeller('seller_a').loyaltyCoupons.syncGiftCardCoupon({ code: 'GC-SELLER-A-0001', expiresAt: '2031-01-01T00:00:00.000Z' })
    expect(again).toMatchObject({ created: false, coupon: { id: coupon.id, expiresAt: '2031-01-01T00:00:00.000Z' } })
    expect((await hisHer.forSeller('seller_b').loyaltyCoupons.get(bCouponId)).providerId).toBe(b.provider.id)
  })

  it("seller A's client cannot read, change, look up or redeem seller B's coupon", async () => {
    const sellerA = hisHer.forSeller('seller_a').loyaltyCoupons
    const read = await failure(sellerA.get(bCouponId))
    expect(read).toMatchObject({ status: 404, code: 'COUPON_NOT_FOUND' })
    expect(await failure(sellerA.update(bCouponId, { status: 'disabled' }))).toMatchObject({ status: 404, code: 'COUPON_NOT_FOUND' })
    expect(await failure(sellerA.lookup('GC-SELLER-B-0001'))).toMatchObject({ status: 404, code: 'COUPON_NOT_FOUND' })
    expect(await failure(sellerA.redeem({ code: 'GC-SELLER-B-0001', amount: 100, orderRef: 'order-a' }))).toMatchObject({ status: 404, code: 'COUPON_NOT_FOUND' })
    expect((await sellerA.list()).data.map((c) => c.id)).not.toContain(bCouponId)
    // nothing was taken or changed
    expect(await hisHer.forSeller('seller_b').loyaltyCoupons.get(bCouponId)).toMatchObject({ status: 'active', balance: 5000 })
  })

  it("the checkout holds, captures and voids any seller's card with the API token; another seller cannot touch the hold", async () => {
    const { hold } = await hisHer.coupons.hold({ code: 'GC-SELLER-B-0001', amount: 2000, ttlSeconds: 900, orderRef: 'cart-1' })
    expect((await hisHer.coupons.get(bCouponId)).available).toBe(3000)
    expect(await failure(hisHer.forSeller('seller_a').loyaltyCoupons.capture(hold.id))).toMatchObject({ status: 404, code: 'HOLD_NOT_FOUND' })
    const captured = await hisHer.coupons.capture(hold.id, { amount: 1500 })
    expect(captured.coupon).toMatchObject({ balance: 3500, available: 3500 })
    expect(await failure(hisHer.coupons.void(hold.id))).toMatchObject({ status: 409, code: 'HOLD_RESOLVED' })

    const second = await hisHer.coupons.hold({ code: 'GC-SELLER-B-0001', amount: 500, ttlSeconds: 900 })
    expect((await hisHer.coupons.void(second.hold.id)).hold.status).toBe('voided')
    expect((await hisHer.coupons.lookup('GC-SELLER-B-0001')).available).toBe(3500)
  })

  it("the marketplace's seller events suspend, resume and terminate; a suspended seller's coupons are refused", async () => {
    const mercur = hisHer.features.mercurSeller
    const event = { data: { ids: ['sel_seller_b'] } }
    for (const id of sellerIdsOf(event.data)) expect(await mercur.suspend(id)).toMatchObject({ changed: true, provider: { id: b.provider.id, status: 'suspended' } })
    expect((await mercur.suspend('sel_seller_b')).changed).toBe(false)

    expect(await failure(hisHer.coupons.redeem({ code: 'GC-SELLER-B-0001', amount: 100, orderRef: 'order-s' }))).toMatchObject({ status: 403, code: 'SELLER_SUSPENDED' })
    // its session ends: the token it had is refused, and a new login is too
    const refused = await failure(hisHer.forSeller('seller_b').loyaltyCoupons.list())
    expect(refused).toMatchObject({ status: 401, code: 'INVALID_CREDENTIALS' })

    await mercur.resume('sel_seller_b')
    // the same client logs in again by itself
    expect((await hisHer.forSeller('seller_b').loyaltyCoupons.list()).data.map((c) => c.id)).toEqual([bCouponId])
    expect((await hisHer.coupons.redeem({ code: 'GC-SELLER-B-0001', amount: 100, orderRef: 'order-r' })).coupon.balance).toBe(3400)

    for (const id of sellerIdsOf({ id: 'sel_seller_b' })) expect((await mercur.terminate(id)).provider.status).toBe('terminated')
    expect(await failure(mercur.resume('sel_seller_b'))).toMatchObject({ status: 409, code: 'SELLER_TERMINATED' })
    expect(await failure(onboard(hisHer, 'seller_b'))).toMatchObject({ status: 409, code: 'SELLER_TERMINATED' })
    expect(await failure(mercur.suspend('sel_nobody'))).toMatchObject({ status: 404, code: 'SELLER_NOT_FOUND' })
    // seller A is untouched
    expect((await hisHer.forSeller('seller_a').loyaltyCoupons.list()).data).toHaveLength(1)
  })
})

describe('the partner', () => {
  it("is made once by the first coupon call, as the house's provider", async () => {
    const first = createHisHerConnectClient(createHisHerCustomerConfigFromEnv(env))
    const second = createHisHerConnectClient(createHisHerCustomerConfigFromEnv(env))
    await Promise.all([first.loyaltyCoupons.syncGiftCardCoupon({ code: 'GC-HOUSE-0001' }), second.loyaltyCoupons.syncGiftCardCoupon({ code: 'GC-HOUSE-0002' })])
    const houses = (await providers()).filter((p) => p.kind === 'house')
    expect(houses.map((p) => p.handle)).toEqual(['hisher'])
    const mine = await first.loyaltyCoupons.list()
    expect(mine.data.map((c) => c.codeLast4).sort()).toEqual(['0001', '0002'])
    expect(mine.data.every((c) => c.providerId === houses[0]!.id)).toBe(true)
  })
})

describe('rotating the shared secret', () => {
  it('the next onboarding call sets the new derived password; until then the seller cannot log in with it', async () => {
    const before = createHisHerConnectClient(createHisHerCustomerConfigFromEnv(env))
    await onboard(before, 'seller_rotating')
    await before.forSeller('seller_rotating').loyaltyCoupons.syncGiftCardCoupon({ code: 'GC-ROTATE-0001' })

    const rotated = { ...env, HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD: 'the-next-shared-secret' }
    const after = createHisHerConnectClient(createHisHerCustomerConfigFromEnv(rotated))
    expect(await failure(after.forSeller('seller_rotating').loyaltyCoupons.list())).toMatchObject({ status: 401, code: 'INVALID_CREDENTIALS' })

    expect((await onboard(after, 'seller_rotating')).created).toBe(false)
    expect((await after.forSeller('seller_rotating').loyaltyCoupons.list()).data.map((c) => c.codeLast4)).toEqual(['0001'])
    // the old password no longer opens the account
    const oldPassword = await deriveServiceAccountPassword(secret, 'seller_rotating')
    const login = await fetch(`${hub.baseUrl}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'seller_rotating@service.local', password: oldPassword }) })
    expect(login.status).toBe(401)
  })
})
