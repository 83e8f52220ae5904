import Type, { type Static } from 'typebox'
import { Handle, IdOf, List, Metadata, Nullable, Page, PathId, Timestamp } from './common.js'
import { CustomerIdParams } from './customers.js'
import { defineDomain } from './define.js'

/** The most points one transaction may move; balances stay exact integers far beyond it. */
export const maxPoints = 1_000_000_000_000

export const RewardAccount = Type.Object(
  {
    id: IdOf('rwa'),
    ledger: Type.String(),
    customerId: Type.String(),
    createdAt: Timestamp,
  },
  { $id: 'RewardAccount' },
)
export type RewardAccount = Static<typeof RewardAccount>

export const RewardAccountInput = Type.Object({ ledger: Handle }, { additionalProperties: false })
export type RewardAccountInput = Static<typeof RewardAccountInput>
export const EnsuredRewardAccount = Type.Object({ account: RewardAccount, created: Type.Boolean() })
export type EnsuredRewardAccount = Static<typeof EnsuredRewardAccount>

/** Points earned together: spending takes the lots that expire first; expiry takes what is left of a lot. */
export const PointsLot = Type.Object(
  {
    id: IdOf('lot'),
    amount: Type.Integer({ description: 'points the lot was made with' }),
    remaining: Type.Integer({ description: 'points of the lot not yet spent, expired or moved' }),
    expiresAt: Nullable(Timestamp),
    pending: Type.Boolean({ description: 'true while the lot waits out its return window' }),
    availableAt: Nullable(Timestamp),
    orderId: Nullable(Type.String()),
  },
  { $id: 'PointsLot' },
)
export type PointsLot = Static<typeof PointsLot>

const balanceFields = {
  balance: Type.Integer({ description: 'the sum of the entries: available, held and pending points together' }),
  available: Type.Integer({ description: 'balance − held − pending: what can be spent or held now' }),
  held: Type.Integer({ description: 'points reserved by holds not yet captured, voided or expired' }),
  pending: Type.Integer({ description: 'points in their return window' }),
}

/** An account's balances after a transaction. */
export const AccountBalance = Type.Object(
  { accountId: IdOf('rwa'), customerId: Nullable(Type.String()), ...balanceFields },
  { $id: 'AccountBalance' },
)
export type AccountBalance = Static<typeof AccountBalance>

/** A customer's reward account with its balances and the lots that make them up. */
export const RewardAccountBalance = Type.Object(
  {
    id: IdOf('rwa'),
    ledger: Type.String(),
    customerId: Type.String(),
    createdAt: Timestamp,
    ...balanceFields,
    lots: Type.Array(PointsLot, { description: 'lots with points left, soonest to expire first' }),
  },
  { $id: 'RewardAccountBalance' },
)
export type RewardAccountBalance = Static<typeof RewardAccountBalance>

export const transactionKinds = ['earn', 'spend', 'adjust', 'transfer', 'reversal', 'expiry', 'capture', 'order', 'merge', 'import'] as const
export type TransactionKind = (typeof transactionKinds)[number]

export const Posting = Type.Object(
  { from: IdOf('rwa'), to: IdOf('rwa'), amount: Type.Integer({ minimum: 1 }) },
  { $id: 'Posting' },
)
export type Posting = Static<typeof Posting>

export const LedgerTransaction = Type.Object(
  {
    id: IdOf('txn'),
    ledger: Type.String(),
    kind: Type.Enum(transactionKinds),
    idempotencyKey: Type.String(),
    postings: Type.Array(Posting),
    reference: Nullable(Type.String()),
    reason: Nullable(Type.String()),
    reverses: Nullable(Type.String({ description: 'the transaction this one reverses' })),
    holdId: Nullable(Type.String()),
    orderId: Nullable(Type.String()),
    mergeId: Nullable(Type.String()),
    metadata: Metadata,
    createdAt: Timestamp,
  },
  { $id: 'LedgerTransaction' },
)
export type LedgerTransaction = Static<typeof LedgerTransaction>

