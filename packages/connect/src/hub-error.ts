import type { ErrorCode } from '@his-her/contract'

/**
 * Codes the client itself gives when no answer of the hub could be read:
 * - `NETWORK_ERROR`: the hub could not be reached (refused, reset, DNS); `status` is 0.
 * - `TIMEOUT`: no answer within `timeoutMs`; `status` is 0.
 * - `UNEXPECTED_RESPONSE`: an answer that is not the hub's (e.g. an HTML page from a proxy, or a
 *   success whose body is not JSON); `status` is the HTTP status received.
 * - `INVALID_ARGUMENT`: nothing was sent, as an id or group was empty, `.` or `..` (which would
 *   name another route); `status` is 0.
 * - `REGISTRATION_PENDING`: a registration with the email of a guest record was accepted (202)
 *   and waits for the verification token sent to that email; `details` has `email` and
 *   `expiresAt`. The account exists once the token comes back.
 */
export type ClientErrorCode = 'NETWORK_ERROR' | 'TIMEOUT' | 'UNEXPECTED_RESPONSE' | 'INVALID_ARGUMENT' | 'REGISTRATION_PENDING'

/** A code of the hub's error catalogue, a client code, or a code added by a newer hub. */
export type HubApiErrorCode = ErrorCode | ClientErrorCode | (string & {})

export interface HubApiErrorInit {
  status: number
  code: HubApiErrorCode
  message: string
  details?: Record<string, unknown> | undefined
  requestId?: string | undefined
  cause?: unknown
}

/**
 * What every failed call of the clients throws: a non-2xx answer of the hub, or a call that got
 * no answer at all (`status` 0). Switch on `code`, never on `message`.
 *
 * @example
 * ```ts
 * try {
 *   await commerce.customers.create({ email: 'jane@example.com', password: 'securePassword123' })
 * } catch (err) {
 *   if (err instanceof HubApiError && err.code === 'EMAIL_TAKEN') {
 *     console.log('this email is registered already; request', err.requestId)
 *   } else throw err
 * }
 * ```
 */
export class HubApiError extends Error {
  /** The HTTP status; 0 when no answer arrived. */
  readonly status: number
  /** The hub's stable code (see `errorCatalogue`) or one of {@link ClientErrorCode}. */
  readonly code: HubApiErrorCode
  /** Extra facts the hub gave, e.g. `{ customerId }` of the owner of a taken identity. */
  readonly details: Record<string, unknown> | undefined
  /** The `x-request-id` of the answer: the key to the hub's log lines of this request. */
  readonly requestId: string | undefined

  constructor(init: HubApiErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause })
    this.name = 'HubApiError'
    this.status = init.status
    this.code = init.code
    this.details = init.details
    this.requestId = init.requestId
  }
}

/**
 * True when `err` is a {@link HubApiError} (with `code`, when given). Works across copies of this
 * package, where `instanceof` does not.
 *
 * @example
 * ```ts
 * const existing = await commerce.customers.get(id).catch((err) => {
 *   if (isHubApiError(err, 'CUSTOMER_NOT_FOUND')) return null
 *   throw err
 * })
 * ```
 */
export function isHubApiError(err: unknown, code?: HubApiErrorCode): err is HubApiError {
  if (!(err instanceof Error) || err.name !== 'HubApiError') return false
  const e = err as Partial<HubApiError>
  if (typeof e.status !== 'number' || typeof e.code !== 'string') return false
  return code === undefined || e.code === code
}

/** The customer a create answered, or {@link HubApiError} `REGISTRATION_PENDING` when the hub accepted a registration that waits for email verification. */
export function createdCustomer<C extends object>(answer: C | { pendingVerification: true; email: string; expiresAt: string }): C {
  if ('pendingVerification' in answer) {
    throw new HubApiError({
      status: 202,
      code: 'REGISTRATION_PENDING',
      message: `The email belongs to an existing customer record: a verification token was sent to ${answer.email}; the account exists once it comes back.`,
      details: { email: answer.email, expiresAt: answer.expiresAt },
    })
  }
  return answer
}
