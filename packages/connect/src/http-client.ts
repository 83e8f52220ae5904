import { HubApiError } from './hub-error.js'

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

export type QueryScalar = string | number | boolean
/** Query parameters: arrays repeat the key (`group=a&group=b`); `undefined` and `null` are left out. */
export type QueryParams = Record<string, QueryScalar | readonly QueryScalar[] | null | undefined>

/** The `fetch` the clients call; the global one unless another is given. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>

export interface HttpRequest {
  method: HttpMethod
  /** From the root of `baseUrl`, starting with `/`; build it with {@link encodePath}. */
  path: string
  query?: QueryParams | undefined
  /** Sent as JSON. Without a body no `Content-Type` is sent. */
  body?: unknown
  headers?: Record<string, string> | undefined
  /** Cancels the call; it then rejects with the signal's reason. */
  signal?: AbortSignal | undefined
  /** Overrides the client's `timeoutMs` for this call. */
  timeoutMs?: number | undefined
  /** Sends no token at all, e.g. to `POST /auth/login`, and never asks the client's `auth` for one. */
  anonymous?: boolean | undefined
  /** The answer is text, given as it came rather than parsed as JSON: a route that declares a text answer (the metrics). */
  text?: boolean | undefined
}

export interface HttpResponse<T> {
  status: number
  headers: Headers
  /** The parsed JSON body; `undefined` when the answer had none. */
  body: T
  requestId: string | undefined
}

/**
 * Where the token of each call comes from when it is not a fixed one, e.g. the logged-in service
 * account of {@link createServiceJwtAuth}.
 */
export interface AuthProvider {
  /** The token for the next call (`undefined` sends none); may log in first. */
  getToken(): Promise<string | undefined>
  /**
   * Called once when the hub answered 401 to a call made with `token`; the call is then sent once
   * more with the token {@link AuthProvider.getToken} gives next. A rejection fails the call.
   */
  onUnauthorized(token: string | undefined): Promise<void>
}

export interface HttpClientOptions {
  /** Where the hub answers, e.g. `http://localhost:1337`; a path prefix is kept. */
  baseUrl: string
  /** The API token, sent as `Authorization: Bearer <token>`. */
  token?: string | undefined
  /**
   * Gives the token of each call instead of a fixed `token` (not both): a call answered 401 is
   * sent once more after {@link AuthProvider.onUnauthorized}.
   */
  auth?: AuthProvider | undefined
  fetch?: FetchLike | undefined
  /** Gives up on a call after this many milliseconds (`TIMEOUT`); 0 waits forever. Default 30 000. */
  timeoutMs?: number | undefined
  /** Headers sent with every call. */
  headers?: Record<string, string> | undefined
}

export type RequestOptions = Pick<HttpRequest, 'query' | 'headers' | 'signal' | 'timeoutMs' | 'anonymous'>

export interface HttpClient {
  /** The base URL without trailing slash. */
  readonly baseUrl: string
  /** Sends a request and resolves with status, headers and body of a 2xx answer; throws {@link HubApiError} otherwise. */
  send<T = unknown>(request: HttpRequest): Promise<HttpResponse<T>>
  /** Like {@link HttpClient.send}, resolving with the body alone. */
  request<T = unknown>(request: HttpRequest): Promise<T>
  get<T = unknown>(path: string, options?: RequestOptions): Promise<T>
  post<T = unknown>(path: string, body?: unknown, options?: RequestOptions): Promise<T>
  patch<T = unknown>(path: string, body?: unknown, options?: RequestOptions): Promise<T>
  delete<T = unknown>(path: string, options?: RequestOptions): Promise<T>
  /**
   * Replaces the token of every later call; `undefined` sends none, or, with an `auth` provider,
   * the provider's token again (a token set here takes precedence over the provider's).
   */
  setToken(token: string | undefined): void
}

/**
 * Builds a path whose interpolated values are each encoded as one path segment. A value that is
 * empty, `.` or `..` throws `INVALID_ARGUMENT`: URLs drop or resolve such segments, so
 * `/customer/${id}/group/${'..'}` would reach `/customer/${id}` instead.
 *
 * @example
 * ```ts
 * encodePath`/customer/${id}/group/${group}` // '/customer/cus_1/group/a%2Fb' for group 'a/b'
 * ```
 */
