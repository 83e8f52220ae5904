import type { LoyaltyProvider, PartnerInput, PartnerResult, SellerOnboardingInput, SellerOnboardingResult, SellerStatusResult, ServiceAccount, ServiceAccountSpec } from '@his-her/contract'
import type { Tx } from '../db/executor.js'
import { HubError } from '../errors.js'
import type { Services } from '../module.js'

/**
 * The provider's service account: made on first onboarding with the provider's handle, the given
 * password, role and organization; brought to them on a later one (a rotated shared secret gives
 * a new derived password, which replaces the old).
 */
async function ensureServiceAccount(tx: Tx, services: Services, provider: LoyaltyProvider, spec: ServiceAccountSpec): Promise<{ account: ServiceAccount; created: boolean }> {
  const existing = await services.serviceAccounts.ofProvider(tx, provider.id)
  if (existing) return { account: await services.serviceAccounts.reconcile(tx, existing.id, spec), created: false }
  try {
    const account = await services.serviceAccounts.create(tx, { handle: provider.handle, password: spec.password, roleId: spec.roleId, organizationId: spec.organizationId, providerId: provider.id })
    return { account, created: true }
  } catch (err) {
    if (err instanceof HubError && err.code === 'SERVICE_ACCOUNT_TAKEN') {
      throw new HubError('SELLER_HANDLE_TAKEN', `A service account that is not this provider's has the handle ${provider.handle}.`)
    }
    throw err
  }
}

/**
 * Onboards a marketplace seller, once: its loyalty provider (found by the seller's id; unique
 * index) and its service account (`<handle>@<service email domain>`), in the request's one
 * transaction. Concurrent calls for one seller, on any processes, end with one of each. The
 * answer's `metadata` holds ids, handles and times only.
 */
export async function onboardSeller(tx: Tx, services: Services, input: SellerOnboardingInput, now: Date): Promise<SellerOnboardingResult> {
  const spec = input.serviceAccount
  await services.providers.ensureOrganization(tx, spec.organizationId)
  const { provider, created } = await services.providers.onboard(tx, input, spec.organizationId)
  const { account } = await ensureServiceAccount(tx, services, provider, spec)
  return {
    created,
    provider,
    serviceAccount: account,
    metadata: {
      customerHubProviderId: provider.id,
      customerHubProviderHandle: provider.handle,
      customerHubServiceAccountId: account.id,
      customerHubServiceAccountEmail: account.email,
      customerHubOrganizationId: account.organizationId,
      customerHubRoleId: account.roleId,
      customerHubOnboardedAt: provider.createdAt,
      customerHubSyncedAt: now.toISOString(),
    },
  }
}

/** The house's provider under the partner handle and its service account, made once. */
export async function ensurePartner(tx: Tx, services: Services, input: PartnerInput): Promise<PartnerResult> {
  const spec = input.serviceAccount
  await services.providers.ensureOrganization(tx, spec.organizationId)
  const { provider, created } = await services.providers.ensurePartner(tx, input.handle, input.name, spec.organizationId)
  const { account } = await ensureServiceAccount(tx, services, provider, spec)
  return { created, provider, serviceAccount: account }
}

/** Suspends, resumes or terminates a seller: its provider's status and its service account's, together. */
export async function changeSellerStatus(tx: Tx, services: Services, id: string, action: 'suspend' | 'resume' | 'terminate'): Promise<SellerStatusResult> {
  const result = await services.providers.transition(tx, id, action)
  if (result.changed) await services.serviceAccounts.setStatus(tx, result.provider.id, result.provider.status)
  return result
}
