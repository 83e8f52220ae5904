import Type, { type Static } from 'typebox'
import { IdOf, Nullable, Timestamp } from './common.js'

// The identity record: its kinds, and how it came to be linked.

export const identityKinds = ['platform', 'email', 'phone'] as const
export type IdentityKind = (typeof identityKinds)[number]
export const Kind = Type.Enum(identityKinds)

/** How an identity came to be linked: the route that linked it and, for a sync, the platform and the rule that found the customer. */
export const linkVias = ['sync', 'create', 'api', 'profile', 'unrecorded'] as const
export const linkRules = ['new', 'platform', 'email', 'phone'] as const
export const LinkedBy = Type.Object(
  {
    via: Type.Enum(linkVias, { description: 'sync (POST /customer/sync), create (POST /customer), api (POST /customer/:id/identities), profile (a changed email or phone), unrecorded (linked before the hub recorded how)' }),
    component: Nullable(Type.String({ description: "the platform's component, for a sync" })),
    rule: Nullable(Type.Enum(linkRules, { description: 'for a sync: new (it created the customer) or the rule that found the customer' })),
  },
  { $id: 'LinkedBy' },
)
export type LinkedBy = Static<typeof LinkedBy>

export const Identity = Type.Object(
  {
    id: IdOf('idn'),
    customerId: Type.String(),
    kind: Kind,
    namespace: Type.String({ description: "the platform's component for kind platform; empty otherwise" }),
    value: Type.String({ description: 'normalized: lower-case email, E.164 phone, platform id as given' }),
    rawValue: Type.String({ description: 'as it was sent' }),
    externalIdField: Nullable(Type.String()),
    linkedBy: LinkedBy,
    mergeId: Nullable(Type.String({ description: 'the merge that brought it to this customer; null when it was linked to this customer directly' })),
    createdAt: Timestamp,
  },
  { $id: 'Identity' },
)
export type Identity = Static<typeof Identity>
