import { sql, type RawBuilder, type Updateable } from 'kysely'
import type { Customer, CustomerInput } from '@his-her/contract'
import type { Executor, Tx } from '../db/executor.js'
import { HubError } from '../errors.js'
import { isId } from '../ids.js'
import type { EventService } from '../events/event-store.js'
import { customerColumns, toCustomer, type CustomerRecord } from './customer-mapper.js'
import type { CustomerRow, CustomersTable } from './tables.js'
import { recordset } from '../db/statement.js'

/** The columns of a live customer that flows decide on. */
export type LiveCustomer = Pick<
  CustomerRow,
  'id' | 'email' | 'phone' | 'first_name' | 'last_name' | 'groups' | 'metadata' | 'currency' | 'has_account' | 'email_verified'
>

const liveColumns = ['id', 'email', 'phone', 'first_name', 'last_name', 'groups', 'metadata', 'currency', 'has_account', 'email_verified', 'deleted_at', 'merged_into', 'erased_at'] as const

/**
 * 404 for an id no live customer has — whatever its shape —, 410 `CUSTOMER_ERASED` for an erased
 * one (erased with the customer it was merged into, too) and 410 with `mergedInto` for a merged one.
 */
function notLive(id: string, row: { deleted_at: Date | null; merged_into: string | null; erased_at?: Date | null } | undefined): HubError {
  if (row?.erased_at) return new HubError('CUSTOMER_ERASED', `The customer ${id} was erased.`)
  if (row?.merged_into) return new HubError('CUSTOMER_MERGED', `The customer ${id} was merged into ${row.merged_into}.`, { mergedInto: row.merged_into })
  return new HubError('CUSTOMER_NOT_FOUND', `No live customer has the id ${id}.`)
}

/** The fields a change may set: profile fields, the primary email and phone, account state. */
export type CustomerChange = Pick<
  Updateable<CustomersTable>,
  'email' | 'phone' | 'first_name' | 'last_name' | 'metadata' | 'email_verified' | 'groups' | 'currency'
>

/** The sign-in's read of an account by email (see `accountByEmail`). */
function accountByEmailQuery(exec: Executor, email: string, holders: RawBuilder<unknown>) {
  return exec.selectFrom('customers').select(['id', 'email_verified', 'password_hash'])
    .where('id', 'in', sql<string>`(${holders})`)
    .where('email', '=', email).where('has_account', '=', true).where('deleted_at', 'is', null)
}

/**
 * The customers domain: the `customers` and `addresses` tables. Everything about a customer
 * record goes through these functions; identities, orders and reward accounts belong to their
 * own domains, and work that spans them is a flow (`flows/`).
 */
