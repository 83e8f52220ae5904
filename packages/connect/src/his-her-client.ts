import type { BodyOf, Routes, SellerOnboardingResult, SellerStatusResult } from '@his-her/contract'
import { createHttpClient, type AuthProvider, type FetchLike, type HttpClient } from './http-client.js'
import type { HisHerCustomerConfig } from './config-from-env.js'
import { createCouponsApi, type CouponsApi } from './coupons-client.js'
import { createLoyaltyApi, type LoyaltyApi } from './loyalty-client.js'
import { createCustomerSyncClient, silentSyncLogger, type CustomerSyncClient, type CustomerSyncConfig, type SyncLogger } from './customer-sync-client.js'
import { createServiceJwtAuth, serviceAccountEmail, type ServiceJwtAuth } from './service-jwt.js'
import { isHubApiError } from './hub-error.js'
import { deriveServiceAccountPassword } from './seller-password.js'
import { createRetryingCall, keyHeader } from './retrying-call.js'
import { checkRetries } from './retry.js'

export interface HisHerConnectOptions {
  /** Another `fetch` than the global one. */
  fetch?: FetchLike | undefined
  /**
   * Where the client writes what it did: one `info` line per onboarding and seller status change,
   * one `error` line per failed one (with the {@link HubApiError}); also the default logger of
   * `customerSync`. Lines carry ids and handles, never a password, token or email. Default silent.
   */
  logger?: SyncLogger | undefined
  /** Gives up on one attempt of a call after this many milliseconds (`TIMEOUT`). Default 30 000. */
  timeoutMs?: number | undefined
  /** How often a call that got no answer, a 5xx or a timeout is sent again (with the same idempotency key). Default 3. */
  retries?: number | undefined
  /** The first backoff delay of those retries; each further one doubles (with jitter, at most 5 s). Default 200. */
  retryDelayMs?: number | undefined
}

/** What `syncOnboarding` takes: the marketplace's seller and its owner (the service account's password, role and organization come from the configuration). */
export type SellerOnboardingSyncInput = Omit<BodyOf<Routes['onboardSeller']>, 'serviceAccount'>

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
  syncOnboarding(input: SellerOnboardingSyncInput): Promise<SellerOnboardingResult>
  /**
   * Suspends a seller (by the marketplace's id): its service account cannot log in, its tokens
   * stop, its coupons are not redeemed. Throws `SELLER_NOT_FOUND` (404).
   *
   * @example
   * ```ts
   * for (const id of sellerIdsOf(event.data)) await hisHer.features.mercurSeller.suspend(id)
   * ```
   */
  suspend(sellerId: string): Promise<SellerStatusResult>
  /**
   * Resumes a suspended seller. Throws `SELLER_TERMINATED` (409).
   *
   * @example
   * ```ts
   * await hisHer.features.mercurSeller.resume('sel_123')
   * ```
   */
  resume(sellerId: string): Promise<SellerStatusResult>
  /**
   * Terminates a seller for good.
   *
   * @example
   * ```ts
   * await hisHer.features.mercurSeller.terminate('sel_123')
   * ```
   */
  terminate(sellerId: string): Promise<SellerStatusResult>
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

/** A setting a call needs: a `TypeError` naming its environment variable when it is unset, before anything is sent. */
function required<T>(value: T | undefined, names: string): T {
  if (value === undefined || value === '') throw new TypeError(`${names} is not set: it is required for this call`)
  return value
}

const names = {
  apiToken: 'HIS_HER_CUSTOMER_STRAPI_API_TOKEN (or CDP_API_TOKEN)',
  password: 'HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD',
  roleId: 'HIS_HER_CUSTOMER_SERVICE_ACCOUNT_ROLE_ID (or CDP_SERVICE_ACCOUNT_ROLE_ID)',
  organizationId: 'HIS_HER_CUSTOMER_SERVICE_ACCOUNT_ORGANIZATION_ID (or CDP_MAIN_ORGANIZATION)',
  partnerHandle: 'HIS_HER_CUSTOMER_LOYALTY_PROVIDER_PARTNER_HANDLE',
} as const

/** The code of a failure for a log line (never its details, which may echo input). */
const codeOf = (err: unknown) => (isHubApiError(err) ? `${err.code} (${err.status})` : err instanceof Error ? err.name : 'error')

