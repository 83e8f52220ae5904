import {
  createCommerceClient, createCustomerSyncClient, createHisHerConnectClient, createHisHerCustomerConfigFromEnv, isHubApiError, type CommerceClient, type CustomerSyncClient, type HisHerConnectClient,
} from '@his-her/connect'

/** The plugin's options, as a store gives them in `medusa-config.ts`. */
export interface HisHerPluginOptions {
  /** Where the hub answers, e.g. `https://hub.example.com`. */
  hubUrl: string
  /** A platform API token of the hub (`customer-hub token create --role platform`). */
  token: string
  /** This store's platform identity in the hub (default `identity.his-and-her-store`). */
  component?: string
  /** The field the store's customer id is kept under (default `medusaCustomerId`). */
  externalIdField?: string
  /** The platform orders are reported as (default `medusa`). */
  orderPlatform?: string
  /** The ledger a synced customer's reward account is opened in (default `reward-points`). */
  rewardLedger?: string
  /**
   * Settings of the connect library for gift cards (`HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD`,
   * `…_ROLE_ID`, `…_ORGANIZATION_ID`, `HIS_HER_CUSTOMER_LOYALTY_PROVIDER_PARTNER_HANDLE`,
   * `LOYALTY_CHANNEL_HANDLE`), each in place of the environment variable of the same name; the
   * hub's URL and token are `hubUrl` and `token`. Used only when Medusa's loyalty plugin is installed.
   */
  giftCardEnv?: Record<string, string | undefined>
}

/** What the plugin needs of a gift card of Medusa's loyalty plugin. */
export interface StoreGiftCard {
  id: string
  code: string
  value: unknown
  currency_code: string
  expires_at?: string | Date | null
}

/** What the plugin needs of a Medusa customer. */
export interface StoreCustomer {
  id: string
  email?: string | null
  phone?: string | null
  first_name?: string | null
  last_name?: string | null
  metadata?: Record<string, unknown> | null
}

/** What the plugin needs of a Medusa order. */
export interface StoreOrder {
  id: string
  customer_id?: string | null
  currency_code: string
  total: unknown
  created_at: string | Date
  /** When the order was last changed: sent as the report's `reportedAt`, so that a report of an older state delivered late changes nothing. */
  updated_at?: string | Date | null
  /** Medusa's order summary: `current_order_total` is the total after returns, exchanges, claims and refunds (a refund beyond what a return owes is a credit line that lowers it). */
  summary?: { current_order_total?: unknown } | null
}

/**
 * What the customer spent on the order as it stands: its current total from the order's summary
 * (what returns, exchanges, claims and refunds left of it), else its total.
 */
export const spentOn = (order: StoreOrder): unknown => order.summary?.current_order_total ?? order.total

/** The metadata key the hub's customer id is stored under on the Medusa customer. */
export const HUB_ID_KEY = 'hubCustomerId'

/** Minor units of an amount Medusa keeps in the currency's main unit (10.5 EUR → 1050), as the currency's digits say. */
export function minorUnits(amount: unknown, currency: string): number {
  const value = typeof amount === 'object' && amount !== null && 'numeric' in amount ? Number((amount as { numeric: unknown }).numeric) : Number(amount)
  if (!Number.isFinite(value) || value < 0) throw new Error(`an order total of ${String(amount)} ${currency} is not an amount`)
  const digits = new Intl.NumberFormat('en', { style: 'currency', currency: currency.toUpperCase() }).resolvedOptions().maximumFractionDigits ?? 2
  return Math.round(value * 10 ** digits)
}

/**
 * The hub as the store's plugin sees it (registered as the `hisHerHub` module): the customer
 * sync of this store's platform identity and the commerce client that reports orders.
 */
export default class HisHerHubService {
  readonly options: Required<Omit<HisHerPluginOptions, 'giftCardEnv'>> & Pick<HisHerPluginOptions, 'giftCardEnv'>
  readonly sync: CustomerSyncClient
  readonly commerce: CommerceClient

