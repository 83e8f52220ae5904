import { sql, type Selectable } from 'kysely'
import type { Channel, LoyaltyProvider, Organization, ProviderStatus, SellerOnboardingInput } from '@his-her/contract'
import type { Executor, Tx } from '../db/executor.js'
import { RetryTransaction } from '../db/executor.js'
import { HubError } from '../errors.js'
import { newId } from '../ids.js'
import type { EventService } from '../events/event-store.js'
import type { LoyaltyProvidersTable } from './tables.js'

type ProviderRow = Selectable<LoyaltyProvidersTable>

function toProvider(r: ProviderRow): LoyaltyProvider {
  return {
    id: r.id,
    kind: r.kind,
    handle: r.handle,
    name: r.name,
    email: r.email,
    phone: r.phone,
    description: r.description,
    sellerId: r.seller_id,
    ownerMemberId: r.owner_member_id,
    ownerEmail: r.owner_email,
    organizationId: r.organization_id,
    status: r.status,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  }
}

/** The fields of a seller's provider that its marketplace record decides. */
type SellerFields = Pick<ProviderRow, 'name' | 'email' | 'phone' | 'description' | 'owner_member_id' | 'owner_email' | 'organization_id'>

const transitions: Record<'suspend' | 'resume' | 'terminate', { to: ProviderStatus; from: ProviderStatus[]; event: 'seller.suspended' | 'seller.resumed' | 'seller.terminated' }> = {
  suspend: { to: 'suspended', from: ['active'], event: 'seller.suspended' },
  resume: { to: 'active', from: ['suspended'], event: 'seller.resumed' },
  terminate: { to: 'terminated', from: ['active', 'suspended'], event: 'seller.terminated' },
}

/**
 * Loyalty providers (the house's and one per marketplace seller), organizations and channels.
 * Find-or-create is an `INSERT … ON CONFLICT DO NOTHING` on the unique indexes (seller id,
 * handle), so concurrent onboardings of one seller, on any number of processes, make one provider.
 */
