import type { Customer, CustomerInput, Identity } from '@his-her/contract'
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
 * `allow_guest_checkout`). An account whose email a guest holds becomes that guest (when
 * `auto_merge_guest`; else 409 `EMAIL_TAKEN`): same id, its orders, groups, identities and
 * reward accounts kept. A new customer, its email and phone identities and `customer.created`
 * are one statement; a taken email or phone is refused by the identities' unique indexes
 * (409 `EMAIL_TAKEN` / `PHONE_TAKEN`).
 */
export async function createCustomer(tx: Tx, services: Services, settings: CustomerSettings, input: CustomerInput): Promise<Customer> {
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
    const guest = await registerGuest(tx, services, email!, phone, passwordHash!, input)
    if (guest) return guest
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

/**
 * Registration with the email of a guest record: the guest becomes the account. Returns
 * undefined when no guest holds the email (an account holding it answers 409 from the insert).
 */
async function registerGuest(tx: Tx, services: Services, email: string, phone: string | null, passwordHash: string, input: CustomerInput): Promise<Customer | undefined> {
  const { customers, identities, events } = services
  const holderId = await identities.holderOf(tx, 'email', '', email)
  if (!holderId) return undefined
  const holder = await customers.requireLive(tx, holderId).catch(() => undefined)
  if (!holder || holder.has_account) return undefined
  await customers.convertGuest(tx, holder.id, passwordHash, input)
  if (phone && holder.phone !== phone) {
    // the guest may already hold this phone as a second identity; another customer may not
    await identities.linkContact(tx, holder.id, 'phone', phone, input.phone!, 'create')
    const value = contactField(holder.phone, await identities.values(tx, holder.id, 'phone'))
    if (value !== holder.phone) await customers.change(tx, holder.id, { phone: value }, [])
  }
  const customer = await customers.get(tx, holder.id)
  await events.emit(tx, { type: 'customer.merged', customerId: holder.id, payload: { reason: 'guest_registered', targetId: holder.id, sourceId: holder.id, customer } })
  return customer
}