  constructor(_container: unknown, options: HisHerPluginOptions) {
    if (!options?.hubUrl || !options?.token) throw new Error('@his-her/medusa-plugin needs the options hubUrl and token')
    this.options = {
      component: 'identity.his-and-her-store', externalIdField: 'medusaCustomerId', orderPlatform: 'medusa', rewardLedger: 'reward-points', ...options,
    }
    const { hubUrl, token, component, externalIdField, rewardLedger } = this.options
    this.sync = createCustomerSyncClient({ cdpHost: hubUrl, cdpApiToken: token, platformIdentity: { component, externalIdField }, rewardLedger })
    this.commerce = createCommerceClient({ baseUrl: hubUrl, token })
  }

  #hisHer: HisHerConnectClient | undefined

  /** The connect library's client of the marketplace features (gift-card coupons as the partner's service account), made when first needed. */
  get hisHer(): HisHerConnectClient {
    const { hubUrl, token, giftCardEnv } = this.options
    this.#hisHer ??= createHisHerConnectClient(createHisHerCustomerConfigFromEnv({
      ...process.env, ...(giftCardEnv ?? {}), HIS_HER_CUSTOMER_STRAPI_URL: hubUrl, HIS_HER_CUSTOMER_STRAPI_API_TOKEN: token, HIS_HER_CUSTOMER_AUTH_MODE: 'service-jwt',
    }))
    return this.#hisHer
  }

  /**
   * Brings a gift card issued in the store to the hub as the partner's (the house's) coupon: its
   * code, its value as the coupon's balance, its expiry. Only a card the hub does not have yet is
   * synced: after its issue the coupon's balance is the hub's (a re-sync with the card's value
   * would post the difference to what was redeemed since). Answers whether it issued the coupon.
   */
  async syncGiftCard(card: StoreGiftCard): Promise<boolean> {
    const coupons = this.hisHer.loyaltyCoupons
    try {
      await coupons.lookup(card.code)
      return false
    } catch (err) {
      if (!isHubApiError(err, 'COUPON_NOT_FOUND')) throw err
    }
    const currency = card.currency_code.toUpperCase()
    await coupons.syncGiftCardCoupon({ code: card.code, balance: minorUnits(card.value, currency), currency, expiresAt: card.expires_at ? new Date(card.expires_at).toISOString() : null })
    return true
  }

  /** Syncs a store customer; answers the hub's customer id. */
  async syncCustomer(customer: StoreCustomer): Promise<string> {
    const result = await this.sync.syncCustomer({
      externalId: customer.id, email: customer.email ?? undefined, phone: customer.phone ?? undefined, firstName: customer.first_name ?? undefined, lastName: customer.last_name ?? undefined,
    })
    return result.documentId
  }

  /**
   * Reports an order of a synced customer with what was spent on it as it stands ({@link spentOn}).
   * The hub counts it once however often it is reported; reported again with another amount (after
   * a refund or a return), it is corrected: the customer's total and the points the order earned
   * follow. The order's `updated_at` goes with it (`reportedAt`): a report of an older state that
   * arrives after a newer one (a retried `order.placed` after a refund) changes nothing. An order
   * the hub has as cancelled is not reported again.
   */
  async recordOrder(order: StoreOrder, hubCustomerId: string) {
    const placedAt = new Date(order.created_at).toISOString()
    const reportedAt = order.updated_at ? new Date(order.updated_at).toISOString() : undefined
    const currency = order.currency_code.toUpperCase()
    try {
      return await this.commerce.orders.record({
        platform: this.options.orderPlatform, externalId: order.id, customerId: hubCustomerId, total: minorUnits(spentOn(order), currency), currency, placedAt, reportedAt,
      })
    } catch (err) {
      if (isHubApiError(err, 'ORDER_CANCELLED')) return null
      throw err
    }
  }

  /** Cancels an order in the hub: it leaves the customer's totals and its points are taken back. An order the hub never had is nothing to cancel. */
  async cancelOrder(orderId: string) {
    try {
      return await this.commerce.orders.cancel({ platform: this.options.orderPlatform, externalId: orderId })
    } catch (err) {
      if (isHubApiError(err, 'ORDER_NOT_FOUND')) return null
      throw err
    }
  }
}
