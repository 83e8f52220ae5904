import type { SubscriberArgs, SubscriberConfig } from '@medusajs/framework'
import { ContainerRegistrationKeys } from '@medusajs/framework/utils'
import { hubOf, syncStoreCustomer } from '../lib/sync'
import type { StoreOrder } from '../modules/his-her-hub/service'

/**
 * An order placed by a registered customer is reported to the hub, keyed by the order's id: the
 * customer's order count and total follow, and the hub's ledger earns the order's points. A
 * guest's order (no customer) is left out.
 */
export default async function orderPlaced({ event, container }: SubscriberArgs<{ id: string }>) {
  const query = container.resolve(ContainerRegistrationKeys.QUERY)
  const { data } = await query.graph({ entity: 'order', fields: ['id', 'customer_id', 'currency_code', 'total', 'created_at'], filters: { id: event.data.id } })
  const order = data[0] as StoreOrder | undefined
  if (!order?.customer_id) return
  const hubId = await syncStoreCustomer(container, order.customer_id)
  await hubOf(container).recordOrder(order, hubId)
}

export const config: SubscriberConfig = { event: 'order.placed' }
