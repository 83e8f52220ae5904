import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  createCommerceClient,
  createHisHerCustomerConfigFromEnv,
  createHttpClient,
  createServiceJwtAuth,
  HubApiError,
  serviceAccountEmail,
  type FetchLike,
  type ServiceAccount,
  type Session,
  type WhoAmI,
} from './index.js'
import { startListeningHub, type ListeningHub } from '../test/helpers/listening-hub.js'
import { failure } from '../test/helpers/failure.js'

const TTL = 30 // seconds: the hub's shortest access-token lifetime
const password = 'service-user-password'
let hub: ListeningHub
let n = 0

interface Call {
  path: string
  authorization: string | undefined
  status?: number
  code?: string
  session?: Session
}

/** The real fetch, keeping every call in the order it was started, with its answer's status and code. */
function recordingFetch() {
  const calls: Call[] = []
  const fetchFn: FetchLike = async (url, init) => {
    const call: Call = { path: new URL(url).pathname, authorization: (init.headers as Record<string, string>).authorization }
    calls.push(call)
    const res = await fetch(url, init)
    call.status = res.status
    const body = (await res.clone().json().catch(() => undefined)) as { code?: string } | undefined
    if (res.status >= 400) call.code = body?.code
    else if (call.path === '/auth/login' || call.path === '/auth/refresh') call.session = body as Session
    return res
  }
  return {
    calls,
    fetch: fetchFn,
    count: (path: string) => calls.filter((c) => c.path === path).length,
  }
}

/** A new service account of the hub, created with the admin token. */
async function serviceAccount(target: ListeningHub = hub, organizationId = '12'): Promise<ServiceAccount> {
  const admin = createHttpClient({ baseUrl: target.baseUrl, token: target.adminToken })
  return admin.post<ServiceAccount>('/service-accounts', { handle: `seller_${++n}`, password, roleId: '3', organizationId })
}

beforeAll(async () => {
  hub = await startListeningHub({}, { auth: { accessTokenTtl: TTL } })
})
afterAll(async () => {
  await hub?.close()
})
afterEach(() => {
  vi.useRealTimers()
})

