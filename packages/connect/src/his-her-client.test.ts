import { describe, expect, it } from 'vitest'
import { createHisHerConnectClient, createHisHerCustomerConfigFromEnv, deriveServiceAccountPassword, HubApiError, type EnvSource, type HisHerCustomerConfig } from './index.js'

// The client's side of seller onboarding and coupons, on a fake `fetch` that records every
// request: which settings a call needs before it sends anything, what it sends, with which token,
// and how often. The same calls against a real hub are in readme.test.ts and sellers-coupons.test.ts.

const secret = 'service-user-password'
const apiToken = 'hub_platform_token_for_tests'
const documentEnv: EnvSource = {
  HIS_HER_CUSTOMER_STRAPI_URL: 'http://hub.test',
  HIS_HER_CUSTOMER_STRAPI_API_TOKEN: apiToken,
  HIS_HER_CUSTOMER_AUTH_MODE: 'service-jwt',
  HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD: secret,
  HIS_HER_CUSTOMER_SERVICE_ACCOUNT_ROLE_ID: '3',
  HIS_HER_CUSTOMER_SERVICE_ACCOUNT_EMAIL_DOMAIN: 'service.local',
  HIS_HER_CUSTOMER_SERVICE_ACCOUNT_ORGANIZATION_ID: '12',
  HIS_HER_CUSTOMER_LOYALTY_PROVIDER_PARTNER_HANDLE: 'hisher',
  LOYALTY_CHANNEL_HANDLE: 'multistore',
}
const configOf = (env: EnvSource = documentEnv): HisHerCustomerConfig => createHisHerCustomerConfigFromEnv(env)
const without = (...names: string[]): EnvSource => Object.fromEntries(Object.entries(documentEnv).filter(([k]) => !names.includes(k)))

interface Sent {
  method: string
  path: string
  authorization: string | null
  idempotencyKey: string | null
  body: Record<string, unknown> | undefined
}

type Answer = { status: number; body: unknown } | 'lose'

const provider = (id: string, handle: string) => ({ id, handle, kind: 'seller', status: 'active' })
const account = (id: string, email: string) => ({ id, email, roleId: '3', organizationId: '12' })
const coupon = { id: 'cpn_1', codeLast4: '0001' }

/**
 * A fake hub: every request is recorded; `script` answers it (or returns undefined for the
 * default answer of its route). Logins answer an access token naming the email.
 */
function fakeHub(script: (req: Sent, n: number) => Answer | undefined = () => undefined) {
  const sent: Sent[] = []
  const fetch = async (input: string, init: RequestInit): Promise<Response> => {
    const url = new URL(input)
    const headers = new Headers(init.headers)
    const req: Sent = {
      method: init.method ?? 'GET',
      path: url.pathname + url.search,
      authorization: headers.get('authorization'),
      idempotencyKey: headers.get('idempotency-key'),
      body: typeof init.body === 'string' ? (JSON.parse(init.body) as Record<string, unknown>) : undefined,
    }
    sent.push(req)
    const answer = script(req, sent.filter((s) => s.method === req.method && s.path === req.path).length) ?? defaultAnswer(req)
    if (answer === 'lose') throw new TypeError('fetch failed')
    return new Response(JSON.stringify(answer.body), { status: answer.status, headers: { 'content-type': 'application/json' } })
  }
  return { sent, fetch, paths: () => sent.map((s) => `${s.method} ${s.path}`) }
}

