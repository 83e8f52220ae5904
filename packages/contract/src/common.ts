import Type, { type Static } from 'typebox'

/** An id with a kind prefix, e.g. `cus_01JD…`. */
export const IdOf = (prefix: string) =>
  Type.String({ pattern: `^${prefix}_[0-9A-Za-z]{1,64}$`, description: `id with prefix \`${prefix}_\`` })

export const Timestamp = Type.String({ format: 'date-time' })

/** Free-form JSON attached to a record; at most 50 keys. */
export const Metadata = Type.Object({}, { additionalProperties: true, maxProperties: 50 })

export const Currency = Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code, e.g. USD' })

export const ErrorResponse = Type.Object(
  {
    statusCode: Type.Integer(),
    code: Type.String({ description: 'stable UPPER_SNAKE code from the error catalogue' }),
    error: Type.String(),
    message: Type.String(),
    details: Type.Optional(Type.Object({}, { additionalProperties: true })),
  },
  { $id: 'Error' },
)
export type ErrorResponse = Static<typeof ErrorResponse>

/** One page of a cursor-paginated list. */
export const Page = <T extends Parameters<typeof Type.Array>[0]>(item: T) =>
  Type.Object({
    data: Type.Array(item),
    nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'pass as `cursor` for the next page; null on the last' }),
  })
