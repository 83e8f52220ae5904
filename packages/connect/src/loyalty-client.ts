import type { BodyOf, QueryOf, ResultOf, Routes } from '@his-her/contract'
import type { HttpClient } from './http-client.js'
import { createRetryingCall, keyHeader, newIdempotencyKey, type RetryOptions } from './retrying-call.js'

/** The ledger of a call when none is given. */
export const DEFAULT_LEDGER = 'reward-points'

export interface LedgerOption {
  /** The ledger's handle. Default `reward-points`. */
  ledger?: string | undefined
}

export interface IdempotencyKeyOption {
  /**
   * Makes the call safe to repeat: the hub answers a repeat with the same key (and the same
   * input) with the first result instead of posting again. Without one the client makes one
   * (`crypto.randomUUID()`) per call and keeps it over the call's own retries. Reusing a key
   * with other input throws `IDEMPOTENCY_KEY_REUSED` (422).
   */
  idempotencyKey?: string | undefined
}

type TransactionBody = BodyOf<Routes['postTransaction']>
/** The body of one kind of transaction, without what the client fills in. */
type TransactionOf<K extends TransactionBody['kind']> = Omit<Extract<TransactionBody, { kind: K }>, 'kind' | 'idempotencyKey'>

/** `{ customerId, amount, expiresAt?, reference?, metadata? }` of `POST /ledgers/:ledger/transactions`. */
export type EarnPointsInput = TransactionOf<'earn'> & IdempotencyKeyOption & LedgerOption
/** `{ customerId, amount, reference?, metadata? }`. */
export type SpendPointsInput = TransactionOf<'spend'> & IdempotencyKeyOption & LedgerOption
/** `{ customerId, amount, reason, metadata? }`: a positive amount adds points, a negative one removes them. */
export type AdjustPointsInput = TransactionOf<'adjust'> & IdempotencyKeyOption & LedgerOption
/** `{ fromCustomerId, toCustomerId, amount, reference?, metadata? }`. */
export type TransferPointsInput = TransactionOf<'transfer'> & IdempotencyKeyOption & LedgerOption
/** `{ reason }` of `POST /ledgers/:ledger/transactions/:id/reverse`. */
export type ReverseInput = Omit<BodyOf<Routes['reverseTransaction']>, 'idempotencyKey'> & IdempotencyKeyOption & LedgerOption
/** `{ customerId, amount, ttlSeconds, reference? }` of `POST /ledgers/:ledger/holds`. */
export type HoldPointsInput = Omit<BodyOf<Routes['createHold']>, 'idempotencyKey'> & IdempotencyKeyOption & LedgerOption
/** `{ amount? }` of `POST /holds/:id/capture`: default the whole hold. */
export type CaptureInput = NonNullable<BodyOf<Routes['captureHold']>> & IdempotencyKeyOption
/** `{ at? }`: the balance at that moment (an ISO timestamp); default now. */
export type BalanceQuery = NonNullable<QueryOf<Routes['accountBalance']>> & LedgerOption
/** `{ cursor?, limit? }`: pass a page's `nextCursor` back as `cursor` for the next (older) page. */
export type EntriesQuery = NonNullable<QueryOf<Routes['listEntries']>> & LedgerOption

export type PointsTransactionResult = ResultOf<Routes['postTransaction']>
export type PointsReversalResult = ResultOf<Routes['reverseTransaction']>
export type PointsHoldResult = ResultOf<Routes['createHold']>
export type PointsCaptureResult = ResultOf<Routes['captureHold']>
export type PointsVoidResult = ResultOf<Routes['voidHold']>
export type PointsHold = ResultOf<Routes['getHold']>
export type PointsTransaction = ResultOf<Routes['getTransaction']>
export type PointsBalance = ResultOf<Routes['accountBalance']>
export type PointsEntryPage = ResultOf<Routes['listEntries']>
export type RewardAccountList = ResultOf<Routes['listRewardAccounts']>

