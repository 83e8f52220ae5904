import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { sql } from 'kysely'
import type { Coupon, SellerOnboardingResult } from '@his-her/contract'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { bearer, client, expectError, unique, type Call } from '../../test/helpers/requests.js'
import { CODE_GUESS_LIMIT } from './coupon-service.js'

let hub: TestHub
let call: Call
let platform: Record<string, string>
const password = 'seller secret passphrase'

beforeAll(async () => {
  hub = await createTestHub()
  call = client(hub)
  platform = await hub.platform()
})
afterAll(async () => {
  await hub?.close()
})

function onboarding(handle = unique('brand').replace(/-/g, '_'), sellerId = `sel_${handle}`, extra: Record<string, unknown> = {}) {
  return {
    seller: { id: sellerId, handle, name: 'Brand Name', email: 'brand@example.com', phone: '+66123456789', description: 'Marketplace seller', ...extra },
    ownerMember: { id: `mem_${handle}`, email: 'owner@example.com' },
    serviceAccount: { password, roleId: '3', organizationId: '12' },
  }
}

/** Onboards a seller and logs its service account in. */
async function seller() {
  const body = onboarding()
  const res = await call('POST', '/sellers/onboarding', body, platform)
  expect(res.status, res.raw).toBe(201)
  const onboarded = res.body as SellerOnboardingResult
  const login = await call('POST', '/auth/login', { email: onboarded.serviceAccount.email, password }, {})
  expect(login.status, login.raw).toBe(200)
  return { body, onboarded, providerId: onboarded.provider.id, headers: bearer(login.body.accessToken as string), refreshToken: login.body.refreshToken as string }
}

const sync = (headers: Record<string, string>, body: Record<string, unknown>) => call('POST', '/coupons/gift-cards/sync', body, headers)
const redeem = (body: Record<string, unknown>, headers = platform) => call('POST', '/coupons/redeem', body, headers)

describe('seller onboarding', () => {
  test('makes the provider and the service account once; a repeat finds them; the metadata holds no secret', async () => {
    const body = onboarding()
    const first = await call('POST', '/sellers/onboarding', body, platform)
    expect(first.status, first.raw).toBe(201)
    const made = first.body as SellerOnboardingResult
    expect(made.created).toBe(true)
    expect(made.provider).toMatchObject({ kind: 'seller', handle: body.seller.handle, sellerId: body.seller.id, status: 'active', organizationId: '12' })
    expect(made.serviceAccount).toMatchObject({ handle: body.seller.handle, email: `${body.seller.handle}@service.local`, roleId: '3', organizationId: '12', providerId: made.provider.id })
    expect(made.metadata).toMatchObject({ customerHubProviderId: made.provider.id, customerHubServiceAccountId: made.serviceAccount.id, customerHubProviderHandle: body.seller.handle })

    const again = await call('POST', '/sellers/onboarding', body, platform)
    expect(again.status, again.raw).toBe(200)
    expect(again.body.created).toBe(false)
    expect(again.body.provider.id).toBe(made.provider.id)
    expect(again.body.serviceAccount.id).toBe(made.serviceAccount.id)

    const { rows } = await sql<{ password_hash: string }>`SELECT password_hash FROM service_accounts WHERE id = ${made.serviceAccount.id}`.execute(hub.database.db)
    for (const raw of [first.raw, again.raw]) {
      expect(raw).not.toContain(password)
      expect(raw).not.toContain(rows[0]!.password_hash)
      expect(raw).not.toMatch(/argon2|password|eyJ[A-Za-z0-9_-]+\./i)
    }
    const feed = await call('GET', '/events?limit=1000')
    expect(feed.raw).not.toContain(password)
    expect(feed.body.data.filter((e: { type: string; payload: { provider: { id: string } } }) => e.type === 'seller.onboarded' && e.payload.provider.id === made.provider.id)).toHaveLength(1)
  })

  test('onboarding the same seller twice at once makes one provider and one service account', async () => {
    const body = onboarding()
    const answers = await Promise.all(Array.from({ length: 6 }, () => call('POST', '/sellers/onboarding', body, platform)))
    expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 200, 201])
    expect(new Set(answers.map((a) => a.body.provider.id)).size).toBe(1)
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM service_accounts WHERE handle = ${body.seller.handle}`.execute(hub.database.db)
    expect(rows[0]!.n).toBe(1)
  })

  test('a changed name updates the provider; a handle of another seller is 409 SELLER_HANDLE_TAKEN; a new handle for a seller is SELLER_HANDLE_CHANGED', async () => {
    const body = onboarding()
    await call('POST', '/sellers/onboarding', body, platform)
    const renamed = await call('POST', '/sellers/onboarding', { ...body, seller: { ...body.seller, name: 'New Name' } }, platform)
    expect(renamed.status).toBe(200)
    expect(renamed.body.provider.name).toBe('New Name')
    expectError(await call('POST', '/sellers/onboarding', onboarding(body.seller.handle, 'sel_someone_else'), platform), 409, 'SELLER_HANDLE_TAKEN')
    expectError(await call('POST', '/sellers/onboarding', onboarding('other_handle_x', body.seller.id), platform), 409, 'SELLER_HANDLE_CHANGED')
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM loyalty_providers WHERE seller_id IN (${body.seller.id}, 'sel_someone_else')`.execute(hub.database.db)
    expect(rows[0]!.n).toBe(1)
  })

  test('a customer or service token may not onboard; admins list and read providers, channels and organizations', async () => {
    const s = await seller()
    expectError(await call('POST', '/sellers/onboarding', onboarding(), s.headers), 403, 'FORBIDDEN')
    const list = await call('GET', '/loyalty-providers?kind=seller')
    expect(list.body.data.map((p: { id: string }) => p.id)).toContain(s.providerId)
    expect((await call('GET', `/loyalty-providers/${s.providerId}`)).body.handle).toBe(s.body.seller.handle)
    expectError(await call('GET', '/loyalty-providers/lpr_nope'), 404, 'PROVIDER_NOT_FOUND')
    expect((await call('GET', '/organizations')).body.data.map((o: { id: string }) => o.id)).toContain('12')
    await sync(s.headers, { code: unique('GC'), channelHandle: 'multistore', expiresAt: null })
    expect((await call('GET', '/channels')).body.data.map((c: { handle: string }) => c.handle)).toContain('multistore')
  })
})

