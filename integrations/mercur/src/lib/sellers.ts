import type { MedusaContainer } from '@medusajs/framework/types'
import { ContainerRegistrationKeys } from '@medusajs/framework/utils'
import { HIS_HER_MERCUR } from '../modules/his-her-mercur'
import type HisHerMercurService from '../modules/his-her-mercur/service'

export const mercurOf = (container: MedusaContainer): HisHerMercurService => container.resolve(HIS_HER_MERCUR)

interface MercurSeller {
  id: string
  handle: string
  name: string
  email?: string | null
  phone?: string | null
  description?: string | null
  metadata?: Record<string, unknown> | null
  members?: { is_owner?: boolean; member?: { id: string; email?: string | null } | null }[] | null
}

/**
 * Onboards Mercur's seller `id` in the hub (its loyalty provider and service account, made once)
 * and writes the returned metadata — ids, handles and times, never a secret — onto the seller.
 * The owner is the seller's member marked `is_owner`; a seller with none is its own owner.
 */
export async function onboardSeller(container: MedusaContainer, id: string): Promise<void> {
  const query = container.resolve(ContainerRegistrationKeys.QUERY)
  const { data } = await query.graph({
    entity: 'seller',
    fields: ['id', 'handle', 'name', 'email', 'phone', 'description', 'metadata', 'members.is_owner', 'members.member.id', 'members.member.email'],
    filters: { id },
  })
  const seller = data[0] as MercurSeller | undefined
  if (!seller) throw new Error(`seller ${id} not found`)
  const owner = seller.members?.find((m) => m.is_owner && m.member)?.member
  const result = await mercurOf(container).hisHer.features.mercurSeller.syncOnboarding({
    seller: { id: seller.id, handle: seller.handle, name: seller.name, email: seller.email ?? null, phone: seller.phone ?? null, description: seller.description ?? null },
    ownerMember: owner ? { id: owner.id, email: owner.email ?? null } : { id: seller.id, email: seller.email ?? null },
  })
  const sellers = container.resolve('seller') as { updateSellers(input: { id: string; metadata: Record<string, unknown> }): Promise<unknown> }
  await sellers.updateSellers({ id: seller.id, metadata: { ...(seller.metadata ?? {}), ...result.metadata } })
}