export function createProviderService({ events, clock }: { events: EventService; clock: () => Date }) {
  async function byId(exec: Executor, id: string): Promise<ProviderRow | undefined> {
    return exec.selectFrom('loyalty_providers').selectAll().where('id', '=', id).executeTakeFirst()
  }

  /** Inserts a provider unless its seller id or handle exists; undefined when one did. */
  async function insert(tx: Tx, row: Omit<ProviderRow, 'id' | 'status' | 'created_at' | 'updated_at'>): Promise<ProviderRow | undefined> {
    const now = clock()
    return tx.insertInto('loyalty_providers').values({ id: newId('lpr'), ...row, created_at: now, updated_at: now }).onConflict((oc) => oc.doNothing()).returningAll().executeTakeFirst()
  }

  return {
    toProvider,

    async ensureOrganization(tx: Tx, id: string): Promise<void> {
      await tx.insertInto('organizations').values({ id }).onConflict((oc) => oc.doNothing()).execute()
    },

    /**
     * The seller's provider: made on first onboarding (`created`), else brought up to date with
     * the marketplace's record (`seller.updated` when a field changed). 409 `SELLER_HANDLE_TAKEN`
     * when another seller or the house owns the handle, `SELLER_HANDLE_CHANGED` when this seller
     * was onboarded under another handle, `SELLER_TERMINATED` for a terminated seller.
     */
    async onboard(tx: Tx, input: SellerOnboardingInput, organizationId: string): Promise<{ provider: LoyaltyProvider; created: boolean }> {
      const { seller, ownerMember } = input
      const fields: SellerFields = {
        name: seller.name,
        email: seller.email ?? null,
        phone: seller.phone ?? null,
        description: seller.description ?? null,
        owner_member_id: ownerMember.id,
        owner_email: ownerMember.email ?? null,
        organization_id: organizationId,
      }
      const made = await insert(tx, { kind: 'seller', handle: seller.handle, seller_id: seller.id, ...fields })
      if (made) {
        const provider = toProvider(made)
        await events.emit(tx, { type: 'seller.onboarded', customerId: null, payload: { provider } })
        return { provider, created: true }
      }
      const existing = await tx.selectFrom('loyalty_providers').selectAll().where('seller_id', '=', seller.id).forUpdate().executeTakeFirst()
      if (!existing) {
        const owner = await tx.selectFrom('loyalty_providers').select(['seller_id']).where('handle', '=', seller.handle).executeTakeFirst()
        if (owner) throw new HubError('SELLER_HANDLE_TAKEN', `The handle ${seller.handle} belongs to ${owner.seller_id === null ? 'the house' : 'another seller'}.`)
        throw new RetryTransaction('the provider that refused the insert is gone')
      }
      if (existing.handle !== seller.handle) {
        throw new HubError('SELLER_HANDLE_CHANGED', `Seller ${seller.id} was onboarded as ${existing.handle}, not ${seller.handle}.`, { handle: existing.handle })
      }
      if (existing.status === 'terminated') throw new HubError('SELLER_TERMINATED', `Seller ${seller.id} was terminated.`)
      const changed = (Object.keys(fields) as (keyof SellerFields)[]).some((k) => existing[k] !== fields[k])
      if (!changed) return { provider: toProvider(existing), created: false }
      const updated = await tx.updateTable('loyalty_providers').set({ ...fields, updated_at: clock() }).where('id', '=', existing.id).returningAll().executeTakeFirstOrThrow()
      const provider = toProvider(updated)
      await events.emit(tx, { type: 'seller.updated', customerId: null, payload: { provider } })
      return { provider, created: false }
    },

    /** The house's provider under the partner handle, made once. */
    async ensurePartner(tx: Tx, handle: string, name: string | undefined, organizationId: string): Promise<{ provider: LoyaltyProvider; created: boolean }> {
      const made = await insert(tx, {
        kind: 'house', handle, seller_id: null, name: name ?? handle, email: null, phone: null, description: null, owner_member_id: null, owner_email: null, organization_id: organizationId,
      })
      if (made) return { provider: toProvider(made), created: true }
      const existing = await tx.selectFrom('loyalty_providers').selectAll().where('handle', '=', handle).executeTakeFirst()
      if (!existing) throw new RetryTransaction('the provider that refused the insert is gone')
      if (existing.kind !== 'house') throw new HubError('SELLER_HANDLE_TAKEN', `The handle ${handle} belongs to a seller.`)
      if (name !== undefined && existing.name !== name) {
        return { provider: toProvider(await tx.updateTable('loyalty_providers').set({ name, updated_at: clock() }).where('id', '=', existing.id).returningAll().executeTakeFirstOrThrow()), created: false }
      }
      return { provider: toProvider(existing), created: false }
    },

    /**
     * Moves a seller (by the marketplace's id or the provider's) to suspended, active or
     * terminated by a guarded update; `changed: false` when it was there already. Terminated is final.
     */
    async transition(tx: Tx, id: string, action: 'suspend' | 'resume' | 'terminate'): Promise<{ provider: LoyaltyProvider; changed: boolean }> {
      const t = transitions[action]
      const row = await tx.selectFrom('loyalty_providers').selectAll().where('kind', '=', 'seller').where((eb) => eb.or([eb('seller_id', '=', id), eb('id', '=', id)])).forUpdate().executeTakeFirst()
      if (!row) throw new HubError('SELLER_NOT_FOUND', `No seller has the id ${id}.`)
      if (row.status === t.to) return { provider: toProvider(row), changed: false }
      if (!t.from.includes(row.status)) throw new HubError('SELLER_TERMINATED', `Seller ${id} was terminated; that is final.`)
      const updated = await tx.updateTable('loyalty_providers').set({ status: t.to, updated_at: clock() }).where('id', '=', row.id).where('status', 'in', t.from).returningAll().executeTakeFirst()
      if (!updated) throw new RetryTransaction(`seller ${id} changed meanwhile`)
      const provider = toProvider(updated)
      await events.emit(tx, { type: t.event, customerId: null, payload: { provider } })
      return { provider, changed: true }
    },

    /**
     * The provider's status, its row share-locked in a write: a suspension waits for redemptions
     * under way, and a redemption that comes after it sees it.
     */
    async statusForUse(tx: Tx, id: string): Promise<ProviderStatus> {
      const { rows } = await sql<{ status: ProviderStatus }>`SELECT status FROM loyalty_providers WHERE id = ${id} FOR SHARE`.execute(tx)
      if (!rows[0]) throw new HubError('PROVIDER_NOT_FOUND', `No loyalty provider has the id ${id}.`)
      return rows[0].status
    },

    async get(exec: Executor, id: string): Promise<LoyaltyProvider> {
      const row = await byId(exec, id)
      if (!row) throw new HubError('PROVIDER_NOT_FOUND', `No loyalty provider has the id ${id}.`)
      return toProvider(row)
    },

    async list(exec: Executor, filter: { kind?: 'house' | 'seller'; status?: ProviderStatus }): Promise<LoyaltyProvider[]> {
      let q = exec.selectFrom('loyalty_providers').selectAll().orderBy('created_at').orderBy('id')
      if (filter.kind) q = q.where('kind', '=', filter.kind)
      if (filter.status) q = q.where('status', '=', filter.status)
      return (await q.execute()).map(toProvider)
    },

    /** The channel of a handle, made on first use. */
    async ensureChannel(tx: Tx, handle: string): Promise<string> {
      await tx.insertInto('channels').values({ id: newId('chn'), handle }).onConflict((oc) => oc.doNothing()).execute()
      return (await tx.selectFrom('channels').select('id').where('handle', '=', handle).executeTakeFirstOrThrow()).id
    },

    async channels(exec: Executor): Promise<Channel[]> {
      const rows = await exec.selectFrom('channels').selectAll().orderBy('handle').execute()
      return rows.map((r) => ({ id: r.id, handle: r.handle, createdAt: r.created_at.toISOString() }))
    },

    async organizations(exec: Executor): Promise<Organization[]> {
      const rows = await exec.selectFrom('organizations').selectAll().orderBy('id').execute()
      return rows.map((r) => ({ id: r.id, createdAt: r.created_at.toISOString() }))
    },

    /** Handles of channels by id, for answers. */
    async channelHandles(exec: Executor, ids: string[]): Promise<Map<string, string>> {
      if (ids.length === 0) return new Map()
      const rows = await exec.selectFrom('channels').select(['id', 'handle']).where('id', 'in', ids).execute()
      return new Map(rows.map((r) => [r.id, r.handle]))
    },
  }
}
export type ProviderService = ReturnType<typeof createProviderService>
