import { eventTypes, exportLimits, exportSchemaVersion, type PersonExport } from '@his-her/contract'
import type { Services } from '../module.js'
import type { Executor } from '../db/executor.js'

/** What the document says of itself; docs/privacy.md ("Export") says the same at length. */
const description =
  'Everything the hub holds about this person: the customer record (profile, addresses, groups, totals), changes of email or phone waiting for their token, ' +
  'the customer records merged into it with their identities, addresses, orders, reward accounts, ledger entries and events, every merge the person took part in ' +
  `(undone ones too), and the events about the person, oldest first (at most ${exportLimits.events}; eventsTruncated says when there are more). ` +
  `Each reward account holds its newest ${exportLimits.entriesPerAccount} ledger entries at most (entriesTruncated says when there are more). ` +
  'Coupons are left out: the hub keeps coupons for their loyalty provider and ties none to a customer (coupons is always empty). ' +
  'Password hashes, tokens and their hashes are never part of the document.'

/**
 * Everything the hub holds about a live customer, as one document (`GET /customer/:id/export`,
 * `GET /customer/me/export`, `customer-hub export-person`): 404 `CUSTOMER_NOT_FOUND` or 410
 * `CUSTOMER_MERGED` as for every route that names a customer.
 *
 * The person is the customer and every record merged into it (merges not undone, through
 * others too): their identities, addresses, orders, reward accounts and events are the
 * person's, so they are all in the document. A merge that was undone gave the record back its
 * own life; its data is then that customer's, and only the merge record is here.
 *
 * Each domain is read through its service; the reads are plain SELECTs, so on a busy hub two of
 * them may see different moments (the document is as of `exportedAt`, give or take a request).
 *
 * @example
 * ```ts
 * const doc = await exportPerson(db, services, 'cus_01JD…')
 * doc.identities.map((i) => `${i.kind} ${i.value} via ${i.linkedBy.via}`)
 * ```
 */
export async function exportPerson(
  db: Executor,
  services: Services,
  customerId: string,
  { now = new Date(), limits = exportLimits }: { now?: Date; limits?: { events: number; entriesPerAccount: number } } = {},
): Promise<PersonExport> {
  const { customers, identities, orders, ledgerReads, events, sessions } = services
  await customers.requireLive(db, customerId)
  const ids = await identities.absorbed(db, customerId)
  const records = await customers.records(db, ids)
  const own = records.find((r) => r.customer.id === customerId)!
  const absorbed = records.filter((r) => r.customer.id !== customerId)

  const rewardAccounts: PersonExport['rewardAccounts'] = []
  for (const id of ids) {
    for (const account of await ledgerReads.customerAccounts(db, id)) {
      const { data, nextCursor } = await ledgerReads.entries(db, account.id, undefined, limits.entriesPerAccount)
      rewardAccounts.push({ ...account, entries: data, entriesTruncated: nextCursor !== null })
    }
  }
  // one more than the cap tells whether there were more
  const held = await events.ofCustomers(db, ids, eventTypes, undefined, limits.events + 1)

  return {
    schemaVersion: exportSchemaVersion,
    exportedAt: now.toISOString(),
    customerId,
    description,
    profile: own.customer,
    pendingContactChanges: await sessions.pendingContactChanges(db, customerId),
    absorbedCustomers: absorbed.map((r) => ({ profile: r.customer, mergedInto: r.mergedInto! })),
    identities: await identities.listOf(db, ids),
    addresses: records.flatMap((r) => r.customer.addresses.map((a) => ({ ...a, customerId: r.customer.id }))),
    groups: own.customer.groups,
    orders: await orders.ofCustomers(db, ids),
    rewardAccounts,
    coupons: [],
    merges: await identities.mergesOf(db, ids),
    events: held.slice(0, limits.events),
    eventsTruncated: held.length > limits.events,
  }
}
