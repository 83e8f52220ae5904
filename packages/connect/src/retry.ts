import { isHubApiError } from './hub-error.js'

/** The longest wait between two attempts of a call. */
export const MAX_BACKOFF_MS = 5_000

/**
 * True for failures worth sending again with the same idempotency key: no answer
 * (`NETWORK_ERROR`, `TIMEOUT`), any 5xx, and `IDEMPOTENCY_IN_PROGRESS` (an earlier attempt with
 * this key, one that timed out here, still runs on the hub). Every other 4xx is the hub's final
 * answer, and so is `BODY_TOO_LARGE` with status 0 (no answer to a body over the hub's limit,
 * which it would refuse again).
 */
export function isRetryable(err: unknown): boolean {
  if (!isHubApiError(err)) return false
  return err.code === 'NETWORK_ERROR' || err.code === 'TIMEOUT' || err.code === 'IDEMPOTENCY_IN_PROGRESS' || err.status >= 500
}

/** Exponential backoff with jitter: between half and all of base·2^(attempt-1), at most {@link MAX_BACKOFF_MS}. */
export function backoffDelay(attempt: number, baseDelayMs: number): number {
  const ceiling = Math.min(MAX_BACKOFF_MS, baseDelayMs * 2 ** (attempt - 1))
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2))
}

/** Checks a `retries` option: a whole number ≥ 0. */
export function checkRetries(retries: number): number {
  if (!Number.isInteger(retries) || retries < 0) throw new TypeError(`retries must be a whole number ≥ 0; got ${retries}`)
  return retries
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
