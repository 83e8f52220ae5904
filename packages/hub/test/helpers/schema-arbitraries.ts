import fc from 'fast-check'

/** The part of JSON Schema the contract's schemas use (as the OpenAPI document prints them). */
export interface JsonSchema {
  type?: string
  properties?: Record<string, JsonSchema>
  required?: string[]
  additionalProperties?: boolean | JsonSchema
  anyOf?: JsonSchema[]
  enum?: unknown[]
  const?: unknown
  pattern?: string
  format?: string
  minLength?: number
  maxLength?: number
  minimum?: number
  maximum?: number
  items?: JsonSchema
  minItems?: number
  maxItems?: number
  minProperties?: number
  maxProperties?: number
  $ref?: string
  [other: string]: unknown
}

/** `schema` with every `$ref` of `#/components/schemas/…` replaced by the component it names. */
export function dereference(schema: unknown, components: Record<string, unknown>, seen: string[] = []): any {
  if (Array.isArray(schema)) return schema.map((s) => dereference(s, components, seen))
  if (schema === null || typeof schema !== 'object') return schema
  const ref = (schema as { $ref?: unknown }).$ref
  if (typeof ref === 'string') {
    const name = ref.replace('#/components/schemas/', '')
    if (seen.includes(name)) throw new Error(`schema ${name} refers to itself`)
    return dereference(components[name], components, [...seen, name])
  }
  return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, dereference(v, components, seen)]))
}

// ---------------------------------------------------------------------------------------------
// Characters and strings

/** Characters that break careless code: NUL, lone surrogates, emoji (ZWJ sequences), right-to-left
 * text and overrides, zero-width and byte-order marks, quotes, escapes and percent signs. */
export const trickyCharacters = [
  '\u0000', '\ud800', '\udfff', '\udbff', '😀', '👩‍👩‍👧‍👦', '🏳️‍🌈', '\u202e', '\u202d', 'עברית', 'العربية', '\u200b', '\u200d', '\ufeff',
  '\uffff', '\ufffd', 'ß', 'İ', 'ﬃ', 'é', 'e\u0301', "'", '"', '\\', '%', '%00', '%zz', '\n', '\r\n', '\t', ' ', '\u00a0', '\u2028', '<', '>', '&', '$', '{', '}',
  '/', '?', '#', '..', '*', '_', ':', ';', ',', '`', '\u0001', '\u001f', '\u007f',
]

/** One unit of a generated string: mostly ASCII, often any code point, sometimes a tricky character. */
export const oddUnit: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 2, arbitrary: fc.constantFrom(...trickyCharacters) },
  { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) },
)

/** Strings of odd characters, sometimes long (up to `max` units). */
export function oddString(min = 0, max = 40): fc.Arbitrary<string> {
  const short = fc.string({ unit: oddUnit, minLength: min, maxLength: Math.max(min, Math.min(max, 40)) })
  if (max <= 40) return short
  return fc.oneof({ weight: 5, arbitrary: short }, { weight: 1, arbitrary: fc.integer({ min: Math.max(min, 41), max }).chain((n) => ofLength(n, oddUnit)) })
}

/** A string of exactly `n` code points: a short random chunk of `unit`s, repeated (long strings stay cheap to make). */
export function ofLength(n: number, unit: fc.Arbitrary<string> = oddUnit): fc.Arbitrary<string> {
  if (n === 0) return fc.constant('')
  return fc.string({ unit: unit.filter((u) => [...u].length === 1), minLength: 1, maxLength: Math.min(n, 8) }).map((chunk) => {
    const points = [...chunk]
    return Array.from({ length: n }, (_, i) => points[i % points.length]).join('')
  })
}

/** Numbers at and beyond every boundary a schema could set. */
export const boundaryNumbers = [
  0, -0, 1, -1, 2, 0.5, -0.5, 1.5, 1e-7, 99.99, 255, 256, 65535, 65536, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), 2 ** 32, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, -(2 ** 53),
  2 ** 63, -(2 ** 63), 1e12, 1e12 + 1, -1e12 - 1, 1e15, 1e21, 1e308, -1e308, Number.MIN_VALUE, Number.EPSILON,
]

