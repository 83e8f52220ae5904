import Type, { type Static } from 'typebox'
import { IdOf, Timestamp } from './common.js'

export const eventTypes = [
  'customer.created',
  'customer.updated',
  'customer.deleted',
  'customer.group_added',
  'customer.group_removed',
  'customer.address_added',
  'customer.address_updated',
  'customer.address_removed',
  'customer.identity_linked',
  'customer.identity_unlinked',
  'customer.identity_conflict',
  'customer.merged',
  'customer.merge_undone',
  'customer.verification_requested',
  'customer.email_verified',
  'customer.password_reset_requested',
  'customer.password_changed',
  'reward_account.created',
  'order.recorded',
  'order.corrected',
] as const
export type EventType = (typeof eventTypes)[number]

export const HubEvent = Type.Object(
  {
    id: IdOf('evt'),
    sequence: Type.String({ pattern: '^[0-9]+$', description: 'position in the feed; pass as `after` to read on' }),
    type: Type.String(),
    customerId: Type.Union([Type.String(), Type.Null()]),
    payload: Type.Object({}, { additionalProperties: true }),
    createdAt: Timestamp,
  },
  { $id: 'Event' },
)
export type HubEvent = Static<typeof HubEvent>

export const EventListQuery = Type.Object(
  {
    after: Type.Optional(Type.String({ pattern: '^[0-9]{1,19}$', description: 'the sequence of the last event read; 0 or absent from the start' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  },
  { additionalProperties: false },
)
export type EventListQuery = Static<typeof EventListQuery>

export const EventPage = Type.Object({
  data: Type.Array(Type.Ref('Event')),
  nextAfter: Type.String({ description: 'pass as `after` for the next read (unchanged when nothing new)' }),
})
export type EventPage = { data: HubEvent[]; nextAfter: string }