describe('createServiceJwtAuth against a listening hub', () => {
  it('logs in once for many concurrent calls, all with the same token', async () => {
    const account = await serviceAccount()
    expect(account.email).toBe(serviceAccountEmail(account.handle))
    const rec = recordingFetch()
    const http = createHttpClient({ baseUrl: hub.baseUrl, fetch: rec.fetch, auth: createServiceJwtAuth({ baseUrl: hub.baseUrl, email: account.email, password, fetch: rec.fetch }) })

    const answers = await Promise.all(Array.from({ length: 20 }, () => http.get<WhoAmI>('/auth/session')))

    for (const who of answers) expect(who).toEqual({ kind: 'service', role: 'service', serviceAccountId: account.id, providerId: null, organizationId: '12', name: account.handle })
    expect(rec.count('/auth/login')).toBe(1)
    expect(rec.count('/auth/refresh')).toBe(0)
    const login = rec.calls.find((c) => c.path === '/auth/login')!
    expect(login.authorization).toBeUndefined()
    expect(login.session).toMatchObject({ expiresIn: TTL, tokenType: 'Bearer' })
    const sessionCalls = rec.calls.filter((c) => c.path === '/auth/session')
    expect(sessionCalls).toHaveLength(20)
    expect(new Set(sessionCalls.map((c) => c.authorization))).toEqual(new Set([`Bearer ${login.session!.accessToken}`]))

    // later calls reuse the token
    await http.get('/auth/session')
    expect(rec.count('/auth/login')).toBe(1)
  })

  it('refreshes the token shortly before it expires, once for concurrent calls, and keeps it till then', async () => {
    const account = await serviceAccount()
    const rec = recordingFetch()
    let clock = Date.now()
    const auth = createServiceJwtAuth({ baseUrl: hub.baseUrl, email: account.email, password, fetch: rec.fetch, now: () => clock })
    const http = createHttpClient({ baseUrl: hub.baseUrl, fetch: rec.fetch, auth })

    const first = await auth.getToken()
    await http.get('/auth/session')
    expect(rec.count('/auth/login')).toBe(1)

    // at most half the lifetime before expiry: with 30 s, the token is renewed from 15 s on
    clock += 14_000
    expect(await auth.getToken()).toBe(first)
    expect(rec.count('/auth/refresh')).toBe(0)

    clock += 2_000
    const answers = await Promise.all(Array.from({ length: 5 }, () => http.get<WhoAmI>('/auth/session')))
    expect(answers.map((a) => a.serviceAccountId)).toEqual(Array(5).fill(account.id))
    expect(rec.count('/auth/refresh')).toBe(1)
    expect(rec.count('/auth/login')).toBe(1)
    const refresh = rec.calls.find((c) => c.path === '/auth/refresh')!
    expect(refresh.status).toBe(200)
    const second = refresh.session!.accessToken
    expect(second).not.toBe(first)
    expect(await auth.getToken()).toBe(second)
    expect(rec.calls.filter((c) => c.path === '/auth/session').slice(-5).map((c) => c.authorization)).toEqual(Array(5).fill(`Bearer ${second}`))
  })

  it('logs in afresh when the refresh is refused', async () => {
    const account = await serviceAccount()
    const rec = recordingFetch()
    let clock = Date.now()
    const auth = createServiceJwtAuth({ baseUrl: hub.baseUrl, email: account.email, password, fetch: rec.fetch, now: () => clock })
    const http = createHttpClient({ baseUrl: hub.baseUrl, fetch: rec.fetch, auth })
    await http.get('/auth/session')
    const { refreshToken } = rec.calls.find((c) => c.path === '/auth/login')!.session!

    // the session is ended elsewhere: its refresh token no longer works
    await createCommerceClient({ baseUrl: hub.baseUrl }).auth.logout(refreshToken)

    clock += 20_000
    const who = await http.get<WhoAmI>('/auth/session')
    expect(who.serviceAccountId).toBe(account.id)
    expect(rec.calls.map((c) => [c.path, c.status, c.code])).toEqual([
      ['/auth/login', 200, undefined],
      ['/auth/session', 200, undefined],
      ['/auth/refresh', 401, 'INVALID_REFRESH_TOKEN'],
      ['/auth/login', 200, undefined],
      ['/auth/session', 200, undefined],
    ])
  })

  it('keeps using a token the hub still accepts when an early renewal fails', async () => {
    const account = await serviceAccount()
    const rec = recordingFetch()
    let clock = Date.now()
    const auth = createServiceJwtAuth({ baseUrl: hub.baseUrl, email: account.email, password, fetch: rec.fetch, now: () => clock })
    const http = createHttpClient({ baseUrl: hub.baseUrl, fetch: rec.fetch, auth })
    await http.get('/auth/session')
    const { accessToken, refreshToken } = rec.calls[0]!.session!

    // the refresh token is spent, and this address waits before it may sign in to the account
    // again (after 5 failed sign-ins for one email from one address)
    const storefront = createCommerceClient({ baseUrl: hub.baseUrl })
    await storefront.auth.logout(refreshToken)
    const attempts = await Promise.all(
      Array.from({ length: 10 }, () =>
        storefront.auth.login({ email: account.email, password: 'wrong-password' }).then(
          () => 'LOGGED_IN',
          (e: unknown) => (e as HubApiError).code,
        ),
      ),
    )
    expect(attempts.sort()).toEqual([...Array(5).fill('INVALID_CREDENTIALS'), ...Array(5).fill('RATE_LIMITED')])

    clock += 20_000
    const answers = await Promise.all([http.get<WhoAmI>('/auth/session'), http.get<WhoAmI>('/auth/session')])
    expect(answers.map((a) => a.serviceAccountId)).toEqual([account.id, account.id])
    expect(rec.calls.slice(2).map((c) => [c.path, c.status, c.code ?? c.authorization])).toEqual([
      ['/auth/refresh', 401, 'INVALID_REFRESH_TOKEN'],
      ['/auth/login', 429, 'RATE_LIMITED'],
      ['/auth/session', 200, `Bearer ${accessToken}`],
      ['/auth/session', 200, `Bearer ${accessToken}`],
    ])

    // past its expiry the failure is the call's
    clock += 15_000
    expect(await failure(http.get('/auth/session'))).toMatchObject({ status: 429, code: 'RATE_LIMITED' })
  })

  it('renews once after a 401 TOKEN_EXPIRED and sends the call again, once for concurrent calls', async () => {
    const account = await serviceAccount()
    const rec = recordingFetch()
    const start = Date.now()
    // the client's clock stays behind the hub's: the hub is the one to say the token expired
    const auth = createServiceJwtAuth({ baseUrl: hub.baseUrl, email: account.email, password, fetch: rec.fetch, now: () => start })
    const http = createHttpClient({ baseUrl: hub.baseUrl, fetch: rec.fetch, auth })
    await http.get('/auth/session')

    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(start + (TTL + 60) * 1000)

    const answers = await Promise.all(Array.from({ length: 4 }, () => http.get<WhoAmI>('/auth/session')))
    expect(answers.map((a) => a.serviceAccountId)).toEqual(Array(4).fill(account.id))
    const after = rec.calls.slice(2)
    expect(after.filter((c) => c.path === '/auth/session' && c.status === 401).map((c) => c.code)).toEqual(Array(4).fill('TOKEN_EXPIRED'))
    expect(rec.count('/auth/refresh')).toBe(1)
    expect(rec.count('/auth/login')).toBe(1)
    const renewed = rec.calls.find((c) => c.path === '/auth/refresh')!.session!.accessToken
    expect(after.filter((c) => c.path === '/auth/session' && c.status === 200).map((c) => c.authorization)).toEqual(Array(4).fill(`Bearer ${renewed}`))
  })

  it('sends a call at most twice: a token the hub never accepts fails after one renewal', async () => {
    // tokens of another hub are signed by keys this hub does not know
    const other = await startListeningHub()
    try {
      const account = await serviceAccount(other)
      const rec = recordingFetch()
      const http = createHttpClient({ baseUrl: hub.baseUrl, fetch: rec.fetch, auth: createServiceJwtAuth({ baseUrl: other.baseUrl, email: account.email, password, fetch: rec.fetch }) })
      const err = await failure(http.get('/auth/session'))
      expect(err).toMatchObject({ status: 401, code: 'UNAUTHORIZED' })
      expect(rec.calls.map((c) => [c.path, c.status])).toEqual([
        ['/auth/login', 200],
        ['/auth/session', 401],
        ['/auth/refresh', 200],
        ['/auth/session', 401],
      ])
    } finally {
      await other.close()
    }
  })

  it('a wrong password fails the call with INVALID_CREDENTIALS, sends nothing else, and is tried again on the next call', async () => {
    const account = await serviceAccount()
    const rec = recordingFetch()
    const http = createHttpClient({ baseUrl: hub.baseUrl, fetch: rec.fetch, auth: createServiceJwtAuth({ baseUrl: hub.baseUrl, email: account.email, password: 'not-the-password', fetch: rec.fetch }) })
    const [a, b] = await Promise.all([failure(http.get('/auth/session')), failure(http.get('/auth/session'))])
    expect(a).toMatchObject({ status: 401, code: 'INVALID_CREDENTIALS' })
    expect(b).toBe(a)
    expect(rec.calls.map((c) => c.path)).toEqual(['/auth/login'])
    await failure(http.get('/auth/session'))
    expect(rec.calls.map((c) => c.path)).toEqual(['/auth/login', '/auth/login'])
  })

  it('logout ends the session at the hub and the next call logs in again', async () => {
    const account = await serviceAccount()
    const rec = recordingFetch()
    const auth = createServiceJwtAuth({ baseUrl: hub.baseUrl, email: account.email, password, fetch: rec.fetch })
    const http = createHttpClient({ baseUrl: hub.baseUrl, fetch: rec.fetch, auth })
    await http.get('/auth/session')
    const { refreshToken } = rec.calls[0]!.session!
    await auth.logout()
    const refused = await failure(createCommerceClient({ baseUrl: hub.baseUrl }).auth.refresh(refreshToken))
    expect(refused).toMatchObject({ status: 401, code: 'INVALID_REFRESH_TOKEN' })
    await http.get('/auth/session')
    expect(rec.count('/auth/login')).toBe(2)
  })
})

