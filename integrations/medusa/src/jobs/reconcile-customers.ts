import type { MedusaContainer } from '@medusajs/framework/types'
import { ContainerRegistrationKeys, Modules } from '@medusajs/framework/utils'
import { hubOf, ORDER_FIELDS, syncLoaded, syncStoreCustomer } from '../lib/sync'
import type { StoreCustomer, StoreGiftCard, StoreOrder } from '../modules/his-her-hub/service'

/** How far back the first run after a start looks (the last run's time is not kept across restarts). */
export const FIRST_LOOKBACK_MS = 24 * 60 * 60 * 1000
const PAGE = 100

let lastRun: Date | null = null

/**
 * Medusa's event bus can drop an event (a restart between the write and the subscriber, a
 * subscriber failing while the hub was away): every five minutes the customers and the orders
 * changed since the last run are sent again — customers synced, orders of registered customers
 * reported with what was spent on them as they stand, canceled ones cancelled (a refund or a
 * return that changes what an order is worth changes the order: Medusa confirms an order change
 * for it) — and,
 * with Medusa's loyalty plugin, the gift cards issued or
 * changed that the hub does not have yet, issued as the partner's coupons (that plugin emits no
 * event to follow). The run looks back from the time the last one started, so a
 * change during a run is seen by the next. Every call is idempotent (a sync by the customer's
 * id, an order by the order's id), so what the hub has already changes nothing. Answers how many
 * customers, orders and gift cards it sent.
 */
export async function reconcileCustomers(container: MedusaContainer, now = new Date()): Promise<{ customers: number; orders: number; giftCards: number }> {
  // the store's clock may be ahead of this process's by a little: look a minute further back
  const since = new Date((lastRun ?? new Date(now.getTime() - FIRST_LOOKBACK_MS)).getTime() - 60_000)
  const customers = container.resolve(Modules.CUSTOMER)
  // the hub's id of each customer this run synced: their orders below need no second sync
  const hubIds = new Map<string, string>()
  for (let skip = 0; ; skip += PAGE) {
    const page = (await customers.listCustomers({ updated_at: { $gte: since } } as never, { skip, take: PAGE, order: { id: 'ASC' } })) as StoreCustomer[]
    for (const c of page) hubIds.set(c.id, await syncLoaded(container, c))
    if (page.length < PAGE) break
  }
  const synced = hubIds.size
  const query = container.resolve(ContainerRegistrationKeys.QUERY)
  const hub = hubOf(container)
  let orders = 0
  for (let skip = 0; ; skip += PAGE) {
    const { data } = await query.graph({
      entity: 'order',
      fields: ORDER_FIELDS,
      filters: { updated_at: { $gte: since } },
      pagination: { skip, take: PAGE, order: { id: 'ASC' } },
    })
    for (const order of data as (StoreOrder & { status?: string; canceled_at?: unknown })[]) {
      if (order.status === 'canceled' || order.canceled_at) await hub.cancelOrder(order.id)
      else if (order.customer_id) {
        const hubId = hubIds.get(order.customer_id) ?? (await syncStoreCustomer(container, order.customer_id))
        hubIds.set(order.customer_id, hubId)
        await hub.recordOrder(order, hubId)
      } else continue
      orders++
    }
    if (data.length < PAGE) break
  }
  // gift cards of Medusa's loyalty plugin, which emits no event when it issues one
  let giftCards = 0
  if (container.hasRegistration('loyalty')) {
    for (let skip = 0; ; skip += PAGE) {
      const { data } = await query.graph({
        entity: 'gift_card',
        fields: ['id', 'code', 'value', 'currency_code', 'expires_at'],
        filters: { updated_at: { $gte: since } },
        pagination: { skip, take: PAGE, order: { id: 'ASC' } },
      })
      for (const card of data as StoreGiftCard[]) if (await hub.syncGiftCard(card)) giftCards++
      if (data.length < PAGE) break
    }
  }
  lastRun = now
  return { customers: synced, orders, giftCards }
}

export default async function reconcileCustomersJob(container: MedusaContainer) {
  const sent = await reconcileCustomers(container)
  if (sent.customers + sent.orders + sent.giftCards > 0) {
    container.resolve('logger').info(`his-her: sent ${sent.customers} customers, ${sent.orders} orders and ${sent.giftCards} gift cards to the hub`)
  }
}

export const config = { name: 'his-her-reconcile-customers', schedule: '*/5 * * * *' }
