import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCommerceClient, createCustomerSyncClient, createHttpClient, encodePath, HubApiError, type Customer, type FetchLike } from './index.js'
import { HUB_BODY_LIMIT } from './http-client.js'
import { startListeningHub, type ListeningHub } from '../test/helpers/listening-hub.js'
import { failure } from '../test/helpers/failure.js'

let hub: ListeningHub
let n = 0
const unique = (tag: string) => `${tag}-${Date.now().toString(36)}-${++n}@example.com`

/** A fetch that passes every call to the global one and keeps what was sent. */
function recordingFetch() {
  const sent: { url: string; method: string; headers: Record<string, string>; body: unknown }[] = []
  const fetchFn: FetchLike = (url, init) => {
    sent.push({ url, method: String(init.method), headers: { ...(init.headers as Record<string, string>) }, body: init.body })
    return fetch(url, init)
  }
  return { sent, fetch: fetchFn }
}

/** A plain HTTP server on a free port, standing in for what may sit between a client and the hub. */
async function startServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; baseUrl: string; close(): Promise<void> }> {
  const server = createServer(handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    server,
    baseUrl: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

beforeAll(async () => {
  hub = await startListeningHub()
})
afterAll(async () => {
  await hub?.close()
})

describe('encodePath', () => {
  it('encodes each value as one segment', () => {
    expect(encodePath`/customer/${'cus_1'}/group/${'a/b?c#d e'}`).toBe('/customer/cus_1/group/a%2Fb%3Fc%23d%20e')
    expect(encodePath`/x/${42}`).toBe('/x/42')
  })

  it('refuses segments that URLs drop or resolve', () => {
    for (const bad of ['', '.', '..']) {
      expect(() => encodePath`/customer/${bad}`).toThrow(HubApiError)
    }
    expect(() => encodePath`/customer/${'...'}`).not.toThrow()
  })
})

describe('createHttpClient against the hub', () => {
  it('sends Content-Type only with a body', async () => {
    const rec = recordingFetch()
    const http = createHttpClient({ baseUrl: hub.baseUrl, token: hub.adminToken, fetch: rec.fetch })
    const created = await http.post<Customer>('/customer', { email: unique('ct') })
    await http.get(encodePath`/customer/${created.id}`)
    // a Content-Type asked for on a bodyless call is dropped: the hub refuses an empty JSON body
    await http.delete(encodePath`/customer/${created.id}`, { headers: { 'Content-Type': 'application/json' } })

    const [post, get, del] = rec.sent
    expect(post).toMatchObject({ method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${hub.adminToken}` } })
    expect(JSON.parse(String(post!.body))).toEqual({ email: created.email })
    for (const bodyless of [get, del]) {
      expect(bodyless!.headers).not.toHaveProperty('content-type')
      expect(bodyless!.headers).not.toHaveProperty('Content-Type')
      expect(bodyless!.body).toBeUndefined()
    }
    expect(del!.method).toBe('DELETE')

    // what the hub does with the header the client leaves out
    const raw = await fetch(`${hub.baseUrl}/customer/${created.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${hub.adminToken}`, 'content-type': 'application/json' } })
    expect(raw.status).toBe(400)
    expect(await raw.json()).toMatchObject({ code: 'INVALID_JSON' })
  })

  it('repeats array query values and leaves out undefined and null', async () => {
    const rec = recordingFetch()
    const http = createHttpClient({ baseUrl: `${hub.baseUrl}/`, token: hub.adminToken, fetch: rec.fetch })
    const page = await http.get<{ data: unknown[] }>('/customer', { query: { group: ['vip', 'b2b'], hasAccount: false, limit: 5, q: undefined, email: null } })
    expect(page.data).toEqual([])
    const url = new URL(rec.sent[0]!.url)
    expect(url.pathname).toBe('/customer')
    expect(url.searchParams.getAll('group')).toEqual(['vip', 'b2b'])
    expect(url.searchParams.get('hasAccount')).toBe('false')
    expect(url.searchParams.get('limit')).toBe('5')
    expect(url.searchParams.has('q')).toBe(false)
    expect(url.searchParams.has('email')).toBe(false)
  })

  it('send gives status, headers and request id; a given x-request-id comes back', async () => {
    const http = createHttpClient({ baseUrl: hub.baseUrl, token: hub.adminToken })
    const res = await http.send<Customer>({ method: 'POST', path: '/customer', body: { email: unique('send') }, headers: { 'X-Request-Id': 'sync-run-7' } })
    expect(res.status).toBe(201)
    expect(res.requestId).toBe('sync-run-7')
    expect(res.headers.get('content-type')).toMatch(/application\/json/)
    expect(res.body.id).toMatch(/^cus_/)

    const err = await failure(http.get('/customer/cus_00000000000000000000000000', { headers: { 'x-request-id': 'lookup-1' } }))
    expect(err).toMatchObject({ status: 404, code: 'CUSTOMER_NOT_FOUND', requestId: 'lookup-1' })
  })

  it('headers of the options go with every call, and a path prefix of baseUrl is kept', async () => {
    const rec = recordingFetch()
    const http = createHttpClient({ baseUrl: `${hub.baseUrl}/api/v1`, token: hub.adminToken, fetch: rec.fetch, headers: { 'User-Agent': 'shop-sync/1.0' } })
    const err = await failure(http.get('customer'))
    expect(rec.sent[0]!.url).toBe(`${hub.baseUrl}/api/v1/customer`)
    expect(rec.sent[0]!.headers['user-agent']).toBe('shop-sync/1.0')
    expect(err).toMatchObject({ status: 404, code: 'ROUTE_NOT_FOUND' })
  })

  it('refuses a baseUrl that is not an absolute http URL', () => {
    expect(() => createHttpClient({ baseUrl: 'localhost:1337' })).toThrow(TypeError)
    expect(() => createHttpClient({ baseUrl: '/customer' })).toThrow(TypeError)
    expect(() => createHttpClient({ baseUrl: 'ftp://example.com' })).toThrow(TypeError)
    expect(() => createHttpClient({ baseUrl: 'http://example.com/?a=1' })).toThrow(TypeError)
  })
})

describe('answers that are not the hub', () => {
  it('an HTML error page from a gateway throws UNEXPECTED_RESPONSE with its status', async () => {
    const gateway = await startServer((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' }).end('<html><body>Bad Gateway</body></html>')
    })
    try {
      const http = createHttpClient({ baseUrl: gateway.baseUrl })
      const err = await failure(http.get('/customer'))
      expect(err).toMatchObject({ status: 502, code: 'UNEXPECTED_RESPONSE' })
      expect(err.message).toContain('Bad Gateway')
    } finally {
      await gateway.close()
    }
  })

  it('a success whose body is not JSON throws UNEXPECTED_RESPONSE; an empty one resolves undefined', async () => {
    const server = await startServer((req, res) => {
      if (req.url === '/empty') res.writeHead(204).end()
      else res.writeHead(200, { 'content-type': 'text/plain', 'x-request-id': 'r-1' }).end('ok')
    })
    try {
      const http = createHttpClient({ baseUrl: server.baseUrl })
      expect(await failure(http.get('/text'))).toMatchObject({ status: 200, code: 'UNEXPECTED_RESPONSE', requestId: 'r-1' })
      expect(await http.delete('/empty')).toBeUndefined()
    } finally {
      await server.close()
    }
  })

  it('no answer within timeoutMs throws TIMEOUT; a caller abort rejects with its reason', async () => {
    let received!: () => void
    let arrived = new Promise<void>((resolve) => (received = resolve))
    const silent = await startServer(() => received())
    try {
      const http = createHttpClient({ baseUrl: silent.baseUrl, timeoutMs: 100 })
      const err = await failure(http.get('/customer'))
      expect(err).toMatchObject({ status: 0, code: 'TIMEOUT' })
      expect(err.message).toContain('100 ms')

      arrived = new Promise<void>((resolve) => (received = resolve))
      const controller = new AbortController()
      const call = http.get('/customer', { signal: controller.signal, timeoutMs: 0 })
      await arrived
      const reason = new Error('shutting down')
      controller.abort(reason)
      await expect(call).rejects.toBe(reason)
    } finally {
      await silent.close()
    }
  })
})

describe('a refusal is final: one request, never sent again', () => {
  const MiB = 1024 * 1024
  const store = { component: 'identity.his-and-her-store', externalIdField: 'medusaCustomerId' }
  const big = () => ({ padding: 'x'.repeat(2 * MiB) })

  it('HUB_BODY_LIMIT is the hub’s body limit', () => {
    expect(HUB_BODY_LIMIT).toBe(hub.app.initialConfig.bodyLimit)
  })

  it('a body over the hub’s limit is answered 413 BODY_TOO_LARGE, read by the client, and sent once', async () => {
    const rec = recordingFetch()
    const http = createHttpClient({ baseUrl: hub.baseUrl, token: hub.adminToken, fetch: rec.fetch })
    const err = await failure(http.post('/customer', { email: unique('big'), metadata: big() }))
    expect(err).toMatchObject({ status: 413, code: 'BODY_TOO_LARGE', message: 'The request body is larger than 1 MiB.' })
    expect(err.requestId).toMatch(/^req_/)
    expect(rec.sent).toHaveLength(1)

    // the sync client, which sends again after no answer or a 5xx, sends it once too
    const sync = recordingFetch()
    const token = await hub.platformToken()
    const syncClient = createCustomerSyncClient({ cdpHost: hub.baseUrl, cdpApiToken: token, platformIdentity: store, fetch: sync.fetch, retries: 3, retryDelayMs: 1 })
    expect(await failure(syncClient.syncCustomer({ externalId: 'cus_big', metadata: big() }))).toMatchObject({ status: 413, code: 'BODY_TOO_LARGE' })
    expect(sync.sent).toHaveLength(1)
  })

  it('a connection closed while a body over the limit is sent is BODY_TOO_LARGE (status 0), not a NETWORK_ERROR sent again', async () => {
    let requests = 0
    // like a proxy in front of the hub (or an older hub) that closes the connection on a large body
    const closing = await startServer((req) => {
      requests++
      req.socket.destroy()
    })
    try {
      const sync = createCustomerSyncClient({ cdpHost: closing.baseUrl, cdpApiToken: 'chub_x', platformIdentity: store, retries: 3, retryDelayMs: 1 })
      const err = await failure(sync.syncCustomer({ externalId: 'cus_big', metadata: big() }))
      expect(err).toMatchObject({ status: 0, code: 'BODY_TOO_LARGE' })
      expect(err.message).toMatch(/over the hub's limit of 1048576/)
      expect(requests).toBe(1)

      // a small keyed write that got no answer is still sent again, with the same key
      requests = 0
      expect(await failure(sync.syncCustomer({ externalId: 'cus_small' }))).toMatchObject({ status: 0, code: 'NETWORK_ERROR' })
      expect(requests).toBe(4)
    } finally {
      await closing.close()
    }
  })

  it('every 4xx answer is thrown after one request, by the sync client and by the retrying loyalty calls', async () => {
    const refusals: [number, string][] = [
      [400, 'VALIDATION_FAILED'],
      [401, 'UNAUTHORIZED'],
      [403, 'FORBIDDEN'],
      [404, 'CUSTOMER_NOT_FOUND'],
      [409, 'CONFLICT'],
      [410, 'CUSTOMER_MERGED'],
      [413, 'BODY_TOO_LARGE'],
      [415, 'UNSUPPORTED_MEDIA_TYPE'],
      [422, 'IDEMPOTENCY_KEY_REUSED'],
      [429, 'RATE_LIMITED'],
    ]
    let answer = refusals[0]!
    let requests = 0
    const refusing = await startServer((req, res) => {
      requests++
      req.resume()
      req.on('end', () => {
        res.writeHead(answer[0], { 'content-type': 'application/json', 'x-request-id': 'req_refused' })
        res.end(JSON.stringify({ statusCode: answer[0], code: answer[1], error: 'Refused', message: `refused with ${answer[1]}` }))
      })
    })
    try {
      const sync = createCustomerSyncClient({ cdpHost: refusing.baseUrl, cdpApiToken: 'chub_x', platformIdentity: store, retries: 3, retryDelayMs: 1 })
      const commerce = createCommerceClient({ baseUrl: refusing.baseUrl, token: 'chub_x', retries: 3, retryDelayMs: 1 })
      for (const refusal of refusals) {
        answer = refusal
        const expected = { status: refusal[0], code: refusal[1], requestId: 'req_refused' }
        requests = 0
        expect(await failure(sync.syncCustomer({ externalId: 'cus_refused' }))).toMatchObject(expected)
        expect({ refusal, requests }).toEqual({ refusal, requests: 1 })
        requests = 0
        expect(await failure(commerce.loyalty.earn({ customerId: 'cus_refused', amount: 1 }))).toMatchObject(expected)
        expect({ refusal, requests }).toEqual({ refusal, requests: 1 })
      }
    } finally {
      await refusing.close()
    }
  })
})
