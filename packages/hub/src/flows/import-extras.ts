import type { ImportRow } from '@his-her/contract'
import type { Services } from '../module.js'
import type { CustomerSettings } from '../customers/settings.js'
import type { Tx } from '../db/executor.js'
import { HubError } from '../errors.js'
import type { ImportStart } from './import-batch.js'

/** One imported row whose customer is known: its line, its customer, the row as read, and its stable key. */
export interface ExtrasRow {
  line: number
  customerId: string
  row: ImportRow
  /** `${component}:${externalId}`, or without an externalId a hash of the row's identifiers: the same row of a later file has the same key. */
  key: string
  /** The customer was created by this row with this start: its groups and order sums are in its row already. */
  started?: ImportStart | undefined
}

/** The external id of the summary order that holds a row's order history. */
const summaryId = (key: string) => `import:${key}`

/** A row's order history — its count and total — or `undefined` without one. Throws when the two cannot be a history. */
function historyOf(row: ImportRow): { count: number; total: number } | undefined {
  const { orderCount, totalSpent } = row
  if (orderCount === undefined && totalSpent === undefined) return undefined
  const count = orderCount ?? 0
  const total = totalSpent ?? 0
  if (count === 0 && total > 0) throw new HubError('VALIDATION_FAILED', 'totalSpent is above 0 but orderCount is 0 (or missing): the order history was not imported.')
  return { count, total }
}

/**
 * What each row's customer starts with if the row creates it ({@link ImportStart}): the row's
 * groups, and its order history when that is valid and in the row's own currency (a new customer
 * has none), with the key of the summary order that will hold the history (`key`, the row's
 * stable key, under `component`). Should an order hold the history's key already,
 * {@link importExtras} takes it back and reports it.
 *
 * @example
 * ```ts
 * importStarts([{ line: 1, row: { externalId: '42', groups: ['vip'], orderCount: 2, totalSpent: 900, currency: 'EUR' } }])
 * // → Map { 1 => { groups: ['vip'], totals: { orderCount: 2, totalSpent: 900, currency: 'EUR' } } }
 * ```
 */
export function importStarts(rows: { line: number; row: ImportRow; key?: string }[], component?: string): Map<number, ImportStart> {
  const starts = new Map<number, ImportStart>()
  for (const r of rows) {
    let history: ReturnType<typeof historyOf>
    try {
      history = historyOf(r.row)
    } catch (err) {
      if (!(err instanceof HubError)) throw err // an invalid history: importExtras reports it
    }
    const currency = r.row.currency
    const totals = history && currency ? { orderCount: history.count, totalSpent: history.total, currency } : undefined
    const groups = [...new Set(r.row.groups ?? [])]
    const summary = totals && r.key !== undefined && component !== undefined ? { platform: component, externalId: summaryId(r.key) } : undefined
    if (groups.length || totals) starts.set(r.line, { groups, totals, summary })
  }
  return starts
}

/** The ledger an import's points go to. */
export const IMPORT_LEDGER = 'reward-points'

/** `items` split into rounds in which no key appears twice, each keeping the items' order. */
function rounds<T>(items: T[], keyOf: (item: T) => string): T[][] {
  const out: T[][] = []
  const times = new Map<string, number>()
  for (const item of items) {
    const n = times.get(keyOf(item)) ?? 0
    times.set(keyOf(item), n + 1)
    ;(out[n] ??= []).push(item)
  }
  return out
}

const reasonOf = (err: unknown): string => {
  if (!(err instanceof HubError)) throw err
  return `${err.code}: ${err.message}`
}

/**
 * Applies what a platform knows of its customers beyond what a sync sends — groups, addresses,
 * order history and points — to the customers a batch of an import resolved, in the batch's
 * transaction. Importing a file again, or another file with the same rows, changes nothing;
 * a row whose numbers changed applies the difference. Returns, per line, why part of the row
 * could not be applied (`CODE: message`, several joined by `; `): the rest of the row, and its
 * customer, stay imported.
 *
 * - **groups** join the customer's groups (a union: the groups it has stay, in their order);
 *   each group really added emits `customer.group_added`, as `POST /customer/:id/group` does.
 *   One statement for the batch.
 * - **addresses** are added unless the customer has the same one already (line1, line2, city,
 *   postal code and country, compared without regard to case or whitespace) or the row gives it
 *   twice; each added one emits `customer.address_added`. The customer's first address becomes
 *   its default (or the first given with `isDefault`: the existing default then yields). Beyond
 *   `maxAddresses` the rest are left out and the reason says how many (`ADDRESS_LIMIT_REACHED`);
 *   an address with an invalid country or phone is left out with its own reason.
 * - **orderCount / totalSpent / currency** are the platform's order history: one summary order
 *   per row key (platform = the component, externalId `import:<key>`, placed now) counting
 *   `orderCount` orders worth `totalSpent`. The customer's `orderCount` and `totalSpent` are
 *   sums of its orders, so a merge adds the two customers' imported histories and its undo
 *   splits them back. A repeat with the same numbers changes nothing; other numbers correct the
 *   order and the sums by the difference (`order.corrected`); the first import emits
 *   `order.recorded`, as `POST /orders` does. It earns no points: the platform's points come as
 *   `points`. The currency is the row's, else the customer's; a row with totals and no currency
 *   to keep them in, or `totalSpent` above 0 with `orderCount` 0 (orders that count nothing),
 *   is reported as `VALIDATION_FAILED`. A currency other than the customer's (or the summary's
 *   own) is reported as `CURRENCY_MISMATCH`. A row without `orderCount` and `totalSpent` leaves
 *   the history as it is.
 * - **points** are the platform's balance, posted once as an `import` transaction from the
 *   house issuer to the customer's account in `reward-points` (made if missing), keyed by the
 *   row key: a repeat with the same balance posts nothing, one with another balance posts
 *   nothing and is reported as `IDEMPOTENCY_KEY_REUSED` (the balance was brought once; later
 *   changes are the ledger's own transactions). Emits `points.earned`. A balance of 0 posts
 *   nothing. The same row twice in a batch (one key): its history and points apply in line order.
 *
 * Groups, addresses, order histories and points are written set-wise (a few statements for the
 * batch): the points as one transaction per row, all written by one statement that chains each
 * account's entries in line order exactly as posting them one by one would
 * (`LedgerService.importBalances`), from the issuer lane `lane` when given (an import passes its
 * chunk's number). A row whose customer it created with its start
 * (`started`, {@link importStarts}) has its groups announced and its history's order written,
 * without adding either to the customer's row a second time.
 *
 * @example
 * ```ts
 * const reasons = await importExtras(tx, services, settings, 'identity.shop', [
 *   { line: 1, customerId, key: 'identity.shop:42', row: { externalId: '42', groups: ['vip'], orderCount: 3, totalSpent: 12_900, currency: 'EUR', points: 250 } },
 * ])
 * // reasons.get(1) === undefined: everything applied
 * ```
 */
