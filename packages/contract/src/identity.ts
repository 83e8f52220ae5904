import Type, { type Static } from 'typebox'
import { Handle, IdOf, List, Metadata, Nullable, Page, PathId, Timestamp, Deleted } from './common.js'
import { Customer, CustomerIdParams } from './customers.js'
import { defineDomain } from './define.js'
import { Identity, identityKinds, Kind, LinkedBy, linkRules, linkVias, type IdentityKind } from './identity-record.js'

export { Identity, identityKinds, LinkedBy, linkRules, linkVias, type IdentityKind }

export const Component = Type.String({
  pattern: '^[a-z0-9][a-z0-9._-]{0,99}$',
  description: "the platform's identity component, e.g. identity.his-and-her-store",
})
export const FieldName = Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$', description: "the platform's name for its id field, e.g. medusaCustomerId" })
export const ExternalId = Type.String({ minLength: 1, maxLength: 200 })
const Country = Type.String({ pattern: '^[A-Za-z]{2}$', description: 'ISO 3166-1 alpha-2 country for phone numbers written without +, e.g. TH' })

export const IdentityInput = Type.Object(
  {
    kind: Kind,
    namespace: Type.Optional(Component),
    value: Type.String({ minLength: 1, maxLength: 254 }),
    externalIdField: Type.Optional(FieldName),
  },
  { additionalProperties: false },
)
export type IdentityInput = Static<typeof IdentityInput>

export const IdentityParams = Type.Object({ id: PathId, identityId: PathId })

export const matchRules = ['platform', 'email', 'phone'] as const
export type MatchRule = (typeof matchRules)[number]
const Rule = Type.Enum(matchRules)

export const LookupQuery = Type.Object(
  {
    component: Type.Optional(Component),
    externalId: Type.Optional(ExternalId),
    email: Type.Optional(Type.String({ maxLength: 254 })),
    phone: Type.Optional(Type.String({ maxLength: 40 })),
    defaultCountry: Type.Optional(Country),
  },
  { additionalProperties: false },
)
export type LookupQuery = Static<typeof LookupQuery>

export const LookupResult = Type.Object({ customer: Customer, matchedBy: Rule })
export type LookupResult = Static<typeof LookupResult>

export const SyncInput = Type.Object(
  {
    platform: Type.Object(
      {
        component: Component,
        externalIdField: Type.Optional(FieldName),
        externalId: Type.Optional(ExternalId),
        defaultCountry: Type.Optional(Country),
      },
      { additionalProperties: false },
    ),
    email: Type.Optional(Nullable(Type.String({ maxLength: 254 }))),
    phone: Type.Optional(Nullable(Type.String({ maxLength: 40 }))),
    firstName: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
    lastName: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
    metadata: Type.Optional(Metadata),
    rewardLedger: Type.Optional(Handle),
  },
  { additionalProperties: false },
)
export type SyncInput = Static<typeof SyncInput>

/**
 * Why an identifier stays with another customer: `owned_by_other` (joining is off), the phone
 * rule, or the contradiction that keeps the two customers apart (docs/identity.md, "Joining").
 */
export const conflictReasons = [
  'owned_by_other',
  'phone_shared_with_other_email',
  'different_email',
  'different_phone',
  'both_have_accounts',
  'account_unverified',
  'different_platform_id',
  'merge_undone',
  'currency_differs',
] as const
export const IdentityConflict = Type.Object({
  kind: Kind,
  namespace: Type.String(),
  value: Type.String(),
  customerId: Type.String({ description: 'the customer who keeps it' }),
  reason: Type.Enum(conflictReasons),
})
export type IdentityConflict = Static<typeof IdentityConflict>

export const mergeReasons = ['manual', 'sync', 'guest_registered'] as const
export const Merge = Type.Object(
  {
    id: IdOf('mrg'),
    targetId: Type.String(),
    sourceId: Type.String(),
    reason: Type.String({ description: 'manual (an admin merged), sync (a sync joined two records of one person) or guest_registered' }),
    moved: Type.Object({}, { additionalProperties: true, description: 'exactly what moved from the source to the target' }),
    createdAt: Timestamp,
    undoneAt: Nullable(Timestamp),
  },
  { $id: 'Merge' },
)
export type Merge = Static<typeof Merge>

export const rejectedFields = ['email', 'phone'] as const
export const RejectedIdentifier = Type.Object(
  {
    field: Type.Enum(rejectedFields),
    value: Type.String({ description: 'as it was sent' }),
    code: Type.Enum(['INVALID_EMAIL', 'INVALID_PHONE']),
  },
  { $id: 'RejectedIdentifier' },
)
export type RejectedIdentifier = Static<typeof RejectedIdentifier>