function defaultAnswer(req: Sent): { status: number; body: unknown } {
  const body = req.body ?? {}
  switch (`${req.method} ${req.path.split('?')[0]}`) {
    case 'POST /sellers/onboarding': {
      const seller = body.seller as { handle: string }
      return { status: 201, body: { created: true, provider: provider('lpr_seller', seller.handle), serviceAccount: account('svc_seller', `${seller.handle}@service.local`), metadata: { customerHubProviderId: 'lpr_seller' } } }
    }
    case 'POST /loyalty-providers/partner':
      return { status: 201, body: { created: true, provider: { ...provider('lpr_house', String(body.handle)), kind: 'house' }, serviceAccount: account('svc_house', `${String(body.handle)}@service.local`) } }
    case 'POST /auth/login':
      return { status: 200, body: { accessToken: `access-of-${String(body.email)}`, refreshToken: 'refresh', expiresIn: 900, tokenType: 'Bearer' } }
    case 'POST /coupons/gift-cards/sync':
      return { status: 201, body: { coupon, created: true } }
    case 'POST /coupons/redeem':
      return { status: 201, body: { redemption: { id: 'cred_1' }, coupon } }
    case 'POST /coupons/holds':
      return { status: 201, body: { hold: { id: 'hld_1' }, coupon } }
    default:
      if (req.path.startsWith('/sellers/')) return { status: 200, body: { provider: provider('lpr_seller', 'brand_handle'), changed: true } }
      return { status: 200, body: { data: [], nextCursor: null } }
  }
}

const seller = { seller: { id: 'sel_123', handle: 'brand_handle', name: 'Brand Name' }, ownerMember: { id: 'mem_123' } }

describe('createHisHerConnectClient: settings', () => {
  it.each([
    ['HIS_HER_CUSTOMER_STRAPI_API_TOKEN', ['HIS_HER_CUSTOMER_STRAPI_API_TOKEN']],
    ['HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD', ['HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD', 'HIS_HER_CUSTOMER_AUTH_MODE']],
    ['HIS_HER_CUSTOMER_SERVICE_ACCOUNT_ROLE_ID', ['HIS_HER_CUSTOMER_SERVICE_ACCOUNT_ROLE_ID']],
    ['HIS_HER_CUSTOMER_SERVICE_ACCOUNT_ORGANIZATION_ID', ['HIS_HER_CUSTOMER_SERVICE_ACCOUNT_ORGANIZATION_ID']],
  ])('syncOnboarding without %s throws a TypeError naming it, before any request', async (name, unset) => {
    const hub = fakeHub()
    const hisHer = createHisHerConnectClient(configOf(without(...unset)), { fetch: hub.fetch })
    const err = await hisHer.features.mercurSeller.syncOnboarding(seller).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TypeError)
    expect((err as TypeError).message).toContain(name)
    expect(hub.sent).toEqual([])
  })

  it('suspend, resume and terminate need the API token', async () => {
    const hub = fakeHub()
    const hisHer = createHisHerConnectClient(configOf(without('HIS_HER_CUSTOMER_STRAPI_API_TOKEN')), { fetch: hub.fetch })
    for (const change of [hisHer.features.mercurSeller.suspend, hisHer.features.mercurSeller.resume, hisHer.features.mercurSeller.terminate]) {
      await expect(change('sel_123')).rejects.toThrow(/HIS_HER_CUSTOMER_STRAPI_API_TOKEN/)
    }
    expect(hub.sent).toEqual([])
  })

  it('the partner handle is needed by the partner coupons only; every method rejects (never throws) without it', async () => {
    const hub = fakeHub()
    const hisHer = createHisHerConnectClient(configOf(without('HIS_HER_CUSTOMER_LOYALTY_PROVIDER_PARTNER_HANDLE')), { fetch: hub.fetch })
    const pending = hisHer.loyaltyCoupons.syncGiftCardCoupon({ code: 'GC-0001' })
    await expect(pending).rejects.toThrow(TypeError)
    await expect(pending).rejects.toThrow(/HIS_HER_CUSTOMER_LOYALTY_PROVIDER_PARTNER_HANDLE/)
    await expect(hisHer.loyaltyCoupons.list()).rejects.toThrow(/HIS_HER_CUSTOMER_LOYALTY_PROVIDER_PARTNER_HANDLE/)
    expect(hub.sent).toEqual([])
    // onboarding and a seller's own coupons go on
    await hisHer.features.mercurSeller.syncOnboarding(seller)
    await hisHer.forSeller('brand_handle').loyaltyCoupons.syncGiftCardCoupon({ code: 'GC-0001' })
    expect(hub.paths()).toEqual(['POST /sellers/onboarding', 'POST /auth/login', 'POST /coupons/gift-cards/sync'])
  })

  it('a partner or seller session without the shared secret names it', async () => {
    const hub = fakeHub()
    const hisHer = createHisHerConnectClient(configOf(without('HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD', 'HIS_HER_CUSTOMER_AUTH_MODE')), { fetch: hub.fetch })
    await expect(hisHer.loyaltyCoupons.syncGiftCardCoupon({ code: 'GC-0001' })).rejects.toThrow(/HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD/)
    await expect(hisHer.forSeller('brand_handle').loyaltyCoupons.list()).rejects.toThrow(/HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD/)
    expect(hub.sent).toEqual([])
  })
})

