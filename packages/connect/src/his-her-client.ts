import type { BodyOf, ResultOf, Routes } from '@his-her/contract'
import { createHttpClient, type AuthProvider, type FetchLike, type HttpClient } from './http-client.js'
import type { HisHerCustomerConfig } from './config-from-env.js'
import { createCouponsApi, type CouponsApi } from './coupons-client.js'
import { createLoyaltyApi, type LoyaltyApi } from './loyalty-client.js'
import { createCustomerSyncClient, silentSyncLogger, type CustomerSyncClient, type CustomerSyncConfig, type SyncLogger } from './customer-sync-client.js'
import { createServiceJwtAuth, serviceAccountEmail, type ServiceJwtAuth } from './service-jwt.js'
import { deriveServiceAccountPassword } from './seller-password.js'
import { createRetryingCall, keyHeader } from './retrying-call.js'
import { checkRetries } from './retry.js'

export interface HisHerConnectOptions {
  /** Another `fetch` than the global one. */
  fetch?: FetchLike | undefined
  /** Gives up on one attempt of a call after this many milliseconds (`TIMEOUT`). Default 30 000. */
  timeoutMs?: number | undefined
  /** How often a call that got no answer, a 5xx or a timeout is sent again (with the same idempotency key). Default 3. */
  retries?: number | undefined
  /** The first backoff delay of those retries; each further one doubles (with jitter, at most 5 s). Default 200. */
  retryDelayMs?: number | undefined
}

/** What `syncOnboarding` takes: the marketplace's seller and its owner (the service account's password, role and organization come from the configuration). */
export type SellerOnboardingSyncInput = Omit<BodyOf<Routes['onboardSeller']>, 'serviceAccount'>
export type SellerOnboardingSyncResult = ResultOf<Routes['onboardSeller']>
export type SellerStatusChange = ResultOf<Routes['suspendSeller']>

/** Seller onboarding and lifecycle of a Mercur marketplace, with the API token. */
export interface MercurSellerSync {
  /**
   * Creates once — or finds — the seller's loyalty provider and service account
   * (`<handle>@<service email domain>`, the configured role and organization, a password derived
   * for this seller from the shared secret). `result.metadata` is safe to store on the seller: ids,
   * handles and times, never a secret. Throws a `TypeError` naming a missing environment variable
   * before any request; `SELLER_HANDLE_TAKEN` (409) when another seller has the handle.
   *
   * @example
   * ```ts
   * const result = await hisHer.features.mercurSeller.syncOnboarding({ seller, ownerMember })
   * await sellerModule.updateSellers({ id: seller.id, metadata: { ...seller.metadata, ...result.metadata } })
   * ```
   */
  syncOnboarding(input: SellerOnboardingSyncInput): Promise<SellerOnboardingSyncResult>
  /**
   * Suspends a seller (by the marketplace's id): its service account cannot log in, its tokens
   * stop, its coupons are not redeemed. Throws `SELLER_NOT_FOUND` (404).
   *
   * @example
   * ```ts
   * for (const id of sellerIdsOf(event.data)) await hisHer.features.mercurSeller.suspend(id)
   * ```
   */
  suspend(sellerId: string): Promise<SellerStatusChange>
  /**
   * Resumes a suspended seller. Throws `SELLER_TERMINATED` (409).
   *
   * @example
   * ```ts
   * await hisHer.features.mercurSeller.resume('sel_123')
   * ```
   */
  resume(sellerId: string): Promise<SellerStatusChange>
  /**
   * Terminates a seller for good.
   *
   * @example
   * ```ts
   * await hisHer.features.mercurSeller.terminate('sel_123')
   * ```
   */
  terminate(sellerId: string): Promise<SellerStatusChange>
}

/** One seller's side: its service account's session and its coupons. */
export interface SellerConnect {
  handle: string
  /** The service account's login email, `<handle>@<service email domain>`. */
  email: string
  auth: ServiceJwtAuth
  loyaltyCoupons: CouponsApi
}