export const TransactionResult = Type.Object(
  { transaction: LedgerTransaction, balances: Type.Array(AccountBalance) },
  { $id: 'TransactionResult' },
)
export type TransactionResult = Static<typeof TransactionResult>

const Points = Type.Integer({ minimum: 1, maximum: maxPoints, description: 'points, a positive integer' })
const IdempotencyKey = Type.String({
  minLength: 1,
  maxLength: 200,
  pattern: '^[\\x21-\\x7e]+$',
  description: 'unique per ledger: a repeat with the same body answers the first transaction (200, `Idempotent-Replayed: true`)',
})
const Reference = Type.String({ minLength: 1, maxLength: 200, description: "the caller's reference, e.g. an order or a checkout id" })
const Reason = Type.String({ minLength: 1, maxLength: 500 })

const EarnInput = Type.Object(
  {
    kind: Type.Literal('earn'),
    idempotencyKey: IdempotencyKey,
    customerId: IdOf('cus'),
    amount: Points,
    expiresAt: Type.Optional(Timestamp),
    reference: Type.Optional(Reference),
    metadata: Type.Optional(Metadata),
    /** The loyalty provider that grants the points (a seller's): they are its liability. The house's when absent. */
    providerId: Type.Optional(IdOf('lpr')),
  },
  { additionalProperties: false },
)
const SpendInput = Type.Object(
  {
    kind: Type.Literal('spend'),
    idempotencyKey: IdempotencyKey,
    customerId: IdOf('cus'),
    amount: Points,
    reference: Type.Optional(Reference),
    metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false },
)
const AdjustInput = Type.Object(
  {
    kind: Type.Literal('adjust'),
    idempotencyKey: IdempotencyKey,
    customerId: IdOf('cus'),
    amount: Type.Integer({ minimum: -maxPoints, maximum: maxPoints, description: 'positive adds points, negative removes them; not 0' }),
    reason: Reason,
    metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false },
)
const TransferInput = Type.Object(
  {
    kind: Type.Literal('transfer'),
    idempotencyKey: IdempotencyKey,
    fromCustomerId: IdOf('cus'),
    toCustomerId: IdOf('cus'),
    amount: Points,
    reference: Type.Optional(Reference),
    metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false },
)
export const TransactionInput = Type.Union([EarnInput, SpendInput, AdjustInput, TransferInput], { $id: 'TransactionInput' })
export type TransactionInput = Static<typeof TransactionInput>
export type EarnInput = Static<typeof EarnInput>
export type SpendInput = Static<typeof SpendInput>
export type AdjustInput = Static<typeof AdjustInput>
export type TransferInput = Static<typeof TransferInput>

export const ReverseInput = Type.Object({ idempotencyKey: IdempotencyKey, reason: Reason }, { additionalProperties: false })
export type ReverseInput = Static<typeof ReverseInput>

export const holdStatuses = ['pending', 'captured', 'voided', 'expired'] as const
export const Hold = Type.Object(
  {
    id: IdOf('hld'),
    ledger: Type.String(),
    accountId: IdOf('rwa'),
    customerId: Type.String(),
    amount: Type.Integer({ description: 'points reserved' }),
    status: Type.Enum(holdStatuses),
    capturedAmount: Nullable(Type.Integer()),
    captureTransactionId: Nullable(Type.String()),
    reference: Nullable(Type.String()),
    idempotencyKey: Type.String(),
    expiresAt: Timestamp,
    createdAt: Timestamp,
    resolvedAt: Nullable(Timestamp),
  },
  { $id: 'Hold' },
)
export type Hold = Static<typeof Hold>

