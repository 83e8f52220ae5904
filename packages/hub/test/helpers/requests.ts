import { expect } from 'vitest'
import type { TestHub } from './test-hub.js'

/** An answer of the hub as the tests read it: the status, the parsed JSON body and the body as sent. */
export type Res = { status: number; body: any; raw: string }

/** The parts of a raw `app.inject()` answer that `expectError` reads. */
export type InjectedResponse = { statusCode: number; body?: string; json(): unknown }

/** Sends one request to a hub; what `client()` returns. */
export type Call = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown, headers?: Record<string, string>) => Promise<Res>

/**
 * A request function bound to `hub`: it injects the request (with the admin token unless `headers`
 * says otherwise), fails the test on any 5xx with the body in the message, and parses the JSON body.
 *
 * @example
 * ```ts
 * const call = client(hub)
 * const res = await call('POST', '/customer', { email: 'a@example.com' })
 * expect(res.status, res.raw).toBe(201)
 * ```
 */
export function client(hub: TestHub): Call {
  return async function call(method, url, payload, headers = hub.admin) {
    const res = await hub.app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload: payload as object }) })
    expect(res.statusCode, `${method} ${url} answered ${res.body}`).toBeLessThan(500)
    return { status: res.statusCode, body: res.body ? res.json() : undefined, raw: res.body }
  }
}

/**
 * Asserts that `res` is the error `code` with HTTP `status`, in the one error shape:
 * `{statusCode, code, error, message}` with `error` a string and `message` a non-empty string.
 * Takes either a `Res` from `client()` or a raw `app.inject()` answer.
 */
export function expectError(res: Res | InjectedResponse, status: number, code: string): void {
  const injected = 'statusCode' in res
  expect(injected ? res.statusCode : res.status, injected ? res.body : res.raw).toBe(status)
  const body = (injected ? res.json() : res.body) as Record<string, unknown>
  expect(body).toMatchObject({ statusCode: status, code })
  expect(typeof body.error).toBe('string')
  expect(typeof body.message).toBe('string')
  expect((body.message as string).length).toBeGreaterThan(0)
}

/** Headers that carry `token` as a bearer token. */
export function bearer(token: string): { authorization: string } {
  return { authorization: `Bearer ${token}` }
}

let seq = 0

/** A string that no other call in this test file returns: `tag`, a counter and a random part. */
export function unique(tag: string): string {
  return `${tag}-${++seq}-${Math.random().toString(36).slice(2, 8)}`
}