export interface HisHerConnectClient {
  features: { mercurSeller: MercurSellerSync }
  /**
   * Gift-card coupons of the partner (`HIS_HER_CUSTOMER_LOYALTY_PROVIDER_PARTNER_HANDLE`, e.g.
   * `hisher`): the client logs in as the partner's service account (made once with the API token
   * when there is one) and renews its token by itself.
   */
  loyaltyCoupons: CouponsApi
  /** The same for one seller's service account: the form for a marketplace backend that serves many sellers. */
  forSeller(handle: string): SellerConnect
  /** The checkout's coupon calls with the API token: look up, redeem and hold any provider's coupons. */
  coupons: CouponsApi
  /** Points (earn, spend, holds, …) with the API token. */
  loyalty: LoyaltyApi
  /** A customer sync client of one platform on this hub, with the API token. */
  customerSync(config: Omit<CustomerSyncConfig, 'cdpHost' | 'cdpApiToken'>, logger?: SyncLogger): CustomerSyncClient
}

/**
 * The seller ids of a Mercur event payload, which comes as `{ id }` or as `{ ids }`.
 *
 * @example
 * ```ts
 * sellerIdsOf({ id: 'sel_1' }) // ['sel_1']
 * sellerIdsOf({ ids: ['sel_1', 'sel_2'] }) // ['sel_1', 'sel_2']
 * ```
 */
export function sellerIdsOf(payload: { id?: string | undefined; ids?: readonly string[] | undefined } | null | undefined): string[] {
  const ids = [...(payload?.ids ?? []), ...(payload?.id ? [payload.id] : [])]
  return [...new Set(ids.filter((id) => typeof id === 'string' && id.length > 0))]
}

function required<T>(value: T | undefined, names: string): T {
  if (value === undefined || value === '') throw new TypeError(`${names} is not set: it is required for this call`)
  return value
}

/**
 * The client of the first document: seller onboarding, gift-card coupons, points and customer
 * sync against one hub, configured from the environment by `createHisHerCustomerConfigFromEnv()`.
 *
 * Which service account `loyaltyCoupons` logs in as: the partner's, named by
 * `HIS_HER_CUSTOMER_LOYALTY_PROVIDER_PARTNER_HANDLE` (its email `<handle>@<domain>`). Every
 * service account's password is derived from `HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD` and its
 * handle ({@link deriveServiceAccountPassword}), so `forSeller(handle)` reaches any onboarded
 * seller's account with the same one secret.
 *
 * @example
 * ```ts
 * import { createHisHerConnectClient, createHisHerCustomerConfigFromEnv } from '@his-her/connect'
 *
 * const hisHer = createHisHerConnectClient(createHisHerCustomerConfigFromEnv())
 * const { metadata } = await hisHer.features.mercurSeller.syncOnboarding({ seller, ownerMember })
 * await hisHer.forSeller(seller.handle).loyaltyCoupons.syncGiftCardCoupon({ code: giftCard.code, expiresAt: null })
 * ```
 */