export const HoldInput = Type.Object(
  {
    idempotencyKey: IdempotencyKey,
    customerId: IdOf('cus'),
    amount: Points,
    ttlSeconds: Type.Integer({ minimum: 1, maximum: 30 * 86400, description: 'an uncaptured hold expires by itself after this' }),
    reference: Type.Optional(Reference),
  },
  { additionalProperties: false },
)
export type HoldInput = Static<typeof HoldInput>
export const CaptureInput = Type.Object(
  { amount: Type.Optional({ ...Points, description: 'points to capture, at most the hold; default all of it (the rest is released)' }) },
  { additionalProperties: false },
)
export type CaptureInput = Static<typeof CaptureInput>
export const HoldResult = Type.Object({ hold: Hold, balance: AccountBalance, transaction: Nullable(LedgerTransaction) }, { $id: 'HoldResult' })
export type HoldResult = Static<typeof HoldResult>

export const LedgerEntry = Type.Object(
  {
    transactionId: IdOf('txn'),
    accountId: IdOf('rwa'),
    seq: Type.Integer({ description: "the entry's place in its account's chain, from 1" }),
    amount: Type.Integer({ description: 'signed: positive credits the account' }),
    balanceAfter: Type.Integer(),
    kind: Type.Enum(transactionKinds),
    hash: Type.String({ description: 'SHA-256 over the previous entry of the account and this one' }),
    createdAt: Timestamp,
  },
  { $id: 'LedgerEntry' },
)
export type LedgerEntry = Static<typeof LedgerEntry>

export const PointInTimeBalance = Type.Object(
  { accountId: IdOf('rwa'), at: Timestamp, balance: Type.Integer(), entries: Type.Integer({ description: 'entries up to that moment' }) },
  { $id: 'PointInTimeBalance' },
)

export const SystemAccount = Type.Object(
  {
    role: Type.Enum(['issuer', 'redemptions', 'expiry', 'adjustments']),
    provider: Nullable(Type.String({ description: 'the loyalty provider of an issuer account' })),
    balance: Type.Integer({ description: 'the sum over its lanes' }),
    lanes: Type.Array(IdOf('rwa'), { description: 'the rows the account is spread over, so that postings to it do not queue on one row' }),
  },
  { $id: 'SystemAccount' },
)
export const Ledger = Type.Object(
  {
    handle: Type.String(),
    name: Type.String(),
    allowNegative: Type.Boolean(),
    pendingDays: Type.Integer(),
    expiryDays: Nullable(Type.Integer()),
    earn: Type.Array(Type.Object({ per: Type.Integer(), points: Type.Integer(), currency: Type.String() })),
    systemAccounts: Type.Array(SystemAccount),
  },
  { $id: 'Ledger' },
)
export type Ledger = Static<typeof Ledger>

export const verifyProblemKinds = ['unbalanced', 'chain', 'balance', 'lots', 'held', 'pending'] as const
export const VerifyReport = Type.Object(
  {
    ledger: Type.String(),
    ok: Type.Boolean(),
    accounts: Type.Integer(),
    transactions: Type.Integer(),
    entries: Type.Integer(),
    problems: Type.Array(
      Type.Object({ kind: Type.Enum(verifyProblemKinds), accountId: Nullable(Type.String()), transactionId: Nullable(Type.String()), detail: Type.String() }),
    ),
  },
  { $id: 'VerifyReport' },
)
export type VerifyReport = Static<typeof VerifyReport>

const LedgerParams = Type.Object({ ledger: PathId })
const TransactionParams = Type.Object({ ledger: PathId, id: PathId })
const AccountParams = Type.Object({ ledger: PathId, id: PathId })
const HoldParams = Type.Object({ id: PathId })

const tags = ['loyalty']
const rw = ['admin', 'platform'] as const
const readers = ['admin', 'platform', 'customer', 'support'] as const
const named = ['CUSTOMER_NOT_FOUND', 'CUSTOMER_MERGED', 'CUSTOMER_ERASED'] as const

const pointsEvent = Type.Object({ transaction: LedgerTransaction, balances: Type.Array(AccountBalance) })
const holdEvent = Type.Object({ hold: Hold, balance: AccountBalance })

