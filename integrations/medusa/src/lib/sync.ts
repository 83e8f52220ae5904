import type { MedusaContainer } from '@medusajs/framework/types'
import { Modules } from '@medusajs/framework/utils'
import { HIS_HER_HUB } from '../modules/his-her-hub'
import type HisHerHubService from '../modules/his-her-hub/service'
import { HUB_ID_KEY, type StoreCustomer } from '../modules/his-her-hub/service'

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