/** Strings that look like numbers to someone, but not to JSON or to PostgreSQL. */
export const numberishStrings = [
  'NaN', 'Infinity', '-Infinity', 'nan', 'inf', '1e308', '1e309', '-1e309', '0x10', '0b1', '0o7', '1_000', '١٢٣', '１２', '+1', '-0', '00', '01', '1.', '.5', '1e', 'e1',
  '9'.repeat(20), '9'.repeat(400), '-9223372036854775809', '9223372036854775808', '18446744073709551616', ' 1', '1 ', '1,5', '', 'null', 'true', '[]', '{}',
]

/** Values of every JSON type, with boundary numbers and number-like strings; `deep` adds deep nesting. */
export function anyJson(deep = true): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
    { weight: 1, arbitrary: fc.constantFrom(null, true, false, '', [], {}, ...boundaryNumbers, ...numberishStrings) },
    { weight: 1, arbitrary: oddString(0, 20) },
    ...(deep ? [{ weight: 1, arbitrary: deepNesting() }] : []),
  )
}

/** An array or object nested `depth` levels deep (the hub refuses bodies deeper than 32). */
export function deepNesting(minDepth = 20, maxDepth = 200): fc.Arbitrary<unknown> {
  return fc.tuple(fc.integer({ min: minDepth, max: maxDepth }), fc.boolean(), fc.jsonValue({ maxDepth: 1 })).map(([depth, arrays, leaf]) => {
    let value: unknown = leaf
    for (let i = 0; i < depth; i++) value = arrays ? [value] : { [`k${i % 3}`]: value }
    return value
  })
}

/** A recursive JSON value built with `fc.letrec`: objects with odd keys, arrays, odd strings. */
export const oddJson: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown; object: Record<string, unknown>; array: unknown[] }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(null, true, false, ...boundaryNumbers),
    oddString(0, 300),
    tie('object'),
    tie('array'),
  ),
  object: fc.dictionary(oddString(0, 20), tie('value'), { maxKeys: 6 }),
  array: fc.array(tie('value'), { maxLength: 6 }),
})).value

// ---------------------------------------------------------------------------------------------
// Valid and invalid values of a schema

/** Suggests values for a field (known ids, codes, emails) by its name; undefined when it has none. */
export type Hints = (name: string, schema: JsonSchema) => fc.Arbitrary<unknown> | undefined

const noHints: Hints = () => undefined

const typesOf = (schema: JsonSchema): string[] => {
  if (schema.anyOf) return schema.anyOf.flatMap(typesOf)
  if (schema.const !== undefined) return [jsonType(schema.const)]
  if (schema.enum) return schema.enum.map(jsonType)
  return schema.type ? [schema.type === 'integer' ? 'number' : schema.type] : []
}

function jsonType(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  return typeof value
}

function dateTimes(): fc.Arbitrary<string> {
  return fc.oneof(
    fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2200-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString()),
    fc.constantFrom('2024-02-29T23:59:59Z', '2024-01-01T00:00:00+14:00', '2024-01-01T00:00:00.123456-12:00', '0001-01-01T00:00:00Z', '9999-12-31T23:59:59.999Z', '2000-01-01T00:00:00z'),
  )
}

/**
 * Values that (mostly) match `schema`, leaning to its boundaries: strings at the minimum and maximum
 * length, numbers at the minimum and maximum, every enum member, odd characters wherever a string is
 * free. `hints` supply known ids and codes by field name, so that requests reach real records.
 */
export function validValue(schema: JsonSchema, hints: Hints = noHints, name = ''): fc.Arbitrary<unknown> {
  const hinted = hints(name, schema)
  const own = validOwn(schema, hints, name)
  return hinted ? fc.oneof({ weight: 3, arbitrary: hinted }, { weight: 1, arbitrary: own }) : own
}

