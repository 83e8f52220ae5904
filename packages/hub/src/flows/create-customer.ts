import type { Customer, CustomerInput, Identity, PendingRegistration } from '@his-her/contract'
import type { Services } from '../module.js'
import type { CustomerSettings } from '../customers/settings.js'
import { finalStatement, type Tx } from '../db/executor.js'
import { composeStatement } from '../db/statement.js'
import { HubError } from '../errors.js'
import { newId } from '../ids.js'
import { hashPassword } from '../auth/passwords.js'
import { normalizeEmail, normalizePhone } from '../identity/normalize.js'
import { checkMetadata, contactField } from '../customers/customer-mapper.js'

/**
 * `POST /customer`: an account when a password is given, else a guest record (when
 * `allow_guest_checkout`). A registration with the email of a guest record (when
 * `auto_merge_guest`; else 409 `EMAIL_TAKEN`): with `require_email_verification`, it waits
 * (202) for the verification token sent to the email, and then the guest becomes the account —
 * same id, its orders, groups, identities and reward accounts kept; without, the email moves to
 * a new account and the guest keeps its history, for an admin to merge. A new customer, its email and phone identities and `customer.created`
 * are one statement; a taken email or phone is refused by the identities' unique indexes
 * (409 `EMAIL_TAKEN` / `PHONE_TAKEN`).
 */
export async function createCustomer(tx: Tx, services: Services, settings: CustomerSettings, input: CustomerInput): Promise<Customer | PendingRegistration> {
  const { customers, identities, events } = services
  const email = input.email !== undefined ? normalizeEmail(input.email) : null
  const phone = input.phone != null ? normalizePhone(input.phone, settings.defaultCountry) : null
  const hasAccount = input.password !== undefined
  if (hasAccount) {
    if (!email) throw new HubError('VALIDATION_FAILED', 'An account needs an email address.')
    if (input.password!.length < settings.passwordMinLength) {
      throw new HubError('PASSWORD_TOO_SHORT', `The password must have at least ${settings.passwordMinLength} characters.`)
    }
  } else {
    if (!settings.allowGuestCheckout) throw new HubError('GUEST_CHECKOUT_DISABLED')
    if (!email && !phone) throw new HubError('IDENTIFIER_REQUIRED')
  }
  if (input.metadata) checkMetadata(input.metadata)
  const passwordHash = hasAccount ? await hashPassword(input.password!) : null
  if (hasAccount && settings.autoMergeGuest) {
    const guest = await guestHolding(tx, services, email!)
    if (guest && settings.requireEmailVerification) {
      // the guest becomes the account only when whoever registers shows they receive its email
      const details: CustomerInput = { firstName: input.firstName, lastName: input.lastName, phone: input.phone, currency: input.currency, metadata: input.metadata }
      const { expiresAt } = await services.sessions.requestRegistration(tx, guest.id, email!, passwordHash!, JSON.stringify(details))
      return { pendingVerification: true, email: email!, expiresAt }
    }
    // unverified, the registration cannot have the guest's history: the email moves to a new account, the rest stays with the guest
    if (guest) await releaseEmail(tx, services, guest, email!)
  }
  const now = new Date().toISOString()
  const id = newId('cus')
  const identity = (kind: 'email' | 'phone', value: string, raw: string): Identity => ({
    id: newId('idn'), customerId: id, kind, namespace: '', value, rawValue: raw, externalIdField: null,
    linkedBy: { via: 'create', component: null, rule: null }, mergeId: null, createdAt: now,
  })
  const linked: Identity[] = []
  if (email) linked.push(identity('email', email, input.email!))
  if (phone) linked.push(identity('phone', phone, input.phone!))
  const customer: Customer = {
    id,
    email: contactField(null, email ? [email] : []),
    firstName: input.firstName ?? null,
    lastName: input.lastName ?? null,
    phone: contactField(null, phone ? [phone] : []),
    addresses: [],
    groups: [],
    metadata: input.metadata ?? {},
    orderCount: 0,
    totalSpent: 0,
    currency: input.currency ?? null,
    hasAccount,
    emailVerified: false,
    createdAt: now,
    updatedAt: now,
  }
  await finalStatement(composeStatement(
    [
      ['c', customers.insertSql(customer, passwordHash)],
      ['i', linked.length ? identities.insertSql(linked) : undefined],
    ],
    events.insertSql(tx, [{ type: 'customer.created', customerId: id, payload: { customer } }]),
  )).execute(tx)
  return customer
}

/** The live guest record (no account) holding `email`, if any. */
async function guestHolding(tx: Tx, services: Services, email: string) {
  const holderId = await services.identities.holderOf(tx, 'email', '', email)
  if (!holderId) return undefined
  const holder = await services.customers.requireLive(tx, holderId, { lock: true }).catch(() => undefined)
  return holder && !holder.has_account ? holder : undefined
}

/** Unlinks `email` from the guest, whose email becomes the next one it holds (or none). */
async function releaseEmail(tx: Tx, services: Services, guest: { id: string; email: string | null }, email: string): Promise<void> {
  const { identities, customers } = services
  await identities.unlinkValue(tx, guest.id, 'email', email)
  await customers.change(tx, guest.id, { email: contactField(guest.email, await identities.values(tx, guest.id, 'email')) }, ['email'])
}