describe('createHisHerConnectClient: onboarding and lifecycle', () => {
  it("sends the seller's derived password, never the secret, with the API token and an idempotency key", async () => {
    const hub = fakeHub()
    const hisHer = createHisHerConnectClient(configOf(), { fetch: hub.fetch })
    const result = await hisHer.features.mercurSeller.syncOnboarding(seller)
    expect(result.metadata).toEqual({ customerHubProviderId: 'lpr_seller' })
    const [req] = hub.sent
    expect(req).toMatchObject({ method: 'POST', path: '/sellers/onboarding', authorization: `Bearer ${apiToken}`, idempotencyKey: expect.any(String) })
    expect(req!.body).toEqual({ ...seller, serviceAccount: { password: await deriveServiceAccountPassword(secret, 'brand_handle'), roleId: '3', organizationId: '12' } })
    expect(JSON.stringify(req!.body)).not.toContain(secret)
  })

  it('suspend, resume and terminate post to the seller, the id as one path segment', async () => {
    const hub = fakeHub()
    const hisHer = createHisHerConnectClient(configOf(), { fetch: hub.fetch })
    await hisHer.features.mercurSeller.suspend('sel_123')
    await hisHer.features.mercurSeller.resume('sel_123')
    await hisHer.features.mercurSeller.terminate('sel/../x')
    expect(hub.paths()).toEqual(['POST /sellers/sel_123/suspend', 'POST /sellers/sel_123/resume', 'POST /sellers/sel%2F..%2Fx/terminate'])
    expect(hub.sent.every((s) => s.authorization === `Bearer ${apiToken}`)).toBe(true)
  })

  it('a lost answer is sent again with the same idempotency key', async () => {
    const hub = fakeHub((req, n) => (req.path === '/sellers/onboarding' && n === 1 ? 'lose' : undefined))
    const hisHer = createHisHerConnectClient(configOf(), { fetch: hub.fetch, retryDelayMs: 1 })
    await hisHer.features.mercurSeller.syncOnboarding(seller)
    expect(hub.sent).toHaveLength(2)
    expect(hub.sent[1]!.idempotencyKey).toBe(hub.sent[0]!.idempotencyKey)
  })

  it('logs ids and handles, never the secret, a password, a token or an email', async () => {
    const lines: string[] = []
    const logger = { info: (m: string) => void lines.push(m), warn: (m: string) => void lines.push(m), error: (m: string) => void lines.push(m) }
    const hub = fakeHub((req) => (req.path === '/sellers/sel_9/suspend' ? { status: 404, body: { code: 'SELLER_NOT_FOUND', message: 'No seller has this id.' } } : undefined))
    const hisHer = createHisHerConnectClient(configOf(), { fetch: hub.fetch, logger })
    await hisHer.features.mercurSeller.syncOnboarding({ ...seller, seller: { ...seller.seller, email: 'brand@example.com' } })
    await hisHer.features.mercurSeller.suspend('sel_123')
    await expect(hisHer.features.mercurSeller.suspend('sel_9')).rejects.toMatchObject({ code: 'SELLER_NOT_FOUND' })
    await hisHer.loyaltyCoupons.syncGiftCardCoupon({ code: 'GC-SECRET-CODE-0001' })
    expect(lines).toEqual([
      'onboarded seller sel_123 (brand_handle): provider lpr_seller, service account svc_seller',
      'suspend seller sel_123: provider lpr_seller is active',
      'suspend seller sel_9 failed: SELLER_NOT_FOUND (404)',
      'made the partner hisher: provider lpr_house, service account svc_house',
    ])
    const text = lines.join('\n')
    for (const leak of [secret, apiToken, await deriveServiceAccountPassword(secret, 'brand_handle'), 'brand@example.com', 'GC-SECRET']) expect(text).not.toContain(leak)
  })
})

