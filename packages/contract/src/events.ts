import Type, { type Static, type TSchema } from 'typebox'
import { IdOf, Nullable, Timestamp } from './common.js'
import { defineDomain } from './define.js'

export const EventListQuery = Type.Object(
  {
    after: Type.Optional(Type.String({ pattern: '^[0-9]{1,19}$', description: 'the sequence of the last event read; 0 or absent from the start' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  },
  { additionalProperties: false },
)
export type EventListQuery = Static<typeof EventListQuery>

/** The envelope of every event: what the feed answers and what a consumer receives. */
export function eventEnvelope<const T extends readonly string[]>(types: T) {
  return Type.Object(
    {
      id: IdOf('evt'),
      sequence: Type.String({ pattern: '^[0-9]+$', description: 'position in the feed; pass as `after` to read on' }),
      type: Type.Enum(types),
      customerId: Nullable(Type.String()),
      payload: Type.Object({}, { additionalProperties: true, description: 'its schema depends on type (see the event catalogue)' }),
      createdAt: Timestamp,
    },
    { $id: 'Event' },
  )
}

/** The event feed's part of the contract, made once every other domain's event types are known. */
export function feedDomain<const T extends readonly string[]>(types: T) {
  const Event = eventEnvelope(types)
  const EventPage = Type.Object({
    data: Type.Array(Event),
    nextAfter: Type.String({ description: 'pass as `after` for the next read (unchanged when nothing new)' }),
  })
  return defineDomain({
    errors: {},
    events: {} as Record<never, TSchema>,
    routes: {
      listEvents: {
        method: 'GET', path: '/events', tags: ['events'], access: ['admin', 'events:read'],
        summary: 'Read the event feed in order, after a sequence',
        query: EventListQuery,
        responses: { 200: EventPage },
        errors: ['INVALID_CURSOR'],
      },
    },
  })
}