function validOwn(schema: JsonSchema, hints: Hints, name: string): fc.Arbitrary<unknown> {
  if (schema.anyOf) return fc.oneof(...schema.anyOf.map((s) => validValue(s, hints, name)))
  if (schema.const !== undefined) return fc.constant(schema.const)
  if (schema.enum) return fc.constantFrom(...schema.enum)
  switch (schema.type) {
    case 'null':
      return fc.constant(null)
    case 'boolean':
      return fc.boolean()
    case 'integer':
    case 'number': {
      const min = schema.minimum ?? -(2 ** 53 - 1)
      const max = schema.maximum ?? 2 ** 53 - 1
      const edges = [min, max, min + 1, max - 1, 0, 1, -1].filter((n) => n >= min && n <= max)
      const inner = schema.type === 'integer' ? fc.integer({ min: Math.max(min, -(2 ** 31)), max: Math.min(max, 2 ** 31 - 1) }) : fc.double({ min, max, noNaN: true })
      return fc.oneof(fc.constantFrom(...edges), inner)
    }
    case 'string': {
      if (schema.pattern) {
        const matching = fc.stringMatching(new RegExp(schema.pattern))
        return schema.maxLength !== undefined ? matching.filter((s) => [...s].length <= schema.maxLength! && [...s].length >= (schema.minLength ?? 0)) : matching
      }
      if (schema.format === 'date-time') return dateTimes()
      const min = schema.minLength ?? 0
      const max = schema.maxLength ?? 300
      return fc.oneof(
        { weight: 4, arbitrary: oddString(min, Math.min(max, 40)) },
        { weight: 1, arbitrary: fc.constantFrom(min, max).chain((n) => ofLength(n, fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 1 }))) },
        { weight: 1, arbitrary: fc.constantFrom(min, max).chain((n) => ofLength(n, fc.constantFrom('é', '😀', '\u202e', 'א', '\ud800'))) },
      )
    }
    case 'array': {
      const items = schema.items ? validValue(schema.items, hints, name) : anyJson()
      return fc.array(items, { minLength: schema.minItems ?? 0, maxLength: Math.min(schema.maxItems ?? 5, 5) })
    }
    case 'object':
      return validObject(schema, hints)
    default:
      return anyJson()
  }
}

function validObject(schema: JsonSchema, hints: Hints): fc.Arbitrary<Record<string, unknown>> {
  const properties = schema.properties ?? {}
  const names = Object.keys(properties)
  if (names.length === 0) {
    // free-form (metadata): odd keys and values, at most its maxProperties
    const max = Math.min(schema.maxProperties ?? 10, 10)
    return fc.oneof(
      { weight: 4, arbitrary: fc.dictionary(oddString(1, 30), anyJson(false), { maxKeys: max }) },
      { weight: 1, arbitrary: fc.tuple(fc.constantFrom(schema.maxProperties ?? max, max), oddString(1, 10)).map(([n, key]) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`${key}${i}`, i]))) },
    )
  }
  const required = new Set(schema.required ?? [])
  const record: Record<string, fc.Arbitrary<unknown>> = {}
  for (const n of names) record[n] = validValue(properties[n]!, hints, n)
  return fc.record(record, { requiredKeys: [...required] }) as fc.Arbitrary<Record<string, unknown>>
}

/**
 * Values that (mostly) do not match `schema`: another JSON type, a number beyond a bound or not an
 * integer, a string one past its length limits or off its pattern, format or enum, an object
 * missing a required field, with an unknown field, or with one field invalid. The caller checks
 * with the hub's own validator which of them really are invalid.
 */