describe('createHttpClient with an auth provider', () => {
  it('refuses both a token and an auth provider', () => {
    const auth = createServiceJwtAuth({ baseUrl: hub.baseUrl, email: 'x@service.local', password })
    expect(() => createHttpClient({ baseUrl: hub.baseUrl, token: hub.adminToken, auth })).toThrow(/either token or auth/)
  })

  it('takes any provider: a revoked API token answered 401 is replaced once and the call sent again', async () => {
    const first = await hub.app.tokens.create(`rotating-${++n}`, 'platform')
    expect((await hub.app.inject({ method: 'DELETE', url: `/tokens/${first.name}`, headers: { authorization: `Bearer ${hub.adminToken}` } })).statusCode).toBe(200)
    const replacement = await hub.app.tokens.create(`rotating-${++n}`, 'platform')
    let current = first.token
    const unauthorized: (string | undefined)[] = []
    const rec = recordingFetch()
    const http = createHttpClient({
      baseUrl: hub.baseUrl,
      fetch: rec.fetch,
      auth: {
        getToken: async () => current,
        onUnauthorized: async (token) => {
          unauthorized.push(token)
          current = replacement.token
        },
      },
    })
    const created = await http.post<{ id: string }>('/customer', { email: `rotating-${n}@example.com` })
    expect(created.id).toMatch(/^cus_/)
    expect(unauthorized).toEqual([first.token])
    expect(rec.calls.map((c) => [c.authorization, c.status])).toEqual([
      [`Bearer ${first.token}`, 401],
      [`Bearer ${replacement.token}`, 201],
    ])
  })

  it('a token set with setToken takes precedence; setToken(undefined) returns to the provider', async () => {
    const account = await serviceAccount()
    const rec = recordingFetch()
    const http = createHttpClient({ baseUrl: hub.baseUrl, fetch: rec.fetch, auth: createServiceJwtAuth({ baseUrl: hub.baseUrl, email: account.email, password, fetch: rec.fetch }) })
    http.setToken(hub.adminToken)
    expect(await http.get<WhoAmI>('/auth/session')).toMatchObject({ kind: 'api-token', role: 'admin' })
    expect(rec.count('/auth/login')).toBe(0)
    http.setToken(undefined)
    expect(await http.get<WhoAmI>('/auth/session')).toMatchObject({ kind: 'service', serviceAccountId: account.id })
    expect(rec.count('/auth/login')).toBe(1)
  })

  it('a call with its own Authorization header or marked anonymous does not ask the provider', async () => {
    const rec = recordingFetch()
    const http = createHttpClient({ baseUrl: hub.baseUrl, fetch: rec.fetch, auth: createServiceJwtAuth({ baseUrl: hub.baseUrl, email: 'nobody@service.local', password, fetch: rec.fetch }) })
    expect(await http.get<WhoAmI>('/auth/session', { headers: { Authorization: `Bearer ${hub.adminToken}` } })).toMatchObject({ role: 'admin' })
    const anonymous = await failure(http.get('/auth/session', { anonymous: true }))
    expect(anonymous).toMatchObject({ status: 401, code: 'UNAUTHORIZED' })
    expect(rec.calls.map((c) => [c.path, c.status])).toEqual([
      ['/auth/session', 200],
      ['/auth/session', 401],
    ])
  })
})