/**
 * Points of the hub's ledgers: earn, spend, adjust, transfer, reverse, two-phase holds, balances
 * and entries. Every write carries an idempotency key (the caller's, or one the client makes), and
 * a call that got no answer, a 5xx or a timeout is sent again with that same key, so the hub
 * posts it once. Failures throw {@link HubApiError} with the hub's code, e.g. `INSUFFICIENT_POINTS`.
 */
export interface LoyaltyApi {
  /**
   * Credits points to the customer's account (made on first use). Throws `CUSTOMER_NOT_FOUND`
   * (404), `LEDGER_NOT_FOUND` (404).
   *
   * @example
   * ```ts
   * const { transaction, balances } = await commerce.loyalty.earn({ customerId, amount: 500, reference: 'order-1001' })
   * ```
   */
  earn(input: EarnPointsInput): Promise<PointsTransactionResult>
  /**
   * Takes points, those expiring first first. Throws `INSUFFICIENT_POINTS` (422) beyond the
   * available points; nothing is posted then.
   *
   * @example
   * ```ts
   * await commerce.loyalty.spend({ customerId, amount: 200, reference: 'checkout-77' })
   * ```
   */
  spend(input: SpendPointsInput): Promise<PointsTransactionResult>
  /**
   * Adds (positive `amount`) or removes (negative) points with a reason; admin token only
   * (`FORBIDDEN`, 403, otherwise).
   *
   * @example
   * ```ts
   * await commerce.loyalty.adjust({ customerId, amount: -50, reason: 'goodwill points taken back' })
   * ```
   */
  adjust(input: AdjustPointsInput): Promise<PointsTransactionResult>
  /**
   * Moves points from one customer to another. Throws `SAME_ACCOUNT` (422), `INSUFFICIENT_POINTS` (422).
   *
   * @example
   * ```ts
   * await commerce.loyalty.transfer({ fromCustomerId: jane.id, toCustomerId: john.id, amount: 100 })
   * ```
   */
  transfer(input: TransferPointsInput): Promise<PointsTransactionResult>
  /**
   * Posts the mirror image of a transaction, once. Throws `TRANSACTION_ALREADY_REVERSED` (409),
   * `TRANSACTION_NOT_REVERSIBLE` (409), `REVERSAL_POINTS_SPENT` (409), `TRANSACTION_NOT_FOUND` (404).
   *
   * @example
   * ```ts
   * await commerce.loyalty.reverse(transaction.id, { reason: 'order refunded' })
   * ```
   */
  reverse(transactionId: string, input: ReverseInput): Promise<PointsReversalResult>
  /**
   * Reserves points until captured or voided; the hold expires by itself after `ttlSeconds`.
   * Throws `INSUFFICIENT_POINTS` (422).
   *
   * @example
   * ```ts
   * const { hold } = await commerce.loyalty.hold({ customerId, amount: 300, ttlSeconds: 900, reference: 'checkout-77' })
   * ```
   */
  hold(input: HoldPointsInput): Promise<PointsHoldResult>
  /**
   * Spends all of a hold's points, or `amount` of them and releases the rest. Throws
   * `HOLD_RESOLVED` (409), `CAPTURE_EXCEEDS_HOLD` (422), `HOLD_NOT_FOUND` (404).
   *
   * @example
   * ```ts
   * await commerce.loyalty.capture(hold.id, { amount: 250 })
   * ```
   */
  capture(holdId: string, input?: CaptureInput): Promise<PointsCaptureResult>
  /**
   * Releases a hold's points. Throws `HOLD_RESOLVED` (409), `HOLD_NOT_FOUND` (404).
   *
   * @example
   * ```ts
   * await commerce.loyalty.void(hold.id)
   * ```
   */
  void(holdId: string, input?: IdempotencyKeyOption): Promise<PointsVoidResult>
  /**
   * Reads a hold. Throws `HOLD_NOT_FOUND` (404).
   *
   * @example
   * ```ts
   * const { status } = await commerce.loyalty.getHold(hold.id)
   * ```
   */
  getHold(holdId: string): Promise<PointsHold>
  /**
   * Reads a transaction with its postings. Throws `TRANSACTION_NOT_FOUND` (404).
   *
   * @example
   * ```ts
   * const txn = await commerce.loyalty.transaction(transaction.id)
   * ```
   */
  transaction(transactionId: string, options?: LedgerOption): Promise<PointsTransaction>
  /**
   * An account's balance (`rwa_…`) from its entries, now or `at` a past moment. Throws
   * `ACCOUNT_NOT_FOUND` (404).
   *
   * @example
   * ```ts
   * const { balance } = await commerce.loyalty.balance(accountId, { at: '2025-01-01T00:00:00.000Z' })
   * ```
   */
  balance(accountId: string, query?: BalanceQuery): Promise<PointsBalance>
  /**
   * One page of an account's entries, newest first (`limit` 1–200, default 50). Throws
   * `ACCOUNT_NOT_FOUND` (404), `INVALID_CURSOR` (400).
   *
   * @example
   * ```ts
   * const { data, nextCursor } = await commerce.loyalty.entries(accountId, { limit: 20 })
   * ```
   */
  entries(accountId: string, query?: EntriesQuery): Promise<PointsEntryPage>
  /**
   * A customer's reward accounts in every ledger, with balances and lots.
   *
   * @example
   * ```ts
   * const { data } = await commerce.loyalty.accounts(customerId)
   * const points = data.find((a) => a.ledger === 'reward-points')?.available ?? 0
   * ```
   */
  accounts(customerId: string): Promise<RewardAccountList>
}