export function createCustomerService({ events }: { events: EventService }) {
  /**
   * The one rule of "live": a customer that exists, is not deleted and was not merged. Every
   * route that names a customer goes through here, so all of them answer alike: 404
   * `CUSTOMER_NOT_FOUND` for an unknown id (of any shape) or a deleted customer, 410
   * `CUSTOMER_MERGED` with `details.mergedInto` for a merged one. With `lock`, the row is locked
   * for the rest of the transaction.
   */
  async function requireLive(exec: Executor, id: string, options: { lock?: boolean } = {}): Promise<LiveCustomer> {
    if (!isId('cus', id)) throw notLive(id, undefined)
    const row = await exec.selectFrom('customers').select(liveColumns).where('id', '=', id).$if(options.lock === true, (q) => q.forUpdate()).executeTakeFirst()
    if (!row || row.deleted_at || row.merged_into) throw notLive(id, row)
    return row
  }

  /** Reads one live customer with its addresses (the live rule of {@link requireLive}). */
  async function get(exec: Executor, id: string): Promise<Customer> {
    if (!isId('cus', id)) throw notLive(id, undefined)
    const { rows } = await sql<CustomerRecord & { deleted_at: Date | null; merged_into: string | null; erased_at: Date | null }>`
      SELECT ${customerColumns}, c.deleted_at, c.merged_into, c.erased_at FROM customers c WHERE c.id = ${id}`.execute(exec)
    const row = rows[0]
    if (!row || row.deleted_at || row.merged_into) throw notLive(id, row)
    return toCustomer(row)
  }

  /** Writes a change of fields (only those given) and emits `customer.updated` naming them. */
  async function change(tx: Tx, id: string, set: CustomerChange, changed: string[]): Promise<Customer> {
    await tx.updateTable('customers').set({ ...set, updated_at: new Date() }).where('id', '=', id).execute()
    const customer = await get(tx, id)
    if (changed.length > 0) await events.emit(tx, { type: 'customer.updated', customerId: id, payload: { customer, changed } })
    return customer
  }

  return {
    requireLive,
    /** True when `id` names a live customer: a part for another domain's statement (the live rule of {@link requireLive}). */
    liveSql: (id: string) => sql<boolean>`EXISTS (SELECT 1 FROM customers WHERE id = ${id} AND deleted_at IS NULL AND merged_into IS NULL)`,
    /** A select of the ids of those of `ids` that are live customers. */
    liveIdsSql: (ids: string[]) => sql<unknown>`SELECT id FROM customers WHERE id = ANY (${ids}::text[]) AND deleted_at IS NULL AND merged_into IS NULL`,
    get,
    change,

    /**
     * Live customers by id, with their records, row versions (`xmin`, for a write guarded by
     * it) and any `extra` columns other domains add to the same read (e.g. whether the customer
     * has a reward account) — one query.
     */
    async readForMatch<E extends string>(exec: Executor, ids: string[], extra: Partial<Record<E, RawBuilder<unknown>>> = {}) {
      const extras = Object.entries(extra as Record<string, RawBuilder<unknown>>).map(([name, expr]) => sql`${expr} AS ${sql.ref(name)}`)
      const { rows } = await sql<CustomerRecord & { version: string } & Record<E, unknown>>`
        SELECT c.xmin::text AS version, ${extras.length ? sql`${sql.join(extras)},` : sql``} ${customerColumns}
        FROM customers c WHERE c.id = ANY (${ids}::text[]) AND c.deleted_at IS NULL`.execute(exec)
      return rows
    },

    /** The insert of a new customer, as one part of a larger statement (`RETURNING id`). */
    insertSql(customer: Customer, passwordHash: string | null): RawBuilder<unknown> {
      return sql`
        INSERT INTO customers (id, email, first_name, last_name, phone, password_hash, metadata, currency, has_account, created_at, updated_at)
        VALUES (${customer.id}, ${customer.email}, ${customer.firstName}, ${customer.lastName}, ${customer.phone}, ${passwordHash},
                ${JSON.stringify(customer.metadata)}::jsonb, ${customer.currency}, ${customer.hasAccount},
                ${customer.createdAt}::timestamptz, ${customer.updatedAt}::timestamptz)
        RETURNING id`
    },

    /**
     * The insert of many new customers (a bulk import's batch), as one part of a larger statement
     * (`RETURNING id`). Their groups and sums are written as given: a bulk import creates a
     * customer with the groups and order history its row brings ({@link announceGroups}), rather
     * than updating the new row twice more.
     */
    insertManySql(customers: Customer[]): RawBuilder<unknown> {
      const rows = customers.map((c) => ({
        id: c.id, email: c.email, first_name: c.firstName, last_name: c.lastName, phone: c.phone, metadata: c.metadata, groups: c.groups,
        order_count: c.orderCount, total_spent: c.totalSpent, currency: c.currency, created_at: c.createdAt, updated_at: c.updatedAt,
      }))
      return sql`
        INSERT INTO customers (id, email, first_name, last_name, phone, metadata, groups, order_count, total_spent, currency, created_at, updated_at)
        SELECT id, email, first_name, last_name, phone, metadata, groups, order_count, total_spent, currency, created_at, updated_at
        FROM ${recordset(rows, 'id text, email text, first_name text, last_name text, phone text, metadata jsonb, groups text[], order_count integer, total_spent bigint, currency text, created_at timestamptz, updated_at timestamptz')}
        RETURNING id`
    },

    /**
     * {@link guardedUpdateSql} for many customers in one statement (a bulk import's batch): each
     * row changes only while live and still the version read; `RETURNING id` lists those it did.
     * Groups and sums are written as given too: the version guard makes them the row's own, or
     * what an import adds to them ({@link announceGroups}; the orders that hold the sums are
     * written after it). The ids are also given as an array, so the customers are found through their primary key
     * whatever the planner guesses of the rows' count (a join alone on a growing table, its
     * statistics not yet renewed, was planned as a scan of every customer).
     */
    guardedUpdateManySql(updates: { next: Customer; version: string }[]): RawBuilder<unknown> {
      const rows = updates.map(({ next, version }) => ({
        id: next.id, version, first_name: next.firstName, last_name: next.lastName, email: next.email, phone: next.phone, metadata: next.metadata,
        groups: next.groups, order_count: next.orderCount, total_spent: next.totalSpent, currency: next.currency, updated_at: next.updatedAt,
      }))
      return sql`
        UPDATE customers c
        SET first_name = v.first_name, last_name = v.last_name, email = v.email, phone = v.phone,
            metadata = v.metadata, groups = v.groups, order_count = v.order_count, total_spent = v.total_spent, currency = v.currency, updated_at = v.updated_at
        FROM ${recordset(rows, 'id text, version text, first_name text, last_name text, email text, phone text, metadata jsonb, groups text[], order_count integer, total_spent bigint, currency text, updated_at timestamptz')}
        WHERE c.id = ANY (${rows.map((r) => r.id)}::text[]) AND c.id = v.id AND c.deleted_at IS NULL AND c.xmin = v.version::xid
        RETURNING c.id`
    },

    /**
     * The update of a customer to `next`, as one part of a larger statement: it changes the row
     * only while it is live and still the version that was read (`xmin`), so a write decided on
     * a stale read changes nothing and the caller starts again (`RETURNING id` says whether it did).
     */
    guardedUpdateSql(next: Customer, version: string): RawBuilder<unknown> {
      return sql`
        UPDATE customers
        SET first_name = ${next.firstName}, last_name = ${next.lastName}, email = ${next.email}, phone = ${next.phone},
            metadata = ${JSON.stringify(next.metadata)}::jsonb, updated_at = ${next.updatedAt}::timestamptz
        WHERE id = ${next.id} AND deleted_at IS NULL AND xmin = ${version}::xid
        RETURNING id`
    },

    /**
     * Soft-deletes a customer: the row stays (orders and totals keep their arithmetic).
     * The flow that calls it removes the identities, so the email and phone are free again.
     */
    /**
     * The records of these customers whatever their state (live, merged or deleted), with their
     * addresses and with `merged_into`, in the order of `ids`: what a privacy export shows of
     * the person and of the records merged into it. Unknown ids are left out.
     */
    async records(exec: Executor, ids: string[]): Promise<{ customer: Customer; mergedInto: string | null }[]> {
      if (ids.length === 0) return []
      const { rows } = await sql<CustomerRecord & { merged_into: string | null }>`
        SELECT ${customerColumns}, c.merged_into FROM customers c WHERE c.id = ANY(${ids}::text[])`.execute(exec)
      const byId = new Map(rows.map((r) => [r.id, r]))
      return ids.flatMap((id) => {
        const row = byId.get(id)
        return row ? [{ customer: toCustomer(row), mergedInto: row.merged_into }] : []
      })
    },

    async markDeleted(tx: Tx, id: string): Promise<void> {
      await requireLive(tx, id, { lock: true })
      await tx.updateTable('customers').set({ deleted_at: new Date(), updated_at: new Date() }).where('id', '=', id).execute()
      await events.emit(tx, { type: 'customer.deleted', customerId: id, payload: { customerId: id } })
    },

    /**
     * Adds the customer to a group. Idempotent: the guarded update adds the tag only when it
     * is missing (re-checked on the newest row version under concurrency), and only a real
     * addition emits `customer.group_added`.
     */
    async addGroup(tx: Tx, id: string, group: string): Promise<Customer> {
      await requireLive(tx, id)
      await sql`
        WITH u AS (
          UPDATE customers SET groups = array_append(groups, ${group}::text), updated_at = now()
          WHERE id = ${id} AND deleted_at IS NULL AND NOT (${group}::text = ANY (groups))
          RETURNING id
        )
        ${events.insertSql(tx, [{ type: 'customer.group_added', customerId: id, payload: { customerId: id, group } }], sql`EXISTS (SELECT 1 FROM u)`)}`.execute(tx)
      return get(tx, id)
    },

    /**
     * Adds many customers to groups in one statement (a bulk import's batch): each live
     * customer's groups become the union of its own and the given ones (its own first, untouched;
     * the new ones in the order given), and every group really added emits
     * `customer.group_added` as {@link addGroup} does. The rows are locked and the union taken on
     * their newest version, so a concurrent `addGroup` never makes a group appear twice. Returns
     * the groups added per customer.
     */
    async addGroupsMany(tx: Tx, items: { customerId: string; groups: string[] }[]): Promise<Map<string, string[]>> {
      const wanted = new Map<string, string[]>()
      for (const i of items) wanted.set(i.customerId, [...new Set([...(wanted.get(i.customerId) ?? []), ...i.groups])])
      const list = [...wanted].filter(([, g]) => g.length > 0).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      const added = new Map<string, string[]>()
      if (list.length === 0) return added
      // locked first (in id order, as every multi-row lock): the next statement's snapshot then
      // holds the rows' newest versions, and nobody changes them until the transaction ends
      await sql`SELECT id FROM customers WHERE id = ANY (${list.map(([id]) => id)}::text[]) ORDER BY id FOR UPDATE`.execute(tx)
      const { rows } = await sql<{ id: string; added: string[] }>`
        WITH v AS (
          SELECT v.id, v.groups FROM ${recordset(list.map(([id, groups]) => ({ id, groups })), 'id text, groups text[]')}
        ), n AS (
          SELECT c.id, array_agg(g.name ORDER BY g.ord) AS added
          FROM customers c JOIN v ON v.id = c.id, unnest(v.groups) WITH ORDINALITY AS g (name, ord)
          WHERE c.deleted_at IS NULL AND c.merged_into IS NULL AND NOT (g.name = ANY (c.groups))
          GROUP BY c.id
        )
        UPDATE customers c SET groups = c.groups || n.added, updated_at = now()
        FROM n WHERE c.id = n.id
        RETURNING c.id, n.added`.execute(tx)
      for (const r of rows) added.set(r.id, r.added)
      const written = rows.flatMap((r) => r.added.map((group) => ({ type: 'customer.group_added' as const, customerId: r.id, payload: { customerId: r.id, group } })))
      await events.emit(tx, ...written)
      return added
    },

    /**
     * Emits `customer.group_added` for each group new customers were created with
     * ({@link insertManySql}): what {@link addGroupsMany} emits when it adds them to a customer
     * that has none.
     */
    async announceGroups(tx: Tx, items: { customerId: string; groups: string[] }[]): Promise<void> {
      await events.emit(tx, ...items.flatMap((i) => i.groups.map((group) => ({ type: 'customer.group_added' as const, customerId: i.customerId, payload: { customerId: i.customerId, group } }))))
    },

    /** Removes the customer from a group; idempotent like `addGroup`. */
    async removeGroup(tx: Tx, id: string, group: string): Promise<Customer> {
      await requireLive(tx, id)
      await sql`
        WITH u AS (
          UPDATE customers SET groups = array_remove(groups, ${group}::text), updated_at = now()
          WHERE id = ${id} AND deleted_at IS NULL AND ${group}::text = ANY (groups)
          RETURNING id
        )
        ${events.insertSql(tx, [{ type: 'customer.group_removed', customerId: id, payload: { customerId: id, group } }], sql`EXISTS (SELECT 1 FROM u)`)}`.execute(tx)
      return get(tx, id)
    },

    // ---- accounts (the auth domain signs them in; the record and its password live here) ----

    /**
     * The live account with this email, for sign-in: its id, whether the email is verified, its
     * password hash. `holders` is the identity domain's sub-select of the email's holder: its
     * unique index finds the one candidate, which is read by primary key (`customers.email` has
     * no index of its own, so filtering it alone read the whole table on every sign-in). The
     * account's own email must still be this one, as before: a second email it holds does not sign in.
     */
    async accountByEmail(exec: Executor, email: string, holders: RawBuilder<unknown>) {
      return accountByEmailQuery(exec, email, holders).executeTakeFirst()
    },

    /** {@link accountByEmail} as a query not run yet: a sign-in reads it within the statement that counts its attempt. */
    accountByEmailQuery: (exec: Executor, email: string, holders: RawBuilder<unknown>) => accountByEmailQuery(exec, email, holders),

    /** True while the customer is live and has an account (a session may go on); with `verified`, only when its email is verified. */
    async isAccount(exec: Executor, id: string, options: { verified?: boolean } = {}): Promise<boolean> {
      const row = await exec.selectFrom('customers').select('id').where('id', '=', id).where('deleted_at', 'is', null).where('has_account', '=', true)
        .$if(options.verified === true, (q) => q.where('email_verified', '=', true))
        .executeTakeFirst()
      return row !== undefined
    },

    /** The password hash of a live account, or null. */
    async passwordHashOf(exec: Executor, id: string): Promise<string | null> {
      const row = await exec.selectFrom('customers').select('password_hash').where('id', '=', id).where('deleted_at', 'is', null).where('has_account', '=', true).executeTakeFirst()
      return row?.password_hash ?? null
    },

    /**
     * Turns a guest into an account: password, names and metadata from the registration. The
     * guarded update (`has_account = false`) lets exactly one of two concurrent registrations
     * win; the other gets 409 `EMAIL_TAKEN`.
     */
    async convertGuest(tx: Tx, id: string, passwordHash: string, input: CustomerInput): Promise<void> {
      const converted = await sql<{ id: string }>`
        UPDATE customers SET has_account = true, password_hash = ${passwordHash},
          first_name = coalesce(${input.firstName ?? null}, first_name),
          last_name = coalesce(${input.lastName ?? null}, last_name),
          metadata = metadata || ${JSON.stringify(input.metadata ?? {})}::jsonb,
          currency = coalesce(currency, ${input.currency ?? null}),
          updated_at = now()
        WHERE id = ${id} AND has_account = false AND deleted_at IS NULL
        RETURNING id`.execute(tx)
      if (!converted.rows[0]) throw new HubError('EMAIL_TAKEN')
    },

    /** Sets the password of a live account; false when there is none. */
    /** Sets the password of a live account; with `email`, only while the account still has that email (the one a reset token was sent to). */
    async setPassword(tx: Tx, id: string, passwordHash: string, email?: string): Promise<boolean> {
      const row = await tx.updateTable('customers').set({ password_hash: passwordHash, updated_at: new Date() })
        .where('id', '=', id).where('deleted_at', 'is', null).where('has_account', '=', true)
        .$if(email !== undefined, (q) => q.where('email', '=', email!))
        .returning('id').executeTakeFirst()
      return row !== undefined
    },

    /** Marks the email verified, only while the customer still has the email the token was sent to. */
    async markEmailVerified(tx: Tx, id: string, email: string): Promise<boolean> {
      const row = await tx.updateTable('customers').set({ email_verified: true, updated_at: new Date() })
        .where('id', '=', id).where('email', '=', email).where('deleted_at', 'is', null).returning('id').executeTakeFirst()
      return row !== undefined
    },

    // ---- order totals (the orders domain reports, the record keeps the sums) ----

    /**
     * Adds an order's delta to the customer's sums. The guarded update is the rule: only a live
     * customer, and only in the customer's currency (set by its first order). Throws 404/410 or
     * 422 `CURRENCY_MISMATCH`.
     */
    async addToTotals(tx: Tx, id: string, delta: { count: number; spent: number; currency: string }): Promise<{ orderCount: number; totalSpent: number }> {
      // typed parameters: a bare one compared with 0 is taken as a 32-bit integer, and a total
      // beyond 2^31 minor units failed
      const { rows } = await sql<{ order_count: number; total_spent: string }>`
        UPDATE customers
        SET order_count = order_count + ${delta.count}, total_spent = total_spent + ${delta.spent},
            currency = coalesce(currency, ${delta.currency}),
            updated_at = CASE WHEN ${delta.count}::integer <> 0 OR ${delta.spent}::bigint <> 0 THEN now() ELSE updated_at END
        WHERE id = ${id} AND deleted_at IS NULL AND merged_into IS NULL AND (currency IS NULL OR currency = ${delta.currency})
        RETURNING order_count, total_spent::text AS total_spent`.execute(tx)
      if (rows[0]) return { orderCount: rows[0].order_count, totalSpent: Number(rows[0].total_spent) }
      const live = await requireLive(tx, id)
      throw new HubError('CURRENCY_MISMATCH', `The customer's totals are kept in ${live.currency}; this order is in ${delta.currency}.`)
    },

    /**
     * {@link addToTotals} for many customers in one statement (a bulk import's batch). The caller
     * holds the rows' locks and checked the currencies; the update still changes only live
     * customers in the delta's currency, and a customer it did not change is missing from the answer.
     */
    async addToTotalsMany(tx: Tx, deltas: { id: string; count: number; spent: number; currency: string }[]): Promise<Map<string, { orderCount: number; totalSpent: number }>> {
      if (deltas.length === 0) return new Map()
      const values = deltas.map((d) => sql`(${d.id}, ${d.count}::integer, ${d.spent}::bigint, ${d.currency}::text)`)
      const { rows } = await sql<{ id: string; order_count: number; total_spent: string }>`
        UPDATE customers c
        SET order_count = c.order_count + v.count, total_spent = c.total_spent + v.spent, currency = coalesce(c.currency, v.currency),
            updated_at = CASE WHEN v.count <> 0 OR v.spent <> 0 THEN now() ELSE c.updated_at END
        FROM (VALUES ${sql.join(values)}) v (id, count, spent, currency)
        WHERE c.id = v.id AND c.deleted_at IS NULL AND c.merged_into IS NULL AND (c.currency IS NULL OR c.currency = v.currency)
        RETURNING c.id, c.order_count, c.total_spent::text AS total_spent`.execute(tx)
      return new Map(rows.map((r) => [r.id, { orderCount: r.order_count, totalSpent: Number(r.total_spent) }]))
    },

    /**
     * Takes back the order history new customers were created with (a bulk import's
     * {@link insertManySql}) when its order could not be recorded: their sums go back to 0 and
     * their currency to none, as they were before it. Only a customer whose sums are still
     * exactly that history changes; anything else is a bug and throws.
     */
    async takeBackTotals(tx: Tx, items: { id: string; count: number; spent: number }[]): Promise<void> {
      if (items.length === 0) return
      const { rows } = await sql<{ id: string }>`
        UPDATE customers c SET order_count = 0, total_spent = 0, currency = NULL
        FROM ${recordset(items, 'id text, count integer, spent bigint')}
        WHERE c.id = v.id AND c.order_count = v.count AND c.total_spent = v.spent
        RETURNING c.id`.execute(tx)
      if (rows.length !== new Set(items.map((i) => i.id)).size) throw new Error('an imported customer\'s totals changed before its history could be taken back')
    },

    /** Sets the sums outright (after orders moved between customers in a merge or its undo). */
    async setTotals(tx: Tx, id: string, totals: { count: number; spent: number }): Promise<void> {
      await tx.updateTable('customers').set({ order_count: totals.count, total_spent: totals.spent, updated_at: new Date() }).where('id', '=', id).execute()
    },

    // ---- merges (the identity domain records them; the records change here) ----

    /** Locks both customers' rows, always in id order so that two merges cannot deadlock. */
    async lockPair(tx: Tx, a: string, b: string) {
      const rows = await tx.selectFrom('customers').select(liveColumns).where('id', 'in', [a, b]).orderBy('id').forUpdate().execute()
      return new Map(rows.map((r) => [r.id, r]))
    },

    /**
     * Locks these customers' rows in id order (the order every multi-row lock takes, so lockers
     * cannot deadlock). Answers the live ones among them, with the currency of their totals.
     */
    async lockMany(tx: Tx, ids: string[]): Promise<Map<string, { currency: string | null }>> {
      const { rows } = await sql<{ id: string; live: boolean; currency: string | null }>`
        SELECT id, deleted_at IS NULL AS live, currency FROM customers WHERE id = ANY (${[...ids].sort()}::text[]) ORDER BY id FOR UPDATE`.execute(tx)
      return new Map(rows.filter((r) => r.live).map((r) => [r.id, { currency: r.currency }]))
    },

    // ---- erasure (the flow erase-person composes it with the other domains) ----

    /**
     * Locks a customer that may be erased and answers its state: a live or deleted customer
     * (`erasedAt` null) or one erased already (`erasedAt` set: the erase answers as before). An
     * unknown id answers 404 `CUSTOMER_NOT_FOUND`, a merged one (not erased) 410 `CUSTOMER_MERGED`:
     * the person is the customer it went into.
     */
    async lockErasable(tx: Tx, id: string): Promise<{ erasedAt: Date | null }> {
      if (!isId('cus', id)) throw notLive(id, undefined)
      const row = await tx.selectFrom('customers').select(['deleted_at', 'merged_into', 'erased_at']).where('id', '=', id).forUpdate().executeTakeFirst()
      if (!row) throw notLive(id, undefined)
      if (row.erased_at) return { erasedAt: row.erased_at }
      if (row.merged_into) throw notLive(id, row)
      return { erasedAt: null }
    },

    /** The personal values these customers' rows and addresses hold (to find them elsewhere before they go). */
    async personalValues(exec: Executor, ids: string[]): Promise<{ identifiers: string[]; values: string[] }> {
      const rows = await exec.selectFrom('customers').select(['email', 'phone', 'first_name', 'last_name', 'metadata']).where('id', 'in', ids).execute()
      const addresses = await exec.selectFrom('addresses').select(['label', 'first_name', 'last_name', 'line1', 'line2', 'city', 'state', 'postal_code', 'phone']).where('customer_id', 'in', ids).execute()
      const present = (v: unknown[]) => v.filter((x): x is string => typeof x === 'string' && x !== '')
      return {
        identifiers: present(rows.flatMap((r) => [r.email, r.phone]).concat(addresses.map((a) => a.phone))),
        values: present(rows.flatMap((r) => [r.first_name, r.last_name, ...leaves(r.metadata)]).concat(addresses.flatMap((a) => [a.label, a.first_name, a.last_name, a.line1, a.line2, a.city, a.state, a.postal_code]))),
      }
    },

    /**
     * Clears the personal fields of these customers (names, email, phone, password, metadata,
     * groups, account and verification state), deletes their addresses, and marks them erased
     * and deleted at `at` (a merged record keeps `merged_into`). Ids, order totals and currency
     * stay. The caller holds the rows' locks.
     */
    async erase(tx: Tx, ids: string[], at: Date): Promise<void> {
      await tx.deleteFrom('addresses').where('customer_id', 'in', ids).execute()
      await tx.updateTable('customers')
        .set({
          email: null, phone: null, first_name: null, last_name: null, password_hash: null, metadata: '{}', groups: [],
          has_account: false, email_verified: false, address_count: 0,
          erased_at: at, deleted_at: sql<Date>`coalesce(deleted_at, ${at}::timestamptz)`, updated_at: at,
        })
        .where('id', 'in', ids)
        .execute()
    },

    /** Marks `sourceId` merged into `targetId`: it answers 410 from now on. */
    async markMerged(tx: Tx, sourceId: string, targetId: string): Promise<void> {
      await tx.updateTable('customers').set({ merged_into: targetId, deleted_at: new Date(), updated_at: new Date() }).where('id', '=', sourceId).execute()
    },

    /** Makes a merged customer live again (undo). */
    async unmarkMerged(tx: Tx, sourceId: string): Promise<void> {
      await tx.updateTable('customers').set({ merged_into: null, deleted_at: null, updated_at: new Date() }).where('id', '=', sourceId).execute()
    },

    /** The customer's currency goes when no order is left that set it (undo of a merge). */
    async dropCurrencyWithoutOrders(tx: Tx, id: string): Promise<void> {
      await tx.updateTable('customers').set({ currency: null }).where('id', '=', id).where('order_count', '=', 0).execute()
    },
  }
}
export type CustomerService = ReturnType<typeof createCustomerService>

/** The strings anywhere in a JSON value (the free-form metadata). */
function leaves(value: unknown): string[] {
  if (typeof value === 'string') return [value]
  if (Array.isArray(value)) return value.flatMap(leaves)
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(leaves)
  return []
}