export function invalidValue(schema: JsonSchema, hints: Hints = noHints): fc.Arbitrary<unknown> {
  const types = new Set(typesOf(schema))
  const wrongTypes = fc.constantFrom<unknown>(null, true, false, 0, -1, 1.5, 1e308, '', 'x', 'NaN', [], [1], {}, { a: 1 }).filter((v) => !types.has(jsonType(v)))
  const options: fc.Arbitrary<unknown>[] = [wrongTypes, deepNesting(33, 60)]
  if (schema.anyOf) {
    options.push(fc.oneof(...schema.anyOf.map((s) => invalidValue(s, hints))))
    return fc.oneof(...options)
  }
  if (schema.const !== undefined || schema.enum) {
    const allowed = schema.enum ?? [schema.const]
    options.push(oddString(0, 20).filter((s) => !allowed.includes(s)))
    options.push(fc.constantFrom(...allowed.filter((a): a is string => typeof a === 'string').flatMap((a) => [a.toUpperCase(), ` ${a}`, `${a}\u0000`, `${a}x`])))
  }
  switch (schema.type) {
    case 'integer':
    case 'number': {
      const bad: unknown[] = [...numberishStrings]
      if (schema.type === 'integer') bad.push(0.5, 1.5, -1.5, 1e-7, 1e308 / 3)
      if (schema.minimum !== undefined) bad.push(schema.minimum - 1, schema.minimum - 0.5, -1e308, -(2 ** 63))
      if (schema.maximum !== undefined) bad.push(schema.maximum + 1, schema.maximum + 0.5, 1e308, 2 ** 63)
      options.push(fc.constantFrom(...bad))
      break
    }
    case 'string': {
      if (schema.maxLength !== undefined) options.push(fc.integer({ min: schema.maxLength + 1, max: schema.maxLength + 40 }).chain((n) => ofLength(n)))
      if (schema.minLength !== undefined && schema.minLength > 0) options.push(fc.string({ unit: 'grapheme-ascii', maxLength: schema.minLength - 1 }))
      if (schema.pattern) {
        const re = new RegExp(schema.pattern)
        options.push(oddString(0, 80).filter((s) => !re.test(s)))
        options.push(fc.stringMatching(re).map((s) => `${s}\u0000`))
        options.push(fc.stringMatching(re).chain((s) => fc.constantFrom(` ${s}`, `${s} `, `${s}\n`, s.toLowerCase() === s ? s.toUpperCase() : s.toLowerCase(), `${s}é`)).filter((s) => !re.test(s)))
      }
      if (schema.format === 'date-time') {
        options.push(fc.constantFrom('2024-13-01T00:00:00Z', '2024-02-30T00:00:00Z', '2024-01-01', '2024-01-01T25:00:00Z', 'yesterday', '1700000000', '2024-01-01T00:00:00', '+275760-09-13T00:00:00.000Z', '２０２４-01-01T00:00:00Z'))
      }
      break
    }
    case 'array':
      if (schema.maxItems !== undefined && schema.items) options.push(fc.array(validValue(schema.items, hints), { minLength: schema.maxItems + 1, maxLength: schema.maxItems + 3 }))
      if (schema.items) options.push(fc.array(invalidValue(schema.items, hints), { minLength: 1, maxLength: 3 }))
      break
    case 'object':
      options.push(invalidObject(schema, hints))
      break
  }
  return fc.oneof(...options)
}

function invalidObject(schema: JsonSchema, hints: Hints): fc.Arbitrary<unknown> {
  const properties = schema.properties ?? {}
  const names = Object.keys(properties)
  const base = validObject(schema, hints)
  const options: fc.Arbitrary<unknown>[] = []
  if (schema.additionalProperties === false) {
    options.push(fc.tuple(base, fc.oneof(oddString(1, 20), fc.constantFrom('__proto__', 'constructor', 'id', 'createdAt', 'role', 'Email'))).map(([o, k]) => (k in o ? { ...o, [`${k}_`]: 1 } : { ...o, [k]: 'unexpected' })))
  }
  if (schema.maxProperties !== undefined && names.length === 0) {
    options.push(fc.tuple(fc.integer({ min: schema.maxProperties + 1, max: schema.maxProperties + 5 }), oddString(1, 10)).map(([n, key]) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`${key}${i}`, i]))))
  }
  for (const field of schema.required ?? []) {
    options.push(base.map((o) => {
      const copy = { ...o }
      delete copy[field]
      return copy
    }))
  }
  for (const field of names) {
    options.push(fc.tuple(base, invalidValue(properties[field]!, hints)).map(([o, v]) => ({ ...o, [field]: v })))
  }
  return options.length ? fc.oneof(...options) : fc.constant([])
}