describe('the seller sync environment with service-jwt', () => {
  it('logs in as <handle>@<email domain> with the password of the environment', async () => {
    const config = createHisHerCustomerConfigFromEnv({
      HIS_HER_CUSTOMER_STRAPI_URL: hub.baseUrl,
      HIS_HER_CUSTOMER_STRAPI_API_TOKEN: hub.adminToken,
      HIS_HER_CUSTOMER_AUTH_MODE: 'service-jwt',
      HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD: password,
      HIS_HER_CUSTOMER_SERVICE_ACCOUNT_ROLE_ID: '3',
      HIS_HER_CUSTOMER_SERVICE_ACCOUNT_EMAIL_DOMAIN: 'service.local',
      HIS_HER_CUSTOMER_SERVICE_ACCOUNT_ORGANIZATION_ID: '12',
    })
    const admin = createHttpClient({ baseUrl: config.baseUrl, token: config.apiToken })
    const handle = `brand_${++n}`
    const account = await admin.post<ServiceAccount>('/service-accounts', {
      handle,
      password: config.serviceAccount.password,
      roleId: config.serviceAccount.roleId,
      organizationId: config.serviceAccount.organizationId,
    })
    expect(account.email).toBe(serviceAccountEmail(handle, config.serviceAccount.emailDomain))

    const seller = createCommerceClient({
      baseUrl: config.baseUrl,
      auth: createServiceJwtAuth({ baseUrl: config.baseUrl, email: serviceAccountEmail(handle, config.serviceAccount.emailDomain), password: config.serviceAccount.password! }),
    })
    expect(await seller.auth.session()).toEqual({ kind: 'service', role: 'service', serviceAccountId: account.id, providerId: null, organizationId: '12', name: handle })
  })
})