/** A {@link CouponsApi} whose calls first wait for `resolve` (which may reject, e.g. a missing setting): the API is made on first use. */
function deferredCoupons(resolve: () => CouponsApi): CouponsApi {
  const later =
    <A extends unknown[], R>(pick: (api: CouponsApi) => (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> =>
      pick(resolve())(...args)
  return {
    syncGiftCardCoupon: later((api) => api.syncGiftCardCoupon),
    list: later((api) => api.list),
    get: later((api) => api.get),
    update: later((api) => api.update),
    lookup: later((api) => api.lookup),
    redeem: later((api) => api.redeem),
    hold: later((api) => api.hold),
    capture: later((api) => api.capture),
    void: later((api) => api.void),
  }
}

/** Memoizes an async task: one run at a time and after success; a failure is forgotten, so the next call tries again. */
function once<T>(task: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined
  return () => {
    if (!running) {
      const started = task()
      running = started
      started.catch(() => {
        if (running === started) running = undefined
      })
    }
    return running
  }
}

/**
 * The His & Her client of a marketplace backend: seller onboarding, gift-card coupons, points and customer
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
  const logger = options.logger ?? silentSyncLogger
  const http = (extra: { token?: string | undefined; auth?: AuthProvider }): HttpClient =>
    createHttpClient({ baseUrl: config.baseUrl, fetch: options.fetch, timeoutMs: options.timeoutMs, ...extra })
  const api = http({ token: config.apiToken })
  const call = createRetryingCall(api, retry)
  const defaults = { channelHandle: config.loyalty.channelHandle }
  const secret = () => required(config.serviceAccount.password, names.password)
  const derived = async (handle: string) => deriveServiceAccountPassword(secret(), handle)
  /** The service account a seller (or the partner) gets: its derived password, the configured role and organization. */
  const accountSpec = async (handle: string) => {
    const roleId = required(config.serviceAccount.roleId, names.roleId)
    const organizationId = required(config.serviceAccount.organizationId, names.organizationId)
    return { password: await derived(handle), roleId, organizationId }
  }

  async function statusChange(operation: 'suspendSeller' | 'resumeSeller' | 'terminateSeller', sellerId: string): Promise<SellerStatusResult> {
    required(config.apiToken, names.apiToken)
    const verb = { suspendSeller: 'suspend', resumeSeller: 'resume', terminateSeller: 'terminate' }[operation]
    try {
      // a repeat answers changed: false, so a retry under one key is safe
      const result = await call(operation, { params: { id: sellerId } }, keyHeader(undefined))
      logger.info(`${verb} seller ${sellerId}: provider ${result.provider.id} is ${result.provider.status}${result.changed ? '' : ' (unchanged)'}`)
      return result
    } catch (err) {
      logger.error(`${verb} seller ${sellerId} failed: ${codeOf(err)}`, err)
      throw err
    }
  }

  const mercurSeller: MercurSellerSync = {
    async syncOnboarding(input) {
      required(config.apiToken, names.apiToken)
      const serviceAccount = await accountSpec(input.seller.handle)
      try {
        // finds what an earlier call made: a retry under one key is safe
        const result = await call('onboardSeller', { body: { ...input, serviceAccount } }, keyHeader(undefined))
        logger.info(`${result.created ? 'onboarded' : 'found'} seller ${input.seller.id} (${input.seller.handle}): provider ${result.provider.id}, service account ${result.serviceAccount.id}`)
        return result
      } catch (err) {
        logger.error(`onboarding seller ${input.seller.id} (${input.seller.handle}) failed: ${codeOf(err)}`, err)
        throw err
      }
    },
    suspend: async (sellerId) => statusChange('suspendSeller', sellerId),
    resume: async (sellerId) => statusChange('resumeSeller', sellerId),
    terminate: async (sellerId) => statusChange('terminateSeller', sellerId),
  }

  /** A service account's session: logs in with its derived password when a call first needs a token, then renews by itself. */
  function session(handle: string, email: () => Promise<string>): ServiceJwtAuth {
    let made: ServiceJwtAuth | undefined
    const auth = once(async () => {
      made = createServiceJwtAuth({ baseUrl: config.baseUrl, fetch: options.fetch, timeoutMs: options.timeoutMs, email: await email(), password: await derived(handle) })
      return made
    })
    return {
      getToken: async () => (await auth()).getToken(),
      onUnauthorized: async (token) => (await auth()).onUnauthorized(token),
      // nothing to end before the first login
      logout: async () => made?.logout(),
    }
  }

  const sellers = new Map<string, SellerConnect>()
  const forSeller = (handle: string): SellerConnect => {
    let seller = sellers.get(handle)
    if (!seller) {
      const email = serviceAccountEmail(handle, config.serviceAccount.emailDomain)
      const auth = session(handle, async () => email)
      seller = { handle, email, auth, loyaltyCoupons: createCouponsApi(http({ auth }), retry, defaults) }
      sellers.set(handle, seller)
    }
    return seller
  }

  // The partner's provider and service account are made once per client (with the API token, when
  // there is one) before its first login; a failure is tried again on the next call.
  let partnerCoupons: CouponsApi | undefined
  const partner = (): CouponsApi => {
    if (!partnerCoupons) {
      const handle = required(config.loyalty.providerPartnerHandle, names.partnerHandle)
      secret()
      const ensured = once(async () => {
        if (!config.apiToken) return serviceAccountEmail(handle, config.serviceAccount.emailDomain)
        const made = await call('ensurePartner', { body: { handle, serviceAccount: await accountSpec(handle) } }, keyHeader(undefined))
        logger.info(`${made.created ? 'made' : 'found'} the partner ${handle}: provider ${made.provider.id}, service account ${made.serviceAccount.id}`)
        return made.serviceAccount.email
      })
      partnerCoupons = createCouponsApi(http({ auth: session(handle, ensured) }), retry, defaults)
    }
    return partnerCoupons
  }

  return {
    features: { mercurSeller },
    loyaltyCoupons: deferredCoupons(partner),
    forSeller,
    coupons: createCouponsApi(api, retry, defaults),
    loyalty: createLoyaltyApi(api, retry),
    customerSync: (syncConfig, syncLogger = logger) =>
      createCustomerSyncClient({ fetch: options.fetch, ...syncConfig, cdpHost: config.baseUrl, cdpApiToken: config.apiToken }, syncLogger),
  }
}