export type LoyaltyRetryOptions = RetryOptions

/** The points calls of the commerce client, on its HTTP client. */
export function createLoyaltyApi(http: HttpClient, retry: LoyaltyRetryOptions): LoyaltyApi {
  const call = createRetryingCall(http, retry)

  /** Splits what the client handles (ledger, key) from the body the hub takes. */
  function split<T extends IdempotencyKeyOption & LedgerOption>(input: T): { ledger: string; idempotencyKey: string; rest: Omit<T, 'ledger' | 'idempotencyKey'> } {
    const { ledger, idempotencyKey, ...rest } = input
    return { ledger: ledger ?? DEFAULT_LEDGER, idempotencyKey: idempotencyKey ?? newIdempotencyKey(), rest }
  }

  async function post<K extends TransactionBody['kind']>(kind: K, input: TransactionOf<K> & IdempotencyKeyOption & LedgerOption) {
    const { ledger, idempotencyKey, rest } = split(input)
    // `rest` is the body of this kind without kind and key, which TypeScript cannot follow through the spread
    return call('postTransaction', { params: { ledger }, body: { ...rest, kind, idempotencyKey } as unknown as TransactionBody })
  }

  return {
    earn: async (input) => post('earn', input),
    spend: async (input) => post('spend', input),
    adjust: async (input) => post('adjust', input),
    transfer: async (input) => post('transfer', input),
    async reverse(transactionId, input) {
      const { ledger, idempotencyKey, rest } = split(input)
      return call('reverseTransaction', { params: { ledger, id: transactionId }, body: { ...rest, idempotencyKey } })
    },
    async hold(input) {
      const { ledger, idempotencyKey, rest } = split(input)
      return call('createHold', { params: { ledger }, body: { ...rest, idempotencyKey } })
    },
    async capture(holdId, input = {}) {
      const { idempotencyKey, ...body } = input
      return call('captureHold', { params: { id: holdId }, body }, keyHeader({ idempotencyKey }))
    },
    void: async (holdId, input) => call('voidHold', { params: { id: holdId } }, keyHeader(input)),
    getHold: async (holdId) => call('getHold', { params: { id: holdId } }),
    transaction: async (transactionId, options = {}) => call('getTransaction', { params: { ledger: options.ledger ?? DEFAULT_LEDGER, id: transactionId } }),
    async balance(accountId, query = {}) {
      const { ledger = DEFAULT_LEDGER, ...rest } = query
      return call('accountBalance', { params: { ledger, id: accountId }, query: rest })
    },
    async entries(accountId, query = {}) {
      const { ledger = DEFAULT_LEDGER, ...rest } = query
      return call('listEntries', { params: { ledger, id: accountId }, query: rest })
    },
    accounts: async (customerId) => call('listRewardAccounts', { params: { id: customerId } }),
  }
}
