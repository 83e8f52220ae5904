import type { OperationId, ResultOf, Routes } from '@his-her/contract'
import type { HttpClient, RequestOptions } from './http-client.js'
import { backoffDelay, isRetryable, sleep } from './retry.js'
import { callRoute, type RouteInput } from './route-call.js'

export interface RetryOptions {
  /** How often a call that got no answer, a 5xx or a timeout is sent again. */
  retries: number
  /** The first backoff delay in milliseconds; each further one doubles (with jitter, at most 5 s). */
  retryDelayMs: number
}

/** A call of one operation that is sent again with the same input (and so the same idempotency key) after a retryable failure. */
export type RetryingCall = <K extends OperationId>(operation: K, input: RouteInput<K>, options?: RequestOptions) => Promise<ResultOf<Routes[K]>>

/** Calls of operations on `http`, each retried as {@link RetryOptions} says. */
export function createRetryingCall(http: HttpClient, { retries, retryDelayMs }: RetryOptions): RetryingCall {
  return async function call(operation, input, options) {
    for (let attempt = 1; ; attempt++) {
      try {
        return (await callRoute(http, operation, input, options)).body
      } catch (err) {
        if (attempt > retries || !isRetryable(err)) throw err
        await sleep(backoffDelay(attempt, retryDelayMs))
      }
    }
  }
}

/** A new idempotency key. */
export const newIdempotencyKey = (): string => globalThis.crypto.randomUUID()

/** Options for the routes whose key travels as the `Idempotency-Key` header: the caller's key, or a new one kept over the call's retries. */
export const keyHeader = (input: { idempotencyKey?: string | undefined } | undefined): RequestOptions => ({ headers: { 'idempotency-key': input?.idempotencyKey ?? newIdempotencyKey() } })