describe('points a seller grants', () => {
  test("are posted from the seller's own issuer account: its liability, visible per provider; a suspended seller grants none", async () => {
    const s = await seller()
    const customer = await call('POST', '/customer', { email: `${unique('buyer')}@example.com` })
    const earn = (key: string) =>
      call('POST', '/ledgers/reward-points/transactions', { kind: 'earn', idempotencyKey: key, customerId: customer.body.id, amount: 70, providerId: s.providerId }, platform)
    const earned = await earn(unique('earn'))
    expect(earned.status, earned.raw).toBe(201)
    const ledger = await call('GET', '/ledgers/reward-points')
    expect(ledger.body.systemAccounts).toContainEqual(expect.objectContaining({ role: 'issuer', provider: s.providerId, balance: -70 }))
    expectError(await call('POST', '/ledgers/reward-points/transactions', { kind: 'earn', idempotencyKey: unique('earn'), customerId: customer.body.id, amount: 1, providerId: 'lpr_nobody' }, platform), 404, 'PROVIDER_NOT_FOUND')
    await call('POST', `/sellers/${s.providerId}/suspend`, undefined, platform)
    expectError(await earn(unique('earn')), 403, 'SELLER_SUSPENDED')
  })
})

describe('gift-card coupons', () => {
  test("sync makes a coupon owned by the token's provider; a repeat updates it; another seller's same code is its own", async () => {
    const a = await seller()
    const b = await seller()
    const code = unique('GIFT-CODE')
    const made = await sync(a.headers, { code, channelHandle: 'multistore', expiresAt: null })
    expect(made.status, made.raw).toBe(201)
    const coupon = made.body.coupon as Coupon
    expect(coupon).toMatchObject({ providerId: a.providerId, channel: 'multistore', singleUse: true, codeLast4: code.slice(-4), status: 'active', balance: null })
    expect(coupon.externals).toEqual([{ source: 'gift-card', codeLast4: code.slice(-4), syncedAt: expect.any(String) }])

    const expiresAt = new Date(Date.now() + 86_400_000).toISOString()
    const again = await sync(a.headers, { code, channelHandle: 'multistore', expiresAt })
    expect(again.status).toBe(200)
    expect(again.body.coupon).toMatchObject({ id: coupon.id, expiresAt })

    const theirs = await sync(b.headers, { code, expiresAt: null })
    expect(theirs.status).toBe(201)
    expect(theirs.body.coupon.id).not.toBe(coupon.id)
    expect(theirs.body.coupon.providerId).toBe(b.providerId)

    // the owner comes from the token, never from the body; a platform token does not sync
    expectError(await sync(a.headers, { code, providerId: b.providerId }), 400, 'VALIDATION_FAILED')
    expectError(await sync(platform, { code }), 403, 'FORBIDDEN')

    // a dump of the database holds no redeemable code
    const { rows } = await sql<{ row: string }>`SELECT row_to_json(c)::text AS row FROM coupons c`.execute(hub.database.db)
    expect(rows.length).toBeGreaterThan(0)
    for (const r of rows) expect(r.row).not.toContain(code)
    const feed = await call('GET', '/events?limit=1000')
    expect(feed.raw).not.toContain(code)
  })

  test("seller A cannot read, change, sync over or redeem seller B's coupons; nothing changes", async () => {
    const a = await seller()
    const b = await seller()
    const code = unique('B-ONLY')
    const bs = (await sync(b.headers, { code, balance: 5000, currency: 'USD' })).body.coupon as Coupon
    expectError(await call('GET', `/coupons/${bs.id}`, undefined, a.headers), 404, 'COUPON_NOT_FOUND')
    expectError(await call('PATCH', `/coupons/${bs.id}`, { status: 'disabled' }, a.headers), 404, 'COUPON_NOT_FOUND')
    expectError(await call('POST', '/coupons/lookup', { code }, a.headers), 404, 'COUPON_NOT_FOUND')
    expectError(await redeem({ code, amount: 100, idempotencyKey: unique('k'), orderRef: 'o1' }, a.headers), 404, 'COUPON_NOT_FOUND')
    expect((await call('GET', '/coupons', undefined, a.headers)).body.data.map((c: Coupon) => c.id)).not.toContain(bs.id)
    // A syncing the same code makes A's own coupon and leaves B's alone
    await sync(a.headers, { code, balance: 1, currency: 'USD' })
    const after = await call('GET', `/coupons/${bs.id}`, undefined, b.headers)
    expect(after.body).toMatchObject({ balance: 5000, status: 'active', providerId: b.providerId })
    // the checkout names the provider when two have the code
    expectError(await call('POST', '/coupons/lookup', { code }, platform), 409, 'COUPON_AMBIGUOUS')
    expect((await call('POST', '/coupons/lookup', { code, providerId: b.providerId }, platform)).body.id).toBe(bs.id)
  })

  test('a gift card with a balance: redeem, replay, short, hold, capture, void and a re-synced balance, all in the value ledger', async () => {
    const s = await seller()
    const code = unique('VALUE')
    const made = await sync(s.headers, { code, balance: 5000, currency: 'USD', expiresAt: null })
    expect(made.body.coupon).toMatchObject({ singleUse: false, currency: 'USD', balance: 5000, available: 5000, ledger: 'gift-cards-usd' })

    const key = unique('redeem')
    const first = await redeem({ code, amount: 2000, idempotencyKey: key, orderRef: 'order-1' })
    expect(first.status, first.raw).toBe(201)
    expect(first.body.coupon.balance).toBe(3000)
    expect(first.body.redemption).toMatchObject({ amount: 2000, orderRef: 'order-1', transactionId: expect.stringMatching(/^txn_/) })
    const replay = await hub.app.inject({ method: 'POST', url: '/coupons/redeem', headers: platform, payload: { code, amount: 2000, idempotencyKey: key, orderRef: 'order-1' } })
    expect(replay.statusCode).toBe(200)
    expect(replay.headers['idempotent-replayed']).toBe('true')
    expect(replay.json().redemption.id).toBe(first.body.redemption.id)
    expectError(await redeem({ code, amount: 1, idempotencyKey: key, orderRef: 'order-1' }), 422, 'IDEMPOTENCY_KEY_REUSED')
    expectError(await redeem({ code, amount: 4000, idempotencyKey: unique('k'), orderRef: 'order-2' }), 422, 'COUPON_INSUFFICIENT_BALANCE')
    expectError(await redeem({ code, idempotencyKey: unique('k'), orderRef: 'order-2' }), 400, 'COUPON_AMOUNT_REQUIRED')

    const held = await call('POST', '/coupons/holds', { code, amount: 1000, ttlSeconds: 600, idempotencyKey: unique('h'), orderRef: 'cart-1' }, platform)
    expect(held.status, held.raw).toBe(201)
    expect(held.body.coupon).toMatchObject({ balance: 3000, available: 2000 })
    expectError(await redeem({ code, amount: 2500, idempotencyKey: unique('k'), orderRef: 'order-3' }), 422, 'COUPON_INSUFFICIENT_BALANCE')
    const captured = await call('POST', `/coupons/holds/${held.body.hold.id}/capture`, { amount: 600 }, platform)
    expect(captured.status, captured.raw).toBe(200)
    expect(captured.body.coupon).toMatchObject({ balance: 2400, available: 2400 })
    expect(captured.body.redemption).toMatchObject({ amount: 600, holdId: held.body.hold.id })
    expectError(await call('POST', `/coupons/holds/${held.body.hold.id}/capture`, {}, platform), 409, 'HOLD_RESOLVED')

    const second = await call('POST', '/coupons/holds', { code, amount: 400, ttlSeconds: 600, idempotencyKey: unique('h') }, platform)
    const voided = await call('POST', `/coupons/holds/${second.body.hold.id}/void`, undefined, platform)
    expect(voided.body).toMatchObject({ hold: { status: 'voided' }, coupon: { balance: 2400, available: 2400 } })

    // the platform says the card now holds 10,000: the difference is posted from the provider
    const resynced = await sync(s.headers, { code, balance: 10_000, currency: 'USD' })
    expect(resynced.body.coupon).toMatchObject({ balance: 10_000, available: 10_000 })
    expectError(await sync(s.headers, { code, balance: 10, currency: 'EUR' }), 409, 'COUPON_KIND_CHANGED')

    const ledger = await call('GET', '/ledgers/gift-cards-usd')
    expect(ledger.body.systemAccounts).toContainEqual(expect.objectContaining({ role: 'issuer', provider: s.providerId }))
    const verify = await call('GET', '/ledgers/gift-cards-usd/verify')
    expect(verify.body.problems).toEqual([])
    expect(verify.body.ok).toBe(true)
    // the value ledger moves through the coupon routes only, never as points
    const customer = await call('POST', '/customer', { email: `${unique('vl')}@example.com` })
    expectError(await call('POST', '/ledgers/gift-cards-usd/transactions', { kind: 'earn', idempotencyKey: unique('e'), customerId: customer.body.id, amount: 5 }), 404, 'LEDGER_NOT_FOUND')
    expectError(await call('POST', `/customer/${customer.body.id}/reward-accounts`, { ledger: 'gift-cards-usd' }), 404, 'LEDGER_NOT_FOUND')
    await redeem({ code, amount: 10_000, idempotencyKey: unique('k'), orderRef: 'order-4' })
    expectError(await redeem({ code, amount: 1, idempotencyKey: unique('k'), orderRef: 'order-5' }), 422, 'COUPON_EXHAUSTED')
  })

  test('a single-use coupon redeems exactly once, even when many redeem it at once', async () => {
    const s = await seller()
    const code = unique('ONCE')
    await sync(s.headers, { code, expiresAt: null })
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => redeem({ code, idempotencyKey: unique(`once-${i}`), orderRef: `order-${i}` })))
    expect(answers.filter((a) => a.status === 201)).toHaveLength(1)
    expect(answers.filter((a) => a.status === 409).every((a) => a.body.code === 'COUPON_ALREADY_REDEEMED')).toBe(true)
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM coupon_redemptions r JOIN coupons c ON c.id = r.coupon_id WHERE c.code_last4 = ${code.slice(-4)} AND c.provider_id = ${s.providerId}`.execute(hub.database.db)
    expect(rows[0]!.n).toBe(1)
    expectError(await call('POST', '/coupons/holds', { code, amount: 1, ttlSeconds: 60, idempotencyKey: unique('h') }, platform), 422, 'COUPON_NOT_HOLDABLE')
  })

  test('expired and disabled coupons are refused with their own codes', async () => {
    const s = await seller()
    const expired = unique('OLD')
    await sync(s.headers, { code: expired, expiresAt: new Date(Date.now() - 60_000).toISOString() })
    expectError(await redeem({ code: expired, idempotencyKey: unique('k'), orderRef: 'o' }), 422, 'COUPON_EXPIRED')
    const off = unique('OFF')
    const c = (await sync(s.headers, { code: off, balance: 100, currency: 'THB' })).body.coupon as Coupon
    expect((await call('PATCH', `/coupons/${c.id}`, { status: 'disabled' }, s.headers)).body.status).toBe('disabled')
    expectError(await redeem({ code: off, amount: 10, idempotencyKey: unique('k'), orderRef: 'o' }), 422, 'COUPON_DISABLED')
  })

  test('a suspended seller cannot log in, its live token stops, its coupons are not redeemed; resumed it works again; terminated is final', async () => {
    const s = await seller()
    const code = unique('SUSP')
    await sync(s.headers, { code, balance: 100, currency: 'USD' })
    const suspended = await call('POST', `/sellers/${s.body.seller.id}/suspend`, undefined, platform)
    expect(suspended.body).toMatchObject({ changed: true, provider: { status: 'suspended' } })
    expect((await call('POST', `/sellers/${s.body.seller.id}/suspend`, undefined, platform)).body.changed).toBe(false)
    expectError(await call('GET', '/coupons', undefined, s.headers), 401, 'UNAUTHORIZED')
    expectError(await call('POST', '/auth/login', { email: s.onboarded.serviceAccount.email, password }, {}), 401, 'INVALID_CREDENTIALS')
    expectError(await redeem({ code, amount: 10, idempotencyKey: unique('k'), orderRef: 'o' }), 403, 'SELLER_SUSPENDED')

    await call('POST', `/sellers/${s.body.seller.id}/resume`, undefined, platform)
    // a resume does not bring back the tokens of before: the seller logs in again
    expectError(await call('GET', '/coupons', undefined, s.headers), 401, 'UNAUTHORIZED')
    const again = await call('POST', '/auth/login', { email: s.onboarded.serviceAccount.email, password }, {})
    expect(again.status, again.raw).toBe(200)
    expectError(await call('POST', '/auth/refresh', { refreshToken: s.refreshToken }, {}), 401, 'INVALID_REFRESH_TOKEN')
    expect((await call('GET', '/coupons', undefined, bearer(again.body.accessToken))).status).toBe(200)
    expect((await redeem({ code, amount: 10, idempotencyKey: unique('k'), orderRef: 'o' })).status).toBe(201)

    expect((await call('POST', `/sellers/${s.providerId}/terminate`, undefined, platform)).body.provider.status).toBe('terminated')
    expectError(await call('POST', `/sellers/${s.body.seller.id}/resume`, undefined, platform), 409, 'SELLER_TERMINATED')
    expectError(await call('POST', '/sellers/onboarding', s.body, platform), 409, 'SELLER_TERMINATED')
    expectError(await call('GET', '/coupons', undefined, s.headers), 401, 'UNAUTHORIZED')
    expectError(await call('POST', '/sellers/sel_nobody/suspend', undefined, platform), 404, 'SELLER_NOT_FOUND')
  })

  test('a service account that acts for no provider gets 403 SERVICE_ACCOUNT_REQUIRED on the coupon routes', async () => {
    const handle = unique('loose').replace(/-/g, '_')
    expect((await call('POST', '/service-accounts', { handle, password, roleId: '3', organizationId: '12' })).status).toBe(201)
    const login = await call('POST', '/auth/login', { email: `${handle}@service.local`, password }, {})
    const headers = bearer(login.body.accessToken)
    expectError(await call('GET', '/coupons', undefined, headers), 403, 'SERVICE_ACCOUNT_REQUIRED')
    expectError(await call('POST', '/coupons/lookup', { code: 'GC-ANY-CODE' }, headers), 403, 'SERVICE_ACCOUNT_REQUIRED')
    expectError(await sync(headers, { code: 'GC-ANY-CODE' }), 403, 'SERVICE_ACCOUNT_REQUIRED')
  })

  test('guessing codes is limited per caller: after the limit every look-up by code answers 429, a right one too', async () => {
    const s = await seller()
    const code = unique('REAL')
    await sync(s.headers, { code, expiresAt: null })
    const guesser = await hub.platform()
    for (let i = 0; i < CODE_GUESS_LIMIT; i++) expectError(await call('POST', '/coupons/lookup', { code: `GUESS-${i}-xxxx` }, guesser), 404, 'COUPON_NOT_FOUND')
    const limited = await hub.app.inject({ method: 'POST', url: '/coupons/lookup', headers: guesser, payload: { code } })
    expectError(limited, 429, 'RATE_LIMITED')
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
    // another caller is not held back
    expect((await call('POST', '/coupons/lookup', { code }, platform)).status).toBe(200)
  })
})
