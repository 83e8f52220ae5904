import type { EraseResult } from '@his-her/contract'
import type { Services } from '../module.js'
import type { Tx } from '../db/executor.js'
import { createRedaction } from '../redaction.js'

/**
 * Erases a person (`POST /customer/:id/erase`, `customer-hub erase-person`): the customer and
 * every record merged into it (merges not undone), in the request's one transaction.
 *
 * - The customer's row is locked first, then the records merged into it (in id order): a merge,
 *   an undo, a sync's guarded update or an order of the same person waits for the erase, and
 *   then finds the customer erased (410 `CUSTOMER_ERASED`; a sync finds no identity left and
 *   makes a new customer).
 * - Goes: names, email, phone, password, metadata and groups of the rows; identities, addresses,
 *   one-time tokens (with a pending email or phone) and sessions; the person's data in its events,
 *   in other events that name it, in the merge records it took part in, in the kept
 *   Idempotency-Key answers (see `createRedaction` for the rule), and in the ledger's free-form
 *   fields — references, reasons, metadata, idempotency keys of points transactions, holds and
 *   coupon redemptions (`ledgerRedaction`, `redactRedemptions`), and the platform id in the key
 *   of an order history an import brought (`redactImportKeys`).
 * - Stays: the ids, order rows and totals, reward accounts and the ledger's amounts (its entries
 *   and hashes hold ids and amounts only), the events themselves with their ids and order.
 * - Emits `customer.erased` (`{ customerId, erasedAt }`, nothing personal) for the customer and
 *   for each record merged into it, so that every system holding a copy erases it too.
 *
 * Idempotent: erasing an erased customer (or a record erased with it) changes nothing and
 * answers what the first erase answered. An unknown id answers 404 `CUSTOMER_NOT_FOUND`, a merged
 * one 410 `CUSTOMER_MERGED` (erase the customer it went into). A deleted customer can be erased:
 * its row still held its personal fields.
 *
 * @example
 * ```ts
 * const { erasedAt, records } = await erasePerson(tx, services, 'cus_01JD…')
 * ```
 */
export async function erasePerson(tx: Tx, services: Services, customerId: string, now = new Date()): Promise<EraseResult> {
  const { customers, identities, sessions, eventRedaction, answerRedaction, ledgerRedaction, coupons, orders, events } = services
  const state = await customers.lockErasable(tx, customerId)
  // with the customer locked no merge into it can commit: the records merged into it stay these
  const records = await identities.absorbed(tx, customerId)
  if (state.erasedAt) return { customerId, erasedAt: state.erasedAt.toISOString(), records }
  await customers.lockMany(tx, records)

  const own = await customers.personalValues(tx, records)
  const identityValues = await identities.eraseOf(tx, records)
  const pending = await sessions.eraseCustomers(tx, records)
  const redaction = createRedaction(records, { identifiers: [...own.identifiers, ...identityValues, ...pending], values: own.values })
  await eventRedaction.redact(tx, redaction)
  await identities.redactMerges(tx, redaction)
  await answerRedaction.redact(tx, redaction)
  await ledgerRedaction.redact(tx, redaction)
  await coupons.redactRedemptions(tx, redaction)
  await orders.redactImportKeys(tx, records)
  await customers.erase(tx, records, now)

  const erasedAt = now.toISOString()
  await events.emit(tx, ...records.map((id) => ({ type: 'customer.erased' as const, customerId: id, payload: { customerId: id, erasedAt } })))
  return { customerId, erasedAt, records }
}