export const SyncResult = Type.Object({
  customer: Customer,
  documentId: Type.String({ description: "the customer's id" }),
  created: Type.Boolean(),
  matchedBy: Nullable(Rule),
  linked: Type.Array(Identity, { description: 'identities this sync added to the customer' }),
  conflicts: Type.Array(IdentityConflict),
  joined: Type.Array(Merge, { description: 'merges this sync made: customers its identifiers showed to be this person (reason sync)' }),
  rejected: Type.Array(RejectedIdentifier, { description: 'identifiers not valid: not linked, the sync went on with the others' }),
  rewardAccountCreated: Type.Boolean(),
})
export type SyncResult = Static<typeof SyncResult>

export const MergeInput = Type.Object({ sourceId: IdOf('cus') }, { additionalProperties: false })
export type MergeInput = Static<typeof MergeInput>

export const MergeResult = Type.Object({ merge: Merge, customer: Customer })
export type MergeResult = Static<typeof MergeResult>
export const UndoResult = Type.Object({ merge: Merge, target: Customer, source: Customer })
export type UndoResult = Static<typeof UndoResult>
export const MergeParams = Type.Object({ id: PathId })

export const historyKinds = ['created', 'identity_linked', 'identity_unlinked', 'identity_conflict', 'identity_rejected', 'merged', 'merge_undone'] as const
export const HistoryEntry = Type.Object(
  {
    sequence: Type.String({ description: 'the position of the event in the feed: entries are in this order' }),
    at: Timestamp,
    kind: Type.Enum(historyKinds),
    customerId: Type.String({ description: 'the customer it happened to: this one, or one merged into it since' }),
    summary: Type.String({ description: 'one sentence for a person to read' }),
    identities: Type.Optional(Type.Array(Identity, { description: 'created: the identities it was created with that the customer still holds; identity_linked / identity_unlinked: the one' })),
    conflict: Type.Optional(IdentityConflict),
    rejected: Type.Optional(Type.Array(RejectedIdentifier)),
    merge: Type.Optional(Merge),
  },
  { $id: 'HistoryEntry' },
)
export type HistoryEntry = Static<typeof HistoryEntry>
export const HistoryQuery = Type.Object(
  {
    cursor: Type.Optional(Type.String({ maxLength: 40, description: 'nextCursor of the previous page' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
  },
  { additionalProperties: false },
)
export type HistoryQuery = Static<typeof HistoryQuery>
export const HistoryPage = Page(HistoryEntry)
export type HistoryPage = Static<typeof HistoryPage>

const tags = ['identity']
const rw = ['admin', 'platform'] as const
const admin = ['admin'] as const
const named = ['CUSTOMER_NOT_FOUND', 'CUSTOMER_MERGED', 'CUSTOMER_ERASED'] as const

/** Who is who: identities, the matching cascade (lookup and sync), and merges with their undo. */
export const identity = defineDomain({
  errors: {
    INVALID_EMAIL: { status: 400, message: 'The email address is not valid.' },
    INVALID_PHONE: { status: 400, message: 'The phone number is not valid for its country.' },
    IDENTIFIER_REQUIRED: { status: 400, message: 'At least one of email or phone is required.' },
    MERGE_SAME_CUSTOMER: { status: 400, message: 'A customer cannot be merged into itself.' },
    IDENTITY_NOT_FOUND: { status: 404, message: 'The customer has no identity with this id.' },
    NO_MATCH: { status: 404, message: 'No live customer matches these identifiers.' },
    MERGE_NOT_FOUND: { status: 404, message: 'No merge has this id.' },
    EMAIL_TAKEN: { status: 409, message: 'Another customer already has this email address.' },
    PHONE_TAKEN: { status: 409, message: 'Another customer already has this phone number.' },
    IDENTITY_TAKEN: { status: 409, message: 'Another customer holds this identity; details.customerId names it.' },
    MERGE_ALREADY_UNDONE: { status: 409, message: 'This merge has been undone already.' },
    MERGE_UNDO_CONFLICT: { status: 409, message: 'Something changed since the merge that makes undoing it impossible (details say what).' },
    CUSTOMER_ALREADY_MERGED: { status: 409, message: 'The source customer was merged already.' },
  },
  events: {
    'customer.identity_linked': Type.Object({ customerId: Type.String(), identity: Identity }),
    'customer.identity_unlinked': Type.Object({ customerId: Type.String(), identity: Identity }),
    'customer.identity_conflict': Type.Object({ customerId: Type.String(), conflict: IdentityConflict }),
    'customer.merged': Type.Union([
      Type.Object({ merge: Merge }),
      Type.Object({ reason: Type.Literal('guest_registered'), targetId: Type.String(), sourceId: Type.String(), customer: Customer }),
    ]),
    'customer.merge_undone': Type.Object({ merge: Merge }),
    'customer.identity_rejected': Type.Object({ customerId: Type.String(), component: Type.String(), rejected: Type.Array(RejectedIdentifier) }),
  },
  routes: {
    syncCustomer: {
      method: 'POST', path: '/customer/sync', tags, access: rw,
      summary: 'Find or create one person from what a platform knows (platform id → email → phone)',
      description: '201 when the sync created the customer, 200 when it matched one. See docs/identity.md for the rules.',
      body: SyncInput,
      responses: { 200: SyncResult, 201: SyncResult },
      errors: ['IDENTIFIER_REQUIRED', 'INVALID_EMAIL', 'INVALID_PHONE', 'INVALID_COUNTRY', 'METADATA_TOO_LARGE', 'LEDGER_NOT_FOUND', 'PLATFORM_SCOPE', 'CONTENTION'],
    },
    lookupCustomer: {
      method: 'GET', path: '/customer/lookup', tags, access: ['admin', 'platform', 'support'],
      summary: 'Run the matching cascade without writing',
      query: LookupQuery,
      responses: { 200: LookupResult },
      errors: ['IDENTIFIER_REQUIRED', 'INVALID_EMAIL', 'INVALID_PHONE', 'INVALID_COUNTRY', 'PLATFORM_SCOPE', 'NO_MATCH'],
    },
    listIdentities: {
      method: 'GET', path: '/customer/:id/identities', tags, access: ['admin', 'platform', 'support'],
      summary: "A customer's identities",
      params: CustomerIdParams,
      responses: { 200: List(Identity) },
      errors: named,
    },
    customerHistory: {
      method: 'GET', path: '/customer/:id/history', tags, access: ['admin', 'platform', 'support'],
      summary: "Why this customer is who it is: its creation, identity links and unlinks, conflicts, rejected identifiers, merges and undos, in order",
      description: "Includes what happened to the customers merged into it (customerId says which). Oldest first.",
      params: CustomerIdParams,
      query: HistoryQuery,
      responses: { 200: HistoryPage },
      errors: [...named, 'INVALID_CURSOR'],
    },
    linkIdentity: {
      method: 'POST', path: '/customer/:id/identities', tags, access: rw,
      summary: 'Link an identity (409 IDENTITY_TAKEN with the holder when another customer has it)',
      description: '201 when linked, 200 when the customer held it already.',
      params: CustomerIdParams,
      body: IdentityInput,
      responses: { 200: Identity, 201: Identity },
      errors: [...named, 'INVALID_EMAIL', 'INVALID_PHONE', 'PLATFORM_SCOPE', 'IDENTITY_TAKEN'],
    },
    unlinkIdentity: {
      method: 'DELETE', path: '/customer/:id/identities/:identityId', tags, access: rw,
      summary: 'Unlink an identity',
      params: IdentityParams,
      responses: { 200: Deleted },
      errors: ['INVALID_ID', ...named, 'PLATFORM_SCOPE', 'IDENTITY_NOT_FOUND'],
    },
    myIdentities: {
      method: 'GET', path: '/customer/me/identities', tags: ['me'], access: ['customer'],
      summary: 'My identities',
      responses: { 200: List(Identity) },
      errors: named,
    },
    mergeCustomers: {
      method: 'POST', path: '/customer/:id/merge', tags: ['merges'], access: admin,
      summary: 'Merge another customer (sourceId) into this one; it is recorded and can be undone',
      params: CustomerIdParams,
      body: MergeInput,
      responses: { 200: MergeResult },
      errors: [...named, 'MERGE_SAME_CUSTOMER', 'CUSTOMER_ALREADY_MERGED', 'CURRENCY_MISMATCH'],
    },
    getMerge: {
      method: 'GET', path: '/merges/:id', tags: ['merges'], access: ['admin', 'support'],
      summary: 'A merge record: what moved',
      params: MergeParams,
      responses: { 200: Merge },
      errors: ['INVALID_ID', 'MERGE_NOT_FOUND'],
    },
    undoMerge: {
      method: 'POST', path: '/merges/:id/undo', tags: ['merges'], access: admin,
      summary: 'Undo a merge: put back exactly what moved',
      params: MergeParams,
      responses: { 200: UndoResult },
      errors: ['INVALID_ID', 'MERGE_NOT_FOUND', 'MERGE_ALREADY_UNDONE', 'MERGE_UNDO_CONFLICT'],
    },
  },
})
