import { createCommerceClient, createCustomerSyncClient, isHubApiError, type CommerceClient, type CustomerSyncClient } from '@his-her/connect'

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
}

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
  readonly options: Required<HisHerPluginOptions>
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

  /** Syncs a store customer; answers the hub's customer id. */
  async syncCustomer(customer: StoreCustomer): Promise<string> {
    const result = await this.sync.syncCustomer({
      externalId: customer.id, email: customer.email ?? undefined, phone: customer.phone ?? undefined, firstName: customer.first_name ?? undefined, lastName: customer.last_name ?? undefined,
    })
    return result.documentId
  }

  /** Reports an order of a synced customer; the hub counts it once however often it is reported. */
  async recordOrder(order: StoreOrder, hubCustomerId: string) {
    const placedAt = new Date(order.created_at).toISOString()
    const currency = order.currency_code.toUpperCase()
    return this.commerce.orders.record({ platform: this.options.orderPlatform, externalId: order.id, customerId: hubCustomerId, total: minorUnits(order.total, currency), currency, placedAt })
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
