import type { CustomerInput, CustomerMePatch, MyCustomer } from '@his-her/contract'
import type { Services } from '../module.js'
import type { CustomerSettings } from '../customers/settings.js'
import { RetryTransaction, withTransaction, type Executor, type Tx } from '../db/executor.js'
import { isRetryable } from '../db/pg-errors.js'
import type { OneTimePurpose } from '../auth/tables.js'
import { HubError } from '../errors.js'
import { normalizeEmail, normalizePhone } from '../identity/normalize.js'
import { contactField } from '../customers/customer-mapper.js'
import { updateCustomer } from './update-customer.js'

/**
 * `PATCH /customer/me`. Names change at once. A new email or phone needs the current password
 * and waits for the token sent to it (`customer.email_change_requested` /
 * `customer.phone_change_requested`; the current email gets `customer.contact_change_notice`):
 * until the token comes back nothing is linked, so a customer cannot take over the identity of
 * another person by typing their address. Removing the phone needs the password and happens at
 * once.
 */
export async function updateMe(tx: Tx, services: Services, settings: CustomerSettings, id: string, body: CustomerMePatch): Promise<MyCustomer> {
  const { customers, sessions } = services
  const { currentPassword, email: rawEmail, phone: rawPhone, ...names } = body
  if (Object.keys(body).length === 0 || (Object.keys(body).length === 1 && currentPassword !== undefined)) throw new HubError('EMPTY_PATCH')
  const email = rawEmail !== undefined ? normalizeEmail(rawEmail) : undefined
  const phone = rawPhone === undefined ? undefined : rawPhone === null ? null : normalizePhone(rawPhone, settings.defaultCountry)
  const current = await customers.requireLive(tx, id, { lock: true })
  const newEmail = email !== undefined && email !== current.email ? email : undefined
  const newPhone = phone !== undefined && phone !== current.phone ? phone : undefined
  if (newEmail !== undefined || newPhone !== undefined) await sessions.confirmPassword(tx, id, currentPassword)

  const patch = { ...names, ...(newPhone === null ? { phone: null } : {}) }
  if (Object.keys(patch).length > 0) await updateCustomer(tx, services, settings, id, patch)
  if (newEmail !== undefined) await sessions.requestContactChange(tx, id, current.email!, 'email', newEmail)
  if (newPhone) await sessions.requestContactChange(tx, id, current.email!, 'phone', newPhone)
  return myCustomer(tx, services, id)
}

/** `GET /customer/me`: the record and the changes of email and phone that wait for their token. */
export async function myCustomer(db: Executor, services: Services, id: string): Promise<MyCustomer> {
  const customer = await services.customers.get(db, id)
  return { ...customer, pending: await services.sessions.pendingContactChanges(db, id) }
}

/** Runs `fn` in a transaction of its own, again when it lost a race or a deadlock (a public route has no unit of work). */
async function inTransaction<T>(db: Executor, fn: (tx: Tx) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await withTransaction(db, fn)
    } catch (err) {
      if (!(err instanceof RetryTransaction || isRetryable(err)) || attempt >= 3) throw err
    }
  }
}

/**
 * Uses up a token of `purposes` with its customer's row locked first — the order every change of a
 * customer's tokens keeps (customer, then tokens), so two tokens of one customer used at once
 * cannot deadlock. Returns the token's row and the customer as it is now (undefined: gone).
 */
async function consumeLocked(tx: Tx, services: Services, purposes: OneTimePurpose[], token: string) {
  const holder = await services.sessions.oneTimeTokenHolder(tx, purposes, token)
  if (!holder) throw new HubError('INVALID_TOKEN')
  const current = await services.customers.requireLive(tx, holder, { lock: true }).catch(() => undefined)
  const row = await services.sessions.consumeOneTimeToken(tx, purposes, token)
  return { row, current }
}

/**
 * `POST /auth/verify-email`: a verification token marks the email verified; a change-of-email
 * token moves the customer's email to the new, now verified, address (409 `EMAIL_TAKEN` when
 * another customer took it meanwhile); a registration token turns the guest record into the
 * account it waited for. Every kind works only while the customer still has the email the
 * token is bound to.
 */
export async function verifyEmail(db: Executor, services: Services, settings: CustomerSettings, token: string): Promise<{ customerId: string }> {
  const { customers, sessions, events } = services
  return inTransaction(db, async (tx) => {
    const { row, current } = await consumeLocked(tx, services, ['verify_email', 'change_email', 'register'], token)
    const id = row.customer_id
    if (!current || current.email !== row.email) throw new HubError('INVALID_TOKEN')
    if (row.purpose === 'change_email') {
      if (!current.has_account) throw new HubError('INVALID_TOKEN')
      await updateCustomer(tx, services, settings, id, { email: row.value! })
      await customers.markEmailVerified(tx, id, row.value!)
    } else if (row.purpose === 'register') {
      await completeRegistration(tx, services, settings, current, row.password_hash!, JSON.parse(row.value ?? '{}') as CustomerInput)
    } else if (!(await customers.markEmailVerified(tx, id, row.email))) {
      throw new HubError('INVALID_TOKEN')
    }
    await events.emit(tx, { type: 'customer.email_verified', customerId: id, payload: { customerId: id } })
    return { customerId: id }
  })
}

/**
 * `POST /auth/verify-phone`: a change-of-phone token links the new phone as the customer's
 * primary phone (409 `PHONE_TAKEN` when another customer took it meanwhile), while the customer
 * still has the email the change was asked under.
 */
export async function verifyPhone(db: Executor, services: Services, settings: CustomerSettings, token: string): Promise<{ customerId: string; phone: string }> {
  const { customers, sessions } = services
  return inTransaction(db, async (tx) => {
    const { row, current } = await consumeLocked(tx, services, ['change_phone'], token)
    if (!current || !current.has_account || current.email !== row.email) throw new HubError('INVALID_TOKEN')
    await updateCustomer(tx, services, settings, row.customer_id, { phone: row.value! })
    return { customerId: row.customer_id, phone: row.value! }
  })
}

/** The guest becomes the account its verified email was registered for: same id, its orders, groups and identities kept. */
async function completeRegistration(
  tx: Tx,
  services: Services,
  settings: CustomerSettings,
  guest: { id: string; email: string | null; phone: string | null; has_account: boolean },
  passwordHash: string,
  input: CustomerInput,
): Promise<void> {
  const { customers, identities, events, sessions } = services
  if (guest.has_account) throw new HubError('INVALID_TOKEN')
  await customers.convertGuest(tx, guest.id, passwordHash, input)
  await customers.markEmailVerified(tx, guest.id, guest.email!)
  const phone = input.phone ? normalizePhone(input.phone, settings.defaultCountry) : null
  if (phone && guest.phone !== phone) {
    // the guest may already hold this phone as a second identity; another customer may not
    await identities.linkContact(tx, guest.id, 'phone', phone, input.phone!, 'create')
    const value = contactField(guest.phone, await identities.values(tx, guest.id, 'phone'))
    if (value !== guest.phone) await customers.change(tx, guest.id, { phone: value }, [])
  }
  // other registrations that waited for this email lose: the account exists now
  await sessions.revokeOneTimeTokens(tx, guest.id, 'register')
  const customer = await customers.get(tx, guest.id)
  await events.emit(tx, { type: 'customer.merged', customerId: guest.id, payload: { reason: 'guest_registered', targetId: guest.id, sourceId: guest.id, customer } })
}
