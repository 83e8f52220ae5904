import { sql, type RawBuilder } from 'kysely'
import type { Identity, IdentityInput, IdentityKind, Merge } from '@his-her/contract'
import type { CountryCode } from 'libphonenumber-js/max'
import type { Executor, Tx } from '../db/executor.js'
import { HubError } from '../errors.js'
import { newId, isId } from '../ids.js'
import { moveRowsBack } from '../db/moves.js'
import type { EventService } from '../events/event-store.js'
import { toIdentity, type MatchKeys } from './match.js'
import { normalizeEmail, normalizePhone } from './normalize.js'
import type { MergeRow } from './tables.js'
import type { Redaction } from '../redaction.js'
import { RECORDSET_FROM, recordset } from '../db/statement.js'

const identityColumns = ['id', 'customer_id', 'kind', 'namespace', 'value', 'raw_value', 'external_id_field', 'linked_via', 'linked_component', 'linked_rule', 'merge_id', 'created_at'] as const

function toMerge(r: MergeRow): Merge {
  return {
    id: r.id,
    targetId: r.target_id,
    sourceId: r.source_id,
    reason: r.reason,
    moved: r.moved,
    createdAt: r.created_at.toISOString(),
    undoneAt: r.undone_at?.toISOString() ?? null,
  }
}

/**
 * The identity domain: the `identities` table — how each platform knows a customer — and the
 * `merges` table, the record of who was joined with whom. An identity belongs to at most one
 * customer: the unique indexes decide every race.
 */