export function createHisHerConnectClient(config: HisHerCustomerConfig, options: HisHerConnectOptions = {}): HisHerConnectClient {
  const retry = { retries: checkRetries(options.retries ?? 3), retryDelayMs: options.retryDelayMs ?? 200 }
  const http = (extra: { token?: string | undefined; auth?: AuthProvider }): HttpClient =>
    createHttpClient({ baseUrl: config.baseUrl, fetch: options.fetch, timeoutMs: options.timeoutMs, ...extra })
  const api = http({ token: config.apiToken })
  const call = createRetryingCall(api, retry)
  const tokenName = 'HIS_HER_CUSTOMER_STRAPI_API_TOKEN (or CDP_API_TOKEN)'
  const secret = () => required(config.serviceAccount.password, 'HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD')
  const accountSpec = async (handle: string) => ({
    password: await deriveServiceAccountPassword(secret(), handle),
    roleId: required(config.serviceAccount.roleId, 'HIS_HER_CUSTOMER_SERVICE_ACCOUNT_ROLE_ID (or CDP_SERVICE_ACCOUNT_ROLE_ID)'),
    organizationId: required(config.serviceAccount.organizationId, 'HIS_HER_CUSTOMER_SERVICE_ACCOUNT_ORGANIZATION_ID (or CDP_MAIN_ORGANIZATION)'),
  })

  const mercurSeller: MercurSellerSync = {
    async syncOnboarding(input) {
      required(config.apiToken, tokenName)
      const serviceAccount = await accountSpec(input.seller.handle)
      // finds what an earlier call made: a retry under one key is safe
      return call('onboardSeller', { body: { ...input, serviceAccount } }, keyHeader(undefined))
    },
    suspend: async (sellerId) => call('suspendSeller', { params: { id: sellerId } }, keyHeader(undefined)),
    resume: async (sellerId) => call('resumeSeller', { params: { id: sellerId } }, keyHeader(undefined)),
    terminate: async (sellerId) => call('terminateSeller', { params: { id: sellerId } }, keyHeader(undefined)),
  }

  /** A service account's session, logging in with its derived password when a call first needs a token. */
  function session(handle: string, email: () => Promise<string>): ServiceJwtAuth {
    let inner: Promise<ServiceJwtAuth> | undefined
    const auth = () => {
      inner ??= (async () => createServiceJwtAuth({ baseUrl: config.baseUrl, fetch: options.fetch, timeoutMs: options.timeoutMs, email: await email(), password: await deriveServiceAccountPassword(secret(), handle) }))()
      inner.catch(() => (inner = undefined))
      return inner
    }
    return {
      getToken: async () => (await auth()).getToken(),
      onUnauthorized: async (token) => (await auth()).onUnauthorized(token),
      logout: async () => (inner ? (await inner).logout() : undefined),
    }
  }

  const sellers = new Map<string, SellerConnect>()
  const forSeller = (handle: string): SellerConnect => {
    let seller = sellers.get(handle)
    if (!seller) {
      const email = serviceAccountEmail(handle, config.serviceAccount.emailDomain)
      const auth = session(handle, async () => email)
      seller = { handle, email, auth, loyaltyCoupons: createCouponsApi(http({ auth }), retry, { channelHandle: config.loyalty.channelHandle }) }
      sellers.set(handle, seller)
    }
    return seller
  }

  // the partner's account is made once per client (with the API token, when there is one); its email is the hub's answer
  let partner: Promise<string> | undefined
  const partnerEmail = (handle: string) => {
    partner ??= (async () => {
      if (!config.apiToken) return serviceAccountEmail(handle, config.serviceAccount.emailDomain)
      const made = await call('ensurePartner', { body: { handle, serviceAccount: await accountSpec(handle) } }, keyHeader(undefined))
      return made.serviceAccount.email
    })()
    partner.catch(() => (partner = undefined))
    return partner
  }
  let partnerCoupons: CouponsApi | undefined
  const loyaltyCoupons = (): CouponsApi => {
    if (!partnerCoupons) {
      const handle = required(config.loyalty.providerPartnerHandle, 'HIS_HER_CUSTOMER_LOYALTY_PROVIDER_PARTNER_HANDLE')
      secret()
      partnerCoupons = createCouponsApi(http({ auth: session(handle, () => partnerEmail(handle)) }), retry, { channelHandle: config.loyalty.channelHandle })
    }
    return partnerCoupons
  }

  return {
    features: { mercurSeller },
    get loyaltyCoupons() {
      return loyaltyCoupons()
    },
    forSeller,
    coupons: createCouponsApi(api, retry, { channelHandle: config.loyalty.channelHandle }),
    loyalty: createLoyaltyApi(api, retry),
    customerSync: (syncConfig, logger = silentSyncLogger) =>
      createCustomerSyncClient({ fetch: options.fetch, ...syncConfig, cdpHost: config.baseUrl, cdpApiToken: config.apiToken }, logger),
  }
}