describe('createHisHerConnectClient: the partner coupons', () => {
  it("makes sure of the partner's account once, logs in once, then calls with the session's token", async () => {
    const hub = fakeHub()
    const hisHer = createHisHerConnectClient(configOf(), { fetch: hub.fetch })
    await Promise.all([hisHer.loyaltyCoupons.syncGiftCardCoupon({ code: 'GC-0001' }), hisHer.loyaltyCoupons.syncGiftCardCoupon({ code: 'GC-0002' })])
    await hisHer.loyaltyCoupons.list({ limit: 5 })
    expect(hub.paths()).toEqual(['POST /loyalty-providers/partner', 'POST /auth/login', 'POST /coupons/gift-cards/sync', 'POST /coupons/gift-cards/sync', 'GET /coupons?limit=5'])
    const derived = await deriveServiceAccountPassword(secret, 'hisher')
    expect(hub.sent[0]).toMatchObject({ authorization: `Bearer ${apiToken}`, body: { handle: 'hisher', serviceAccount: { password: derived, roleId: '3', organizationId: '12' } } })
    expect(hub.sent[1]).toMatchObject({ authorization: null, body: { email: 'hisher@service.local', password: derived } })
    for (const req of hub.sent.slice(2)) expect(req.authorization).toBe('Bearer access-of-hisher@service.local')
  })

  it('a failed ensure is tried again on the next call', async () => {
    const hub = fakeHub((req, n) => (req.path === '/loyalty-providers/partner' && n === 1 ? { status: 409, body: { code: 'SELLER_HANDLE_TAKEN', message: 'taken' } } : undefined))
    const hisHer = createHisHerConnectClient(configOf(), { fetch: hub.fetch })
    const first = await hisHer.loyaltyCoupons.syncGiftCardCoupon({ code: 'GC-0001' }).catch((e: unknown) => e)
    expect(first).toBeInstanceOf(HubApiError)
    expect(first).toMatchObject({ status: 409, code: 'SELLER_HANDLE_TAKEN' })
    await hisHer.loyaltyCoupons.syncGiftCardCoupon({ code: 'GC-0001' })
    expect(hub.paths()).toEqual(['POST /loyalty-providers/partner', 'POST /loyalty-providers/partner', 'POST /auth/login', 'POST /coupons/gift-cards/sync'])
  })

  it('without an API token it logs in as <handle>@<domain> straight away', async () => {
    const hub = fakeHub()
    const hisHer = createHisHerConnectClient(configOf(without('HIS_HER_CUSTOMER_STRAPI_API_TOKEN')), { fetch: hub.fetch })
    await hisHer.loyaltyCoupons.syncGiftCardCoupon({ code: 'GC-0001' })
    expect(hub.paths()).toEqual(['POST /auth/login', 'POST /coupons/gift-cards/sync'])
    expect(hub.sent[0]!.body).toEqual({ email: 'hisher@service.local', password: await deriveServiceAccountPassword(secret, 'hisher') })
  })

  it('the channel: as given, else LOYALTY_CHANNEL_HANDLE, else left out; a Date expiry as ISO', async () => {
    const hub = fakeHub()
    const hisHer = createHisHerConnectClient(configOf(), { fetch: hub.fetch })
    await hisHer.loyaltyCoupons.syncGiftCardCoupon({ code: 'GC-0001', channelHandle: 'web' })
    await hisHer.loyaltyCoupons.syncGiftCardCoupon({ code: 'GC-0002', channelHandle: undefined, expiresAt: null })
    await hisHer.loyaltyCoupons.syncGiftCardCoupon({ code: 'GC-0003', channelHandle: null, expiresAt: new Date('2030-01-01T00:00:00Z') })
    const noChannel = createHisHerConnectClient(configOf(without('LOYALTY_CHANNEL_HANDLE')), { fetch: hub.fetch })
    await noChannel.loyaltyCoupons.syncGiftCardCoupon({ code: 'GC-0004', channelHandle: process.env.LOYALTY_CHANNEL_HANDLE_NEVER_SET })
    const bodies = hub.sent.filter((s) => s.path === '/coupons/gift-cards/sync').map((s) => s.body)
    expect(bodies).toEqual([
      { code: 'GC-0001', channelHandle: 'web' },
      { code: 'GC-0002', channelHandle: 'multistore', expiresAt: null },
      { code: 'GC-0003', channelHandle: null, expiresAt: '2030-01-01T00:00:00.000Z' },
      { code: 'GC-0004' },
    ])
  })

  it('redeem and hold make an idempotency key when none is given and keep it over retries; a given one is sent as it is', async () => {
    const hub = fakeHub((req, n) => ((req.path === '/coupons/redeem' || req.path === '/coupons/holds') && n % 2 === 1 ? { status: 503, body: { code: 'CONTENTION', message: 'busy' } } : undefined))
    const hisHer = createHisHerConnectClient(configOf(), { fetch: hub.fetch, retryDelayMs: 1 })
    await hisHer.coupons.redeem({ code: 'GC-0001', amount: 100, orderRef: 'order-1' })
    await hisHer.coupons.redeem({ code: 'GC-0001', amount: 100, orderRef: 'order-2', idempotencyKey: 'order-2-gift' })
    await hisHer.coupons.hold({ code: 'GC-0001', amount: 100, ttlSeconds: 60 })
    const keys = (path: string) => hub.sent.filter((s) => s.path === path).map((s) => s.body!.idempotencyKey)
    const [a1, a2, b1, b2] = keys('/coupons/redeem')
    expect(a1).toMatch(/^[0-9a-f-]{36}$/)
    expect(a2).toBe(a1)
    expect([b1, b2]).toEqual(['order-2-gift', 'order-2-gift'])
    const [h1, h2] = keys('/coupons/holds')
    expect(h1).toMatch(/^[0-9a-f-]{36}$/)
    expect(h2).toBe(h1)
    expect(h1).not.toBe(a1)
    // the checkout's calls carry the API token
    expect(hub.sent.every((s) => s.authorization === `Bearer ${apiToken}`)).toBe(true)
  })
})