export function createIdentityService({ defaultCountry, events }: { defaultCountry: CountryCode; events: EventService }) {
  function normalize(input: IdentityInput): { namespace: string; value: string } {
    if (input.kind === 'email') return { namespace: '', value: normalizeEmail(input.value) }
    if (input.kind === 'phone') return { namespace: '', value: normalizePhone(input.value, defaultCountry) }
    if (!input.namespace) throw new HubError('VALIDATION_FAILED', 'A platform identity needs its namespace (the platform component).')
    const value = input.value.trim()
    if (value === '' || value.length > 200) throw new HubError('VALIDATION_FAILED', 'A platform identity needs a value of 1 to 200 characters.')
    return { namespace: input.namespace, value }
  }

  async function holderOf(exec: Executor, kind: IdentityKind, namespace: string, value: string): Promise<string | undefined> {
    const row = await exec.selectFrom('identities').select('customer_id')
      .where('kind', '=', kind).where('namespace', '=', namespace).where('value', '=', value).executeTakeFirst()
    return row?.customer_id
  }

  return {
    normalize,
    holderOf,

    /**
     * Who holds each of the keys: one query that reads only the identities' unique indexes, so
     * a new person — the common first sync — costs one small query.
     */
    async holders(exec: Executor, keys: MatchKeys): Promise<{ kind: IdentityKind; customer_id: string }[]> {
      const ors = []
      if (keys.platform) ors.push(sql`(kind = 'platform' AND namespace = ${keys.platform.namespace} AND value = ${keys.platform.value})`)
      if (keys.email) ors.push(sql`(kind = 'email' AND value = ${keys.email.value})`)
      if (keys.phone) ors.push(sql`(kind = 'phone' AND value = ${keys.phone.value})`)
      if (ors.length === 0) return []
      const { rows } = await sql<{ kind: IdentityKind; customer_id: string }>`SELECT kind, customer_id FROM identities WHERE ${sql.join(ors, sql` OR `)}`.execute(exec)
      return rows
    },

    /**
     * The holders of many requests' identifiers at once (a bulk import's batch): one query over the
     * identities' unique indexes, each row the identifier held and its customer.
     */
    async holdersOfMany(exec: Executor, keys: MatchKeys[]): Promise<{ kind: IdentityKind; namespace: string; value: string; customer_id: string }[]> {
      const emails = keys.flatMap((k) => (k.email ? [k.email.value] : []))
      const phones = keys.flatMap((k) => (k.phone ? [k.phone.value] : []))
      const platforms = keys.flatMap((k) => (k.platform ? [k.platform] : []))
      const { rows } = await sql<{ kind: IdentityKind; namespace: string; value: string; customer_id: string }>`
        SELECT kind, namespace, value, customer_id FROM identities WHERE kind = 'email' AND value = ANY (${emails}::text[])
        UNION ALL
        SELECT kind, namespace, value, customer_id FROM identities WHERE kind = 'phone' AND value = ANY (${phones}::text[])
        UNION ALL
        SELECT kind, namespace, value, customer_id FROM identities
        WHERE kind = 'platform' AND (namespace, value) IN (SELECT * FROM unnest(${platforms.map((p) => p.namespace)}::text[], ${platforms.map((p) => p.value)}::text[]))`.execute(exec)
      return rows
    },

    /**
     * The id of the customer holding an email already in its stored form (trimmed, lower-cased), as
     * a sub-select over the unique index. No shape check: a sign-in with any string finds no one
     * rather than failing differently from a wrong password.
     */
    storedEmailHolderSql(value: string): RawBuilder<unknown> {
      return sql`SELECT customer_id FROM identities WHERE kind = 'email' AND value = ${value}`
    },

    /** The ids of the customers holding an email: a sub-select for the list's `email` filter. */
    emailHoldersSql(email: string): RawBuilder<unknown> {
      return sql`SELECT customer_id FROM identities WHERE kind = 'email' AND value = ${normalizeEmail(email)}`
    },

    async list(exec: Executor, customerId: string): Promise<Identity[]> {
      const rows = await exec.selectFrom('identities').select(identityColumns).where('customer_id', '=', customerId).orderBy('created_at').orderBy('id').execute()
      return rows.map(toIdentity)
    },

    /** The customer's identity values of one kind, oldest first (what `contactField` chooses from). */
    async values(exec: Executor, customerId: string, kind: 'email' | 'phone'): Promise<string[]> {
      const rows = await exec.selectFrom('identities').select('value').where('customer_id', '=', customerId).where('kind', '=', kind).orderBy('created_at').orderBy('id').execute()
      return rows.map((r) => r.value)
    },

    /** The insert of identities, as one part of a larger statement; with `when`, only if it holds. */
    insertSql(identities: Identity[], when?: RawBuilder<unknown>): RawBuilder<unknown> {
      const columns = sql`(id, customer_id, kind, namespace, value, raw_value, external_id_field, linked_via, linked_component, linked_rule, created_at)`
      if (identities.length >= RECORDSET_FROM) {
        const rows = identities.map((i) => ({
          id: i.id, customer_id: i.customerId, kind: i.kind, namespace: i.namespace, value: i.value, raw_value: i.rawValue, external_id_field: i.externalIdField,
          linked_via: i.linkedBy.via, linked_component: i.linkedBy.component, linked_rule: i.linkedBy.rule, created_at: i.createdAt,
        }))
        const from = recordset(rows, 'id text, customer_id text, kind text, namespace text, value text, raw_value text, external_id_field text, linked_via text, linked_component text, linked_rule text, created_at timestamptz')
        return sql`INSERT INTO identities ${columns} SELECT v.* FROM ${from}${when ? sql` WHERE ${when}` : sql``}`
      }
      const rows = sql.join(identities.map((i) => sql`(${i.id}, ${i.customerId}, ${i.kind}, ${i.namespace}, ${i.value}, ${i.rawValue}, ${i.externalIdField}, ${i.linkedBy.via}, ${i.linkedBy.component}, ${i.linkedBy.rule}, ${i.createdAt}::timestamptz)`))
      return when ? sql`INSERT INTO identities ${columns} SELECT * FROM (VALUES ${rows}) v WHERE ${when}` : sql`INSERT INTO identities ${columns} VALUES ${rows}`
    },

    /**
     * Links an identity to a customer (who the caller has locked). Race-free without a failed
     * statement: the insert does nothing on a unique conflict (waiting for a concurrent insert of
     * the same identity to commit), and the holder is then read. Throws 409 `IDENTITY_TAKEN`
     * (with `details.customerId`) when another customer holds it; answers `created: false`
     * when this one does.
     */
    async link(tx: Tx, customerId: string, input: IdentityInput): Promise<{ identity: Identity; created: boolean }> {
      const { namespace, value } = normalize(input)
      const inserted = await tx
        .insertInto('identities')
        .values({ id: newId('idn'), customer_id: customerId, kind: input.kind, namespace, value, raw_value: input.value, external_id_field: input.externalIdField ?? null, linked_via: 'api' })
        .onConflict((oc) => oc.doNothing())
        .returning(identityColumns)
        .executeTakeFirst()
      if (inserted) {
        const identity = toIdentity(inserted)
        await events.emit(tx, { type: 'customer.identity_linked', customerId, payload: { customerId, identity } })
        return { identity, created: true }
      }
      const existing = await tx.selectFrom('identities').select(identityColumns)
        .where('kind', '=', input.kind).where('namespace', '=', namespace).where('value', '=', value).executeTakeFirst()
      if (existing?.customer_id === customerId) return { identity: toIdentity(existing), created: false }
      throw new HubError('IDENTITY_TAKEN', `Another customer holds this ${input.kind} identity.`, { customerId: existing?.customer_id ?? null })
    },

    /** Links an email or phone the caller has normalized (a new customer's, a changed email). 409 `EMAIL_TAKEN`/`PHONE_TAKEN` when held by another. */
    async linkContact(tx: Tx, customerId: string, kind: 'email' | 'phone', value: string, raw: string, via: 'create' | 'profile'): Promise<void> {
      const holder = await holderOf(tx, kind, '', value)
      if (holder === customerId) return
      if (holder !== undefined) throw new HubError(kind === 'email' ? 'EMAIL_TAKEN' : 'PHONE_TAKEN')
      // a concurrent link of the same value fails this insert on the unique index: 409 the same
      await tx.insertInto('identities').values({ id: newId('idn'), customer_id: customerId, kind, value, raw_value: raw, linked_via: via }).execute()
    },

    /** Removes the customer's identity of `kind` with `value` (a changed email or phone). */
    async unlinkValue(tx: Tx, customerId: string, kind: 'email' | 'phone', value: string): Promise<void> {
      await tx.deleteFrom('identities').where('customer_id', '=', customerId).where('kind', '=', kind).where('value', '=', value).execute()
    },

    /**
     * Unlinks one identity by id; 404 `IDENTITY_NOT_FOUND` when the customer has none such. With
     * `namespaces` (the components of a bound platform token), a platform identity of another
     * namespace is not deleted — the delete itself names the namespaces — and the answer is 403
     * `PLATFORM_SCOPE`; email and phone identities belong to no namespace.
     */
    async unlink(tx: Tx, customerId: string, identityId: string, namespaces: readonly string[] | null = null): Promise<Identity> {
      if (!isId('idn', identityId)) throw new HubError('INVALID_ID', `"${identityId}" is not an identity id (idn_…).`)
      let remove = tx.deleteFrom('identities').where('id', '=', identityId).where('customer_id', '=', customerId)
      if (namespaces !== null) remove = remove.where(sql<boolean>`(kind <> 'platform' OR namespace = ANY (${[...namespaces]}::text[]))`)
      const removed = await remove.returning(identityColumns).executeTakeFirst()
      if (!removed) {
        const kept = namespaces === null ? undefined : await tx.selectFrom('identities').select('namespace').where('id', '=', identityId).where('customer_id', '=', customerId).executeTakeFirst()
        if (kept) throw new HubError('PLATFORM_SCOPE', `This identity is in the identity component ${kept.namespace}, which this token does not act in.`, { component: kept.namespace })
        throw new HubError('IDENTITY_NOT_FOUND')
      }
      const identity = toIdentity(removed)
      await events.emit(tx, { type: 'customer.identity_unlinked', customerId, payload: { customerId, identity } })
      return identity
    },

    /** Removes every identity of a customer (a deleted customer's identifiers become free). */
    async removeAll(tx: Tx, customerId: string): Promise<void> {
      await tx.deleteFrom('identities').where('customer_id', '=', customerId).execute()
    },

    /**
     * Moves every identity of `fromId` to `toId` (a merge), marking each as brought by `mergeId`;
     * returns their ids and, for those an earlier merge had brought to `fromId`, that merge (so an
     * undo can put it back).
     */
    async moveAll(tx: Tx, fromId: string, toId: string, mergeId: string): Promise<{ ids: string[]; earlierMerges: Record<string, string> }> {
      const { rows } = await sql<{ id: string; previous: string | null }>`
        UPDATE identities i SET customer_id = ${toId}, merge_id = ${mergeId}
        FROM identities before WHERE before.id = i.id AND i.customer_id = ${fromId}
        RETURNING i.id, before.merge_id AS previous`.execute(tx)
      return { ids: rows.map((r) => r.id), earlierMerges: Object.fromEntries(rows.filter((r) => r.previous !== null).map((r) => [r.id, r.previous!])) }
    },

    /** Moves exactly these identities back (undo), with the merge that had brought each; false when one is no longer on `fromId`. */
    async moveBack(tx: Tx, ids: string[], fromId: string, toId: string, earlierMerges: Record<string, string> = {}): Promise<boolean> {
      if (!(await moveRowsBack(tx, 'identities', ids, fromId, toId))) return false
      if (ids.length > 0) {
        await sql`UPDATE identities SET merge_id = (${JSON.stringify(earlierMerges)}::jsonb ->> id) WHERE id = ANY (${ids}::text[])`.execute(tx)
      }
      return true
    },

    /** The pairs among these customers an admin separated by undoing a merge between them: syncs do not join them again. */
    async separatedPairs(exec: Executor, ids: string[]): Promise<[string, string][]> {
      const { rows } = await sql<{ a: string; b: string }>`
        SELECT DISTINCT target_id AS a, source_id AS b FROM merges
        WHERE undone_at IS NOT NULL AND target_id = ANY (${ids}::text[]) AND source_id = ANY (${ids}::text[])`.execute(exec)
      return rows.map((r) => [r.a, r.b])
    },

    /** The platform namespaces each of these customers holds an id in. */
    async platformNamespaces(exec: Executor, customerIds: string[]): Promise<Map<string, Set<string>>> {
      const { rows } = await sql<{ customer_id: string; namespace: string }>`
        SELECT DISTINCT customer_id, namespace FROM identities WHERE kind = 'platform' AND customer_id = ANY (${customerIds}::text[])`.execute(exec)
      const held = new Map<string, Set<string>>(customerIds.map((id) => [id, new Set()]))
      for (const r of rows) held.get(r.customer_id)!.add(r.namespace)
      return held
    },

    // ---- merge records ----

    async recordMerge(tx: Tx, merge: { id: string; targetId: string; sourceId: string; reason: string; moved: object }): Promise<Merge> {
      const row = await tx
        .insertInto('merges')
        .values({ id: merge.id, target_id: merge.targetId, source_id: merge.sourceId, reason: merge.reason, moved: JSON.stringify(merge.moved) })
        .returningAll()
        .executeTakeFirstOrThrow()
      return toMerge(row)
    },

    /** A merge record; 404 `MERGE_NOT_FOUND`. With `lock`, locked for the transaction. */
    async getMerge(exec: Executor, id: string, options: { lock?: boolean } = {}): Promise<Merge> {
      if (!isId('mrg', id)) throw new HubError('INVALID_ID', `"${id}" is not a merge id (mrg_…).`)
      const row = await exec.selectFrom('merges').selectAll().where('id', '=', id).$if(options.lock === true, (q) => q.forUpdate()).executeTakeFirst()
      if (!row) throw new HubError('MERGE_NOT_FOUND')
      return toMerge(row)
    },

    /** The customer and every customer merged into it (directly or through others), merges not undone. */
    async absorbed(exec: Executor, customerId: string): Promise<string[]> {
      const { rows } = await sql<{ id: string }>`
        WITH RECURSIVE absorbed(id) AS (
          SELECT ${customerId}::text
          UNION SELECT m.source_id FROM merges m JOIN absorbed a ON m.target_id = a.id WHERE m.undone_at IS NULL
        ) SELECT id FROM absorbed`.execute(exec)
      return rows.map((r) => r.id)
    },

    /** The identities of these customers, oldest first (a privacy export: the person and the records merged into it). */
    async listOf(exec: Executor, customerIds: string[]): Promise<Identity[]> {
      if (customerIds.length === 0) return []
      const rows = await exec.selectFrom('identities').select(identityColumns).where('customer_id', 'in', customerIds).orderBy('created_at').orderBy('id').execute()
      return rows.map(toIdentity)
    },

    /** Every merge with one of these customers as target or source, undone ones too, oldest first. */
    async mergesOf(exec: Executor, customerIds: string[]): Promise<Merge[]> {
      if (customerIds.length === 0) return []
      const rows = await exec
        .selectFrom('merges')
        .selectAll()
        .where((eb) => eb.or([eb('target_id', 'in', customerIds), eb('source_id', 'in', customerIds)]))
        .orderBy('created_at')
        .orderBy('id')
        .execute()
      return rows.map(toMerge)
    },

    // ---- erasure ----

    /** Removes every identity of these customers (an erase) and answers their values, as normalized and as sent. */
    async eraseOf(tx: Tx, customerIds: string[]): Promise<string[]> {
      if (customerIds.length === 0) return []
      const rows = await tx.deleteFrom('identities').where('customer_id', 'in', customerIds).returning(['value', 'raw_value']).execute()
      return rows.flatMap((r) => [r.value, r.raw_value])
    },

    /**
     * Rewrites the person's data out of the merge records it took part in (what `moved`: the
     * fields a merge filled): the record stays — who was joined with whom, and what moved by id —
     * but no longer holds names, emails or phones. Such a merge can no longer be undone (the
     * customers are erased).
     */
    async redactMerges(tx: Tx, redaction: Redaction): Promise<number> {
      const ids = redaction.ids
      const rows = await tx.selectFrom('merges').select(['id', 'moved'])
        .where((eb) => eb.or([eb('target_id', 'in', ids), eb('source_id', 'in', ids)]))
        .forUpdate().execute()
      let changed = 0
      for (const row of rows) {
        const moved = redaction.redact(typeof row.moved === 'string' ? JSON.parse(row.moved) : row.moved, true)
        if (moved === undefined) continue
        await tx.updateTable('merges').set({ moved: JSON.stringify(moved) }).where('id', '=', row.id).execute()
        changed++
      }
      return changed
    },

    async markUndone(tx: Tx, id: string): Promise<Merge> {
      const row = await tx.updateTable('merges').set({ undone_at: new Date() }).where('id', '=', id).returningAll().executeTakeFirstOrThrow()
      return toMerge(row)
    },
  }
}
export type IdentityService = ReturnType<typeof createIdentityService>
