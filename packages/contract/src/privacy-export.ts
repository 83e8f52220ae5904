import Type, { type Static } from 'typebox'
import { IdOf, Nullable, Timestamp } from './common.js'
import { Address, Customer, CustomerIdParams } from './customers.js'
import { defineDomain } from './define.js'
import { Identity } from './identity-record.js'
import { Merge } from './identity.js'
import { LedgerEntry, RewardAccountBalance } from './loyalty.js'
import { Order } from './orders.js'

/** The version of the export document's shape; it changes when a field changes meaning or goes away. */
export const exportSchemaVersion = 1

/** How many events (the oldest) and how many ledger entries of one account (the newest) one export holds at most. */
export const exportLimits = { events: 10_000, entriesPerAccount: 10_000 } as const

const OwnedBy = { customerId: Type.String({ description: 'the customer record it belongs to: the person, or one merged into it' }) }

export const PersonExport = Type.Object(
  {
    schemaVersion: Type.Literal(exportSchemaVersion),
    exportedAt: Timestamp,
    customerId: IdOf('cus'),
    description: Type.String({ description: 'what the document holds and what it leaves out, in words (docs/privacy.md, "Export")' }),
    profile: Customer,
    pendingContactChanges: Type.Object({
      email: Nullable(Type.String({ description: 'a new email waiting for its verification token' })),
      phone: Nullable(Type.String({ description: 'a new phone waiting for its verification token' })),
    }),
    absorbedCustomers: Type.Array(
      Type.Object({ profile: Customer, mergedInto: Type.String({ description: 'the customer it was merged into (this one, or one merged into it)' }) }),
      { description: 'the customer records merged into this one (directly or through others; merges not undone), as they are kept' },
    ),
    identities: Type.Array(Identity, { description: "the identities of the person's record and of the records merged into it, with how each was linked (linkedBy, mergeId)" }),
    addresses: Type.Array(Type.Object({ ...Address.properties, ...OwnedBy })),
    groups: Type.Array(Type.String()),
    orders: Type.Array(
      Type.Object({
        ...Order.properties,
        cancelledAt: Nullable(Timestamp),
        recordedAt: Timestamp,
      }),
    ),
    rewardAccounts: Type.Array(
      Type.Object({
        ...RewardAccountBalance.properties,
        entries: Type.Array(LedgerEntry, { description: 'newest first' }),
        entriesTruncated: Type.Boolean({ description: `true when the account has more than ${exportLimits.entriesPerAccount} entries: only the newest are here` }),
      }),
    ),
    coupons: Type.Array(Type.Object({}, { additionalProperties: true }), {
      maxItems: 0,
      description: 'always empty: coupons belong to their loyalty provider and are not tied to a customer in the hub',
    }),
    merges: Type.Array(Merge, { description: 'every merge with the person or a record merged into it as target or source, undone ones too' }),
    events: Type.Array(
      Type.Object({
        id: IdOf('evt'),
        sequence: Type.String(),
        type: Type.String(),
        customerId: Nullable(Type.String()),
        payload: Type.Object({}, { additionalProperties: true }),
        createdAt: Timestamp,
      }),
      { description: `events about the person and the records merged into it, oldest first; at most the first ${exportLimits.events}` },
    ),
    eventsTruncated: Type.Boolean({ description: `true when there are more than ${exportLimits.events} such events: only the oldest are here` }),
  },
  { $id: 'PersonExport' },
)
export type PersonExport = Static<typeof PersonExport>

const named = ['CUSTOMER_NOT_FOUND', 'CUSTOMER_MERGED', 'CUSTOMER_ERASED'] as const

/** The answer of an erase: the same for the first request and every one after it. */
export const EraseResult = Type.Object(
  {
    customerId: IdOf('cus'),
    erasedAt: Timestamp,
    records: Type.Array(Type.String(), { description: 'the customer and every record merged into it (merges not undone): all of them were erased' }),
  },
  { $id: 'EraseResult' },
)
export type EraseResult = Static<typeof EraseResult>

/** What the hub holds about one person, as one document, and the erasure of it (docs/privacy.md). */
export const privacyExport = defineDomain({
  errors: {},
  events: {
    'customer.erased': Type.Object(
      { customerId: Type.String(), erasedAt: Timestamp },
      { description: 'the customer was erased: every system that keeps a copy of its personal data erases it too. Sent once for the customer and once for each record merged into it' },
    ),
  },
  routes: {
    exportCustomer: {
      method: 'GET', path: '/customer/:id/export', tags: ['privacy'], access: ['admin'],
      summary: 'Everything the hub holds about a person, as one JSON document',
      description:
        'Profile, identities with their provenance, addresses, groups, orders, reward accounts with their entries, merges and events, of the customer and of the customers merged into it. See docs/privacy.md, "Export".',
      params: CustomerIdParams,
      responses: { 200: PersonExport },
      errors: named,
    },
    exportMe: {
      method: 'GET', path: '/customer/me/export', tags: ['me', 'privacy'], access: ['customer'],
      summary: 'Everything the hub holds about me, as one JSON document',
      description: 'The same document as GET /customer/:id/export, for the customer of the token.',
      responses: { 200: PersonExport },
      errors: named,
    },
    eraseCustomer: {
      method: 'POST', path: '/customer/:id/erase', tags: ['privacy'], access: ['admin'],
      summary: "Erase a person: its personal data goes, its ids, totals and ledger stay",
      description:
        'In one transaction: the personal fields of the customer and of the records merged into it are cleared, their identities, addresses, password, ' +
        'one-time tokens and sessions go, and the personal data is rewritten out of the events, merge records, kept Idempotency-Key answers and the free-form fields of ' +
        'points transactions, holds and coupon redemptions that hold it. ' +
        'Ids, order totals and the ledger stay. Emits customer.erased. From then on every route naming the customer answers 410 CUSTOMER_ERASED, and a sync ' +
        'with the same identifiers makes a new customer. Erasing again answers the same. See docs/privacy.md, "Erase".',
      params: CustomerIdParams,
      responses: { 200: EraseResult },
      errors: ['CUSTOMER_NOT_FOUND', 'CUSTOMER_MERGED'],
    },
  },
})
