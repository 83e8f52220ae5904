import { sql, type Kysely } from 'kysely'
import type { EnsuredRewardAccount, Identity, IdentityInput, LookupQuery, MatchRule, RewardAccount, Customer } from '@his-her/contract'
import type { Database } from '../db/schema.js'
import type { CustomerSettings } from '../config.js'
import { HubError } from '../errors.js'
import { newId, isId } from '../ids.js'
import { isUniqueViolation } from '../db/pg-errors.js'
import { createEventWriter } from '../events/event-store.js'
import { assertCustomerId } from '../customers/customer-service.js'
import { toCustomer } from '../customers/customer-mapper.js'
import type { LedgerCheck } from '../loyalty/ledger-check.js'
import { cascade, findCandidates, matchKeys, toIdentity, type IdentityRow } from './match.js'
import { normalizeEmail, normalizePhone } from './normalize.js'

const identityColumns = ['id', 'customer_id', 'kind', 'namespace', 'value', 'raw_value', 'external_id_field', 'created_at'] as const

/**
 * A customer's identities (how each platform knows them), the lookup cascade, and reward
 * accounts. The customer's `email` and `phone` fields always name one of its identities of that
 * kind (or are null when it has none).
 */
export function createIdentityService({ db, settings, ledgers }: { db: Kysely<Database>; settings: CustomerSettings; ledgers: LedgerCheck }) {
  async function assertLive(executor: Kysely<Database>, customerId: string, lock = false): Promise<{ email: string | null; phone: string | null }> {
    assertCustomerId(customerId)
    const row = await executor
      .selectFrom('customers')
      .select(['email', 'phone', 'deleted_at', 'merged_into'])
      .where('id', '=', customerId)
      .$if(lock, (q) => q.forUpdate())
      .executeTakeFirst()
    if (row?.merged_into) throw new HubError('CUSTOMER_MERGED', `The customer ${customerId} was merged into ${row.merged_into}.`, { mergedInto: row.merged_into })
    if (!row || row.deleted_at) throw new HubError('CUSTOMER_NOT_FOUND', `No live customer has the id ${customerId}.`)
    return row
  }

  function normalize(input: IdentityInput): { namespace: string; value: string } {
    if (input.kind === 'email') return { namespace: '', value: normalizeEmail(input.value) }
    if (input.kind === 'phone') return { namespace: '', value: normalizePhone(input.value, settings.defaultCountry) }
    if (!input.namespace) throw new HubError('VALIDATION_FAILED', 'A platform identity needs its namespace (the platform component).')
    const value = input.value.trim()
    if (value === '' || value.length > 200) throw new HubError('VALIDATION_FAILED', 'A platform identity needs a value of 1 to 200 characters.')
    return { namespace: input.namespace, value }
  }

  return {
    async list(customerId: string): Promise<Identity[]> {
      await assertLive(db, customerId)
      const rows = await db.selectFrom('identities').select(identityColumns).where('customer_id', '=', customerId).orderBy('created_at').orderBy('id').execute()
      return rows.map((r) => toIdentity(r as IdentityRow))
    },

    /**
     * Links an identity. 409 `IDENTITY_TAKEN` (with the holder's id) when another customer
     * holds it — the unique index decides; linking one the customer already has answers it
     * with `created: false`.
     */
    async link(customerId: string, input: IdentityInput): Promise<{ identity: Identity; created: boolean }> {
      const { namespace, value } = normalize(input)
      try {
        return await db.transaction().execute(async (tx) => {
          const current = await assertLive(tx, customerId, true)
          const existing = await tx.selectFrom('identities').select(identityColumns)
            .where('kind', '=', input.kind).where('namespace', '=', namespace).where('value', '=', value).executeTakeFirst()
          if (existing?.customer_id === customerId) return { identity: toIdentity(existing as IdentityRow), created: false }
          const row = await tx
            .insertInto('identities')
            .values({ id: newId('idn'), customer_id: customerId, kind: input.kind, namespace, value, raw_value: input.value, external_id_field: input.externalIdField ?? null })
            .returning(identityColumns)
            .executeTakeFirstOrThrow()
          const identity = toIdentity(row as IdentityRow)
          if ((input.kind === 'email' && current.email === null) || (input.kind === 'phone' && current.phone === null)) {
            await tx.updateTable('customers').set({ [input.kind]: value, updated_at: new Date() }).where('id', '=', customerId).execute()
          }
          await createEventWriter(tx).emit({ type: 'customer.identity_linked', customerId, payload: { customerId, identity } })
          return { identity, created: true }
        })
      } catch (err) {
        if (!isUniqueViolation(err)) throw err
        const holder = await db.selectFrom('identities').select('customer_id')
          .where('kind', '=', input.kind).where('namespace', '=', namespace).where('value', '=', value).executeTakeFirst()
        throw new HubError('IDENTITY_TAKEN', `Another customer holds this ${input.kind} identity.`, { customerId: holder?.customer_id ?? null })
      }
    },

    /** Unlinks an identity; the customer's email/phone field moves to another of that kind, or null. */
    async unlink(customerId: string, identityId: string): Promise<void> {
      if (!isId('idn', identityId)) throw new HubError('INVALID_ID', `"${identityId}" is not an identity id (idn_…).`)
      await db.transaction().execute(async (tx) => {
        const current = await assertLive(tx, customerId, true)
        const removed = await tx.deleteFrom('identities').where('id', '=', identityId).where('customer_id', '=', customerId)
          .returning(identityColumns).executeTakeFirst()
        if (!removed) throw new HubError('IDENTITY_NOT_FOUND')
        const kind = removed.kind
        if ((kind === 'email' && current.email === removed.value) || (kind === 'phone' && current.phone === removed.value)) {
          await sql`
            UPDATE customers SET ${sql.ref(kind)} = (
              SELECT value FROM identities WHERE customer_id = ${customerId} AND kind = ${kind} ORDER BY created_at, id LIMIT 1
            ), updated_at = now()
            WHERE id = ${customerId}`.execute(tx)
        }
        await createEventWriter(tx).emit({ type: 'customer.identity_unlinked', customerId, payload: { customerId, identity: toIdentity(removed as IdentityRow) } })
      })
    },

    /** The cascade of `POST /customer/sync` without writing: 404 `NO_MATCH` when nobody matches. */
    async lookup(query: LookupQuery): Promise<{ customer: Customer; matchedBy: MatchRule }> {
      const keys = matchKeys(query, settings.defaultCountry)
      if (!keys.platform && !keys.email && !keys.phone) {
        throw new HubError('IDENTIFIER_REQUIRED', 'Give component with externalId, email or phone.')
      }
      const { match, matchedBy } = cascade(keys, await findCandidates(db, keys))
      if (!match || !matchedBy) throw new HubError('NO_MATCH')
      return { customer: toCustomer(match.customer), matchedBy }
    },

    /** Makes sure the customer has an account in the ledger; race-free by the unique constraint. */
    async ensureRewardAccount(customerId: string, ledger: string): Promise<EnsuredRewardAccount> {
      await ledgers.assertExists(ledger)
      return db.transaction().execute(async (tx) => {
        await assertLive(tx, customerId)
        const inserted = await tx
          .insertInto('reward_accounts')
          .values({ id: newId('rwa'), ledger_id: ledger, customer_id: customerId })
          .onConflict((oc) => oc.constraint('reward_accounts_ledger_customer_key').doNothing())
          .returning(['id', 'ledger_id', 'customer_id', 'created_at'])
          .executeTakeFirst()
        const row = inserted ?? (await tx.selectFrom('reward_accounts').select(['id', 'ledger_id', 'customer_id', 'created_at'])
          .where('ledger_id', '=', ledger).where('customer_id', '=', customerId).executeTakeFirstOrThrow())
        const account: RewardAccount = { id: row.id, ledger: row.ledger_id, customerId: row.customer_id, createdAt: row.created_at.toISOString() }
        if (inserted) await createEventWriter(tx).emit({ type: 'reward_account.created', customerId, payload: { rewardAccount: account } })
        return { account, created: inserted !== undefined }
      })
    },

    async listRewardAccounts(customerId: string): Promise<RewardAccount[]> {
      await assertLive(db, customerId)
      const rows = await db.selectFrom('reward_accounts').select(['id', 'ledger_id', 'customer_id', 'created_at'])
        .where('customer_id', '=', customerId).orderBy('created_at').orderBy('id').execute()
      return rows.map((r) => ({ id: r.id, ledger: r.ledger_id, customerId: r.customer_id, createdAt: r.created_at.toISOString() }))
    },
  }
}
export type IdentityService = ReturnType<typeof createIdentityService>
