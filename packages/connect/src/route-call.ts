import type { BodyOf, OperationId, ParamsOf, QueryOf, ResultOf, Routes } from '@his-her/contract'
import { routeTable } from './routes.generated.js'
import { HubApiError } from './hub-error.js'
import type { HttpClient, HttpResponse, QueryParams, RequestOptions } from './http-client.js'

type Part<K extends string, T> = [T] extends [undefined] ? { [P in K]?: undefined } : { [P in K]: T }

/** What a call of one operation sends: its path parameters, query and body, typed by the contract. */
export type RouteInput<K extends OperationId> = Part<'params', ParamsOf<Routes[K]>> &
  ([QueryOf<Routes[K]>] extends [undefined] ? { query?: undefined } : { query?: QueryOf<Routes[K]> }) &
  Part<'body', BodyOf<Routes[K]>>

/** The path of an operation with its parameters, each encoded as one segment. */
export function routePath(operation: OperationId, params: Record<string, string | number> | undefined): string {
  const template = routeTable[operation].path
  return template.replace(/:([A-Za-z0-9_]+)/g, (_, name: string) => {
    const value = params?.[name]
    const segment = value === undefined ? '' : String(value)
    if (segment === '' || segment === '.' || segment === '..') {
      throw new HubApiError({ status: 0, code: 'INVALID_ARGUMENT', message: `"${segment}" cannot be the ${name} of ${template}` })
    }
    return encodeURIComponent(segment)
  })
}

/** How much longer than its `wait` a long poll (`GET /events?wait=`) may take before it times out. */
const LONG_POLL_MARGIN_MS = 30_000

/**
 * Calls one operation of the hub's route table: the method and path come from the table, the
 * types of what is sent and answered from the contract. A call with a `wait` in its query (a long
 * poll of the event feed) times out after its wait plus 30 s, unless `options.timeoutMs` says
 * otherwise.
 *
 * @example
 * ```ts
 * const { body: customer } = await callRoute(http, 'getCustomer', { params: { id } })
 * // the next matching events of the feed, waiting up to 30 s for one
 * const { body: page } = await callRoute(http, 'listEvents', { query: { after, type: ['customer.*'], wait: 30 } })
 * ```
 */
export async function callRoute<K extends OperationId>(
  http: HttpClient,
  operation: K,
  input: RouteInput<K>,
  options: RequestOptions = {},
): Promise<HttpResponse<ResultOf<Routes[K]>>> {
  const route = routeTable[operation]
  const { method } = route
  // a route that answers text (the metrics) gives it as it came
  const text = 'answerType' in route ? { text: true } : {}
  const { params, query, body } = input as { params?: Record<string, string>; query?: QueryParams; body?: unknown }
  const path = routePath(operation, params)
  const wait = Number(query?.['wait'] ?? 0)
  const longPoll = options.timeoutMs === undefined && wait > 0 ? { timeoutMs: wait * 1000 + LONG_POLL_MARGIN_MS } : {}
  return http.send<ResultOf<Routes[K]>>({ ...options, ...longPoll, ...text, method, path, query: query ?? options.query, ...(body === undefined ? {} : { body }) })
}
