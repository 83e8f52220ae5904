import type { Customer, Identity, IdentityInput, LookupQuery, MatchRule } from '@his-her/contract'
import type { Services } from '../module.js'
import type { CustomerSettings } from '../customers/settings.js'
import type { Executor, Tx } from '../db/executor.js'
import { HubError } from '../errors.js'
import { contactField, toCustomer } from '../customers/customer-mapper.js'
import { cascade, matchKeys } from '../identity/match.js'
import { findCandidates } from './match.js'

/** A live customer's identities. */
export async function listIdentities(exec: Executor, { customers, identities }: Services, customerId: string): Promise<Identity[]> {
  await customers.requireLive(exec, customerId)
  return identities.list(exec, customerId)
}

/**
 * Links an identity to a live customer; an email or phone becomes the customer's field when it
 * had none (the rule of `contactField`).
 */
export async function linkIdentity(tx: Tx, { customers, identities }: Services, customerId: string, input: IdentityInput): Promise<{ identity: Identity; created: boolean }> {
  identities.normalize(input) // a malformed value is refused before anything is read
  const current = await customers.requireLive(tx, customerId, { lock: true })
  const result = await identities.link(tx, customerId, input)
  if (result.created && (input.kind === 'email' || input.kind === 'phone')) {
    const value = contactField(current[input.kind], await identities.values(tx, customerId, input.kind))
    if (value !== current[input.kind]) await customers.change(tx, customerId, { [input.kind]: value }, [])
  }
  return result
}

/** Unlinks an identity; the customer's email/phone field moves to another of that kind, or null. */
export async function unlinkIdentity(tx: Tx, { customers, identities }: Services, customerId: string, identityId: string): Promise<void> {
  const current = await customers.requireLive(tx, customerId, { lock: true })
  const removed = await identities.unlink(tx, customerId, identityId)
  if (removed.kind === 'email' || removed.kind === 'phone') {
    const value = contactField(current[removed.kind], await identities.values(tx, customerId, removed.kind))
    if (value !== current[removed.kind]) await customers.change(tx, customerId, { [removed.kind]: value }, [])
  }
}

/** The cascade of `POST /customer/sync` without writing: 404 `NO_MATCH` when nobody matches. */
export async function lookupCustomer(exec: Executor, services: Services, settings: CustomerSettings, query: LookupQuery): Promise<{ customer: Customer; matchedBy: MatchRule }> {
  const keys = matchKeys(query, settings.defaultCountry)
  if (!keys.platform && !keys.email && !keys.phone) throw new HubError('IDENTIFIER_REQUIRED', 'Give component with externalId, email or phone.')
  const { match, matchedBy } = cascade(keys, await findCandidates(exec, services, keys))
  if (!match || !matchedBy) throw new HubError('NO_MATCH')
  return { customer: toCustomer(match.customer), matchedBy }
}

/**
 * Soft-deletes a customer: the record stays (orders and totals keep their arithmetic), its
 * identities go, so its email and phone are free for another customer.
 */
export async function deleteCustomer(tx: Tx, { customers, identities }: Services, customerId: string): Promise<void> {
  await customers.markDeleted(tx, customerId)
  await identities.removeAll(tx, customerId)
}
