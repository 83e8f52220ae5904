import type { MedusaContainer } from '@medusajs/framework/types'
import { ContainerRegistrationKeys, Modules } from '@medusajs/framework/utils'
import { HIS_HER_HUB } from '../modules/his-her-hub'
import type HisHerHubService from '../modules/his-her-hub/service'
import { HUB_ID_KEY, type StoreCustomer, type StoreOrder } from '../modules/his-her-hub/service'

export const hubOf = (container: MedusaContainer): HisHerHubService => container.resolve(HIS_HER_HUB)

/**
 * Syncs the store's customer `id` to the hub and keeps the hub's id in the customer's metadata
 * (`hubCustomerId`). The metadata is written only when it changes, so the `customer.updated` it
 * causes syncs once more and stops. Answers the hub's customer id.
 */
export async function syncStoreCustomer(container: MedusaContainer, id: string): Promise<string> {
  const customers = container.resolve(Modules.CUSTOMER)
  const customer = (await customers.retrieveCustomer(id)) as StoreCustomer
  return syncLoaded(container, customer)
}

/** {@link syncStoreCustomer} of a customer already read. */
export async function syncLoaded(container: MedusaContainer, customer: StoreCustomer): Promise<string> {
  const hubId = await hubOf(container).syncCustomer(customer)
  if (customer.metadata?.[HUB_ID_KEY] !== hubId) {
    await container.resolve(Modules.CUSTOMER).updateCustomers(customer.id, { metadata: { ...(customer.metadata ?? {}), [HUB_ID_KEY]: hubId } })
  }
  return hubId
}

/** The fields of an order the plugin reads: enough to report it, or to see that it was canceled. */
export const ORDER_FIELDS = ['id', 'customer_id', 'currency_code', 'total', 'summary', 'created_at', 'updated_at', 'status', 'canceled_at']

/**
 * Reports the order `id` to the hub as it stands: a canceled one is cancelled, one of a
 * registered customer is recorded with what was spent on it (the customer synced first), a
 * guest's is left out. Reporting it again changes nothing unless the order changed.
 */
export async function reportOrder(container: MedusaContainer, id: string): Promise<void> {
  const query = container.resolve(ContainerRegistrationKeys.QUERY)
  const { data } = await query.graph({ entity: 'order', fields: ORDER_FIELDS, filters: { id } })
  const order = data[0] as (StoreOrder & { status?: string; canceled_at?: unknown }) | undefined
  if (!order) return
  if (order.status === 'canceled' || order.canceled_at) {
    await hubOf(container).cancelOrder(order.id)
    return
  }
  if (!order.customer_id) return
  const hubId = await syncStoreCustomer(container, order.customer_id)
  await hubOf(container).recordOrder(order, hubId)
}

/** The order a payment was made for (through its payment collection), if any. */
export async function orderOfPayment(container: MedusaContainer, paymentId: string): Promise<string | undefined> {
  const query = container.resolve(ContainerRegistrationKeys.QUERY)
  const { data: payments } = await query.graph({ entity: 'payment', fields: ['id', 'payment_collection_id'], filters: { id: paymentId } })
  const collection = (payments[0] as { payment_collection_id?: string } | undefined)?.payment_collection_id
  if (!collection) return undefined
  const { data: links } = await query.graph({ entity: 'order_payment_collection', fields: ['order_id'], filters: { payment_collection_id: collection } })
  return (links[0] as { order_id?: string } | undefined)?.order_id
}
