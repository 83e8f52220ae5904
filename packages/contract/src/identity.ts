import Type, { type Static } from 'typebox'
import { IdOf, Metadata, Timestamp } from './common.js'

export const identityKinds = ['platform', 'email', 'phone'] as const
export type IdentityKind = (typeof identityKinds)[number]
const Kind = Type.Union([Type.Literal('platform'), Type.Literal('email'), Type.Literal('phone')])

const Component = Type.String({
  pattern: '^[a-z0-9][a-z0-9._-]{0,99}$',
  description: "the platform's identity component, e.g. identity.his-and-her-store",
})
const FieldName = Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$', description: "the platform's name for its id field, e.g. medusaCustomerId" })
const ExternalId = Type.String({ minLength: 1, maxLength: 200 })

export const Identity = Type.Object(
  {
    id: IdOf('idn'),
    customerId: Type.String(),
    kind: Kind,
    namespace: Type.String({ description: "the platform's component for kind platform; empty otherwise" }),
    value: Type.String({ description: 'normalized: lower-case email, E.164 phone, platform id as given' }),
    rawValue: Type.String({ description: 'as it was sent' }),
    externalIdField: Type.Union([Type.String(), Type.Null()]),
    createdAt: Timestamp,
  },
  { $id: 'Identity' },
)
export type Identity = Static<typeof Identity>

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

export const IdentityParams = Type.Object({ id: Type.String({ maxLength: 100 }), identityId: Type.String({ maxLength: 100 }) })

export const matchRules = ['platform', 'email', 'phone'] as const
export type MatchRule = (typeof matchRules)[number]
const Rule = Type.Union([Type.Literal('platform'), Type.Literal('email'), Type.Literal('phone')])
const MatchedBy = Type.Union([Rule, Type.Null()], {
  description: 'which rule of the cascade found the customer; null when the sync created it',
})

export const LookupQuery = Type.Object(
  {
    component: Type.Optional(Component),
    externalId: Type.Optional(ExternalId),
    email: Type.Optional(Type.String({ maxLength: 254 })),
    phone: Type.Optional(Type.String({ maxLength: 40 })),
  },
  { additionalProperties: false },
)
export type LookupQuery = Static<typeof LookupQuery>

export const LookupResult = Type.Object({
  customer: Type.Ref('Customer'),
  matchedBy: Rule,
})

export const SyncInput = Type.Object(
  {
    platform: Type.Object(
      {
        component: Component,
        externalIdField: Type.Optional(FieldName),
        externalId: Type.Optional(ExternalId),
      },
      { additionalProperties: false },
    ),
    email: Type.Optional(Type.Union([Type.String({ maxLength: 254 }), Type.Null()])),
    phone: Type.Optional(Type.Union([Type.String({ maxLength: 40 }), Type.Null()])),
    firstName: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()])),
    lastName: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()])),
    metadata: Type.Optional(Metadata),
    rewardLedger: Type.Optional(Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' })),
  },
  { additionalProperties: false },
)
export type SyncInput = Static<typeof SyncInput>

export const IdentityConflict = Type.Object({
  kind: Kind,
  namespace: Type.String(),
  value: Type.String(),
  customerId: Type.String({ description: 'the customer who keeps it' }),
  reason: Type.Union([Type.Literal('owned_by_other'), Type.Literal('phone_shared_with_other_email')]),
})
export type IdentityConflict = Static<typeof IdentityConflict>

export const SyncResult = Type.Object({
  customer: Type.Ref('Customer'),
  documentId: Type.String({ description: "the customer's id" }),
  created: Type.Boolean(),
  matchedBy: MatchedBy,
  linked: Type.Array(Type.Ref('Identity'), { description: 'identities this sync added to the customer' }),
  conflicts: Type.Array(IdentityConflict),
  rewardAccountCreated: Type.Boolean(),
})
export type SyncResult = {
  customer: import('./customers.js').Customer
  documentId: string
  created: boolean
  matchedBy: MatchRule | null
  linked: Identity[]
  conflicts: IdentityConflict[]
  rewardAccountCreated: boolean
}

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

export const RewardAccountInput = Type.Object({ ledger: Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' }) }, { additionalProperties: false })
export const EnsuredRewardAccount = Type.Object({ account: Type.Ref('RewardAccount'), created: Type.Boolean() })
export type EnsuredRewardAccount = { account: RewardAccount; created: boolean }

export const MergeInput = Type.Object({ sourceId: IdOf('cus') }, { additionalProperties: false })
export type MergeInput = Static<typeof MergeInput>

export const Merge = Type.Object(
  {
    id: IdOf('mrg'),
    targetId: Type.String(),
    sourceId: Type.String(),
    reason: Type.String({ description: 'manual (an admin merged) or guest_registered' }),
    moved: Type.Object({}, { additionalProperties: true, description: 'exactly what moved from the source to the target' }),
    createdAt: Timestamp,
    undoneAt: Type.Union([Timestamp, Type.Null()]),
  },
  { $id: 'Merge' },
)
export type Merge = Static<typeof Merge>

export const MergeResult = Type.Object({ merge: Type.Ref('Merge'), customer: Type.Ref('Customer') })
export type MergeResult = { merge: Merge; customer: import('./customers.js').Customer }
export const UndoResult = Type.Object({ merge: Type.Ref('Merge'), target: Type.Ref('Customer'), source: Type.Ref('Customer') })
export type UndoResult = { merge: Merge; target: import('./customers.js').Customer; source: import('./customers.js').Customer }
