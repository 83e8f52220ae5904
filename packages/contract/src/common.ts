import Type, { type Static, type TSchema } from 'typebox'
import { defineDomain } from './define.js'

/** The shape of every id the hub makes: a kind prefix, `_`, then 26 Crockford base32 characters. */
export const idPattern = (prefix: string): string => `^${prefix}_[0-9A-Z]{26}$`

/** An id with a kind prefix, e.g. `cus_01JD…`. */
export const IdOf = (prefix: string) =>
  Type.String({ pattern: `^${prefix}_[0-9A-Za-z]{1,64}$`, description: `id with prefix \`${prefix}_\`` })

/** A path segment naming a record: any string up to 100 characters (an unknown one answers 404). */
export const PathId = Type.String({ maxLength: 100 })

export const Timestamp = Type.String({ format: 'date-time' })

/** Free-form JSON attached to a record; at most 50 keys. */
export const Metadata = Type.Object({}, { additionalProperties: true, maxProperties: 50 })

export const Currency = Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code, e.g. USD' })

/** A handle such as `reward-points` or a platform name such as `shopify`. */
export const Handle = Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' })

export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])

/** One page of a cursor-paginated list. */
export const Page = <T extends TSchema>(item: T) =>
  Type.Object({
    data: Type.Array(item),
    nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'pass as `cursor` for the next page; null on the last' }),
  })

/** A list that is not paginated. */
export const List = <T extends TSchema>(item: T) => Type.Object({ data: Type.Array(item) })

/** The answer of a removal. */
export const Deleted = Type.Object({ deleted: Type.Literal(true), id: Type.String() })
export type DeletedAnswer = Static<typeof Deleted>

/** The error codes of the HTTP layer itself, shared by every route. */
export const common = defineDomain({
  errors: {
    VALIDATION_FAILED: { status: 400, message: 'The request does not match the schema of this route.' },
    INVALID_JSON: { status: 400, message: 'The request body is not valid JSON.' },
    INVALID_ID: { status: 400, message: 'The id in the path is not a valid id of this kind.' },
    INVALID_CURSOR: { status: 400, message: 'The cursor is malformed or belongs to another sort.' },
    EVENT_TYPE_UNKNOWN: { status: 400, message: 'A `type` filter of the event feed names no known event type: use a type of the event catalogue or `<prefix>.*` of a prefix that types have.' },
    EMPTY_PATCH: { status: 400, message: 'The update names no field to change.' },
    INVALID_IDEMPOTENCY_KEY: { status: 400, message: 'The Idempotency-Key header must be 1 to 200 visible ASCII characters.' },
    UNAUTHORIZED: { status: 401, message: 'A valid bearer token is required.' },
    TOKEN_EXPIRED: { status: 401, message: 'The access token has expired; refresh the session.' },
    FORBIDDEN: { status: 403, message: 'This token is not allowed to do this.' },
    ROUTE_NOT_FOUND: { status: 404, message: 'No route matches this method and path.' },
    IDEMPOTENCY_IN_PROGRESS: { status: 409, message: 'A request with this Idempotency-Key is still running; retry shortly.' },
    CONFLICT: { status: 409, message: 'The change conflicts with existing data.' },
    BODY_TOO_LARGE: { status: 413, message: 'The request body is larger than 1 MiB.' },
    UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Send the body as application/json.' },
    IDEMPOTENCY_KEY_REUSED: { status: 422, message: 'This Idempotency-Key was used with a different request.' },
    RATE_LIMITED: { status: 429, message: 'Too many requests; retry after the time in Retry-After.' },
    INTERNAL_ERROR: { status: 500, message: 'The hub failed; the request id in the logs tells where.' },
    CONTENTION: { status: 503, message: 'Too many concurrent changes to the same records; retry.' },
    DATABASE_UNAVAILABLE: { status: 503, message: 'The database cannot be reached; retry shortly.' },
  },
  events: {},
  routes: {},
})
