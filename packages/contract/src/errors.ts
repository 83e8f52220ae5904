/**
 * The error catalogue: every error the hub answers with carries one of these stable codes.
 * Clients switch on `code`, never on `message`.
 *
 * @example
 * ```ts
 * try { await commerce.customers.create(input) }
 * catch (err) { if (err.code === 'EMAIL_TAKEN') … }
 * ```
 */
export const errorCatalogue = {
  VALIDATION_FAILED: { status: 400, message: 'The request does not match the schema of this route.' },
  INVALID_JSON: { status: 400, message: 'The request body is not valid JSON.' },
  INVALID_ID: { status: 400, message: 'The id in the path is not a valid id of this kind.' },
  INVALID_EMAIL: { status: 400, message: 'The email address is not valid.' },
  INVALID_PHONE: { status: 400, message: 'The phone number is not valid for its country.' },
  INVALID_COUNTRY: { status: 400, message: 'The country is not an ISO 3166-1 alpha-2 code.' },
  INVALID_CURSOR: { status: 400, message: 'The cursor is malformed or belongs to another sort.' },
  IDENTIFIER_REQUIRED: { status: 400, message: 'At least one of email or phone is required.' },
  PASSWORD_TOO_SHORT: { status: 400, message: 'The password is shorter than password_min_length.' },
  EMPTY_PATCH: { status: 400, message: 'The update names no field to change.' },
  INVALID_IDEMPOTENCY_KEY: { status: 400, message: 'The Idempotency-Key header must be 1 to 200 visible ASCII characters.' },
  MERGE_SAME_CUSTOMER: { status: 400, message: 'A customer cannot be merged into itself.' },
  INVALID_TOKEN: { status: 400, message: 'The verification or reset token is unknown, used or expired; request a new one.' },
  UNAUTHORIZED: { status: 401, message: 'A valid bearer token is required.' },
  INVALID_CREDENTIALS: { status: 401, message: 'The email or the password is wrong.' },
  TOKEN_EXPIRED: { status: 401, message: 'The access token has expired; refresh the session.' },
  INVALID_REFRESH_TOKEN: { status: 401, message: 'The refresh token is unknown, expired or revoked; log in again.' },
  REFRESH_TOKEN_REUSED: { status: 401, message: 'This refresh token was used already; every session of its family is revoked. Log in again.' },
  FORBIDDEN: { status: 403, message: 'This token is not allowed to do this.' },
  EMAIL_NOT_VERIFIED: { status: 403, message: 'Verify the email address before logging in (require_email_verification).' },
  GUEST_CHECKOUT_DISABLED: { status: 403, message: 'Guest records are disabled (allow_guest_checkout: false); send a password.' },
  ROUTE_NOT_FOUND: { status: 404, message: 'No route matches this method and path.' },
  CUSTOMER_NOT_FOUND: { status: 404, message: 'No live customer has this id.' },
  ADDRESS_NOT_FOUND: { status: 404, message: 'The customer has no address with this id.' },
  IDENTITY_NOT_FOUND: { status: 404, message: 'The customer has no identity with this id.' },
  LEDGER_NOT_FOUND: { status: 404, message: 'No ledger has this handle; declare it under ledgers: in the configuration.' },
  NO_MATCH: { status: 404, message: 'No live customer matches these identifiers.' },
  MERGE_NOT_FOUND: { status: 404, message: 'No merge has this id.' },
  TOKEN_NOT_FOUND: { status: 404, message: 'No active API token has this name.' },
  EMAIL_TAKEN: { status: 409, message: 'Another customer already has this email address.' },
  PHONE_TAKEN: { status: 409, message: 'Another customer already has this phone number.' },
  IDENTITY_TAKEN: { status: 409, message: 'Another customer holds this identity; details.customerId names it.' },
  MERGE_ALREADY_UNDONE: { status: 409, message: 'This merge has been undone already.' },
  MERGE_UNDO_CONFLICT: { status: 409, message: 'Something changed since the merge that makes undoing it impossible (details say what).' },
  CUSTOMER_ALREADY_MERGED: { status: 409, message: 'The source customer was merged already.' },
  IDEMPOTENCY_IN_PROGRESS: { status: 409, message: 'A request with this Idempotency-Key is still running; retry shortly.' },
  SERVICE_ACCOUNT_TAKEN: { status: 409, message: 'A service account already has this handle.' },
  TOKEN_NAME_TAKEN: { status: 409, message: 'An active API token already has this name.' },
  DEFAULT_ADDRESS_REQUIRED: { status: 409, message: 'A customer with addresses keeps one default; make another address the default instead.' },
  ORDER_CUSTOMER_MISMATCH: { status: 409, message: 'This order was already recorded for another customer.' },
  CONFLICT: { status: 409, message: 'The change conflicts with existing data.' },
  CUSTOMER_MERGED: { status: 410, message: 'This customer was merged into another; details.mergedInto names it.' },
  BODY_TOO_LARGE: { status: 413, message: 'The request body is larger than 1 MiB.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Send the body as application/json.' },
  ADDRESS_LIMIT_REACHED: { status: 422, message: 'The customer already has max_addresses addresses.' },
  CURRENCY_MISMATCH: { status: 422, message: "The order's currency differs from the customer's currency." },
  IDEMPOTENCY_KEY_REUSED: { status: 422, message: 'This Idempotency-Key was used with a different request.' },
  RATE_LIMITED: { status: 429, message: 'Too many requests; retry after the time in Retry-After.' },
  INTERNAL_ERROR: { status: 500, message: 'The hub failed; the request id in the logs tells where.' },
  CONTENTION: { status: 503, message: 'Too many concurrent changes to the same records; retry.' },
  DATABASE_UNAVAILABLE: { status: 503, message: 'The database cannot be reached; retry shortly.' },
} as const satisfies Record<string, { status: number; message: string }>

export type ErrorCode = keyof typeof errorCatalogue

/** Every error answer of the hub has this shape. */
export interface ErrorBody {
  statusCode: number
  code: ErrorCode
  /** The HTTP reason phrase, e.g. `Conflict`. */
  error: string
  message: string
  /** Extra facts for the caller, e.g. `{ customerId }` of the owner of a taken identity. */
  details?: Record<string, unknown>
}