export async function importExtras(tx: Tx, services: Services, settings: CustomerSettings, component: string, rows: ExtrasRow[], options: { lane?: number | undefined } = {}): Promise<Map<number, string>> {
  const { customers, addresses, orders, loyalty, ledger } = services
  const reasons = new Map<number, string[]>()
  const report = (line: number, reason: string) => reasons.set(line, [...(reasons.get(line) ?? []), reason])

  // a customer the row created has its groups already: they are announced
  await customers.addGroupsMany(tx, rows.filter((r) => !r.started && r.row.groups?.length).map((r) => ({ customerId: r.customerId, groups: r.row.groups! })))
  await customers.announceGroups(tx, rows.flatMap((r) => (r.started?.groups.length ? [{ customerId: r.customerId, groups: r.started.groups }] : [])))

  // addresses: one call for the batch, reasons told per row (rows of one customer share the answer, so each row is given its own call's part)
  const withAddresses = rows.filter((r) => r.row.addresses?.length)
  const byCustomer = new Map<string, ExtrasRow[]>()
  for (const r of withAddresses) byCustomer.set(r.customerId, [...(byCustomer.get(r.customerId) ?? []), r])
  // a customer named by two rows: the second row's addresses come in a second round, after the first's are in
  for (let round = 0; ; round++) {
    const part = [...byCustomer.values()].flatMap((list) => (list[round] ? [list[round]!] : []))
    if (part.length === 0) break
    const result = await addresses.addMany(tx, settings.maxAddresses, part.map((r) => ({ customerId: r.customerId, addresses: r.row.addresses! })))
    for (const r of part) {
      const o = result.get(r.customerId)
      if (!o) continue
      for (const reason of o.invalid) report(r.line, reason)
      if (o.overLimit > 0) report(r.line, `ADDRESS_LIMIT_REACHED: ${o.overLimit} of the row's addresses were left out: the customer has ${settings.maxAddresses} (max_addresses).`)
    }
  }

  // order histories: set-wise, in rounds so that a key given twice (the same row twice in a file) is applied in line order
  const summaries: { r: ExtrasRow; count: number; total: number; currency: string }[] = []
  for (const r of rows) {
    if (r.row.orderCount === undefined && r.row.totalSpent === undefined) continue
    try {
      const history = historyOf(r.row)
      if (!history) continue
      const currency = r.row.currency ?? (await customers.requireLive(tx, r.customerId)).currency
      if (!currency) throw new HubError('VALIDATION_FAILED', 'orderCount/totalSpent need a currency: the row has none and neither has the customer.')
      summaries.push({ r, ...history, currency })
    } catch (err) {
      report(r.line, reasonOf(err))
    }
  }
  for (const round of rounds(summaries, (s) => s.r.key)) {
    const answers = await orders.recordSummaries(tx, round.map((s) => ({
      platform: component, externalId: summaryId(s.r.key), customerId: s.r.customerId, orderCount: s.count, total: s.total, currency: s.currency,
      counted: s.r.started?.totals !== undefined, before: s.r.started?.before,
    })))
    for (const [n, err] of answers.entries()) if (err) report(round[n]!.r.line, reasonOf(err))
  }

  // points: the accounts made for the batch at once (the customers are the batch's, live), then
  // every row's transaction by one statement (lots, hash chains), in line order
  await loyalty.ensureAccounts(tx, rows.filter((r) => (r.row.points ?? 0) > 0).map((r) => r.customerId), IMPORT_LEDGER)
  const withPoints = rows.filter((r) => r.row.points !== undefined)
  const answers = await ledger.importBalances(tx, IMPORT_LEDGER, withPoints.map((r) => ({ customerId: r.customerId, amount: r.row.points!, key: r.key })), options)
  for (const [n, err] of answers.entries()) if (err) report(withPoints[n]!.line, reasonOf(err))
  return new Map([...reasons].map(([line, list]) => [line, list.join('; ')]))
}
