import type { Customer, CustomerPatch } from '@his-her/contract'
import type { Services } from '../module.js'
import type { CustomerSettings } from '../customers/settings.js'
import type { CustomerChange } from '../customers/customer-service.js'
import type { Tx } from '../db/executor.js'
import { HubError } from '../errors.js'
import { normalizeEmail, normalizePhone } from '../identity/normalize.js'
import { contactField, mergeMetadata } from '../customers/customer-mapper.js'

/**
 * `PATCH /customer/:id` and `/customer/me`: changes the given fields and nothing else. A changed
 * email or phone moves the customer's primary identity with it (409 `EMAIL_TAKEN` /
 * `PHONE_TAKEN` when another customer holds the new value); its other identities of the kind
 * stay. A new email is unverified, and the verification and reset links sent before stop working.
 * `metadata` is merged key by key, a null value removing the key.
 */
export async function updateCustomer(tx: Tx, services: Services, settings: CustomerSettings, id: string, patch: CustomerPatch): Promise<Customer> {
  const { customers, identities } = services
  if (Object.keys(patch).length === 0) throw new HubError('EMPTY_PATCH')
  const email = patch.email !== undefined ? normalizeEmail(patch.email) : undefined
  const phone = patch.phone === undefined ? undefined : patch.phone === null ? null : normalizePhone(patch.phone, settings.defaultCountry)
  const current = await customers.requireLive(tx, id, { lock: true })

  const set: CustomerChange = {}
  const changed: string[] = []
  for (const [kind, value, raw] of [['email', email, patch.email], ['phone', phone, patch.phone]] as const) {
    if (value === undefined || value === current[kind]) continue
    if (current[kind] !== null) await identities.unlinkValue(tx, id, kind, current[kind]!)
    if (value !== null) await identities.linkContact(tx, id, kind, value, raw ?? value, 'profile')
    set[kind] = contactField(current[kind], await identities.values(tx, id, kind), value)
    if (kind === 'email') {
      set.email_verified = false
      // links sent to the old address (verification, password reset) stop working
      await services.sessions.revokeOneTimeTokens(tx, id)
    }
    changed.push(kind)
  }
  if (patch.firstName !== undefined && patch.firstName !== current.first_name) {
    set.first_name = patch.firstName
    changed.push('firstName')
  }
  if (patch.lastName !== undefined && patch.lastName !== current.last_name) {
    set.last_name = patch.lastName
    changed.push('lastName')
  }
  if (patch.metadata !== undefined) {
    const merged = mergeMetadata(current.metadata, patch.metadata)
    if (JSON.stringify(merged) !== JSON.stringify(current.metadata)) {
      set.metadata = JSON.stringify(merged)
      changed.push('metadata')
    }
  }
  if (changed.length === 0) return customers.get(tx, id)
  return customers.change(tx, id, set, changed)
}