export function encodePath(strings: TemplateStringsArray, ...values: readonly (string | number)[]): string {
  let out = strings[0] ?? ''
  values.forEach((value, i) => {
    const segment = String(value)
    if (segment === '' || segment === '.' || segment === '..') {
      throw new HubApiError({ status: 0, code: 'INVALID_ARGUMENT', message: `"${segment}" cannot be a path segment (${strings.join(':value')})` })
    }
    out += encodeURIComponent(segment) + (strings[i + 1] ?? '')
  })
  return out
}

function queryString(query: QueryParams | undefined): string {
  if (!query) return ''
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null) continue
    const values: readonly QueryScalar[] = Array.isArray(value) ? value : [value as QueryScalar]
    for (const v of values) params.append(key, String(v))
  }
  const s = params.toString()
  return s ? `?${s}` : ''
}

/**
 * The largest request body the hub takes, in bytes (1 MiB); a larger one is answered 413
 * `BODY_TOO_LARGE`. A call with a larger body that gets no answer is thrown as `BODY_TOO_LARGE`
 * too (status 0), never as a `NETWORK_ERROR` that would be sent again.
 */
export const HUB_BODY_LIMIT = 1024 * 1024

function isErrorBody(body: unknown): body is { code: string; message: string; details?: unknown } {
  return typeof body === 'object' && body !== null && typeof (body as { code?: unknown }).code === 'string' && typeof (body as { message?: unknown }).message === 'string'
}

function describeCause(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } })?.cause
  if (cause && typeof cause.code === 'string') return cause.code
  if (cause && typeof cause.message === 'string') return cause.message
  return err instanceof Error ? err.message : String(err)
}

function normalizeBaseUrl(raw: string): string {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new TypeError(`baseUrl "${raw}" is not an absolute URL, e.g. http://localhost:1337`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`baseUrl "${raw}" must be an http or https URL`)
  if (url.search || url.hash) throw new TypeError(`baseUrl "${raw}" must not have a query or fragment`)
  return url.toString().replace(/\/+$/, '')
}

/**
 * The HTTP transport of the clients: JSON in and out, bearer token (fixed, or from an
 * {@link AuthProvider}), timeout, and every failure as a {@link HubApiError}. It has no
 * dependency but the global `fetch`. It sends each call once; the clients above it send again
 * only what `isRetryable` (retry.ts) allows (no answer, a 5xx) — never a 4xx answer, nor a body over
 * {@link HUB_BODY_LIMIT}.
 *
 * @example
 * ```ts
 * const http = createHttpClient({ baseUrl: 'http://localhost:1337', token: process.env.HUB_TOKEN })
 * // or, as a service account: createHttpClient({ baseUrl, auth: createServiceJwtAuth({ baseUrl, email, password }) })
 * const customer = await http.get<Customer>(encodePath`/customer/${id}`)
 * const page = await http.get<CustomerPage>('/customer', { query: { group: ['vip', 'b2b'], limit: 20 } })
 * const { status, body } = await http.send<OrderResult>({ method: 'POST', path: '/orders', body: order })
 * ```
 */
