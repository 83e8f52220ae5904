import type { Static, TObject, TSchema } from 'typebox'

/** Who may call a route: the role of the bearer token. */
export const roles = ['admin', 'platform', 'events:read', 'metrics:read', 'service', 'customer', 'support'] as const
export type Role = (typeof roles)[number]

/** One entry of the error catalogue: the HTTP status of the code and a message a person can act on. */
export interface ErrorSpec {
  readonly status: number
  readonly message: string
}

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE'
export type SuccessStatus = 200 | 201 | 202

/**
 * One route of the API, declared once: the hub registers it (validation, access, answers), the
 * OpenAPI document describes it, and `@his-her/connect` calls it.
 *
 * `errors` lists the codes this route's own work can answer; the codes every route of its kind
 * can answer (authentication, validation, idempotency, an unavailable database) are added by
 * {@link routeErrors}.
 */
export interface RouteSpec {
  readonly method: HttpMethod
  /** Fastify syntax: `/customer/:id`. */
  readonly path: string
  readonly summary: string
  readonly description?: string
  readonly tags: readonly string[]
  /** `'public'` (no token read at all), or the roles allowed. */
  readonly access: 'public' | readonly Role[]
  readonly params?: TObject
  readonly query?: TObject
  readonly body?: TSchema
  /**
   * The body is a file of one of these media types, streamed to the handler as it comes rather
   * than parsed (a bulk import). Such a route takes no Idempotency-Key: what it does is keyed by
   * the file's content.
   */
  readonly upload?: readonly string[]
  /**
   * The media type of the success answer when it is not JSON (`text/plain; …` for the metrics);
   * its schema is then a string, sent as it is.
   */
  readonly answerType?: string
  /** The success answers, by status. */
  readonly responses: { readonly [S in SuccessStatus]?: TSchema }
  readonly errors: readonly string[]
  /**
   * The success answer holds a secret shown once (a plaintext token): the answer kept for an
   * Idempotency-Key replay is encrypted at rest.
   */
  readonly secretAnswer?: boolean
}

/** What one domain adds to the contract: its error codes, its events (type → payload schema) and its routes. */
export interface DomainContract {
  readonly errors: { readonly [code: string]: ErrorSpec }
  readonly events: { readonly [type: string]: TSchema }
  readonly routes: { readonly [operationId: string]: RouteSpec }
}

/**
 * Declares one domain's part of the contract. The literal types are kept, so that codes, event
 * types and operation ids become unions a client can switch on.
 *
 * @example
 * ```ts
 * export const orders = defineDomain({
 *   errors: { ORDER_CUSTOMER_MISMATCH: { status: 409, message: 'This order was already recorded for another customer.' } },
 *   events: { 'order.recorded': OrderFact },
 *   routes: { recordOrder: { method: 'POST', path: '/orders', … } },
 * })
 * ```
 */
export function defineDomain<const D extends DomainContract>(domain: D): D {
  return domain
}

type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never
type Simplify<T> = { [K in keyof T]: T[K] } & {}

/** The parts of several domains, merged; a code, event type or operation id declared twice throws. */
export type Combined<D extends Record<string, DomainContract>> = {
  errors: Simplify<UnionToIntersection<D[keyof D]['errors']>>
  events: Simplify<UnionToIntersection<D[keyof D]['events']>>
  routes: Simplify<UnionToIntersection<D[keyof D]['routes']>>
}

/** Merges the domains' parts into one catalogue, one event map and one route table. */
export function combineDomains<const D extends Record<string, DomainContract>>(domains: D): Combined<D> {
  const out = { errors: {} as Record<string, unknown>, events: {} as Record<string, unknown>, routes: {} as Record<string, unknown> }
  for (const [name, domain] of Object.entries(domains)) {
    for (const part of ['errors', 'events', 'routes'] as const) {
      for (const [key, value] of Object.entries(domain[part])) {
        if (key in out[part]) throw new Error(`contract: ${part} "${key}" of domain ${name} is declared by another domain too`)
        out[part][key] = value
      }
    }
  }
  return out as Combined<D>
}

/** The path parameters a route takes (`undefined` when it has none). */
export type ParamsOf<R extends RouteSpec> = R['params'] extends TSchema ? Static<R['params']> : undefined
/** The query a route takes (`undefined` when it has none). */
export type QueryOf<R extends RouteSpec> = R['query'] extends TSchema ? Static<R['query']> : undefined
/** The body a route takes (`undefined` when it has none). */
export type BodyOf<R extends RouteSpec> = R['body'] extends TSchema ? Static<R['body']> : undefined
/** One of a route's success answers: its status and body. */
export type AnswerOf<R extends RouteSpec> = {
  [S in keyof R['responses'] & SuccessStatus]: { status: S; body: R['responses'][S] extends TSchema ? Static<R['responses'][S]> : never }
}[keyof R['responses'] & SuccessStatus]
/** The body of a route's success answer (a union when it has several). */
export type ResultOf<R extends RouteSpec> = AnswerOf<R>['body']

/** Codes every route that needs a token can answer (429: too many failed tokens from the client's address). */
export const authenticatedErrors = ['UNAUTHORIZED', 'TOKEN_EXPIRED', 'FORBIDDEN', 'RATE_LIMITED'] as const
/** Codes every route whose params, query or body is validated can answer. */
export const validationErrors = ['VALIDATION_FAILED'] as const
/** Codes every POST, PATCH and DELETE can answer: its body is parsed whether or not it declares one. */
export const bodyErrors = ['VALIDATION_FAILED', 'INVALID_JSON', 'BODY_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'] as const
/** Codes every write that needs a token can answer: it takes an Idempotency-Key. */
export const idempotencyErrors = ['INVALID_IDEMPOTENCY_KEY', 'IDEMPOTENCY_KEY_REUSED', 'IDEMPOTENCY_IN_PROGRESS'] as const
/** Codes every route can answer: the database is down, or the hub failed (a bug). */
export const serverErrors = ['DATABASE_UNAVAILABLE', 'INTERNAL_ERROR'] as const

export const isWrite = (route: Pick<RouteSpec, 'method'>): boolean => route.method !== 'GET'

/** Every code a route may answer: its own and those of its kind (see the lists above). */
export function routeErrors(route: RouteSpec): string[] {
  const codes = new Set<string>(route.errors)
  if (route.access !== 'public') for (const c of authenticatedErrors) codes.add(c)
  if (route.params || route.query || route.body) for (const c of validationErrors) codes.add(c)
  if (isWrite(route) && !route.upload) {
    for (const c of bodyErrors) codes.add(c)
    if (route.access !== 'public') for (const c of idempotencyErrors) codes.add(c)
  }
  if (route.upload) codes.add('UNSUPPORTED_MEDIA_TYPE')
  for (const c of serverErrors) codes.add(c)
  return [...codes]
}
