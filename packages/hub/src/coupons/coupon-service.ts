import { sql, type Selectable } from 'kysely'
import type {
  Coupon,
  CouponHold,
  CouponHoldInput,
  CouponHoldResult,
  CouponListQuery,
  CouponPatch,
  CouponRedeemInput,
  CouponRedeemResult,
  CouponRedemption,
  GiftCardSyncInput,
  GiftCardSyncResult,
} from '@his-her/contract'
import type { Executor, Tx } from '../db/executor.js'
import { RetryTransaction } from '../db/executor.js'
import { HubError } from '../errors.js'
import { newId } from '../ids.js'
import { fingerprint } from '../secrets.js'
import { allowErasure, keyForms, scrubFields, type Redaction } from '../redaction.js'
import type { EventService } from '../events/event-store.js'
import type { ValueAccounts, ValueBalance, ValueHold } from '../loyalty/value-accounts.js'
import type { ProviderService } from '../sellers/provider-service.js'
import type { RateLimiter } from '../auth/rate-limiter.js'
import type { Principal } from '../auth/principal.js'
import type { CouponRedemptionsTable, CouponsTable } from './tables.js'

type CouponRow = Selectable<CouponsTable>
type RedemptionRow = Selectable<CouponRedemptionsTable>

/** Failed code look-ups a caller may make in a window before every look-up by code answers 429. */
export const CODE_GUESS_LIMIT = 20
export const CODE_GUESS_WINDOW_SECONDS = 300

/** JSON with keys sorted, so that two equal bodies give one fingerprint. */
const canonical = (value: Record<string, unknown>): string => JSON.stringify(Object.fromEntries(Object.keys(value).sort().map((k) => [k, value[k]])))

const num = (v: bigint | string | null): number | null => (v === null ? null : Number(v))

function toRedemption(r: RedemptionRow): CouponRedemption {
  return {
    id: r.id,
    couponId: r.coupon_id,
    amount: num(r.amount),
    orderRef: r.order_ref,
    transactionId: r.transaction_id,
    holdId: r.hold_id,
    createdAt: r.created_at.toISOString(),
  }
}

function toHold(h: ValueHold, couponId: string): CouponHold {
  return {
    id: h.id,
    couponId,
    amount: Number(h.amount),
    status: h.status,
    capturedAmount: num(h.capturedAmount),
    captureTransactionId: h.captureTransactionId,
    orderRef: h.reference,
    expiresAt: h.expiresAt.toISOString(),
    createdAt: h.createdAt.toISOString(),
    resolvedAt: h.resolvedAt?.toISOString() ?? null,
  }
}

export interface CouponServiceDeps {
  events: EventService
  providers: ProviderService
  values: ValueAccounts
  limiter: RateLimiter
  secret: string
  clock: () => Date
}

/**
 * Gift-card coupons. A coupon belongs to the loyalty provider of the service account that synced
 * it; a service account sees and changes only its own provider's, platform and admin tokens any
 * (the checkout). A coupon with a balance is an account of the value ledger of its currency, so a
 * redemption or a hold is a ledger posting under that account's row lock and guarded update; a
 * single-use coupon is redeemed by a guarded status update, backed by a unique index on its
 * redemptions.
 */