export function createHttpClient(options: HttpClientOptions): HttpClient {
  const baseUrl = normalizeBaseUrl(options.baseUrl)
  const doFetch: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  const defaultTimeout = options.timeoutMs ?? 30_000
  const fixedHeaders = Object.fromEntries(Object.entries(options.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]))
  if (options.token !== undefined && options.auth !== undefined) throw new TypeError('give either token or auth, not both')
  const auth = options.auth
  let token = options.token

  async function send<T>(req: HttpRequest): Promise<HttpResponse<T>> {
    const explicit = Object.keys(req.headers ?? {}).some((k) => k.toLowerCase() === 'authorization')
    if (req.anonymous) return attempt<T>(req, undefined)
    if (!auth || token !== undefined || explicit) return attempt<T>(req, token)
    const first = await auth.getToken()
    try {
      return await attempt<T>(req, first)
    } catch (err) {
      if (!(err instanceof HubApiError) || err.status !== 401) throw err
      await auth.onUnauthorized(first)
      return attempt<T>(req, await auth.getToken())
    }
  }

  async function attempt<T>(req: HttpRequest, token: string | undefined): Promise<HttpResponse<T>> {
    const path = req.path.startsWith('/') ? req.path : `/${req.path}`
    const url = `${baseUrl}${path}${queryString(req.query)}`
    // the query may hold personal data (email, q): messages name the path only
    const where = `${req.method} ${baseUrl}${path}`
    const headers: Record<string, string> = { accept: 'application/json', ...fixedHeaders }
    if (req.anonymous) delete headers.authorization
    if (token) headers.authorization = `Bearer ${token}`
    for (const [k, v] of Object.entries(req.headers ?? {})) headers[k.toLowerCase()] = v
    const hasBody = req.body !== undefined
    const bodyText = hasBody ? JSON.stringify(req.body) : undefined
    // the hub refuses an empty body announced as JSON
    if (hasBody) headers['content-type'] = 'application/json'
    else delete headers['content-type']

    const timeoutMs = req.timeoutMs ?? defaultTimeout
    const timeout = timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined
    const signals = [timeout, req.signal].filter((s): s is AbortSignal => s !== undefined)
    const signal = signals.length === 0 ? undefined : signals.length === 1 ? signals[0] : AbortSignal.any(signals)

    const failure = (err: unknown, status: number): never => {
      if (req.signal?.aborted) throw req.signal.reason
      // a body the hub refuses whatever happens: no answer to it is worth sending it again for
      // (a hub or a proxy in front of it may close the connection while such a body is sent)
      const bodyBytes = bodyText === undefined ? 0 : new TextEncoder().encode(bodyText).byteLength
      if (bodyBytes > HUB_BODY_LIMIT) {
        throw new HubApiError({
          status,
          code: 'BODY_TOO_LARGE',
          message: `${where}: no answer to a body of ${bodyBytes} bytes, over the hub's limit of ${HUB_BODY_LIMIT} (${timeout?.aborted ? 'timed out' : describeCause(err)}); send less`,
          cause: err,
        })
      }
      if (timeout?.aborted) {
        throw new HubApiError({ status, code: 'TIMEOUT', message: `${where}: no answer within ${timeoutMs} ms`, cause: err })
      }
      throw new HubApiError({ status, code: 'NETWORK_ERROR', message: `${where}: the hub could not be reached (${describeCause(err)})`, cause: err })
    }

    let res: Response
    let text: string
    try {
      res = await doFetch(url, { method: req.method, headers, ...(bodyText !== undefined ? { body: bodyText } : {}), ...(signal ? { signal } : {}) })
    } catch (err) {
      return failure(err, 0)
    }
    const requestId = res.headers.get('x-request-id') ?? undefined
    try {
      text = await res.text()
    } catch (err) {
      return failure(err, 0)
    }

    let parsed: unknown = undefined
    let parseable = true
    if (text !== '') {
      try {
        parsed = JSON.parse(text)
      } catch {
        parseable = false
      }
    }
    if (res.ok) {
      if (req.text) return { status: res.status, headers: res.headers, body: text as T, requestId }
      if (!parseable) {
        throw new HubApiError({ status: res.status, code: 'UNEXPECTED_RESPONSE', message: `${where}: the answer is not JSON`, requestId })
      }
      return { status: res.status, headers: res.headers, body: parsed as T, requestId }
    }
    if (isErrorBody(parsed)) {
      const details = typeof parsed.details === 'object' && parsed.details !== null ? (parsed.details as Record<string, unknown>) : undefined
      throw new HubApiError({ status: res.status, code: parsed.code, message: parsed.message, details, requestId })
    }
    const excerpt = text.length > 200 ? `${text.slice(0, 200)}…` : text
    throw new HubApiError({
      status: res.status,
      code: 'UNEXPECTED_RESPONSE',
      message: `${where}: answered ${res.status} ${res.statusText} without a hub error body${excerpt ? `: ${excerpt}` : ''}`,
      requestId,
    })
  }

  const request = async <T>(req: HttpRequest): Promise<T> => (await send<T>(req)).body

  return {
    baseUrl,
    send,
    request,
    get: (path, o) => request({ ...o, method: 'GET', path }),
    post: (path, body, o) => request({ ...o, method: 'POST', path, body }),
    patch: (path, body, o) => request({ ...o, method: 'PATCH', path, body }),
    delete: (path, o) => request({ ...o, method: 'DELETE', path }),
    setToken(next) {
      token = next
    },
  }
}
