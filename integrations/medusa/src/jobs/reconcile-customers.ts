import type { MedusaContainer } from '@medusajs/framework/types'
import { Modules } from '@medusajs/framework/utils'
import { syncLoaded } from '../lib/sync'
import type { StoreCustomer } from '../modules/his-her-hub/service'

/** How far back the first run after a start looks (the last run's time is not kept across restarts). */
export const FIRST_LOOKBACK_MS = 24 * 60 * 60 * 1000
const PAGE = 100

let lastRun: Date | null = null

/**
 * Medusa's event bus can drop an event (a restart between the write and the subscriber, a
 * failing subscriber): every five minutes the customers changed since the last run are synced
 * again (the run starts at the time the last one started, so a change during a run is seen by the next). A sync is idempotent, so a customer synced
 * already costs one request and changes nothing. Answers how many customers it synced.
 */
export async function reconcileCustomers(container: MedusaContainer, now = new Date()): Promise<number> {
  // the store's clock may be ahead of this process's by a little: look a minute further back
  const since = new Date((lastRun ?? new Date(now.getTime() - FIRST_LOOKBACK_MS)).getTime() - 60_000)
  const customers = container.resolve(Modules.CUSTOMER)
  let synced = 0
  for (let skip = 0; ; skip += PAGE) {
    const page = (await customers.listCustomers({ updated_at: { $gte: since } } as never, { skip, take: PAGE, order: { id: 'ASC' } })) as StoreCustomer[]
    for (const c of page) {
      await syncLoaded(container, c)
      synced++
    }
    if (page.length < PAGE) break
  }
  lastRun = now
  return synced
}

export default async function reconcileCustomersJob(container: MedusaContainer) {
  const synced = await reconcileCustomers(container)
  if (synced > 0) container.resolve('logger').info(`his-her: reconciled ${synced} customers with the hub`)
}

export const config = { name: 'his-her-reconcile-customers', schedule: '*/5 * * * *' }