/** Points ledgers: customers' reward accounts, double-entry transactions, lots, holds. */
export const loyalty = defineDomain({
  errors: {
    LEDGER_NOT_FOUND: { status: 404, message: 'No ledger has this handle; declare it under ledgers: in the configuration.' },
    ACCOUNT_NOT_FOUND: { status: 404, message: 'No account of this ledger has this id.' },
    TRANSACTION_NOT_FOUND: { status: 404, message: 'No transaction of this ledger has this id.' },
    HOLD_NOT_FOUND: { status: 404, message: 'No hold has this id.' },
    INSUFFICIENT_POINTS: { status: 422, message: 'The account does not have enough available points; nothing was posted.' },
    SAME_ACCOUNT: { status: 422, message: 'A transfer needs two different customers.' },
    TRANSACTION_ALREADY_REVERSED: { status: 409, message: 'This transaction was reversed already.' },
    TRANSACTION_NOT_REVERSIBLE: { status: 409, message: 'This kind of transaction is undone by its own route (an order cancel, a merge undo), or is a reversal itself.' },
    REVERSAL_POINTS_SPENT: { status: 409, message: 'The points this transaction credited were spent, expired or moved since; the ledger does not allow negative balances.' },
    HOLD_RESOLVED: { status: 409, message: 'The hold was captured, voided or expired already.' },
    CAPTURE_EXCEEDS_HOLD: { status: 422, message: 'A capture can take at most the points the hold reserved.' },
  },
  events: {
    'reward_account.created': Type.Object({ rewardAccount: RewardAccount }),
    'points.earned': pointsEvent,
    'points.spent': pointsEvent,
    'points.expired': pointsEvent,
    'points.reversed': pointsEvent,
    'points.transferred': pointsEvent,
    'points.adjusted': pointsEvent,
    'points.held': holdEvent,
    'points.captured': Type.Object({ hold: Hold, balance: AccountBalance, transaction: LedgerTransaction }),
    'points.released': holdEvent,
  },
  routes: {
    listRewardAccounts: {
      method: 'GET', path: '/customer/:id/reward-accounts', tags, access: ['admin', 'platform', 'support'],
      summary: "A customer's reward accounts with balances and lots",
      params: CustomerIdParams,
      responses: { 200: List(RewardAccountBalance) },
      errors: named,
    },
    ensureRewardAccount: {
      method: 'POST', path: '/customer/:id/reward-accounts', tags, access: rw,
      summary: 'Make sure the customer has an account in a ledger (idempotent)',
      description: '201 when the account was made, 200 when it existed.',
      params: CustomerIdParams,
      body: RewardAccountInput,
      responses: { 200: EnsuredRewardAccount, 201: EnsuredRewardAccount },
      errors: [...named, 'LEDGER_NOT_FOUND'],
    },
    myRewardAccounts: {
      method: 'GET', path: '/customer/me/reward-accounts', tags: ['me'], access: ['customer'],
      summary: 'My reward accounts with balances and lots',
      responses: { 200: List(RewardAccountBalance) },
      errors: named,
    },
    getLedger: {
      method: 'GET', path: '/ledgers/:ledger', tags, access: ['admin', 'support'],
      summary: 'A ledger: its settings and system accounts',
      params: LedgerParams,
      responses: { 200: Ledger },
      errors: ['LEDGER_NOT_FOUND'],
    },
    postTransaction: {
      method: 'POST', path: '/ledgers/:ledger/transactions', tags, access: rw,
      summary: 'Earn, spend, adjust (admin) or transfer points',
      description:
        '201 with the transaction, its postings and the new balances. The body\'s `idempotencyKey` is unique per ledger: the same key with the same body answers the first transaction (200, `Idempotent-Replayed: true`), with another body 422 `IDEMPOTENCY_KEY_REUSED`.',
      params: LedgerParams,
      body: TransactionInput,
      responses: { 200: TransactionResult, 201: TransactionResult },
      errors: [...named, 'LEDGER_NOT_FOUND', 'INSUFFICIENT_POINTS', 'SAME_ACCOUNT', 'PROVIDER_NOT_FOUND', 'SELLER_SUSPENDED', 'SELLER_TERMINATED'],
    },
    getTransaction: {
      method: 'GET', path: '/ledgers/:ledger/transactions/:id', tags, access: ['admin', 'platform', 'support'],
      summary: 'A transaction with its postings',
      params: TransactionParams,
      responses: { 200: LedgerTransaction },
      errors: ['LEDGER_NOT_FOUND', 'TRANSACTION_NOT_FOUND'],
    },
    reverseTransaction: {
      method: 'POST', path: '/ledgers/:ledger/transactions/:id/reverse', tags, access: rw,
      summary: 'Post the mirror image of a transaction, once',
      params: TransactionParams,
      body: ReverseInput,
      responses: { 200: TransactionResult, 201: TransactionResult },
      errors: ['LEDGER_NOT_FOUND', 'TRANSACTION_NOT_FOUND', 'TRANSACTION_ALREADY_REVERSED', 'TRANSACTION_NOT_REVERSIBLE', 'REVERSAL_POINTS_SPENT', 'INSUFFICIENT_POINTS'],
    },
    createHold: {
      method: 'POST', path: '/ledgers/:ledger/holds', tags, access: rw,
      summary: 'Reserve points (two-phase): capture or void later; expires by itself after ttlSeconds',
      params: LedgerParams,
      body: HoldInput,
      responses: { 200: HoldResult, 201: HoldResult },
      errors: [...named, 'LEDGER_NOT_FOUND', 'INSUFFICIENT_POINTS'],
    },
    getHold: {
      method: 'GET', path: '/holds/:id', tags, access: ['admin', 'platform', 'support'],
      summary: 'A hold',
      params: HoldParams,
      responses: { 200: Hold },
      errors: ['HOLD_NOT_FOUND'],
    },
    captureHold: {
      method: 'POST', path: '/holds/:id/capture', tags, access: rw,
      summary: "Spend all or part of a hold's points and release the rest",
      params: HoldParams,
      body: CaptureInput,
      responses: { 200: HoldResult },
      errors: ['HOLD_NOT_FOUND', 'HOLD_RESOLVED', 'CAPTURE_EXCEEDS_HOLD'],
    },
    voidHold: {
      method: 'POST', path: '/holds/:id/void', tags, access: rw,
      summary: "Release a hold's points",
      params: HoldParams,
      responses: { 200: HoldResult },
      errors: ['HOLD_NOT_FOUND', 'HOLD_RESOLVED'],
    },
    listEntries: {
      method: 'GET', path: '/ledgers/:ledger/accounts/:id/entries', tags, access: readers,
      summary: "An account's entries, newest first (a customer token reads only its own accounts)",
      params: AccountParams,
      query: Type.Object({ cursor: Type.Optional(Type.String({ maxLength: 40 })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })) }),
      responses: { 200: Page(LedgerEntry) },
      errors: ['LEDGER_NOT_FOUND', 'ACCOUNT_NOT_FOUND', 'INVALID_CURSOR'],
    },
    accountBalance: {
      method: 'GET', path: '/ledgers/:ledger/accounts/:id/balance', tags, access: readers,
      summary: "An account's balance now, or at a past moment (`at`), from its entries",
      params: AccountParams,
      query: Type.Object({ at: Type.Optional(Timestamp) }),
      responses: { 200: PointInTimeBalance },
      errors: ['LEDGER_NOT_FOUND', 'ACCOUNT_NOT_FOUND'],
    },
    verifyLedger: {
      method: 'GET', path: '/ledgers/:ledger/verify', tags, access: ['admin', 'support'],
      summary: 'Recompute every balance from the entries and check every hash chain and transaction',
      params: LedgerParams,
      responses: { 200: VerifyReport },
      errors: ['LEDGER_NOT_FOUND'],
    },
  },
})
