import { callRoute, createHttpClient, isHubApiError, type AuthProvider, type HttpClient } from '@his-her/connect'
import type { Session } from '@his-her/contract'

/**
 * The staff session of this browser tab: the access and refresh tokens live in sessionStorage
 * (gone with the tab), never in the URL. Every API call goes through `http`, which sends the
 * access token and, on a 401, trades the refresh token for a new session once.
 */
const KEY = 'customer-hub.console.session'
const base = window.location.origin

type Stored = Pick<Session, 'accessToken' | 'refreshToken'>
const read = (): Stored | undefined => {
  const raw = sessionStorage.getItem(KEY)
  return raw ? (JSON.parse(raw) as Stored) : undefined
}
const write = (s: Stored | undefined) => (s ? sessionStorage.setItem(KEY, JSON.stringify({ accessToken: s.accessToken, refreshToken: s.refreshToken })) : sessionStorage.removeItem(KEY))

const listeners = new Set<() => void>()
/** Called when the session starts or ends (a sign-in, a sign-out, a refresh that failed). */
export function onSessionChange(listener: () => void): () => void {
  listeners.add(listener)
  return () => listeners.delete(listener)
}
const changed = () => listeners.forEach((l) => l())

const anonymous = createHttpClient({ baseUrl: base })
let refreshing: Promise<void> | undefined

const auth: AuthProvider = {
  getToken: async () => read()?.accessToken ?? '',
  async onUnauthorized() {
    // one refresh at a time: concurrent 401s wait for the same one
    refreshing ??= (async () => {
      const current = read()
      try {
        if (!current) throw new Error('no session')
        const { body } = await callRoute(anonymous, 'refreshSession', { body: { refreshToken: current.refreshToken } })
        write(body)
      } catch {
        write(undefined)
        changed()
      }
    })().finally(() => {
      refreshing = undefined
    })
    await refreshing
  },
}

/** The client every view calls the hub with. */
export const http: HttpClient = createHttpClient({ baseUrl: base, auth })

export const signedIn = (): boolean => read() !== undefined

export async function signIn(email: string, password: string): Promise<void> {
  const { body } = await callRoute(anonymous, 'staffLogin', { body: { email, password } })
  write(body)
  changed()
}

export async function signOut(): Promise<void> {
  const current = read()
  write(undefined)
  changed()
  if (current) await callRoute(anonymous, 'logout', { body: { refreshToken: current.refreshToken } }).catch(() => undefined)
}

/** A message a person can act on, from whatever a call threw. */
export function messageOf(err: unknown): string {
  if (isHubApiError(err)) return `${err.message} (${err.code})`
  return err instanceof Error ? err.message : String(err)
}
