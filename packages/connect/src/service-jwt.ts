import type { Session } from '@his-her/contract'
import { createHttpClient, type AuthProvider, type FetchLike } from './http-client.js'

export interface ServiceJwtAuthOptions {
  /** Where the hub answers, e.g. `http://localhost:1337`. */
  baseUrl: string
  /** The service account's login email, `<handle>@<service email domain>` (see {@link serviceAccountEmail}). */
  email: string
  password: string
  /** Another `fetch` than the global one. */
  fetch?: FetchLike | undefined
  /** Gives up on a login or refresh after this many milliseconds (`TIMEOUT`). Default 30 000. */
  timeoutMs?: number | undefined
  /**
   * Renews the access token this long before it expires, at most half its lifetime
   * (`expiresIn`). Default 60 000 ms.
   */
  refreshBeforeExpiryMs?: number | undefined
  /** The clock, in milliseconds since the epoch. Default `Date.now`. */
  now?: (() => number) | undefined
}

/** A service account's session, kept by {@link createServiceJwtAuth}. */
export interface ServiceJwtAuth extends AuthProvider {
  /** The access token, logging in or renewing first when there is none or it is about to expire. */
  getToken(): Promise<string>
  /**
   * Renews the session unless that happened already since `token` was handed out: with the
   * refresh token, or by a new login when the refresh is refused.
   */
  onUnauthorized(token: string | undefined): Promise<void>
  /** Ends the session at the hub (its refresh token no longer works) and forgets it. */
  logout(): Promise<void>
}

interface Held {
  accessToken: string
  refreshToken: string
  /** When to renew (ms since the epoch). */
  renewAt: number
  /** When the hub stops accepting the access token (ms since the epoch, as this clock tells). */
  expiresAt: number
}

/**
 * The login email of the service account of `handle`: `<handle>@<domain>`.
 *
 * @example
 * ```ts
 * serviceAccountEmail('brand_handle', 'service.local') // 'brand_handle@service.local'
 * ```
 */
export function serviceAccountEmail(handle: string, domain = 'service.local'): string {
  return `${handle}@${domain}`
}

/**
 * The token of a service account for {@link createHttpClient} (`auth`): logs in with email and
 * password when the first call needs a token, keeps the access token, and renews it with the
 * refresh token shortly before it expires, or once after the hub answered 401 (falling back to a
 * new login when the refresh is refused). Calls that need a token at the same time share one
 * login or renewal.
 *
 * @example
 * ```ts
 * const auth = createServiceJwtAuth({
 *   baseUrl: 'http://localhost:1337',
 *   email: serviceAccountEmail('brand_handle', 'service.local'),
 *   password: process.env.HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD!,
 * })
 * const http = createHttpClient({ baseUrl: 'http://localhost:1337', auth })
 * const me = await http.get('/auth/session') // { kind: 'service', role: 'service', … }
 * ```
 */
export function createServiceJwtAuth(options: ServiceJwtAuthOptions): ServiceJwtAuth {
  const http = createHttpClient({ baseUrl: options.baseUrl, fetch: options.fetch, timeoutMs: options.timeoutMs })
  const now = options.now ?? Date.now
  const before = options.refreshBeforeExpiryMs ?? 60_000
  let held: Held | undefined
  let renewing: Promise<Held> | undefined

  const hold = (session: Session, sentAt: number): Held => {
    const lifetime = session.expiresIn * 1000
    return {
      accessToken: session.accessToken,
      refreshToken: session.refreshToken,
      renewAt: sentAt + lifetime - Math.min(before, lifetime / 2),
      expiresAt: sentAt + lifetime,
    }
  }

  const login = async (): Promise<Held> => {
    const sentAt = now()
    return hold(await http.post<Session>('/auth/login', { email: options.email, password: options.password }, { anonymous: true }), sentAt)
  }

  async function obtain(previous: Held | undefined): Promise<Held> {
    if (previous) {
      const sentAt = now()
      try {
        return hold(await http.post<Session>('/auth/refresh', { refreshToken: previous.refreshToken }, { anonymous: true }), sentAt)
      } catch {
        // a refused refresh (used, revoked, expired) or a lost answer: a login starts afresh
      }
    }
    return login()
  }

  /** One renewal at a time: whoever asks while it runs waits for the same one. */
  function renew(): Promise<Held> {
    renewing ??= obtain(held).then(
      (next) => {
        held = next
        renewing = undefined
        return next
      },
      (err: unknown) => {
        renewing = undefined
        throw err
      },
    )
    return renewing
  }

  return {
    async getToken() {
      const current = held
      if (!renewing && current && now() < current.renewAt) return current.accessToken
      try {
        return (await renew()).accessToken
      } catch (err) {
        // an early renewal that failed leaves a token the hub still accepts
        if (current && current === held && now() < current.expiresAt) return current.accessToken
        throw err
      }
    },

    async onUnauthorized(token) {
      if (renewing) {
        await renewing
        return
      }
      if (held && token !== undefined && held.accessToken !== token) return
      if (held) held = { ...held, renewAt: -Infinity, expiresAt: -Infinity }
      await renew()
    },

    async logout() {
      const current = held
      held = undefined
      if (current) await http.post('/auth/logout', { refreshToken: current.refreshToken }, { anonymous: true })
    },
  }
}
