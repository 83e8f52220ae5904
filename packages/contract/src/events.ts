import Type, { type Static, type TSchema } from 'typebox'
import { IdOf, Nullable, Timestamp } from './common.js'
import { defineDomain } from './define.js'

/** An event type, or `<prefix>.*` for every type of a prefix. */
const EventTypeFilter = Type.String({ maxLength: 100, pattern: '^[a-z_]+(\\.[a-z_]+)*(\\.\\*)?$' })

export const EventListQuery = Type.Object(
  {
    after: Type.Optional(Type.String({ pattern: '^[0-9]{1,19}$', description: 'the sequence of the last event read; 0 or absent from the start' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    type: Type.Optional(
      Type.Union([EventTypeFilter, Type.Array(EventTypeFilter, { maxItems: 20 })], {
        description: 'repeatable; only events of these types: an event type (`customer.created`) or every type of a prefix (`customer.*`)',
      }),
    ),
    customerId: Type.Optional(IdOf('cus')),
    wait: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 60,
        default: 0,
        description: 'seconds to wait when no (matching) event is there yet: the answer comes as soon as one is, or empty when the time is up',
      }),
    ),
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
    nextAfter: Type.String({
      description:
        'pass as `after` for the next read: the last event of the page; with filters and a page not full, the last event read past (matching or not), so no range is read twice; unchanged when nothing new',
    }),
  })
  return defineDomain({
    errors: {},
    events: {} as Record<never, TSchema>,
    routes: {
      listEvents: {
        method: 'GET', path: '/events', tags: ['events'], access: ['admin', 'events:read', 'support'],
        summary: 'Read the event feed in order, after a sequence',
        query: EventListQuery,
        responses: { 200: EventPage },
        errors: ['INVALID_CURSOR', 'EVENT_TYPE_UNKNOWN'],
      },
    },
  })
}