export function createCouponService(deps: CouponServiceDeps) {
  const { events, providers, values, limiter, clock } = deps
  const codeHash = (code: string) => fingerprint(deps.secret, 'coupon code', code)
  const requestFingerprint = (operation: string, body: Record<string, unknown>) => fingerprint(deps.secret, 'coupon request', `${operation}\0${canonical(body)}`)

  /** The provider a service token acts for; undefined for a platform or admin token (any provider). */
  const scopeOf = (principal: Principal): string | undefined => {
    if (principal.kind !== 'service') return undefined
    if (!principal.providerId) throw new HubError('SERVICE_ACCOUNT_REQUIRED', 'This service account acts for no loyalty provider.')
    return principal.providerId
  }

  async function answer(exec: Executor, rows: CouponRow[], known = new Map<string, ValueBalance>()): Promise<Coupon[]> {
    const missing = rows.map((r) => r.account_id).filter((id): id is string => id !== null && !known.has(id))
    const balances = new Map([...known, ...(await values.read(exec, missing))])
    const channels = await providers.channelHandles(exec, [...new Set(rows.map((r) => r.channel_id).filter((c): c is string => c !== null))])
    return rows.map((r) => {
      const b = r.account_id ? balances.get(r.account_id) : undefined
      return {
        id: r.id,
        kind: r.kind,
        providerId: r.provider_id,
        channel: r.channel_id ? (channels.get(r.channel_id) ?? null) : null,
        codeLast4: r.code_last4,
        externals: r.externals,
        singleUse: r.single_use,
        currency: r.currency,
        balance: b ? Number(b.balance) : null,
        available: b ? Number(b.available) : null,
        accountId: r.account_id,
        ledger: b?.ledger ?? (r.currency ? values.ledgerOf(r.currency) : null),
        status: r.status,
        expiresAt: r.expires_at?.toISOString() ?? null,
        redeemedAt: r.redeemed_at?.toISOString() ?? null,
        createdAt: r.created_at.toISOString(),
        updatedAt: r.updated_at.toISOString(),
      }
    })
  }
  const one = async (exec: Executor, row: CouponRow, balance?: ValueBalance) =>
    (await answer(exec, [row], balance && row.account_id ? new Map([[row.account_id, balance]]) : undefined))[0]!

  /** The coupon of an id, if the caller may see it (404 otherwise: another provider's coupon does not exist for a seller). */
  async function byId(exec: Executor, id: string, principal: Principal, lock = false): Promise<CouponRow> {
    let q = exec.selectFrom('coupons').selectAll().where('id', '=', id)
    const scope = scopeOf(principal)
    if (scope) q = q.where('provider_id', '=', scope)
    const row = await (lock ? q.forUpdate() : q).executeTakeFirst()
    if (!row) throw new HubError('COUPON_NOT_FOUND', `No coupon ${id}.`)
    return row
  }

  /**
   * The coupon of a code, for this caller. A caller past its failed look-ups answers 429 before
   * anything is read; each failed look-up is counted after the request's transaction rolled back,
   * so it stays counted.
   */
  async function byCode(tx: Tx, principal: Principal, code: string, providerId: string | undefined, lock: boolean): Promise<CouponRow> {
    const caller = `coupon-code:${principal.tokenId ?? `${principal.kind}:${principal.kind === 'service' ? principal.serviceAccountId : principal.name}`}`
    await limiter.check(tx, caller, CODE_GUESS_LIMIT, CODE_GUESS_WINDOW_SECONDS)
    let q = tx.selectFrom('coupons').selectAll().where('code_hash', '=', codeHash(code))
    const scope = scopeOf(principal) ?? providerId
    if (scope) q = q.where('provider_id', '=', scope)
    const rows = await (lock ? q.forUpdate() : q).limit(2).execute()
    if (rows.length === 0) {
      // counted once the transaction has rolled back, so that the count stays
      throw new HubError('COUPON_NOT_FOUND', 'No coupon has this code.').withAfterRollback(async (db) => {
        await limiter.hit(db, caller, Number.MAX_SAFE_INTEGER, CODE_GUESS_WINDOW_SECONDS)
      })
    }
    if (rows.length > 1) throw new HubError('COUPON_AMBIGUOUS', 'Several providers have a coupon with this code; name the provider (providerId).')
    return rows[0]!
  }

  /** Refuses a coupon that cannot be used now, and a provider that is suspended or terminated (its row share-locked meanwhile). */
  async function assertUsable(tx: Tx, row: CouponRow): Promise<void> {
    const status = await providers.statusForUse(tx, row.provider_id)
    if (status === 'suspended') throw new HubError('SELLER_SUSPENDED', "The coupon's seller is suspended.")
    if (status === 'terminated') throw new HubError('SELLER_TERMINATED', "The coupon's seller was terminated.")
    if (row.status === 'disabled') throw new HubError('COUPON_DISABLED')
    if (row.status === 'redeemed') throw new HubError('COUPON_ALREADY_REDEEMED', 'The single-use coupon was redeemed already.', { redeemedAt: row.redeemed_at?.toISOString() })
    if (row.expires_at && row.expires_at <= clock()) throw new HubError('COUPON_EXPIRED', `The coupon expired at ${row.expires_at.toISOString()}.`)
  }

  const shortOf = (balance: ValueBalance, amount: bigint) =>
    balance.balance === 0n
      ? new HubError('COUPON_EXHAUSTED', 'The coupon has no balance left; nothing was taken.')
      : new HubError('COUPON_INSUFFICIENT_BALANCE', `The coupon has ${balance.available} available; ${amount} was asked for. Nothing was taken.`, { available: Number(balance.available) })

  async function replay(tx: Tx, key: string, fp: string): Promise<CouponRedeemResult | undefined> {
    const done = await tx.selectFrom('coupon_redemptions').selectAll().where('idempotency_key', 'in', keyForms(deps.secret, key)).executeTakeFirst()
    if (!done) return undefined
    if (done.fingerprint !== fp) throw new HubError('IDEMPOTENCY_KEY_REUSED', `The idempotency key ${key} was used for another redemption.`)
    const coupon = await tx.selectFrom('coupons').selectAll().where('id', '=', done.coupon_id).executeTakeFirstOrThrow()
    return { redemption: toRedemption(done), coupon: await one(tx, coupon) }
  }

  /** Claims the redemption's key (and, for a single-use coupon, the coupon): another request that got there first makes this one run again and replay. */
  async function claim(tx: Tx, row: Omit<RedemptionRow, 'amount'> & { amount: string | null }): Promise<RedemptionRow> {
    const claimed = await tx.insertInto('coupon_redemptions').values(row).onConflict((oc) => oc.doNothing()).returningAll().executeTakeFirst()
    if (!claimed) throw new RetryTransaction(`redemption key ${row.idempotency_key} or coupon ${row.coupon_id} was claimed meanwhile`)
    return claimed
  }

  async function requireCouponHold(exec: Executor, holdId: string, principal: Principal): Promise<{ hold: ValueHold; coupon: CouponRow }> {
    const hold = await values.holdOf(exec, holdId)
    const coupon = hold ? await exec.selectFrom('coupons').selectAll().where('account_id', '=', hold.accountId).executeTakeFirst() : undefined
    const scope = scopeOf(principal)
    if (!hold || !coupon || (scope && coupon.provider_id !== scope)) throw new HubError('HOLD_NOT_FOUND', `No coupon hold has the id ${holdId}.`)
    return { hold, coupon }
  }

  return {
    /**
     * Makes or updates the gift-card coupon of `input.code` for the calling service account's
     * provider (never one named by the caller). A new code with a balance opens its account in the
     * value ledger of its currency and issues the balance from the provider; a changed balance is
     * posted as the difference, never below what holds reserve.
     */
    async syncGiftCard(tx: Tx, principal: Principal, input: GiftCardSyncInput): Promise<GiftCardSyncResult> {
      if (principal.kind !== 'service' || !principal.providerId) throw new HubError('SERVICE_ACCOUNT_REQUIRED')
      const provider = principal.providerId
      const status = await providers.statusForUse(tx, provider)
      if (status === 'suspended') throw new HubError('SELLER_SUSPENDED', 'The seller is suspended.')
      if (status === 'terminated') throw new HubError('SELLER_TERMINATED', 'The seller was terminated.')
      const balance = input.balance ?? null
      if (balance !== null && !input.currency) throw new HubError('COUPON_CURRENCY_REQUIRED')
      const now = clock()
      const hash = codeHash(input.code)
      const last4 = input.code.slice(-4)
      const externals = JSON.stringify([{ source: 'gift-card', codeLast4: last4, syncedAt: now.toISOString() }])
      const channelId = input.channelHandle ? await providers.ensureChannel(tx, input.channelHandle) : undefined
      const expiresAt = input.expiresAt === undefined ? undefined : input.expiresAt === null ? null : new Date(input.expiresAt)

      const id = newId('cpn')
      const accountId = balance === null ? null : newId('rwa')
      const made = await tx
        .insertInto('coupons')
        .values({
          id, kind: 'gift_card', provider_id: provider, channel_id: channelId ?? null, code_hash: hash, code_last4: last4, externals,
          single_use: balance === null, currency: balance === null ? null : input.currency!, account_id: accountId, status: 'active',
          expires_at: expiresAt ?? null, redeemed_at: null, created_at: now, updated_at: now,
        })
        .onConflict((oc) => oc.columns(['provider_id', 'code_hash']).doNothing())
        .returningAll()
        .executeTakeFirst()
      if (made) {
        const opened = accountId ? await values.open(tx, { currency: input.currency!, provider, couponId: id, amount: BigInt(balance!), accountId }) : undefined
        const coupon = await one(tx, made, opened?.balance)
        await events.emit(tx, { type: 'coupon.created', customerId: null, payload: { coupon } })
        return { coupon, created: true }
      }

      const existing = await tx.selectFrom('coupons').selectAll().where('provider_id', '=', provider).where('code_hash', '=', hash).forUpdate().executeTakeFirst()
      if (!existing) throw new RetryTransaction('the coupon that refused the insert is gone')
      if ((balance !== null && existing.single_use) || (balance !== null && existing.currency !== input.currency)) {
        throw new HubError('COUPON_KIND_CHANGED', existing.single_use ? 'This code was synced as a single-use coupon.' : `This code's balance is in ${existing.currency}.`)
      }
      const changes: Partial<{ channel_id: string; expires_at: Date | null }> = {}
      if (channelId !== undefined && channelId !== existing.channel_id) changes.channel_id = channelId
      if (expiresAt !== undefined && expiresAt?.getTime() !== existing.expires_at?.getTime()) changes.expires_at = expiresAt
      const moved = balance !== null && existing.account_id ? await values.setBalance(tx, existing.account_id, provider, BigInt(balance)) : undefined
      const updated = await tx.updateTable('coupons').set({ ...changes, externals, updated_at: now }).where('id', '=', existing.id).returningAll().executeTakeFirstOrThrow()
      const coupon = await one(tx, updated, moved?.balance)
      if (Object.keys(changes).length > 0 || moved?.transaction) await events.emit(tx, { type: 'coupon.updated', customerId: null, payload: { coupon } })
      return { coupon, created: false }
    },

    async list(exec: Executor, principal: Principal, query: CouponListQuery): Promise<{ data: Coupon[]; nextCursor: string | null }> {
      const limit = query.limit ?? 50
      if (query.cursor !== undefined && !/^cpn_[0-9A-Z]{26}$/.test(query.cursor)) throw new HubError('INVALID_CURSOR')
      let q = exec.selectFrom('coupons').selectAll().orderBy('id', 'desc').limit(limit + 1)
      const scope = scopeOf(principal) ?? query.providerId
      if (scope) q = q.where('provider_id', '=', scope)
      if (query.cursor) q = q.where('id', '<', query.cursor)
      const rows = await q.execute()
      const page = rows.slice(0, limit)
      return { data: await answer(exec, page), nextCursor: rows.length > limit ? page[page.length - 1]!.id : null }
    },

    async get(exec: Executor, principal: Principal, id: string): Promise<Coupon> {
      return one(exec, await byId(exec, id, principal))
    },

    async update(tx: Tx, principal: Principal, id: string, patch: CouponPatch): Promise<Coupon> {
      const row = await byId(tx, id, principal, true)
      if (patch.status !== undefined && row.status === 'redeemed') throw new HubError('COUPON_ALREADY_REDEEMED', 'A redeemed single-use coupon is neither enabled nor disabled.')
      const set: Partial<{ expires_at: Date | null; status: 'active' | 'disabled' }> = {}
      if (patch.expiresAt !== undefined) set.expires_at = patch.expiresAt === null ? null : new Date(patch.expiresAt)
      if (patch.status !== undefined) set.status = patch.status
      const updated = await tx.updateTable('coupons').set({ ...set, updated_at: clock() }).where('id', '=', row.id).returningAll().executeTakeFirstOrThrow()
      const coupon = await one(tx, updated)
      await events.emit(tx, { type: 'coupon.updated', customerId: null, payload: { coupon } })
      return coupon
    },

    async lookup(tx: Tx, principal: Principal, code: string, providerId?: string): Promise<Coupon> {
      return one(tx, await byCode(tx, principal, code, providerId, false))
    },

    /**
     * Redeems a coupon once per idempotency key: `amount` of a balance (a ledger posting, refused
     * when short) or a single-use coupon (at most once, by a guarded update and a unique index).
     */
    async redeem(tx: Tx, principal: Principal, input: CouponRedeemInput): Promise<{ result: CouponRedeemResult; replayed: boolean }> {
      const row = await byCode(tx, principal, input.code, input.providerId, true)
      const fp = requestFingerprint('redeem', { coupon: row.id, amount: input.amount ?? null, orderRef: input.orderRef })
      const earlier = await replay(tx, input.idempotencyKey, fp)
      if (earlier) return { result: earlier, replayed: true }
      await assertUsable(tx, row)
      const now = clock()
      if (row.single_use) {
        const redemption = await claim(tx, {
          id: newId('cred'), coupon_id: row.id, idempotency_key: input.idempotencyKey, fingerprint: fp, single_use: true, amount: null,
          order_ref: input.orderRef, transaction_id: null, hold_id: null, created_at: now,
        })
        const used = await tx.updateTable('coupons').set({ status: 'redeemed', redeemed_at: now, updated_at: now }).where('id', '=', row.id).where('status', '=', 'active').returningAll().executeTakeFirst()
        if (!used) throw new RetryTransaction(`coupon ${row.id} was redeemed meanwhile`)
        const result = { redemption: toRedemption(redemption), coupon: await one(tx, used) }
        await events.emit(tx, { type: 'coupon.redeemed', customerId: null, payload: result })
        return { result, replayed: false }
      }
      if (input.amount === undefined) throw new HubError('COUPON_AMOUNT_REQUIRED')
      const amount = BigInt(input.amount)
      const before = await values.lock(tx, row.account_id!)
      if (before.available < amount) throw shortOf(before, amount)
      const transactionId = newId('txn')
      const redemption = await claim(tx, {
        id: newId('cred'), coupon_id: row.id, idempotency_key: input.idempotencyKey, fingerprint: fp, single_use: false, amount: String(amount),
        order_ref: input.orderRef, transaction_id: transactionId, hold_id: null, created_at: now,
      })
      let balance: ValueBalance
      try {
        balance = (await values.redeem(tx, row.account_id!, amount, { reference: input.orderRef, transactionId })).balance
      } catch (err) {
        // the guarded update is the guard; the check above only names the reason
        if (err instanceof HubError && err.code === 'INSUFFICIENT_POINTS') throw shortOf(before, amount)
        throw err
      }
      const result = { redemption: toRedemption(redemption), coupon: await one(tx, row, balance) }
      await events.emit(tx, { type: 'coupon.redeemed', customerId: null, payload: result })
      return { result, replayed: false }
    },

    async hold(tx: Tx, principal: Principal, input: CouponHoldInput): Promise<{ result: CouponHoldResult; replayed: boolean }> {
      const row = await byCode(tx, principal, input.code, input.providerId, false)
      if (row.single_use) throw new HubError('COUPON_NOT_HOLDABLE')
      const fp = requestFingerprint('hold', { coupon: row.id, amount: input.amount, ttlSeconds: input.ttlSeconds, orderRef: input.orderRef ?? null })
      const amount = BigInt(input.amount)
      const before = await values.lock(tx, row.account_id!)
      const { hold, balance, replayed } = await (async () => {
        try {
          return await values.hold(tx, row.account_id!, { amount, ttlSeconds: input.ttlSeconds, key: input.idempotencyKey, fingerprint: fp, reference: input.orderRef ?? null, before: () => assertUsable(tx, row) })
        } catch (err) {
          if (err instanceof HubError && err.code === 'INSUFFICIENT_POINTS') throw shortOf(before, amount)
          throw err
        }
      })()
      const result = { hold: toHold(hold, row.id), coupon: await one(tx, row, balance) }
      if (!replayed) await events.emit(tx, { type: 'coupon.held', customerId: null, payload: result })
      return { result, replayed }
    },

    async capture(tx: Tx, principal: Principal, holdId: string, amount: number | undefined): Promise<CouponRedeemResult> {
      const { coupon: row } = await requireCouponHold(tx, holdId, principal)
      const status = await providers.statusForUse(tx, row.provider_id)
      if (status === 'suspended') throw new HubError('SELLER_SUSPENDED', "The coupon's seller is suspended.")
      if (status === 'terminated') throw new HubError('SELLER_TERMINATED', "The coupon's seller was terminated.")
      const done = await values.capture(tx, holdId, row.account_id!, amount === undefined ? undefined : BigInt(amount))
      const now = clock()
      const redemption = await claim(tx, {
        id: newId('cred'), coupon_id: row.id, idempotency_key: `hub capture:${holdId}`, fingerprint: 'capture', single_use: false,
        amount: String(done.hold.capturedAmount), order_ref: done.hold.reference ?? holdId, transaction_id: done.transaction.id, hold_id: holdId, created_at: now,
      })
      const coupon = await one(tx, row, done.balance)
      const result = { redemption: toRedemption(redemption), coupon }
      await events.emit(tx, { type: 'coupon.captured', customerId: null, payload: { coupon, hold: toHold(done.hold, row.id), redemption: result.redemption } })
      return result
    },

    async void(tx: Tx, principal: Principal, holdId: string): Promise<CouponHoldResult> {
      const { coupon: row } = await requireCouponHold(tx, holdId, principal)
      const done = await values.void(tx, holdId, row.account_id!)
      const result = { hold: toHold(done.hold, row.id), coupon: await one(tx, row, done.balance) }
      await events.emit(tx, { type: 'coupon.released', customerId: null, payload: result })
      return result
    },

    /**
     * Takes a person's data out of the redemptions that name it (an erase): an order reference
     * or idempotency key holding one of the person's ids or identifiers is rewritten as
     * {@link Redaction.text} says for others (a redemption names an order, not a customer); a key
     * becomes its erased form, which {@link keyForms} still finds for a retry.
     */
    async redactRedemptions(tx: Tx, redaction: Redaction): Promise<number> {
      const { rows } = await sql<{ id: string; order_ref: string; idempotency_key: string }>`
        SELECT id, order_ref, idempotency_key FROM coupon_redemptions
        WHERE ${redaction.mayHold(sql`concat_ws(' ', order_ref, idempotency_key)`)} ORDER BY id FOR UPDATE`.execute(tx)
      await allowErasure(tx, true)
      let changed = 0
      for (const row of rows) {
        const scrubbed = scrubFields(redaction, deps.secret, { orderRef: row.order_ref }, row.idempotency_key, false)
        if (!scrubbed.changed) continue
        // the column is required: an order reference that named the person says so instead
        await sql`UPDATE coupon_redemptions SET order_ref = ${scrubbed.fields.orderRef ?? '[erased]'}, idempotency_key = ${scrubbed.key} WHERE id = ${row.id}`.execute(tx)
        changed++
      }
      await allowErasure(tx, false)
      return changed
    },
  }
}
export type CouponService = ReturnType<typeof createCouponService>
