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
  /** Mercur 2: the seller's memberships (`is_owner`, the member); Mercur 1.x: its members themselves (`role`). */
  members?: ({ is_owner?: boolean; member?: { id: string; email?: string | null } | null } & { id?: string; email?: string | null; role?: string })[] | null
}

const sellerFields = ['id', 'handle', 'name', 'email', 'phone', 'description', 'metadata']

/** The seller `id` and its owner: Mercur 2's member marked `is_owner`, Mercur 1.x's member of role `owner`; a seller with none is its own owner. */
async function sellerAndOwner(container: MedusaContainer, id: string): Promise<{ seller: MercurSeller; owner: { id: string; email: string | null } }> {
  const query = container.resolve(ContainerRegistrationKeys.QUERY)
  const read = async (fields: string[]) => (await query.graph({ entity: 'seller', fields: [...sellerFields, ...fields], filters: { id } })).data[0] as MercurSeller | undefined
  let seller = await read(['members.*'])
  if (!seller) throw new Error(`seller ${id} not found`)
  let owner: { id: string; email?: string | null } | null | undefined
  if (seller.members?.some((m) => m.is_owner !== undefined)) {
    // Mercur 2: the memberships, with the member of each
    seller = (await read(['members.is_owner', 'members.member.id', 'members.member.email']))!
    owner = seller.members?.find((m) => m.is_owner && m.member)?.member
  } else {
    const member = seller.members?.find((m) => m.role === 'owner' && m.id)
    owner = member ? { id: member.id!, email: member.email ?? null } : undefined
  }
  return { seller, owner: owner ? { id: owner.id, email: owner.email ?? null } : { id: seller.id, email: seller.email ?? null } }
}

/**
 * Onboards Mercur's seller `id` in the hub (its loyalty provider and service account, made once)
 * and writes the returned metadata — ids, handles and times, never a secret — onto the seller
 * (Mercur 2; a Mercur 1.x seller has no metadata).
 * The owner is Mercur 2's member marked `is_owner`, or Mercur 1.x's member of role `owner`; a
 * seller with none is its own owner.
 */
export async function onboardSeller(container: MedusaContainer, id: string): Promise<void> {
  const { seller, owner } = await sellerAndOwner(container, id)
  const result = await mercurOf(container).hisHer.features.mercurSeller.syncOnboarding({
    seller: { id: seller.id, handle: seller.handle, name: seller.name, email: seller.email ?? null, phone: seller.phone ?? null, description: seller.description ?? null },
    ownerMember: owner,
  })
  // Mercur 1.x's seller has no metadata: the hub finds its provider by the seller's id
  if (!('metadata' in seller)) return
  const sellers = container.resolve('seller') as { updateSellers(input: { id: string; metadata: Record<string, unknown> }): Promise<unknown> }
  await sellers.updateSellers({ id: seller.id, metadata: { ...(seller.metadata ?? {}), ...result.metadata } })
}