describe('createHisHerConnectClient: forSeller', () => {
  it("logs in as the seller's own account, once per handle, without the partner", async () => {
    const hub = fakeHub()
    const hisHer = createHisHerConnectClient(configOf(), { fetch: hub.fetch })
    expect(hisHer.forSeller('brand_handle')).toBe(hisHer.forSeller('brand_handle'))
    expect(hisHer.forSeller('brand_handle').email).toBe('brand_handle@service.local')
    await hisHer.forSeller('brand_handle').loyaltyCoupons.syncGiftCardCoupon({ code: 'GC-0001' })
    await hisHer.forSeller('brand_handle').loyaltyCoupons.get('cpn_1')
    await hisHer.forSeller('other_brand').loyaltyCoupons.lookup('GC-0002')
    expect(hub.paths()).toEqual(['POST /auth/login', 'POST /coupons/gift-cards/sync', 'GET /coupons/cpn_1', 'POST /auth/login', 'POST /coupons/lookup'])
    expect(hub.sent[0]!.body).toEqual({ email: 'brand_handle@service.local', password: await deriveServiceAccountPassword(secret, 'brand_handle') })
    expect(hub.sent[3]!.body).toEqual({ email: 'other_brand@service.local', password: await deriveServiceAccountPassword(secret, 'other_brand') })
    expect(hub.sent[4]!.authorization).toBe('Bearer access-of-other_brand@service.local')
  })

  it('logout before any call sends nothing', async () => {
    const hub = fakeHub()
    const hisHer = createHisHerConnectClient(configOf(), { fetch: hub.fetch })
    await hisHer.forSeller('brand_handle').auth.logout()
    expect(hub.sent).toEqual([])
  })
})
